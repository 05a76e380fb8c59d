"""Segment-entered workflows: N contacts (100,000 by default) enter a watched segment at once,
and a two-step workflow runs for each of them on one task worker.

1. A database of its own (`seed.configure_own("segments")`: DATABASE_URL's database +
   "_segments", or var/bench/bench_segments.sqlite3), N contacts from `seed.py`, tasks on the
   database queue as in production.
2. A dynamic segment, "Spring campaign" (lifecycle stage is marketing qualified), that no
   contact is in at first, and an active workflow "The contact enters “Spring campaign”" with
   two steps: add the tag "Spring campaign", then notify the administrator.
3. The clock's first check records the empty segment. One UPDATE then moves every contact
   into it (as a bulk change would, without events), and the next check is timed: it finds the
   N who entered, records them and emits the events, and the trigger enrols a run for each.
4. One worker (`rapport worker`, as `rapport serve` starts it), started before the check,
   takes the runs. Timed until every run has finished.

Printed: the check and its enrolments, runs done, the lag from the check to each run's last
step (p50, p99), and actions (steps taken) per second on the one worker, beside the issue's aim
(≥ 300/s on PostgreSQL).

    python benchmarks/run.py segments --contacts 10000          # a quick run on SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench python benchmarks/run.py segments
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed as seeding

AIM_ACTIONS_PER_SECOND = 300


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args, _others = parser.parse_known_args(argv)
    seeding.configure_own("segments")

    from django.db import connection
    from django.utils import timezone
    from rich.console import Console
    from rich.table import Table

    from rapport.analytics.models import WatchedMember
    from rapport.analytics.services import create_segment
    from rapport.automation import segment_watch, workflows
    from rapport.automation.models import RunStatus, WorkflowRun, WorkflowStepRun
    from rapport.contacts.models import Contact

    console = Console()
    seeding.seed_contacts(args.contacts, console=console)
    admin, _reps = seeding.bench_staff()
    table_name = Contact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table_name} SET lifecycle_stage = %s", ["lead"])
    segment = create_segment(
        actor=admin,
        name="Spring campaign",
        conditions={
            "all": [{"field": "lifecycle_stage", "op": "in", "value": ["marketing_qualified"]}]
        },
    )
    workflow = workflows.create_workflow(
        actor=admin,
        name="Welcome to the spring campaign",
        record_type="contact",
        trigger={"type": "segment_entered", "segment": str(segment.pk)},
        steps=[
            {"type": "add_tag", "tag": "Spring campaign"},
            {"type": "notify_user", "user": str(admin.pk), "title": "Entered the campaign"},
        ],
    )
    workflows.activate_workflow(actor=admin, workflow=workflow)
    first = segment_watch.check()
    console.print(f"first check (records, fires nothing): {first}")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table_name} SET lifecycle_stage = %s", ["marketing_qualified"])
    connection.close()  # the worker and this process each hold their own connection

    worker = subprocess.Popen(
        [sys.executable, "-m", "rapport.cli", "worker"],
        env={**os.environ, "RAPPORT_LOG_LEVEL": "WARNING"},
        start_new_session=True,
    )
    try:
        time.sleep(3)  # the worker's start (Django, recovery) is not the workflow's cost
        checked_at = timezone.now()
        started = time.perf_counter()
        result = segment_watch.check(now=checked_at)
        check_seconds = time.perf_counter() - started
        entered = result["entered"]
        runs = WorkflowRun.objects.filter(workflow=workflow)
        enrolled = runs.count()
        deadline = time.perf_counter() + args.timeout
        while time.perf_counter() < deadline:
            open_runs = runs.exclude(
                status__in=[RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED]
            ).count()
            if open_runs == 0:
                break
            time.sleep(1)
        total_seconds = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    steps = WorkflowStepRun.objects.filter(run__workflow=workflow)
    first_step = steps.order_by("started_at").values_list("started_at", flat=True).first()
    last_step = steps.order_by("-finished_at").values_list("finished_at", flat=True).first()
    lags = [
        (finished - checked_at).total_seconds()
        for finished in runs.filter(status=RunStatus.COMPLETED).values_list(
            "finished_at", flat=True
        )
    ]
    done = steps.filter(status="done").count()
    working = (last_step - first_step).total_seconds() if first_step and last_step else 0.0
    table = Table(title=f"Segment entered by {entered:,} contacts, two-step workflow, one worker")
    table.add_column("Figure")
    table.add_column("Value", justify="right")
    table.add_row("database", seeding.engine())
    table.add_row("contacts recorded in the segment", f"{WatchedMember.objects.count():,}")
    table.add_row("entered at the check", f"{entered:,}")
    table.add_row("check, events and enrolment", f"{check_seconds:.1f} s")
    table.add_row("runs enrolled", f"{enrolled:,}")
    table.add_row("runs completed", f"{runs.filter(status=RunStatus.COMPLETED).count():,}")
    table.add_row("runs not completed", f"{runs.exclude(status=RunStatus.COMPLETED).count():,}")
    table.add_row("steps taken", f"{done:,}")
    table.add_row("lag, check to last step: p50", f"{percentile(lags, 0.5):.1f} s")
    table.add_row("lag, check to last step: p99", f"{percentile(lags, 0.99):.1f} s")
    table.add_row("first step to last", f"{working:.1f} s")
    rate = done / working if working else 0.0
    table.add_row("actions per second, one worker", f"{rate:,.0f} (aim ≥ {AIM_ACTIONS_PER_SECOND})")
    table.add_row("check to every run finished", f"{total_seconds:.1f} s")
    console.print(table)
    return 0 if enrolled == entered == args.contacts and done == 2 * entered else 1


if __name__ == "__main__":
    sys.exit(main())
