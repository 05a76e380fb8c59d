"""Database settings for bulk work: how its commits wait, and the planner's statistics."""

from __future__ import annotations

from django.db import connection


def commit_asynchronously() -> None:
    """Let the current transaction's commit return before its WAL reaches the disk
    (PostgreSQL; SQLite in WAL mode with synchronous=NORMAL already does). A crash of the
    database server can then lose the last transactions committed this way, whole, never half
    of one — so use it only for work that is redone when lost: a batch that records its own
    progress in the same transaction, scores that every run rewrites.

    Only when the transaction is the caller's own outermost block: inside someone else's
    transaction it would relax their writes too.
    """
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def refresh_statistics(models) -> None:
    """ANALYZE the tables of `models`, for work that grows them faster than anything else
    looks. Without statistics the planners guess: PostgreSQL, with those of a table a tenth of
    its size, read a 2,000-value lookup by sequential scan (18 ms instead of 3 ms in the
    identity bench); SQLite, with none, read a lookup by id through the stage index of every
    contact. Both read a sample of fixed size (SQLite's `analysis_limit`), so it costs about
    the same at any table size: milliseconds on SQLite, about 0.2 s on PostgreSQL."""
    tables = sorted({connection.ops.quote_name(model._meta.db_table) for model in models})
    if not tables:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {', '.join(tables)}")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 1000")
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
