"""Workflows: events per second through trigger matching, condition evaluation and a cheap step,
for 10,000 contacts.

1. A database of its own (var/bench/bench_workflows.sqlite3, or DATABASE_URL's database +
   "_workflows"), seeded with N contacts by `seed.py` (bulk rows, as the other benchmarks).
2. Three active workflows on "a contact is updated" (so every event is matched against each):
   one whose conditions no contact meets, one on another watched field, and the measured one —
   conditions "lifecycle stage is one of lead, subscriber" (the segments' own field, compiled
   to SQL) and one step, "notify a user", a single insert through `sales.services.work.notify`.
3. One `ContactUpdated` event per contact goes through the trigger's subscriber exactly as
   `core.events` delivers a committed batch (batches of 500), with the tasks run in-process
   (the immediate backend), so each event is: find the workflows, test the trigger's settings,
   evaluate the conditions in the database, apply the loop guard, write the run, take the step,
   record it. Printed: events, runs completed, records that did not enter, events per second.

    python benchmarks/run.py workflows                    # 10,000 contacts
    python benchmarks/run.py workflows --contacts 2000    # a quick run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH = 500


def configure() -> None:
    sys.path.insert(0, str(HERE))
    import seed

    os.environ["DATABASE_URL"] = seed.own_database_url("workflows")
    if os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        seed.ensure_postgres_database(os.environ["DATABASE_URL"])
    # The runs' tasks run in this process: the figure is the workflow engine's, not a queue's.
    os.environ["RAPPORT_TASKS_BACKEND"] = "immediate"
    seed.configure()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    args, _others = parser.parse_known_args(argv)
    configure()

    import seed
    from rich.console import Console
    from rich.table import Table

    from rapport.automation import triggers, workflows
    from rapport.automation.models import RunStatus, Workflow, WorkflowRun
    from rapport.contacts.events import ContactUpdated
    from rapport.contacts.models import Contact

    console = Console()
    seed.seed_contacts(args.contacts, console=console)
    admin, _reps = seed.bench_staff()
    # A rerun starts from no workflows and no runs.
    WorkflowRun.objects.all().delete()
    Workflow.objects.all().delete()
    common = {"actor": admin, "record_type": "contact"}
    made = [
        workflows.create_workflow(
            **common,
            name="Nobody enters",
            trigger={"type": "contact_updated"},
            conditions={"all": [{"field": "country", "op": "eq", "value": "ZZ"}]},
            steps=[{"type": "add_tag", "tag": "never"}],
        ),
        workflows.create_workflow(
            **common,
            name="Another field",
            trigger={"type": "contact_updated", "field": "country"},
            steps=[{"type": "add_tag", "tag": "never"}],
        ),
        workflows.create_workflow(
            **common,
            name="Notify about leads",
            trigger={"type": "contact_updated"},
            conditions={
                "all": [{"field": "lifecycle_stage", "op": "in", "value": ["lead", "subscriber"]}]
            },
            steps=[{"type": "notify_user", "user": str(admin.pk), "title": "A lead changed"}],
        ),
    ]
    for workflow in made:
        workflows.activate_workflow(actor=admin, workflow=workflow)
    measured = made[-1]

    ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[: args.contacts])
    handle = triggers._HANDLERS["contact_updated"]
    from django.urls import reverse

    reverse("core:home")  # load the URL map (a notification links the record) before timing
    started = time.perf_counter()
    for start in range(0, len(ids), BATCH):
        handle(
            [
                ContactUpdated(contact_id=pk, actor_id=None, changed_fields=("job_title",))
                for pk in ids[start : start + BATCH]
            ]
        )
    elapsed = time.perf_counter() - started

    runs = WorkflowRun.objects.filter(workflow=measured)
    completed = runs.filter(status=RunStatus.COMPLETED).count()
    other = runs.exclude(status=RunStatus.COMPLETED).count()
    table = Table(title=f"Workflows: {len(ids):,} contact-updated events, 3 active workflows")
    table.add_column("Figure")
    table.add_column("Value", justify="right")
    table.add_row("database", seed.engine())
    table.add_row("events", f"{len(ids):,}")
    table.add_row("workflow matches tested", f"{len(ids) * len(made):,}")
    table.add_row("runs completed (notify a user)", f"{completed:,}")
    table.add_row("runs not completed", f"{other:,}")
    table.add_row("records that did not enter", f"{len(ids) - completed - other:,}")
    table.add_row("time", f"{elapsed:.1f} s")
    table.add_row("events per second", f"{len(ids) / elapsed:,.0f}")
    table.add_row("runs per second", f"{completed / elapsed:,.0f}")
    console.print(table)
    return 0 if other == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
