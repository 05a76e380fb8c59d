"""Template helpers shared by every page: form fields with their errors, panels, display of
custom-field values. Nothing here marks user text safe; Django's autoescape stays in charge."""

from __future__ import annotations

import datetime as dt
import logging

from django import template
from django.forms import BoundField
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html

from rapport.core import display

register = template.Library()
logger = logging.getLogger(__name__)


@register.inclusion_tag("core/_field.html")
def field(bound_field: BoundField, css: str = "", hide_label: bool = False):
    """A labelled input with its help text and its errors beside it, wired for screen readers."""
    widget = bound_field.field.widget
    errors = bound_field.errors
    attrs = {}
    described = []
    if bound_field.help_text:
        described.append(f"{bound_field.auto_id}_help")
    if errors:
        attrs["aria-invalid"] = "true"
        described.append(f"{bound_field.auto_id}_error")
    if described:
        attrs["aria-describedby"] = " ".join(described)
    input_type = getattr(widget, "input_type", "")
    is_choice_list = input_type == "radio" or (
        input_type == "checkbox" and getattr(widget, "allow_multiple_selected", False)
    )
    return {
        "field": bound_field,
        "widget_html": bound_field.as_widget(attrs=attrs),
        "css": css,
        "hide_label": hide_label,
        "is_choice_list": is_choice_list,
        "is_checkbox": input_type == "checkbox" and not is_choice_list,
        "required_marker": getattr(bound_field.field, "is_required_marker", False)
        or bound_field.field.required,
    }


@register.simple_tag(takes_context=True)
def render_panel(context, entry):
    """Render one registered panel. Its template sees `panel`, `ctx` (what the panel's context
    function returned), `object`, `can_edit`, `request` and `user`."""
    panel = entry["panel"]
    values = {
        "panel": panel,
        "ctx": entry["context"],
        "object": context.get("object"),
        "can_edit": context.get("can_edit", False),
        "user": context.get("user"),
        "perms": context.get("perms"),
        "csrf_token": context.get("csrf_token"),
    }
    try:
        return render_to_string(panel.template, values, request=context.get("request"))
    except Exception:
        # One app's broken panel must not take the whole page down (see core.htmx).
        logger.exception("panel %s could not be rendered", panel.key)
        return format_html(
            '<p class="muted">{}</p>', "This panel could not be shown; the error has been logged."
        )


@register.filter
def custom_value(value):
    """A stored custom-field value as text: lists joined, booleans as Yes/No, dates readable."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return display.day_text(value) or value
    return value


@register.filter
def get_item(mapping, key):
    if mapping is None:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def is_url(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


@register.filter
def initials(text) -> str:
    words = [w for w in str(text or "").split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


@register.filter
def since(value):
    """'3 days ago' for recent times, a date for older ones, '—' for none."""
    if not value:
        return "—"
    now = timezone.now()
    delta = now - value
    if delta < dt.timedelta(0):
        return display.moment_text(value)
    if delta < dt.timedelta(minutes=1):
        return "just now"
    if delta < dt.timedelta(hours=1):
        minutes = int(delta.total_seconds() // 60)
        return f"{minutes} min ago"
    if delta < dt.timedelta(days=1):
        hours = int(delta.total_seconds() // 3600)
        return f"{hours} h ago"
    if delta < dt.timedelta(days=30):
        return f"{delta.days} d ago"
    return display.day_text(value)


@register.filter
def day(value, style=""):
    """A date as the reader's locale writes it, with the year only when not this year:
    "Dec 7", "Dec 7, 2024". `day:"weekday"` adds the weekday, `day:"full"` spells it out."""
    return display.day_text(value, style)


@register.filter
def moment(value, style=""):
    """A date and time in the reader's time zone and locale: "Dec 7, 3:05 PM".
    `moment:"seconds"`, `moment:"weekday"`, `moment:"full"` (or joined: "weekday,seconds")."""
    return display.moment_text(value, style)


@register.filter
def month(value):
    """A month of a year: "Dec 2025"."""
    return display.month_text(value)


@register.filter
def money(amount, currency=""):
    """An amount with its currency, in the currency's own decimals; "—" for no amount."""
    return display.money_text(amount, currency)


@register.filter
def number(value, decimals=""):
    """A number grouped the locale's way ("1,234,567"); `number:2` for two decimals."""
    return display.number_text(value, decimals)


@register.filter
def phone(raw):
    """A stored or typed phone number for reading; unreadable input is shown as typed."""
    return display.phone_text(raw)


@register.filter
def words(key) -> str:
    """A stored key as words: "left_voicemail" → "Left voicemail"."""
    text = str(key or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@register.simple_tag
def split_navigation(items, inline: int = 6) -> dict:
    """The menu as the shell shows it: the first `inline` main entries in the bar, the other
    main entries under "More", and the administration entries in the user menu."""
    main = [item for item in items if item.get("section") != "admin"]
    return {
        "inline": main[:inline],
        "more": main[inline:],
        "more_active": any(item.get("active") for item in main[inline:]),
        "admin": [item for item in items if item.get("section") == "admin"],
    }
