"""Conversion to the company currency and reading ECB files, on hand-computed figures."""

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rapport.core.currency import RateBook, company_total, parse_ecb_csv

D = Decimal
JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


def book(company="EUR"):
    return RateBook.from_rows(
        company,
        [("USD", FEB, D("0.90")), ("USD", JAN, D("0.95")), ("GBP", MAR, D("1.20"))],
    )


def test_an_amount_converts_with_the_latest_rate_on_or_before_its_date():
    rates = book()
    assert rates.convert(D("100"), "USD", JAN) == (D("95.00"), "")
    assert rates.convert(D("100"), "USD", dt.date(2026, 1, 31)) == (D("95.00"), "")
    assert rates.convert(D("100"), "USD", FEB) == (D("90.00"), "")
    assert rates.convert(D("100"), "USD", dt.date(2027, 6, 1)) == (D("90.00"), "")
    assert rates.convert(D("12.34"), "EUR", dt.date(1999, 1, 1)) == (D("12.34"), "")


def test_a_missing_rate_is_reported_never_guessed():
    rates = book()
    assert rates.convert(D("100"), "GBP", dt.date(2026, 2, 28)) == (
        None,
        "No GBP rate on or before 2026-02-28",
    )
    assert rates.convert(D("100"), "USD", dt.date(2025, 12, 31)) == (
        None,
        "No USD rate on or before 2025-12-31",
    )
    assert rates.convert(D("5"), "JPY", MAR) == (None, "No JPY rate on or before 2026-03-01")


def test_company_total_sums_converted_amounts_keeps_originals_and_names_gaps():
    total = company_total(
        book(),
        [
            (D("1000"), "EUR", JAN),
            (D("200"), "USD", JAN),  # 190.00
            (D("300"), "USD", FEB),  # 270.00
            (D("50"), "GBP", dt.date(2026, 2, 10)),  # no rate yet
            (D("70"), "GBP", dt.date(2026, 1, 5)),  # no rate yet
            (D("100"), "GBP", MAR),  # 120.00
        ],
    )
    assert total.currency == "EUR"
    assert total.amount == D("1580.00")
    assert total.originals == [("EUR", D("1000.00")), ("GBP", D("220.00")), ("USD", D("500.00"))]
    assert [(m.currency, m.earliest, m.count, m.amount) for m in total.missing] == [
        ("GBP", dt.date(2026, 1, 5), 2, D("120.00"))
    ]
    assert total.missing[0].text == "No GBP rate on or before 2026-01-05"
    assert not total.is_complete and total.has_other_currencies


def test_the_total_is_rounded_once_half_even():
    rates = RateBook.from_rows("EUR", [("USD", JAN, D("0.3333333333"))])
    # Three times 0.01 USD is 0.0099999999999 EUR: rounding each would give 0.00.
    total = company_total(rates, [(D("0.01"), "USD", JAN)] * 3)
    assert total.amount == D("0.01")
    assert company_total(rates, []).amount == D("0.00")


ECB = """Date,USD,JPY,GBP,CHF,
2026-03-02,1.0800,160.00,0.8500,N/A,
2026-03-03,1.0900,abc,0.8400,0.9500,
not a date,1.1,1,1,1,
2026-03-04,1.1000,161.00,,0.9400,
"""


def test_ecb_rows_become_rates_to_the_euro_and_bad_rows_are_reported_by_line():
    parsed = parse_ecb_csv(ECB, "EUR")
    got = {(r.currency, r.valid_on.isoformat()): r.rate for r in parsed.rates}
    assert got == {
        ("USD", "2026-03-02"): D("0.9259259259"),  # 1 / 1.08
        ("JPY", "2026-03-02"): D("0.0062500000"),  # 1 / 160
        ("GBP", "2026-03-02"): D("1.1764705882"),  # 1 / 0.85
        ("USD", "2026-03-04"): D("0.9090909091"),  # 1 / 1.10
        ("JPY", "2026-03-04"): D("0.0062111801"),
        ("CHF", "2026-03-04"): D("1.0638297872"),
    }
    assert parsed.problems == [
        (3, "Not a positive rate: JPY “abc”; the row was skipped."),
        (4, "“not a date” is not a date as YYYY-MM-DD."),
    ]


def test_ecb_rows_convert_to_another_company_currency_by_cross_rates():
    parsed = parse_ecb_csv(ECB, "GBP")
    got = {(r.currency, r.valid_on.isoformat()): r.rate for r in parsed.rates}
    # 1 USD = 1/1.08 EUR = 0.85/1.08 GBP; 1 EUR = 0.85 GBP.
    assert got[("USD", "2026-03-02")] == D("0.7870370370")
    assert got[("EUR", "2026-03-02")] == D("0.8500000000")
    assert ("GBP", "2026-03-02") not in got
    assert parsed.problems[2:] == [
        (5, "No GBP rate on this date, so no other rate can be converted to it.")
    ]
    assert not any(r.valid_on == dt.date(2026, 3, 4) for r in parsed.rates)


def test_ecb_files_without_the_date_column_or_with_bad_codes_are_refused():
    assert parse_ecb_csv("", "EUR").problems == [(1, "The file is empty.")]
    assert parse_ecb_csv("Day,USD\n2026-01-01,1.1\n", "EUR").problems == [
        (1, "The first column must be “Date”, as in the ECB's file.")
    ]
    refused = parse_ecb_csv("Date,US DOLLAR\n2026-01-01,1.1\n", "EUR")
    assert refused.rates == []
    assert refused.problems == [(1, "Not a currency code: US DOLLAR. Use three letters, e.g. USD.")]
    zero = parse_ecb_csv("Date,USD\n2026-01-01,0\n2026-01-02,-1.2\n", "EUR")
    assert zero.rates == [] and [line for line, _ in zero.problems] == [2, 3]


def test_ecb_values_too_small_or_too_large_for_a_rate_are_reported_not_crashed_on():
    parsed = parse_ecb_csv("Date,USD,JPY\n2026-01-01,1e-11,1e11\n", "EUR")
    assert parsed.rates == []
    assert parsed.problems == [
        (2, "The USD rate is too large; skipped."),
        (2, "The JPY rate rounds to zero; skipped."),
    ]
    extreme = parse_ecb_csv("Date,USD\n2026-01-01,1e-9999999\n", "EUR")
    assert extreme.problems == [(2, "Not a positive rate: USD “1e-9999999”; the row was skipped.")]


rates = st.decimals(min_value=D("0.0001"), max_value=D("10000"), places=4)
amounts = st.decimals(min_value=D("0"), max_value=D("1000000000"), places=2)


@given(amount=amounts, rate=rates)
def test_converting_there_and_back_returns_the_amount(amount, rate):
    there = RateBook.from_rows("EUR", [("USD", JAN, rate)])
    back = RateBook.from_rows("USD", [("EUR", JAN, 1 / rate)])
    in_euro, _ = there.convert(amount, "USD", JAN)
    again, _ = back.convert(in_euro, "EUR", JAN)
    assert abs(again - amount) <= amount * D("1e-20") + D("1e-20")


@given(usd=rates, gbp=rates)
def test_cross_rates_agree_with_the_euro_route(usd, gbp):
    text = f"Date,USD,GBP\n2026-01-02,{usd},{gbp}\n"
    in_euro = {r.currency: r.rate for r in parse_ecb_csv(text, "EUR").rates}
    in_pound = {r.currency: r.rate for r in parse_ecb_csv(text, "GBP").rates}
    # USD → GBP directly equals USD → EUR → GBP, up to rounding each rate to ten places
    # (half a unit in the tenth place, the euro route's multiplied by the pound's rate).
    tolerance = D("0.5e-10") * (1 + in_pound["EUR"]) + D("0.5e-10")
    assert abs(in_pound["USD"] - in_euro["USD"] * in_pound["EUR"]) <= tolerance
    assert in_pound["EUR"] == gbp.quantize(D("0.0000000001"))
