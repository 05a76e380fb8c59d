"""Amounts in the company currency, converted in SQL at each record's own day.

A money KPI sums orders or deals of every currency: each converts with the latest rate on or
before its day (a correlated lookup on the dated rates, which the CASE skips for amounts already
in the company currency). An amount without such a rate is never guessed: the KPI is not
measurable and its reason names the rates to add.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import TruncDate

from rapport.core import display
from rapport.frameworks.kpis.base import Unmeasurable, site_zone

MONEY = DecimalField(max_digits=24, decimal_places=10)


@dataclass(frozen=True)
class DayOf:
    """The field whose day picks the rate: a moment (its day in the site's zone) or a date."""

    field: str
    is_moment: bool = True

    def outer(self):
        if not self.is_moment:
            return OuterRef(self.field)
        # The wrapper gives TruncDate the field type a bare OuterRef lacks.
        moment = ExpressionWrapper(OuterRef(self.field), output_field=DateTimeField())
        return TruncDate(moment, tzinfo=site_zone())

    def local(self):
        return TruncDate(self.field, tzinfo=site_zone()) if self.is_moment else F(self.field)


ORDERED = DayOf("ordered_at")


def company_currency() -> str:
    from rapport.commerce.rates import company_currency as chosen

    return chosen()


def _rate_on(company: str, day: DayOf) -> Subquery:
    from rapport.commerce.models import ExchangeRate

    rates = ExchangeRate.objects.filter(
        to_currency=company, currency=OuterRef("currency"), valid_on__lte=day.outer()
    ).order_by("-valid_on")
    return Subquery(rates.values("rate")[:1], output_field=MONEY)


def in_company_currency(amount: str, day: DayOf, company: str | None = None) -> Case:
    """`amount` in the company currency at the rate of `day`; NULL without a rate (so a Sum
    leaves it out: `require_rates` makes sure none was)."""
    company = company or company_currency()
    return Case(
        When(currency=company, then=F(amount)),
        default=ExpressionWrapper(F(amount) * _rate_on(company, day), output_field=MONEY),
        output_field=MONEY,
    )


def order_amount() -> Case:
    """An order's total in the company currency, at the rate of the day it was placed."""
    return in_company_currency("total", ORDERED)


def require_rates(
    rows: QuerySet,
    *,
    amount: str = "total",
    day: DayOf = ORDERED,
    noun: str = "order",
    purpose: str = "revenue",
) -> None:
    """Raise Unmeasurable naming every currency of `rows` that lacks a rate for some row's day
    (one GROUP BY over the rows in other currencies only)."""
    from rapport.core.currency import MissingRate, cents

    company = company_currency()
    gaps = (
        rows.exclude(currency=company)
        .annotate(rate=_rate_on(company, day))
        .filter(rate__isnull=True)
        .annotate(day=day.local())
        .order_by()
        .values("currency")
        .annotate(count=Count("pk"), first=Min("day"), amount=Sum(amount))
        .order_by("currency")
        .values_list("currency", "first", "count", "amount")
    )
    missing = [
        MissingRate(currency=code, earliest=first, count=count, amount=cents(value or 0))
        for code, first, count, value in gaps
    ]
    if missing:
        parts = "; ".join(f"{gap.text} ({display.left_out_text(gap, noun)})" for gap in missing)
        raise Unmeasurable(
            f"The {purpose} in {company} cannot be computed without every {noun}'s exchange "
            f"rate: {parts}. An administrator can add the rates."
        )
