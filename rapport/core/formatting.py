"""Dates, amounts and phone numbers written the way the reader's locale writes them.

Pure: no Django, no database. The caller says which locale ("en_US", "de_DE") and which day is
today; rapport.core.display picks those for a request. Patterns come from CLDR through Babel,
so "7 Dec" / "Dec 7" / "7. Dez." is the locale's own choice, not ours.

A day carries its year only when it is not in the current year: "Dec 7" this year,
"Dec 7, 2024" otherwise. Money has its currency's own decimals (JPY none, BHD three).
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, match_skeleton
from babel.numbers import format_currency, get_currency_symbol

FALLBACK_LOCALE = "en_US"
# CLDR skeletons: which fields to show, the locale decides order and punctuation.
_DAY_SKELETONS = {
    # style: (this year, another year)
    "short": ("MMMd", "yMMMd"),
    "weekday": ("MMMEd", "yMMMEd"),
    # Always with the year: text that is kept and read later (an outcome, a document).
    "dated": ("yMMMd", "yMMMd"),
}


def locale_from_language(code: str) -> str:
    """Django's "en-us" or "pt-br" as Babel's "en_US" / "pt_BR"."""
    language, _, region = (code or "").replace("_", "-").partition("-")
    if not language:
        return FALLBACK_LOCALE
    return f"{language.lower()}_{region.upper()}" if region else language.lower()


# The formats a person may choose for themselves (Babel has them all; these are the ones a
# CRM team in Europe and the Americas asks for), each named in its own language.
READER_LOCALES = (
    "en_US",
    "en_GB",
    "en_CA",
    "en_AU",
    "de_DE",
    "de_AT",
    "de_CH",
    "fr_FR",
    "fr_CA",
    "nl_NL",
    "es_ES",
    "es_MX",
    "it_IT",
    "pt_BR",
    "pt_PT",
    "sv_SE",
    "da_DK",
    "nb_NO",
    "fi_FI",
    "pl_PL",
    "cs_CZ",
    "ja_JP",
)


def locale_name(name: str) -> str:
    """ "Deutsch (Deutschland)": a locale as its own speakers name it."""
    shown = _locale(name).display_name or name
    return shown[:1].upper() + shown[1:]


@lru_cache(maxsize=64)
def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name or FALLBACK_LOCALE)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(FALLBACK_LOCALE)


@lru_cache(maxsize=256)
def _skeleton_pattern(locale_name: str, skeleton: str) -> str:
    locale = _locale(locale_name)
    return locale.datetime_skeletons[match_skeleton(skeleton, locale.datetime_skeletons)].pattern


def format_day(value: dt.date, locale: str, today: dt.date, style: str = "short") -> str:
    """A calendar day: "Dec 7" this year, "Dec 7, 2024" another year (en_US).
    `style` "weekday" adds the weekday ("Sun, Dec 7"); "dated" always shows the year
    ("Dec 7, 2026"); "full" spells all out with the year ("Sunday, December 7, 2025"), for a
    page's own date."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if style == "full":
        return format_date(value, "full", locale=_locale(locale))
    this_year, other_year = _DAY_SKELETONS.get(style, _DAY_SKELETONS["short"])
    skeleton = this_year if value.year == today.year else other_year
    return format_date(value, _skeleton_pattern(locale, skeleton), locale=_locale(locale))


def format_moment(
    value: dt.datetime, locale: str, today: dt.date, style: str = "short", seconds: bool = False
) -> str:
    """A day and its time of day, both in the locale's way: "Dec 7, 3:05 PM" (en_US),
    "7. Dez., 15:05" (de_DE). The value is taken as already in the reader's time zone."""
    chosen = _locale(locale)
    time_text = format_time(value, "medium" if seconds else "short", locale=chosen)
    day_text = format_day(value, locale, today, style)
    joined = chosen.datetime_formats.get("medium" if style == "full" else "short", "{1} {0}")
    return str(joined).replace("{1}", day_text).replace("{0}", time_text)


def format_time_of_day(value: dt.time, locale: str) -> str:
    """A time of day alone: "7:30 AM" (en_US), "07:30" (de_DE)."""
    return format_time(value, "short", locale=_locale(locale))


def format_month(value: dt.date, locale: str) -> str:
    """A month of a year: "Dec 2025" (en_US), "Dez. 2025" (de_DE)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    return format_date(value, _skeleton_pattern(locale, "yMMM"), locale=_locale(locale))


def _decimal(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


@lru_cache(maxsize=256)
def _pattern(locale_name: str, kind: str, decimals: int):
    """The locale's decimal or percent pattern with exactly `decimals` fraction digits."""
    locale = _locale(locale_name)
    base = locale.decimal_formats[None] if kind == "decimal" else locale.percent_formats[None]
    pattern = copy.copy(base)
    pattern.frac_prec = (decimals, decimals)
    return pattern


def format_number(value, locale: str, decimals: int | None = None) -> str:
    """Grouped the locale's way: "1,234,567.5" / "1.234.567,5". `decimals` fixes how many
    fraction digits show; without it, up to three (the locale's default), none if whole."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    chosen = _locale(locale)
    if decimals is None:
        return chosen.decimal_formats[None].apply(number, chosen)
    return _pattern(locale, "decimal", max(0, int(decimals))).apply(number, chosen)


def format_percent(value, locale: str, decimals: int = 0) -> str:
    """A share (0.256) as the locale writes a percentage: "26%" (en_US), "26 %" (de_DE)."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return _pattern(locale, "percent", max(0, int(decimals))).apply(number, _locale(locale))


@lru_cache(maxsize=512)
def _currency_symbol(currency: str, locale_name: str) -> str:
    return get_currency_symbol(currency, locale=_locale(locale_name))


def format_money(amount, currency: str, locale: str) -> str:
    """An amount with its currency, in the currency's own decimals: "€1,234.50" (en_US),
    "1.234,50 €" (de_DE), "¥1,234" (JPY), "BHD 1,234.500". Without a currency, the number
    alone: whole amounts without decimals, others with two."""
    number = _decimal(amount)
    if number is None:
        return "" if amount is None else str(amount)
    code = (currency or "").strip().upper()
    if not code:
        whole = number == number.to_integral_value()
        return format_number(number, locale, 0 if whole else 2)
    text = format_currency(number, code, locale=_locale(locale))
    return _space_letter_symbol(text, _currency_symbol(code, locale))


def _space_letter_symbol(text: str, symbol: str) -> str:
    """CLDR's currency spacing, which Babel leaves out: a symbol made of letters ("BHD",
    "CHF") touching a digit gets a no-break space, so "BHD1,234.500" reads "BHD 1,234.500"."""
    if not symbol or not symbol.isalpha():
        return text
    at = text.find(symbol)
    if at < 0:
        return text
    after = at + len(symbol)
    if after < len(text) and text[after].isdigit():
        return f"{text[:after]}\u00a0{text[after:]}"
    if at > 0 and text[at - 1].isdigit():
        return f"{text[:at]}\u00a0{text[at:]}"
    return text


@lru_cache(maxsize=8192)
def format_phone(raw: str, default_region: str) -> str:
    """A phone number for reading: national format when it belongs to `default_region`
    ("(415) 555-0100" with US), international otherwise ("+49 30 1234567"). What cannot be
    read as a phone number is left as typed. Memoized: a list shows fifty numbers a page."""
    if not isinstance(raw, str) or not raw.strip():
        return raw
    region = (default_region or "").upper() or None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw
    # A possible but invalid number ("030 1234567" read as American) would come out mangled.
    if not phonenumbers.is_valid_number(parsed):
        return raw
    home = region is not None and phonenumbers.region_code_for_number(parsed) == region
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)
