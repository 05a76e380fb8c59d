"""Bulk "assign owner" over 100,000 contacts, beside the same change as one raw SQL UPDATE.

Seeds N contacts (default 100,000) owned by one rep, then:

1. Baseline: `UPDATE contacts_contact SET owner_id = … WHERE id IN (the members)` on a DB-API
   cursor, in chunks of 500 ids as the worker takes them: what the database alone needs to
   give every record a new owner (no access check, no audit, no event). Then put back.
2. Rapport: `core.bulk.start(..., list_key="contacts")` — "select all N that match" on the
   contacts list — then the worker's task body `bulk.execute` in this process: each record
   judged by the access decision and changed through `contacts.services.update_contact`
   (validation, search text, one ChangeRecord each, the ContactUpdated event), chunks of 500
   committed with their outcomes. Progress is printed as the progress page would show it.
   Prints seconds, records per second, the ratio to the baseline, and the aim (under 60 s).

The database: `DATABASE_URL` with `_bulk` added to its name on PostgreSQL (created when
missing), else var/bench/bench_bulk.sqlite3 (made afresh each run). Seeded rows are
bulk-inserted (no audit records): the benchmark measures the bulk action, not the seeding.

    python benchmarks/run.py bulk                      # 100,000 contacts
    python benchmarks/run.py bulk --contacts 5000      # a quick run
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench python benchmarks/run.py bulk
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

AIM_SECONDS = 60.0
SEED_BATCH = 5000


def database_url() -> str:
    return seeding.own_database_url("bulk")


def ensure_postgres_database(url: str) -> None:
    seeding.ensure_postgres_database(url)


def configure() -> str:
    return seeding.configure_own("bulk")


def people():
    """Two reps of one team with team scope: the actor, and the person given the contacts."""
    from rapport.accounts.models import Role, Team, User

    role, _ = Role.objects.get_or_create(
        name="Bench bulk rep", defaults={"scopes": {"contacts": "team", "sales": "team"}}
    )
    team, _ = Team.objects.get_or_create(name="Bench bulk team")
    reps = []
    for username in ("bench-bulk-actor", "bench-bulk-taker"):
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username,
                email=f"{username}@bench.example",
                password="not-secret",
                role=role,
            )
            user.teams.add(team)
        reps.append(user)
    return reps


def seed(actor, count: int) -> list[int]:
    """`count` contacts owned by `actor`, bulk-inserted (no audit rows)."""
    from django.db import transaction

    from rapport.contacts.models import Contact

    existing = Contact.objects.filter(owner=actor).count()
    if existing < count:
        missing = count - existing
        with transaction.atomic():
            for start in range(0, missing, SEED_BATCH):
                Contact.objects.bulk_create(
                    [
                        Contact(
                            first_name=f"Bulk{existing + start + i}",
                            last_name="Bench",
                            owner=actor,
                            search_text=f"bulk{existing + start + i} bench",
                        )
                        for i in range(min(SEED_BATCH, missing - start))
                    ]
                )
    return list(
        Contact.objects.filter(owner=actor).order_by("pk").values_list("pk", flat=True)[:count]
    )


def raw_update(ids: list[int], owner_id: int, chunk: int) -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            with transaction.atomic():
                cursor.execute(
                    "UPDATE contacts_contact SET owner_id = %s WHERE id IN ("
                    + ", ".join(["%s"] * len(part))
                    + ")",
                    [owner_id, *part],
                )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    options, _rest = parser.parse_known_args(argv or [])
    url = configure()
    from rich.console import Console
    from rich.table import Table

    from rapport.core import bulk
    from rapport.core.models import BulkOperation

    console = Console()
    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    actor, taker = people()
    console.print(f"Seeding {options.contacts:,} contacts on {engine}…")
    ids = seed(actor, options.contacts)
    count = len(ids)

    baseline = raw_update(ids, taker.pk, bulk.CHUNK_SIZE)
    raw_update(ids, actor.pk, bulk.CHUNK_SIZE)  # put back

    # Progress as the progress page reads it: the operation's row, saved after each chunk.
    original = bulk._run_chunk
    started = time.perf_counter()
    last_print = [started]

    def chunk_with_progress(operation, *args, **kwargs):
        original(operation, *args, **kwargs)
        now = time.perf_counter()
        if now - last_print[0] >= 5 or operation.done == operation.total:
            last_print[0] = now
            console.print(
                f"  {operation.done:>9,} / {operation.total:,} "
                f"({operation.percent} %) after {now - started:6.1f} s"
            )

    bulk._run_chunk = chunk_with_progress
    operation = bulk.start(
        actor=actor,
        entity_key="contacts",
        action_key="assign_owner",
        params={"owner": taker.pk},
        list_key="contacts",
        list_params={},
        inline=False,  # queued as a large selection is; the task body runs below
    )
    queued = time.perf_counter()
    # The worker's task body (`tasks_bulk.run_bulk_operation`), in this process.
    bulk.execute(operation.pk, task_id="bench")
    elapsed = time.perf_counter() - started
    bulk._run_chunk = original
    operation = BulkOperation.objects.get(pk=operation.pk)
    from rapport.contacts.models import Contact

    moved = Contact.objects.filter(pk__in=ids, owner=taker).count()

    table = Table(title=f"Bulk assign owner over {count:,} contacts ({engine})")
    table.add_column("")
    table.add_column("seconds", justify="right")
    table.add_column("records / s", justify="right")
    table.add_column("× baseline", justify="right")
    table.add_row("raw SQL UPDATE (baseline)", f"{baseline:.2f}", f"{count / baseline:,.0f}", "1")
    table.add_row(
        "Rapport bulk action (start + worker)",
        f"{elapsed:.2f}",
        f"{count / elapsed:,.0f}",
        f"{elapsed / baseline:,.0f}",
    )
    console.print(table)
    console.print(
        f"Selecting the members: {queued - started:.2f} s. Outcome: {operation.status}, "
        f"{operation.changed:,} changed, {operation.skipped:,} skipped, {operation.failed:,} "
        f"failed; {moved:,} contacts now owned by the new owner."
    )
    projected = elapsed * 100_000 / max(count, 1)
    aim = "met" if projected < AIM_SECONDS else "NOT met"
    console.print(
        f"Aim: 100,000 under {AIM_SECONDS:.0f} s — {aim}"
        + ("" if count == 100_000 else f" (projected from {count:,}: {projected:.0f} s)")
    )
    return 0 if moved == count and operation.status == BulkOperation.Status.DONE else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
