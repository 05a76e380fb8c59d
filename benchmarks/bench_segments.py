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
(≥ 300/s on PostgreSQL); the CPU the worker and its database backend spent per action (read
from /proc each second, so a machine busy with other work inflates it far less than the wall
time), with the rate that CPU would allow on idle cores; and the machine's load.

5. Beside it, in this process on a second workflow with the same two steps, `--sample` runs
   (500 by default) taken one at a time as before (`runner.advance`, one transaction per step)
   and as many taken together as a task takes them (`chunks.advance_many`, each step for the
   whole chunk at once): actions per second, statements per action, CPU per action, and the
   ratio of the two.

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
from bench_load import _cpu_seconds as cpu_seconds
from bench_load import descendants

AIM_ACTIONS_PER_SECOND = 300
WORKER_APP_NAME = "rapport-bench-segments-worker"  # its backends' application_name


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f} ({os.cpu_count()} cores)"


class WorkerCpu:
    """CPU seconds of the worker (and whatever it forks) and of its PostgreSQL backends (told
    apart by application_name), sampled each second, since a backend a reconnect ends is gone
    from /proc afterwards. Nothing is counted where /proc or pg_stat_activity cannot be read."""

    def __init__(self, worker_pid: int):
        self.worker_pid = worker_pid
        self.seen: dict[tuple[str, int], float] = {}
        self.start: dict[tuple[str, int], float] = {}

    def _backends(self) -> set[int]:
        from django.db import connection

        if connection.vendor != "postgresql":
            return set()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [WORKER_APP_NAME]
            )
            return {row[0] for row in cursor.fetchall()}

    def sample(self) -> None:
        pids = {("worker", pid) for pid in descendants(self.worker_pid)}
        pids |= {("database", pid) for pid in self._backends()}
        for key in pids:
            seconds = cpu_seconds(key[1])
            if seconds is not None:
                self.seen[key] = seconds

    def begin(self) -> None:
        self.sample()
        self.start = dict(self.seen)

    def used(self) -> dict[str, float]:
        sides = {"worker": 0.0, "database": 0.0}
        for key, seconds in self.seen.items():
            sides[key[0]] += seconds - self.start.get(key, 0.0)
        return sides


def backend_cpu() -> float | None:
    """CPU seconds of this process's own PostgreSQL backend (None elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cpu_seconds(cursor.fetchone()[0])


class Statements:
    """A database execute wrapper counting the statements sent."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def compare(admin, contact_ids: list[int], sample: int) -> list[dict]:
    """The same two steps over `sample` fresh runs taken one by one, and over as many taken
    together in chunks of a task's size: seconds, statements and CPU of each."""
    from django.db import connection
    from django.utils import timezone

    from rapport.automation import chunks, runner, workflows

    workflow = workflows.create_workflow(
        actor=admin,
        name="Spring sample",
        record_type="contact",
        trigger={"type": "contact_created"},
        steps=[
            {"type": "add_tag", "tag": "Spring sample"},
            {"type": "notify_user", "user": str(admin.pk), "title": "Sampled"},
        ],
    )
    workflows.activate_workflow(actor=admin, workflow=workflow)
    now = timezone.now()
    runner.enrol_many(
        workflow=workflow, fired=[(pk, "Sample") for pk in contact_ids[: 2 * sample]], now=now
    )
    run_ids = list(workflow.runs.order_by("pk").values_list("pk", flat=True))

    def one_by_one(ids):
        for run_id in ids:
            runner.advance(run_id)

    def together(ids):
        for start in range(0, len(ids), runner.RUNS_PER_TASK):
            chunks.advance_many(ids[start : start + runner.RUNS_PER_TASK])

    figures = []
    for label, take, ids in (
        ("one run at a time (before)", one_by_one, run_ids[:sample]),
        (f"{runner.RUNS_PER_TASK} runs together (now)", together, run_ids[sample:]),
    ):
        database_before = backend_cpu()
        cpu_before = time.process_time()
        statements = Statements()
        with connection.execute_wrapper(statements):
            started = time.perf_counter()
            take(ids)
            seconds = time.perf_counter() - started
        python_cpu = time.process_time() - cpu_before
        database_after = backend_cpu()
        actions = 2 * len(ids)
        database_cpu = (
            database_after - database_before
            if database_before is not None and database_after is not None
            else None
        )
        figures.append(
            {
                "label": label,
                "actions": actions,
                "rate": actions / seconds if seconds else 0.0,
                "statements": statements.count / actions,
                "cpu_ms": 1000 * (python_cpu + (database_cpu or 0.0)) / actions,
                "database": database_cpu is not None,
            }
        )
    return figures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--sample", type=int, default=500, help="runs each way in the comparison")
    args, _others = parser.parse_known_args(argv)
    seeding.configure_own("segments")

    from django.db import connection
    from django.utils import timezone
    from rich.console import Console
    from rich.table import Table

    from rapport.analytics.models import WatchedMember
    from rapport.analytics.services import create_segment
    from rapport.automation import segment_watch, workflows
    from rapport.automation.models import RunStatus, Workflow, WorkflowRun, WorkflowStepRun
    from rapport.contacts.models import Contact

    console = Console()
    if seeding.is_bench_database() and Workflow.objects.exists():
        seeding._reset(console)  # a run before this one left its segment, runs and tags
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
        env={**os.environ, "RAPPORT_LOG_LEVEL": "WARNING", "PGAPPNAME": WORKER_APP_NAME},
        start_new_session=True,
    )
    cpu = WorkerCpu(worker.pid)
    load_before = load_average()
    try:
        time.sleep(3)  # the worker's start (Django, recovery) is not the workflow's cost
        cpu.begin()
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
            cpu.sample()
            if open_runs == 0:
                break
            time.sleep(1)
        total_seconds = time.perf_counter() - started
        load_after = load_average()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # A periodic job the worker started (duplicate detection, say) is not ours to wait for.
            os.killpg(worker.pid, signal.SIGKILL)
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
    used = cpu.used()
    spent = used["worker"] + used["database"]
    if done and spent:
        table.add_row(
            "CPU per action: worker + its database backend",
            f"{1000 * used['worker'] / done:.2f} + {1000 * used['database'] / done:.2f} ms",
        )
        # The worker waits for its backend's answer, so the two add up on idle cores.
        table.add_row("actions per second that CPU allows", f"{done / spent:,.0f}")
    table.add_row("load average: before, after", f"{load_before} · {load_after}")
    console.print(table)

    others = list(
        Contact.objects.exclude(tags__name="Spring sample")
        .order_by("pk")
        .values_list("pk", flat=True)[: 2 * args.sample]
    )
    sample = min(args.sample, len(others) // 2)
    figures = compare(admin, others, sample)
    table = Table(title=f"The same two steps over {sample:,} runs each way, in this process")
    table.add_column("Runs taken")
    table.add_column("Actions per second", justify="right")
    table.add_column("Statements per action", justify="right")
    cpu_column = "CPU per action (with its backend)" if figures[0]["database"] else "CPU/action"
    table.add_column(cpu_column, justify="right")
    for figure in figures:
        table.add_row(
            figure["label"],
            f"{figure['rate']:,.0f}",
            f"{figure['statements']:.2f}",
            f"{figure['cpu_ms']:.2f} ms",
        )
    before, now = figures
    table.add_row(
        "ratio, now ÷ before",
        f"{now['rate'] / before['rate']:.3g}×" if before["rate"] else "—",
        f"{now['statements'] / before['statements']:.3g}×" if before["statements"] else "—",
        f"{now['cpu_ms'] / before['cpu_ms']:.3g}×" if before["cpu_ms"] else "—",
    )
    console.print(table)
    console.print(f"load average after the comparison: {load_average()}")
    return 0 if enrolled == entered == args.contacts and done == 2 * entered else 1


if __name__ == "__main__":
    sys.exit(main())
