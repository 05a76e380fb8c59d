"""The one display format of dates, money and phone numbers (rapport.core.formatting)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rapport.core.formatting import (
    format_day,
    format_moment,
    format_money,
    format_month,
    format_number,
    format_percent,
    format_phone,
    locale_from_language,
)

NBSP = "\u00a0"
NNBSP = "\u202f"  # CLDR's narrow no-break space: "3:05 PM", "1 234,50" in French
TODAY = dt.date(2025, 6, 1)
THIS_YEAR = dt.date(2025, 12, 7)
LAST_YEAR = dt.date(2024, 12, 7)


@pytest.mark.parametrize(
    ("locale", "this_year", "other_year"),
    [
        ("en_US", "Dec 7", "Dec 7, 2024"),
        ("en_GB", "7 Dec", "7 Dec 2024"),
        ("de_DE", "7. Dez.", "7. Dez. 2024"),
        ("fr_FR", "7 déc.", "7 déc. 2024"),
        ("ja_JP", "12月7日", "2024年12月7日"),
    ],
)
def test_a_day_shows_its_year_only_outside_the_current_year(locale, this_year, other_year):
    assert format_day(THIS_YEAR, locale, TODAY) == this_year
    assert format_day(LAST_YEAR, locale, TODAY) == other_year


def test_a_day_can_name_its_weekday_or_be_spelt_out():
    assert format_day(THIS_YEAR, "en_US", TODAY, "weekday") == "Sun, Dec 7"
    assert format_day(LAST_YEAR, "en_GB", TODAY, "weekday") == "Sat, 7 Dec 2024"
    assert format_day(THIS_YEAR, "de_DE", TODAY, "full") == "Sonntag, 7. Dezember 2025"


def test_a_datetime_given_as_a_day_keeps_its_calendar_day():
    assert format_day(dt.datetime(2025, 12, 7, 23, 59), "en_US", TODAY) == "Dec 7"


def test_a_moment_adds_the_locales_short_time():
    moment = dt.datetime(2025, 12, 7, 15, 5, 9)
    assert format_moment(moment, "en_US", TODAY) == f"Dec 7, 3:05{NNBSP}PM"
    assert format_moment(moment, "en_GB", TODAY) == "7 Dec, 15:05"
    assert format_moment(moment, "de_DE", TODAY) == "7. Dez., 15:05"
    assert format_moment(moment.replace(year=2024), "de_DE", TODAY) == "7. Dez. 2024, 15:05"
    assert format_moment(moment, "en_GB", TODAY, seconds=True) == "7 Dec, 15:05:09"
    assert format_moment(moment, "en_GB", TODAY, "weekday") == "Sun 7 Dec, 15:05"


def test_a_month_of_a_year():
    assert format_month(THIS_YEAR, "en_US") == "Dec 2025"
    assert format_month(THIS_YEAR, "de_DE") == "Dez. 2025"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (Decimal("1234.5"), "EUR", "en_US", "€1,234.50"),
        (Decimal("1234.5"), "EUR", "de_DE", f"1.234,50{NBSP}€"),
        (Decimal("1234.5"), "EUR", "fr_FR", f"1{NNBSP}234,50{NBSP}€"),
        (Decimal("12500"), "USD", "en_US", "$12,500.00"),
        (Decimal("-80"), "GBP", "en_GB", "-£80.00"),
        # The currency's own decimals: none for yen, three for the Bahraini dinar.
        (Decimal("1234"), "JPY", "en_US", "¥1,234"),
        (Decimal("1234.4"), "JPY", "de_DE", f"1.234{NBSP}¥"),
        (Decimal("1234.5"), "BHD", "en_US", f"BHD{NBSP}1,234.500"),
        (Decimal("1234.5"), "BHD", "de_DE", f"1.234,500{NBSP}BHD"),
        (Decimal("99.5"), "CHF", "en_US", f"CHF{NBSP}99.50"),
        ("1234.5", "eur", "en_US", "€1,234.50"),
    ],
)
def test_money_has_separators_its_currency_and_its_decimals(amount, currency, locale, expected):
    assert format_money(amount, currency, locale) == expected


def test_money_without_a_currency_is_the_number_alone():
    assert format_money(Decimal("12500"), "", "en_US") == "12,500"
    assert format_money(Decimal("12500.5"), "", "en_US") == "12,500.50"
    assert format_money(Decimal("12500.5"), "", "de_DE") == "12.500,50"


def test_what_is_not_an_amount_is_shown_as_it_is():
    assert format_money(None, "EUR", "en_US") == ""
    assert format_money("n/a", "EUR", "en_US") == "n/a"
    assert format_money(float("nan"), "EUR", "en_US") == "nan"


def test_numbers_and_percentages_follow_the_locale():
    assert format_number(1234567, "en_US") == "1,234,567"
    assert format_number(1234567.891, "de_DE") == "1.234.567,891"
    assert format_number(Decimal("1234.5"), "en_US", 2) == "1,234.50"
    assert format_number(Decimal("1234.5"), "en_US", 0) == "1,234"
    assert format_percent(0.256, "en_US") == "26%"
    assert format_percent(0.2567, "de_DE", 1) == f"25,7{NBSP}%"


def test_an_unknown_locale_falls_back_rather_than_failing():
    assert format_day(THIS_YEAR, "xx_YY", TODAY) == "Dec 7"
    assert format_money(Decimal("1"), "EUR", "") == "€1.00"


@pytest.mark.parametrize(
    ("language", "locale"),
    [("en-us", "en_US"), ("de", "de"), ("pt-br", "pt_BR"), ("de_DE", "de_DE"), ("", "en_US")],
)
def test_djangos_language_codes_name_babels_locales(language, locale):
    assert locale_from_language(language) == locale


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        # A number from the home region reads the national way, others the international way.
        ("+49 30 1234567", "DE", "030 1234567"),
        ("+49301234567", "US", "+49 30 1234567"),
        ("+1 415 555 0100", "US", "(415) 555-0100"),
        ("4155550100", "US", "(415) 555-0100"),
        ("+14155550100", "DE", "+1 415-555-0100"),
        ("030 1234567", "DE", "030 1234567"),
        # What cannot be read as a number is left as typed.
        ("12", "US", "12"),
        ("ask at reception", "DE", "ask at reception"),
        ("030 1234567", "US", "030 1234567"),
        ("", "US", ""),
    ],
)
def test_phone_numbers_for_reading(raw, region, expected):
    assert format_phone(raw, region) == expected


def test_text_kept_for_later_always_carries_its_year():
    assert format_day(THIS_YEAR, "en_US", TODAY, "dated") == "Dec 7, 2025"
    assert format_day(THIS_YEAR, "de_DE", TODAY, "dated") == "7. Dez. 2025"
    assert format_moment(dt.datetime(2025, 12, 7, 15, 5), "en_US", TODAY, "dated").startswith(
        "Dec 7, 2025"
    )


def test_a_time_of_day_alone():
    from rapport.core.formatting import format_time_of_day

    assert format_time_of_day(dt.time(7, 30), "en_US") == "7:30\u202fAM"
    assert format_time_of_day(dt.time(7, 30), "de_DE") == "07:30"
