"""Converting amounts to the company currency with dated rates. Pure: no Django, no database.

A rate says what one unit of a foreign currency is worth in the company currency on a date
(company currency EUR, rate 0.92 for USD: USD 100 is EUR 92). An amount converts with the
latest rate on or before its own date; when there is none, the conversion reports the missing
rate and gives no amount — a total never guesses.

The ECB publishes the other direction (how many units of a currency one euro buys); a company
currency other than the euro is reached through the euro by cross rates.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

CENT = Decimal("0.01")
# Rates are kept to ten decimal places: enough for JPY or IDR against a strong currency.
RATE_PLACES = Decimal("0.0000000001")
MAX_RATE = Decimal("9999999999")

# Offered in every currency picker, beside the company's own and those already in use.
COMMON_CURRENCIES = (
    "EUR",
    "USD",
    "GBP",
    "CHF",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "CZK",
    "CAD",
    "AUD",
    "JPY",
)


def missing_rate_text(currency: str, on_date: dt.date) -> str:
    return f"No {currency} rate on or before {on_date.isoformat()}"


@dataclass(frozen=True)
class RateBook:
    """Every known rate to `company_currency`, per currency in date order."""

    company_currency: str
    # currency -> ([dates ascending], [rates in the same order])
    rates: dict[str, tuple[list[dt.date], list[Decimal]]] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls, company_currency: str, rows: Iterable[tuple[str, dt.date, Decimal]]
    ) -> RateBook:
        """Build from (currency, date, rate) rows in any order; a later duplicate date wins."""
        by_currency: dict[str, dict[dt.date, Decimal]] = {}
        for currency, day, rate in rows:
            by_currency.setdefault(currency, {})[day] = Decimal(rate)
        rates = {}
        for currency, dated in by_currency.items():
            days = sorted(dated)
            rates[currency] = (days, [dated[day] for day in days])
        return cls(company_currency=company_currency, rates=rates)

    def rate_on(self, currency: str, on_date: dt.date) -> Decimal | None:
        """The latest rate on or before `on_date`; 1 for the company currency itself."""
        if currency == self.company_currency:
            return Decimal(1)
        known = self.rates.get(currency)
        if not known:
            return None
        days, values = known
        index = bisect.bisect_right(days, on_date)
        return values[index - 1] if index else None

    def convert(
        self, amount: Decimal, currency: str, on_date: dt.date
    ) -> tuple[Decimal | None, str]:
        """(the amount in the company currency, unrounded; "") or (None, what is missing)."""
        rate = self.rate_on(currency, on_date)
        if rate is None:
            return None, missing_rate_text(currency, on_date)
        return Decimal(amount) * rate, ""


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class MissingRate:
    """Amounts of one currency left out of a total for want of a rate."""

    currency: str
    earliest: dt.date  # a rate on or before this date would cover every one of them
    count: int
    amount: Decimal  # in the original currency

    @property
    def text(self) -> str:
        return missing_rate_text(self.currency, self.earliest)


@dataclass(frozen=True)
class CompanyTotal:
    """A sum in the company currency, the originals it was made of, and what it left out."""

    currency: str
    amount: Decimal  # rounded to the cent, of the converted amounts only
    originals: list[tuple[str, Decimal]]  # (currency, sum) of every amount, converted or not
    missing: list[MissingRate]

    @property
    def is_complete(self) -> bool:
        return not self.missing

    @property
    def has_other_currencies(self) -> bool:
        """Whether any amount was in another currency, so the originals are worth showing."""
        return any(code != self.currency for code, _amount in self.originals)


def missing_rates(unconverted: Iterable[tuple[Decimal, str, dt.date]]) -> list[MissingRate]:
    """(amount, currency, date) items that found no rate, per currency: the earliest date (a rate
    on or before it covers them all), how many, and their sum in the original currency."""
    missing: dict[str, list] = {}
    for amount, currency, on_date in unconverted:
        entry = missing.setdefault(currency, [on_date, 0, Decimal(0)])
        entry[0] = min(entry[0], on_date)
        entry[1] += 1
        entry[2] += Decimal(amount)
    return [
        MissingRate(currency=code, earliest=day, count=count, amount=cents(total))
        for code, (day, count, total) in sorted(missing.items())
    ]


def company_total(book: RateBook, items: Iterable[tuple[Decimal, str, dt.date]]) -> CompanyTotal:
    """Sum (amount, currency, date) items in the company currency, each at its own date.

    Conversions stay exact until the total, which is rounded half-even to the cent once.
    """
    converted = Decimal(0)
    originals: dict[str, Decimal] = {}
    unconverted = []
    for amount, currency, on_date in items:
        amount = Decimal(amount)
        originals[currency] = originals.get(currency, Decimal(0)) + amount
        value, _problem = book.convert(amount, currency, on_date)
        if value is None:
            unconverted.append((amount, currency, on_date))
        else:
            converted += value
    return CompanyTotal(
        currency=book.company_currency,
        amount=cents(converted),
        originals=[(code, cents(originals[code])) for code in sorted(originals)],
        missing=missing_rates(unconverted),
    )


# --------------------------------------------------------------------------- ECB files


@dataclass(frozen=True)
class ParsedRate:
    currency: str
    valid_on: dt.date
    rate: Decimal  # to the company currency
    line: int  # in the file, for problems found later


@dataclass
class ParsedFile:
    rates: list[ParsedRate] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)


# What a published rate can be: beyond these, dividing by it would overflow Decimal.
SMALLEST_VALUE, LARGEST_VALUE = Decimal("1e-12"), Decimal("1e12")


def parse_rate(text: str) -> Decimal | None:
    """A positive finite decimal between SMALLEST_VALUE and LARGEST_VALUE, or None."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or not SMALLEST_VALUE <= value <= LARGEST_VALUE:
        return None
    return value


def parse_ecb_csv(text: str, company_currency: str) -> ParsedFile:
    """Rates to `company_currency` from an ECB reference-rate file.

    The file's first row is `Date,USD,JPY,…`; each further row gives a date (YYYY-MM-DD) and,
    per currency, how many units one euro buys ("N/A" or empty where there is none). A row that
    cannot be read is reported by its line number and the rest are kept.
    """
    result = ParsedFile()
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        result.problems.append((1, "The file is empty."))
        return result
    header = [name.strip().upper() for name in header]
    if not header or header[0] != "DATE":
        result.problems.append((1, "The first column must be “Date”, as in the ECB's file."))
        return result
    columns = [(index, code) for index, code in enumerate(header) if index and code]
    bad_codes = [code for _index, code in columns if not (len(code) == 3 and code.isalpha())]
    if bad_codes:
        result.problems.append(
            (1, f"Not a currency code: {', '.join(bad_codes)}. Use three letters, e.g. USD.")
        )
        return result
    company = company_currency
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            valid_on = dt.date.fromisoformat(row[0].strip())
        except ValueError:
            result.problems.append((line, f"“{row[0].strip()}” is not a date as YYYY-MM-DD."))
            continue
        per_euro: dict[str, Decimal] = {"EUR": Decimal(1)}
        unreadable = []
        for index, code in columns:
            cell = row[index].strip() if index < len(row) else ""
            if cell.upper() in {"", "N/A"}:
                continue
            value = parse_rate(cell)
            if value is None:
                unreadable.append(f"{code} “{cell}”")
            else:
                per_euro[code] = value
        if unreadable:
            result.problems.append(
                (line, f"Not a positive rate: {', '.join(unreadable)}; the row was skipped.")
            )
            continue
        company_per_euro = per_euro.get(company)
        if company_per_euro is None:
            result.problems.append(
                (line, f"No {company} rate on this date, so no other rate can be converted to it.")
            )
            continue
        for code, units in per_euro.items():
            if code == company:
                continue
            # One unit of `code` is 1/units euro, and one euro is company_per_euro.
            exact = company_per_euro / units
            if exact > MAX_RATE:
                result.problems.append((line, f"The {code} rate is too large; skipped."))
                continue
            rate = exact.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)
            if rate <= 0:
                result.problems.append((line, f"The {code} rate rounds to zero; skipped."))
                continue
            result.rates.append(ParsedRate(currency=code, valid_on=valid_on, rate=rate, line=line))
    return result
