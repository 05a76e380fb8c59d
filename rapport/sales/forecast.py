"""The weighted forecast by month. Pure arithmetic on plain values, no Django.

Open deals count their amount times their stage's probability in the month they are expected
to close; won deals count in full in the month they closed; lost deals count zero. Currencies
are never added together as they are: every figure is per currency, and `in_company_currency`
first converts each deal at its own date (expected close for open deals, the close date for won
and lost ones) so the same arithmetic gives the company-currency forecast.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from rapport.core.currency import MissingRate, RateBook, missing_rates

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ForecastDeal:
    amount: Decimal
    currency: str
    status: str  # "open", "won" or "lost"
    probability: int  # percent, the weight of the deal's stage
    expected_close: dt.date
    closed_on: dt.date | None = None


@dataclass(frozen=True)
class ForecastMonth:
    month: dt.date  # the first day of the month
    currency: str
    won: Decimal
    weighted_open: Decimal
    open_total: Decimal  # unweighted: the best case if every open deal closes
    lost: Decimal  # shown for context; contributes nothing to the forecast
    open_deals: int
    won_deals: int
    lost_deals: int

    @property
    def forecast(self) -> Decimal:
        return self.won + self.weighted_open


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def conversion_date(deal: ForecastDeal) -> dt.date:
    """The day a deal's amount is converted at: the day it counts in the forecast."""
    if deal.status == "open":
        return deal.expected_close
    return deal.closed_on or deal.expected_close


def in_company_currency(
    deals: Iterable[ForecastDeal], book: RateBook
) -> tuple[list[ForecastDeal], list[MissingRate]]:
    """The deals with their amounts in the company currency, and the rates that were missing
    (deals without a rate are left out, never converted at a guessed rate)."""
    converted, unconverted = [], []
    for deal in deals:
        day = conversion_date(deal)
        value, _problem = book.convert(deal.amount, deal.currency, day)
        if value is None:
            unconverted.append((deal.amount, deal.currency, day))
        else:
            converted.append(replace(deal, amount=value, currency=book.company_currency))
    return converted, missing_rates(unconverted)


def monthly_forecast(
    deals: Iterable[ForecastDeal], *, first_month: dt.date, months: int
) -> list[ForecastMonth]:
    """One row per (month, currency) for `months` months from `first_month`, in month order.

    Months with no deal in a currency are still listed for every currency seen, so a chart has
    no gaps. Sums are exact decimals, rounded half-even to the cent once per month.
    """
    first = month_of(first_month)
    window = [add_months(first, i) for i in range(months)]
    inside = set(window)
    sums: dict[tuple[dt.date, str], dict[str, Decimal | int]] = defaultdict(
        lambda: {
            "won": Decimal(0),
            "weighted": Decimal(0),
            "open": Decimal(0),
            "lost": Decimal(0),
            "n_open": 0,
            "n_won": 0,
            "n_lost": 0,
        }
    )
    currencies: set[str] = set()
    for deal in deals:
        month = month_of(conversion_date(deal))
        if month not in inside:
            continue
        currencies.add(deal.currency)
        bucket = sums[(month, deal.currency)]
        amount = Decimal(deal.amount)
        if deal.status == "won":
            bucket["won"] += amount
            bucket["n_won"] += 1
        elif deal.status == "lost":
            bucket["lost"] += amount
            bucket["n_lost"] += 1
        else:
            bucket["weighted"] += amount * Decimal(int(deal.probability)) / Decimal(100)
            bucket["open"] += amount
            bucket["n_open"] += 1
    rows = []
    for month in window:
        for currency in sorted(currencies):
            bucket = sums[(month, currency)]
            rows.append(
                ForecastMonth(
                    month=month,
                    currency=currency,
                    won=_cents(bucket["won"]),
                    weighted_open=_cents(bucket["weighted"]),
                    open_total=_cents(bucket["open"]),
                    lost=_cents(bucket["lost"]),
                    open_deals=int(bucket["n_open"]),
                    won_deals=int(bucket["n_won"]),
                    lost_deals=int(bucket["n_lost"]),
                )
            )
    return rows


def _cents(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)
