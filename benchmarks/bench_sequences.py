"""Sequences: enroll 10,000 contacts, then the worker's sweep of the first (task) step.

Seeds N contacts (default 10,000) with an email address, owned by one rep, and a sequence
whose first step is a call task and whose second an email. Then:

1. Enroll: the contact list's bulk action "Enroll in sequence" over all N (`core.bulk.start`,
   then the worker's task body `bulk.execute`): each contact judged by the access decision,
   checked (already in it, email address, bounces, consent) and enrolled through
   `sequences.services.enroll_contact` with its time zone and first due time (business days).
2. Sweep: the worker's task body (`sequences.runner.run_due`, batches of 500, each enrollment
   claimed with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL) run at the moment the first
   step is due, until none is left: one sales task per contact, its StepRun, the enrollment
   now waiting for the task. The sweep is then run again: it must find nothing (idempotent).

Prints seconds and records per second for both, and checks the counts.

The database: `DATABASE_URL` with `_sequences` added to its name on PostgreSQL (created when
missing), else var/bench/bench_sequences.sqlite3 (made afresh each run).

    python benchmarks/run.py sequences                      # 10,000 contacts
    python benchmarks/run.py sequences --contacts 2000      # a quick run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
BENCH_DIR = REPO_ROOT / "var" / "bench"
sys.path.insert(0, str(HERE))

import seed as seeding  # noqa: E402

SEED_BATCH = 5000


def configure() -> str:
    return seeding.configure_own("sequences")


def rep():
    from rapport.accounts.models import Role, Team, User

    role, _ = Role.objects.get_or_create(
        name="Bench sequences rep", defaults={"scopes": {"contacts": "team", "sales": "team"}}
    )
    team, _ = Team.objects.get_or_create(name="Bench sequences team")
    user = User.objects.filter(username="bench-sequences-rep").first()
    if user is None:
        user = User.objects.create_user(
            username="bench-sequences-rep",
            email="rep@bench.example",
            password="not-secret",
            role=role,
        )
        user.teams.add(team)
    return user


def seed(actor, count: int) -> list[int]:
    """`count` contacts of `actor` with one email address each, bulk-inserted (no audit)."""
    from django.db import transaction

    from rapport.contacts.models import Contact, ContactEmail

    existing = Contact.objects.filter(owner=actor).count()
    missing = max(count - existing, 0)
    with transaction.atomic():
        for start in range(0, missing, SEED_BATCH):
            size = min(SEED_BATCH, missing - start)
            numbers = range(existing + start, existing + start + size)
            contacts = Contact.objects.bulk_create(
                [
                    Contact(
                        first_name=f"Seq{n}",
                        last_name="Bench",
                        owner=actor,
                        primary_email=f"seq{n}@bench.example",
                        # Every tenth contact has a phone in Berlin, every tenth a country.
                        primary_phone="+49301234567" if n % 10 == 0 else "",
                        country="US" if n % 10 == 1 else "",
                        search_text=f"seq{n} bench seq{n}@bench.example",
                    )
                    for n in numbers
                ]
            )
            ContactEmail.objects.bulk_create(
                [ContactEmail(contact=c, email=c.primary_email, is_primary=True) for c in contacts]
            )
    return list(
        Contact.objects.filter(owner=actor).order_by("pk").values_list("pk", flat=True)[:count]
    )


def sequence_of(actor):
    from rapport.mail.mailboxes import local_sink_mailbox
    from rapport.mail.templating import create_template
    from rapport.sequences.models import Sequence
    from rapport.sequences.services import create_sequence

    existing = Sequence.objects.filter(owner=actor, name="Bench cadence").first()
    if existing is not None:
        existing.enrollments.all().delete()
        return existing
    template = create_template(
        actor=actor,
        name="Bench follow-up",
        subject="Hello {{ contact.first_name }}",
        body_html="<p>Hi {{ contact.first_name }}</p>",
    )
    return create_sequence(
        actor=actor,
        name="Bench cadence",
        mailbox=local_sink_mailbox(),
        steps=[
            {"kind": "call", "delay_amount": 0, "task_title": "Introduce yourself"},
            {"kind": "email", "delay_amount": 2, "template": template.pk},
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    options, _rest = parser.parse_known_args(argv or [])
    url = configure()
    from django.db.models import Max
    from rich.console import Console
    from rich.table import Table

    from rapport.core import bulk
    from rapport.core.models import BulkOperation
    from rapport.sales.models import Task
    from rapport.sequences import runner
    from rapport.sequences.models import Enrollment, StepRun

    console = Console()
    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    actor = rep()
    console.print(f"Seeding {options.contacts:,} contacts on {engine}…")
    ids = seed(actor, options.contacts)
    count = len(ids)
    sequence = sequence_of(actor)
    Task.objects.filter(assignee=actor).delete()

    started = time.perf_counter()
    operation = bulk.start(
        actor=actor,
        entity_key="contacts",
        action_key="enroll_in_sequence",
        params={"sequence": sequence.pk},
        ids=ids,
        inline=False,
    )
    bulk.execute(operation.pk, task_id="bench")
    enrolled_seconds = time.perf_counter() - started
    operation = BulkOperation.objects.get(pk=operation.pk)
    enrolled = Enrollment.objects.filter(sequence=sequence, status="active").count()

    # Run at the moment the last first step falls due (on a weekend that is Monday morning in
    # each contact's zone): what the worker's sweep then finds.
    due = Enrollment.objects.filter(sequence=sequence).aggregate(last=Max("next_due_at"))["last"]
    started = time.perf_counter()
    outcomes: dict[str, int] = {}
    sweeps = 0
    while True:
        counted = runner.run_due(now=due)
        sweeps += 1
        for key, value in counted.items():
            outcomes[key] = outcomes.get(key, 0) + value
        if sum(counted.values()) < runner.BATCH:
            break
    sweep_seconds = time.perf_counter() - started
    again = runner.run_due(now=due)
    tasks = Task.objects.filter(assignee=actor, contact_id__in=ids).count()
    runs = StepRun.objects.filter(enrollment__sequence=sequence, outcome="task_created").count()

    table = Table(title=f"Sequences over {count:,} contacts ({engine})")
    table.add_column("")
    table.add_column("seconds", justify="right")
    table.add_column("per second", justify="right")
    table.add_row(
        "Enroll (bulk action, worker)",
        f"{enrolled_seconds:.2f}",
        f"{enrolled / enrolled_seconds:,.0f}",
    )
    table.add_row(
        f"Sweep: first step, call task ({sweeps} batches)",
        f"{sweep_seconds:.2f}",
        f"{outcomes.get('task_created', 0) / sweep_seconds:,.0f}",
    )
    console.print(table)
    console.print(
        f"Enrolled {enrolled:,} ({operation.changed:,} changed, {operation.skipped:,} skipped, "
        f"{operation.failed:,} failed). Sweep outcomes: {outcomes}. Tasks created: {tasks:,}; "
        f"step records: {runs:,}. A second sweep found: {dict(again) or 'nothing'}."
    )
    ok = enrolled == count and tasks == count and runs == count and not again
    if not ok:
        console.print("[red]Counts do not match: see above.[/red]")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
