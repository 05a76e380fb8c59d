"""Quote numbers: "Q-2026-0001", one series per calendar year, never given out twice."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from rapport.sales.models import QuoteNumberCounter

PREFIX = "Q"


def format_number(year: int, sequence: int) -> str:
    return f"{PREFIX}-{year}-{sequence:04d}"


def take_number(year: int) -> str:
    """The next number of `year`, inside the caller's transaction.

    The counter is raised with one UPDATE … SET last = last + 1 before it is read: PostgreSQL
    holds that row's lock, and SQLite its write lock, until the caller commits, so a concurrent
    caller waits and then counts on from the committed value. A rollback gives the number back.
    The first number of a year creates the row; two callers racing to create it meet the unique
    year, and the loser counts on from the winner's row.
    """
    with transaction.atomic():
        raised = QuoteNumberCounter.objects.filter(year=year).update(last=F("last") + 1)
        if not raised:
            try:
                with transaction.atomic():
                    QuoteNumberCounter.objects.create(year=year, last=1)
            except IntegrityError:
                QuoteNumberCounter.objects.filter(year=year).update(last=F("last") + 1)
        last = QuoteNumberCounter.objects.values_list("last", flat=True).get(year=year)
    return format_number(year, last)
