"""The periods a quota covers: calendar months and quarters, as (first day, last day). Pure,
but for the label of an odd span, written the reader's way (rapport.core.display).

A period travels as a short key: "2026-04" for April 2026, "2026-Q2" for its quarter. Pages and
the API read and write these keys; the database keeps the two dates.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from rapport.core import display

MONTH, QUARTER = "month", "quarter"
_KEY = re.compile(r"^(\d{4})-(?:(0[1-9]|1[0-2])|[Qq]([1-4]))$")


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    return day.replace(day=1), _month_end(day.year, day.month)


def quarter_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    first_month = 3 * ((day.month - 1) // 3) + 1
    return dt.date(day.year, first_month, 1), _month_end(day.year, first_month + 2)


def bounds(kind: str, day: dt.date) -> tuple[dt.date, dt.date]:
    return quarter_bounds(day) if kind == QUARTER else month_bounds(day)


def kind_of(start: dt.date, end: dt.date) -> str | None:
    """ "month" or "quarter" when (start, end) is exactly one, else None."""
    if (start, end) == month_bounds(start):
        return MONTH
    if (start, end) == quarter_bounds(start):
        return QUARTER
    return None


def key_of(start: dt.date, end: dt.date) -> str:
    if kind_of(start, end) == QUARTER:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def parse_key(text: str) -> tuple[dt.date, dt.date]:
    """The period a key names ("2026-04", "2026-Q2"); ValueError in words otherwise."""
    match = _KEY.match((text or "").strip())
    if match is None or not 1900 <= int(match.group(1)) <= 2200:
        raise ValueError("Give a month as YYYY-MM (2026-04) or a quarter as YYYY-Qn (2026-Q2).")
    year = int(match.group(1))
    if match.group(2):
        return month_bounds(dt.date(year, int(match.group(2)), 1))
    return quarter_bounds(dt.date(year, 3 * int(match.group(3)) - 2, 1))


def label(start: dt.date, end: dt.date) -> str:
    kind = kind_of(start, end)
    if kind == MONTH:
        return f"{calendar.month_name[start.month]} {start.year}"
    if kind == QUARTER:
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return f"{display.day_text(start)} – {display.day_text(end)}"


def months_of_quarter(start: dt.date) -> list[tuple[dt.date, dt.date]]:
    first, _end = quarter_bounds(start)
    return [month_bounds(dt.date(first.year, first.month + offset, 1)) for offset in range(3)]


def shift_quarter(start: dt.date, quarters: int) -> dt.date:
    index = start.year * 4 + (start.month - 1) // 3 + quarters
    return dt.date(index // 4, 3 * (index % 4) + 1, 1)


def picker(today: dt.date, *, back: int = 4, forward: int = 4) -> list[dict]:
    """Quarters from `back` before today's to `forward` after, each with its months: what the
    period picker offers, as {"label", "key", "months": [{"label", "key"}]}."""
    current, _end = quarter_bounds(today)
    groups = []
    for offset in range(-back, forward + 1):
        start = shift_quarter(current, offset)
        quarter = quarter_bounds(start)
        groups.append(
            {
                "label": label(*quarter),
                "key": key_of(*quarter),
                "months": [
                    {"label": label(*month), "key": key_of(*month)}
                    for month in months_of_quarter(start)
                ],
            }
        )
    return groups
