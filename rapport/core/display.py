"""Values as a page shows them: rapport.core.formatting with this installation's locale, the
reader's time zone (Django's, set per request from User.time_zone) and today filled in.

Every template filter (`day`, `moment`, `money`, `phone`, `number`) and every view that writes
such text itself goes through here, so one page never mixes "7 Dec" with "12/07/2025".
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os

from django.conf import settings
from django.utils import timezone

from rapport.core import formatting

# Numbers typed without a country code are read in this region's plan; numbers from it are
# shown the national way.
DEFAULT_PHONE_REGION = os.environ.get("RAPPORT_DEFAULT_PHONE_REGION", "US")


# The signed-in reader's own choice (User.locale), set per request by the middleware.
_reader_locale: contextvars.ContextVar[str] = contextvars.ContextVar("reader_locale", default="")


def installation_locale() -> str:
    """RAPPORT_LOCALE ("de_DE" or "de-de"), else the one LANGUAGE_CODE names."""
    configured = getattr(settings, "RAPPORT_LOCALE", "") or settings.LANGUAGE_CODE
    return formatting.locale_from_language(configured)


def display_locale() -> str:
    """The reader's own choice of formats, else the installation's."""
    return _reader_locale.get() or installation_locale()


@contextlib.contextmanager
def reading_as(locale: str):
    """Write values the way `locale` does within the block ("" keeps the installation's)."""
    token = _reader_locale.set(formatting.locale_from_language(locale) if locale else "")
    try:
        yield
    finally:
        _reader_locale.reset(token)


def _local(value):
    """A date or datetime in the reader's time zone; ISO text is read; anything else is None."""
    if isinstance(value, str):
        try:
            value = (
                dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
            )
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value) if timezone.is_aware(value) else value
    return value if isinstance(value, dt.date) else None


def day_text(value, style: str = "") -> str:
    """ "Dec 7" / "Dec 7, 2024"; "" for no date, so `|default:"never"` still works."""
    local = _local(value)
    if local is None:
        return ""
    return formatting.format_day(local, display_locale(), timezone.localdate(), style or "short")


def moment_text(value, style: str = "", *, zone=None) -> str:
    """ "Dec 7, 3:05 PM". `style`: "seconds", "weekday", "full" or "dated" (the year always,
    for text that is stored and read in another year), or several joined by commas
    ("weekday,seconds"). A plain date shows as a day. `zone` writes the time in that zone
    instead of the reader's (for text that names its zone)."""
    if zone is not None:
        with timezone.override(zone):
            return moment_text(value, style)
    local = _local(value)
    if local is None:
        return ""
    styles = {part.strip() for part in (style or "").split(",")}
    base = next((name for name in ("full", "weekday", "dated") if name in styles), "short")
    if not isinstance(local, dt.datetime):
        return formatting.format_day(local, display_locale(), timezone.localdate(), base)
    return formatting.format_moment(
        local, display_locale(), timezone.localdate(), base, seconds="seconds" in styles
    )


def time_text(value) -> str:
    """A time of day alone ("7:30 AM"); "" for none."""
    if not isinstance(value, dt.time):
        return ""
    return formatting.format_time_of_day(value, display_locale())


def left_out_text(gap, noun: str) -> str:
    """What a missing exchange rate (`core.currency.MissingRate`) leaves out of a total:
    "3 orders, €1,200.00"."""
    plural = "" if gap.count == 1 else "s"
    return f"{number_text(gap.count)} {noun}{plural}, {money_text(gap.amount, gap.currency)}"


def month_text(value) -> str:
    local = _local(value)
    return "" if local is None else formatting.format_month(local, display_locale())


def money_text(amount, currency: str = "") -> str:
    """ "€12,500.00"; "—" for no amount."""
    if amount is None or amount == "":
        return "—"
    return formatting.format_money(amount, currency or "", display_locale())


def totals_text(pairs) -> str:
    """Several currencies' totals side by side: "€1,200.00 + $300.00"."""
    return " + ".join(money_text(amount, currency) for currency, amount in pairs) or "—"


def number_text(value, decimals=None) -> str:
    if value is None or value == "":
        return "—"
    chosen = None if decimals in (None, "") else int(decimals)
    return formatting.format_number(value, display_locale(), chosen)


def percent_text(share, decimals=0) -> str:
    """A share (0.25) as a percentage: "25%"; "—" for none."""
    if share is None or share == "":
        return "—"
    return formatting.format_percent(share, display_locale(), int(decimals or 0))


def phone_text(raw) -> str:
    if not raw:
        return ""
    return formatting.format_phone(str(raw), DEFAULT_PHONE_REGION)
