"""Showing KPI values in their unit (percent, hours, days, money, ratio, count)."""

from __future__ import annotations

from django import template

from rapport.frameworks.kpis import Unit
from rapport.frameworks.kpis.base import missing_value_text

register = template.Library()


def _currency() -> str:
    from rapport.commerce.services import business_currency

    return business_currency()


@register.filter
def kpi_value(value, unit: str) -> str:
    """84.2 %, 12.5 h, 31 days, 1,234 EUR, 2.31×, 17 — or an em dash for no value."""
    if value is None or value == "":
        return "—"
    value = float(value)
    if unit == Unit.PERCENT:
        return f"{value:.1f} %"
    if unit == Unit.HOURS:
        return f"{value:,.1f} h"
    if unit == Unit.DAYS:
        return f"{value:,.1f} days"
    if unit == Unit.CURRENCY:
        return f"{value:,.0f} {_currency()}"
    if unit == Unit.RATIO:
        return f"{value:.2f}"
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


@register.filter
def score(value) -> str:
    """A maturity score to one decimal, or an em dash."""
    return "—" if value is None else f"{float(value):.1f}"


@register.filter
def percent(value) -> str:
    """A fraction 0–1 as a whole percentage."""
    return "—" if value is None else f"{100 * float(value):.0f} %"


@register.filter
def kpi_change(value, unit: str) -> str:
    """The size of a change in the KPI's own unit, for after "Up" or "Down": 3.9 pp for a
    percentage (points, not per cent of the value), 904 EUR, 2.5 days."""
    if value is None or value == "":
        return "—"
    size = abs(float(value))
    if unit == Unit.PERCENT:
        return f"{size:.1f} pp"
    return kpi_value(size, unit)


@register.filter
def signed(value) -> str:
    return "—" if value is None else f"{float(value):+g}"


@register.filter
def missing_value(reason) -> str:
    """Why a KPI has no value: "Not measurable: …", or "Not computed yet: …" as it stands."""
    return missing_value_text(str(reason or ""))
