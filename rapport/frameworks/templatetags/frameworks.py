"""Showing KPI values in their unit (percent, hours, days, money, ratio, count)."""

from __future__ import annotations

from django import template

from rapport.core import display
from rapport.frameworks.kpis import Unit
from rapport.frameworks.kpis.base import missing_value_text

register = template.Library()


def _currency() -> str:
    from rapport.commerce.services import business_currency

    return business_currency()


@register.filter
def kpi_value(value, unit: str) -> str:
    """84.2%, 12.5 h, 31.0 days, €1,234.00, 2.31, 17 (en-US) — or an em dash for no value."""
    if value is None or value == "":
        return "—"
    value = float(value)
    if unit == Unit.PERCENT:
        # Stored as points (84.2), not as the share percent_text expects.
        return display.percent_text(value / 100, 1)
    if unit == Unit.HOURS:
        return f"{display.number_text(value, 1)} h"
    if unit == Unit.DAYS:
        return f"{display.number_text(value, 1)} days"
    if unit == Unit.CURRENCY:
        return display.money_text(value, _currency())
    if unit == Unit.RATIO:
        return display.number_text(value, 2)
    if value.is_integer():
        return display.number_text(int(value))
    return display.number_text(value, 1)


@register.filter
def score(value) -> str:
    """A maturity score to one decimal, or an em dash."""
    return "—" if value is None else display.number_text(float(value), 1)


@register.filter
def percent(value) -> str:
    """A fraction 0–1 as a whole percentage."""
    return "—" if value is None else display.percent_text(float(value))


@register.filter
def kpi_change(value, unit: str) -> str:
    """The size of a change in the KPI's own unit, for after "Up" or "Down": 3.9 pp for a
    percentage (points, not per cent of the value), €904.00, 2.5 days."""
    if value is None or value == "":
        return "—"
    size = abs(float(value))
    if unit == Unit.PERCENT:
        return f"{display.number_text(size, 1)} pp"
    return kpi_value(size, unit)


@register.filter
def signed(value) -> str:
    return "—" if value is None else f"{float(value):+g}"


@register.filter
def missing_value(reason) -> str:
    """Why a KPI has no value: "Not measurable: …", or "Not computed yet: …" as it stands."""
    return missing_value_text(str(reason or ""))
