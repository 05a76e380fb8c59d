"""Bounded numbers for API input: what a client sends is refused with a 422 naming the field
before it can reach the database, where an integer past 64 bits is an overflow (SQLite) or an
out-of-range error (PostgreSQL) — a 500 instead of an answer.

    contact_id: RecordId | None = None          # a body or query field
    def get_deal(request, deal_id: PathId): …   # a path parameter
    due_after: Moment | None = None             # a date and time
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated

from ninja import Path, Schema
from pydantic import AfterValidator, Field

# Primary keys are 64-bit (BigAutoField); nothing above this can name a row.
MAX_ID = 2**63 - 1
# Counts and quantities fit a 32-bit integer column on every database.
MAX_COUNT = 2**31 - 1

RecordId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
Quantity = Annotated[int, Field(ge=1, le=MAX_COUNT)]


def _in_utc(value: dt.datetime) -> dt.datetime:
    # PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows (+21:35), and a moment at
    # the edge of the calendar (0001-01-01T00:00+05:00) has no UTC equivalent at all.
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("Date and time out of range.") from None


Moment = Annotated[dt.datetime, AfterValidator(_in_utc)]


class MissingRateOut(Schema):
    """Amounts of one currency left out of a company-currency figure for want of a rate (the
    forecast, the reports: one schema wherever such a figure is published)."""

    currency: str
    earliest: dt.date = Field(
        description="A rate on or before this date would convert every one of them."
    )
    count: int
    amount: Decimal = Field(description="Their sum in the original currency.")
    text: str


def missing_rates_out(gaps) -> list[dict]:
    """The missing exchange rates of a figure, as `MissingRateOut` rows."""
    return [
        {
            "currency": gap.currency,
            "earliest": gap.earliest,
            "count": gap.count,
            "amount": gap.amount,
            "text": gap.text,
        }
        for gap in gaps
    ]
