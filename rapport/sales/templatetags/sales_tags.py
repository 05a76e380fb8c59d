"""Small display helpers for the sales templates."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch

from rapport.core import display

register = template.Library()


def format_money(amount, currency: str = "") -> str:
    """The one money format of every page (rapport.core.display): "€12,500.00"."""
    return display.money_text(amount, currency)


def format_totals(pairs) -> str:
    return display.totals_text(pairs)


@register.filter
def money(amount, currency=""):
    return format_money(amount, currency)


@register.filter
def totals(pairs):
    return format_totals(pairs)


@register.filter
def percent(value, digits=0):
    if value is None:
        return "—"
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
def days(value):
    if value is None:
        return "—"
    return f"{float(value):.1f} d"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.simple_tag
def record_url(obj):
    """The record's page, or "" while the app that shows it has no page for it yet."""
    if obj is None:
        return ""
    try:
        return obj.get_absolute_url()
    except (NoReverseMatch, AttributeError):
        return ""


@register.filter
def signed(value, digits=2):
    if value is None:
        return "—"
    return f"{float(value):+.{int(digits)}f}"


@register.filter
def age(value):
    """How long ago, in its largest unit only: '3 days', '2 months'."""
    if not value:
        return "—"
    from django.utils.timesince import timesince

    return timesince(value, depth=1)
