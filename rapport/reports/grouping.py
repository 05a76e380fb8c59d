"""Grouping and measuring a report's rows. Pure: plain values in, plain values out, no Django.

The database hands over *partials*: per combination of raw group keys (a day, a stage, an
owner…) how many records there are, how many have a value in the measured field, and that
field's sum, minimum and maximum. Here dates are put into their period (ISO weeks start on
Monday), empty values join one "not set" group, partials of the same group are merged, money
is converted at each partial's own date, and each cell's measure is read off. Merging is exact
for every measure because an average is kept as a sum and a count until the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal

from rapport.core.currency import MissingRate, RateBook, cents

NOT_SET = None  # the key of the group of records without a value
NOT_SET_LABEL = "Not set"
MAX_GROUPS = 100  # first grouping: more would not be readable as bars
MAX_SERIES = 20  # second grouping
MAX_FILLED = 400  # empty periods are filled in between the first and the last, up to this
PERIODS = ("day", "week", "month", "quarter", "year")
MEASURES = ("count", "sum", "average", "min", "max")
TWO_PLACES = Decimal("0.01")


# --------------------------------------------------------------------------- periods


def as_date(value) -> dt.date | None:
    """A date from a date, a datetime or ISO text (custom date fields are text); else None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def period_start(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if period == "year":
        return dt.date(day.year, 1, 1)
    raise ValueError(f"unknown period {period!r}")


def next_period(start: dt.date, period: str) -> dt.date:
    """The first day after the period that begins on `start`; ValueError after the year 9999."""
    if period in ("day", "week"):
        try:
            return start + dt.timedelta(days=1 if period == "day" else 7)
        except OverflowError as exc:
            raise ValueError("no date after the year 9999") from exc
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_label(start: dt.date, period: str) -> str:
    if period == "day":
        return f"{start.day} {start:%b %Y}"
    if period == "week":
        return f"Week of {start.day} {start:%b %Y}"
    if period == "month":
        return f"{start:%b %Y}"
    if period == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return str(start.year)


# --------------------------------------------------------------------------- axes and cells


@dataclass(frozen=True)
class Axis:
    """One grouping: a date field put into `period`s, or values labelled by `labels` (choice
    keys to their labels) and ordered as `order` lists them (the rest by label)."""

    label: str
    period: str = ""
    labels: dict = field(default_factory=dict)
    order: Sequence = ()
    kind: str = "text"  # text, choice, number, boolean, date

    def key(self, raw):
        """The group a raw value belongs to: a period's first day, or the value itself."""
        if raw is None or raw == "" or raw == [] or raw == {}:
            return NOT_SET
        if self.period:
            day = as_date(raw)
            return NOT_SET if day is None else period_start(day, self.period)
        if isinstance(raw, list | dict):
            return str(raw)
        return raw

    def label_of(self, key) -> str:
        if key is NOT_SET:
            return NOT_SET_LABEL
        if self.period:
            return period_label(key, self.period)
        if isinstance(key, bool):
            return "Yes" if key else "No"
        if str(key) in self.labels:
            return str(self.labels[str(key)])
        if isinstance(key, Decimal | float):
            return f"{Decimal(str(key)).normalize():f}"
        return str(key)

    def sorted_keys(self, keys: Iterable) -> list:
        keys = set(keys)
        present = [key for key in keys if key is not NOT_SET]
        if self.period or all(isinstance(key, int | float | Decimal) for key in present):
            ordered = sorted(present, key=lambda key: (isinstance(key, bool), key))
        else:
            rank = {str(value): index for index, value in enumerate(self.order)}
            ordered = sorted(
                present,
                key=lambda key: (
                    rank.get(str(key), len(rank)),
                    self.label_of(key).casefold(),
                    str(key),
                ),
            )
        if self.period and ordered and _span(ordered[0], ordered[-1], self.period) <= MAX_FILLED:
            ordered = _every_period(ordered[0], ordered[-1], self.period)
        return [*ordered, NOT_SET] if NOT_SET in keys else ordered


def _span(first: dt.date, last: dt.date, period: str) -> int:
    days = (last - first).days
    return {"day": days, "week": days // 7, "month": days // 28, "quarter": days // 90}.get(
        period, days // 365
    )


def _every_period(first: dt.date, last: dt.date, period: str) -> list[dt.date]:
    starts, current = [], first
    while current <= last:
        starts.append(current)
        if current == last:
            break  # the period after the last one of year 9999 has no date
        current = next_period(current, period)
    return starts


@dataclass(frozen=True)
class Partial:
    """What the database says about one combination of raw keys (one per grouping)."""

    keys: tuple
    records: int
    values: int = 0  # records with a value in the measured field
    total: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None


@dataclass
class Cell:
    records: int = 0
    values: int = 0
    total: Decimal = Decimal(0)
    low: Decimal | None = None
    high: Decimal | None = None

    def add(self, part: Partial | Cell) -> None:
        self.records += part.records
        self.values += part.values
        if part.values and part.total is not None:
            total = part.total
            self.total += total if type(total) is Decimal else Decimal(total)
        if part.low is not None:
            self.low = Decimal(part.low) if self.low is None else min(self.low, Decimal(part.low))
        if part.high is not None:
            high = Decimal(part.high)
            self.high = high if self.high is None else max(self.high, high)

    def measure(self, measure: str) -> int | Decimal | None:
        """The cell's figure; None where there is nothing to average or compare."""
        if measure == "count":
            return self.records
        if measure == "sum":
            return _round(self.total)
        if not self.values:
            return None
        if measure == "average":
            return _round(self.total / self.values)
        if measure == "min":
            return _round(self.low) if self.low is not None else None
        if measure == "max":
            return _round(self.high) if self.high is not None else None
        raise ValueError(f"unknown measure {measure!r}")


def _round(value: Decimal) -> Decimal:
    return Decimal(value).quantize(TWO_PLACES, rounding=ROUND_HALF_EVEN)


# --------------------------------------------------------------------------- the table


@dataclass
class Table:
    """Cells by (first key, second key); the second key is None with one grouping."""

    axes: tuple[Axis, ...]
    rows: list  # first-grouping keys in order
    columns: list  # second-grouping keys in order ([None] with one grouping)
    cells: dict
    row_totals: dict
    total: Cell
    truncated_rows: int = 0  # groups left out beyond MAX_GROUPS
    truncated_columns: int = 0

    def cell(self, row, column=None) -> Cell:
        return self.cells.get((row, column)) or Cell()


def group(partials: Iterable[Partial], axes: Sequence[Axis]) -> Table:
    """Merge partials into the cells of one or two groupings, with row and grand totals."""
    if not 1 <= len(axes) <= 2:
        raise ValueError("a report groups by one or two fields")
    cells: dict = {}
    # A report over millions of records hands over tens of thousands of partials (a day ×
    # a segment × a currency…) for a few hundred cells: each raw key is put into its group
    # once, and the totals are summed from the cells, not from every partial.
    keys: list[dict] = [{}, {}]

    def key_of(index, raw):
        known = keys[index]
        try:
            return known[raw]
        except KeyError:
            known[raw] = key = axes[index].key(raw)
            return key
        except TypeError:  # an unhashable raw value (a JSON list): no memory of it
            return axes[index].key(raw)

    two = len(axes) == 2
    for partial in partials:
        row = key_of(0, partial.keys[0])
        column = key_of(1, partial.keys[1]) if two else None
        cell = cells.get((row, column))
        if cell is None:
            cells[row, column] = cell = Cell()
        cell.add(partial)
    row_totals: dict = {}
    column_totals: dict = {}
    total = Cell()
    for (row, column), cell in cells.items():
        row_totals.setdefault(row, Cell()).add(cell)
        column_totals.setdefault(column, Cell()).add(cell)
        total.add(cell)
    rows = axes[0].sorted_keys(row_totals)
    truncated_rows = max(0, len(rows) - MAX_GROUPS)
    rows = rows[:MAX_GROUPS]
    columns, truncated_columns = [None], 0
    if len(axes) == 2:
        every = axes[1].sorted_keys(column_totals)
        columns = every
        if len(every) > MAX_SERIES and axes[1].period:
            columns = every[:MAX_SERIES]
        elif len(every) > MAX_SERIES:
            # The series with the most records stay, still in their own order.
            kept = set(sorted(every, key=lambda key: -column_totals[key].records)[:MAX_SERIES])
            columns = [key for key in every if key in kept]
        truncated_columns = len(every) - len(columns)
    return Table(
        axes=tuple(axes),
        rows=rows,
        columns=columns,
        cells=cells,
        row_totals=row_totals,
        total=total,
        truncated_rows=truncated_rows,
        truncated_columns=truncated_columns,
    )


# --------------------------------------------------------------------------- money


@dataclass(frozen=True)
class MoneyPartial:
    """A partial whose amounts are in `currency`, to be converted at `day`."""

    partial: Partial
    currency: str
    day: dt.date | None


def in_company_currency(
    items: Iterable[MoneyPartial], book: RateBook
) -> tuple[list[Partial], list[MissingRate]]:
    """Each partial with its amounts in the company currency at its own date. A partial without
    a rate keeps its records (they still count) but loses its amounts, and the rate is named
    among the missing ones: a figure is never made up from a guessed rate."""
    converted: list[Partial] = []
    missing: dict[str, list] = {}
    for item in items:
        part = item.partial
        if item.currency == book.company_currency:
            converted.append(part)
            continue
        rate = book.rate_on(item.currency, item.day) if item.day else None
        if rate is None:
            if part.values:
                day = item.day or dt.date.min
                entry = missing.setdefault(item.currency, [day, 0, Decimal(0)])
                entry[0] = min(entry[0], day)
                entry[1] += part.values
                entry[2] += Decimal(part.total or 0)
            converted.append(replace(part, values=0, total=None, low=None, high=None))
            continue
        converted.append(
            Partial(
                part.keys,
                part.records,
                part.values,
                None if part.total is None else Decimal(part.total) * rate,
                None if part.low is None else Decimal(part.low) * rate,
                None if part.high is None else Decimal(part.high) * rate,
            )
        )
    return converted, [
        MissingRate(currency=code, earliest=day, count=count, amount=cents(amount))
        for code, (day, count, amount) in sorted(missing.items())
    ]


# --------------------------------------------------------------------------- keys in links


def key_to_param(key) -> str:
    """A group key as a query parameter of the drill-down link ("" is the "not set" group)."""
    if key is NOT_SET:
        return ""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, dt.date):
        return key.isoformat()
    if isinstance(key, Decimal | float):
        return f"{Decimal(str(key)).normalize():f}"
    return str(key)


# The largest power of ten a group key may be (a drill-down parameter is typed by anyone).
MAX_EXPONENT = 100


def param_to_key(text: str, kind: str, period: str = "", parse: Callable | None = None):
    """The group key a drill-down parameter names; ValueError when it cannot be one."""
    if text == "":
        return NOT_SET
    if period:
        day = dt.date.fromisoformat(text)
        if period_start(day, period) != day:
            raise ValueError("not the first day of a period")
        return day
    if kind == "boolean":
        if text not in {"true", "false"}:
            raise ValueError("not true or false")
        return text == "true"
    if kind == "number":
        value = Decimal(text)
        # No column holds a number this large or this fine, and PostgreSQL refuses to compare
        # with one past its numeric range.
        if not value.is_finite() or (
            value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT
        ):
            raise ValueError("not a number")
        return value
    return parse(text) if parse else text
