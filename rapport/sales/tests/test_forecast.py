"""The weighted forecast on hand-built deals, with exact expected figures."""

import datetime as dt
from decimal import Decimal

from rapport.sales.forecast import ForecastDeal, add_months, monthly_forecast


def deal(amount, status, probability, close, closed_on=None, currency="EUR"):
    return ForecastDeal(
        amount=Decimal(amount),
        currency=currency,
        status=status,
        probability=probability,
        expected_close=close,
        closed_on=closed_on,
    )


def test_add_months_rolls_over_years():
    assert add_months(dt.date(2024, 11, 1), 3) == dt.date(2025, 2, 1)
    assert add_months(dt.date(2025, 1, 1), -2) == dt.date(2024, 11, 1)


def test_weighted_forecast_by_month_and_currency():
    deals = [
        deal("1000.00", "open", 50, dt.date(2025, 3, 15)),
        deal("333.33", "open", 25, dt.date(2025, 3, 31)),
        # won deals count in the month they closed, not the one expected
        deal("2000.00", "won", 100, dt.date(2025, 4, 30), closed_on=dt.date(2025, 3, 2)),
        deal("700.00", "lost", 0, dt.date(2025, 3, 1), closed_on=dt.date(2025, 3, 20)),
        deal("400.00", "open", 10, dt.date(2025, 4, 2), currency="USD"),
        deal("9999.00", "open", 90, dt.date(2025, 5, 1)),  # after the window
        deal("5.00", "open", 90, dt.date(2025, 1, 31)),  # before the window
    ]
    rows = monthly_forecast(deals, first_month=dt.date(2025, 2, 17), months=3)
    assert [(r.month, r.currency) for r in rows] == [
        (dt.date(2025, 2, 1), "EUR"),
        (dt.date(2025, 2, 1), "USD"),
        (dt.date(2025, 3, 1), "EUR"),
        (dt.date(2025, 3, 1), "USD"),
        (dt.date(2025, 4, 1), "EUR"),
        (dt.date(2025, 4, 1), "USD"),
    ]
    march = rows[2]
    assert march.won == Decimal("2000.00")
    # 1000 × 50 % + 333.33 × 25 % = 500 + 83.3325 → 583.33
    assert march.weighted_open == Decimal("583.33")
    assert march.forecast == Decimal("2583.33")
    assert march.open_total == Decimal("1333.33")
    assert march.lost == Decimal("700.00")
    assert (march.open_deals, march.won_deals, march.lost_deals) == (2, 1, 1)
    assert rows[5].weighted_open == Decimal("40.00")
    assert rows[5].forecast == Decimal("40.00")
    assert rows[0].forecast == Decimal("0.00")
    assert rows[4].forecast == Decimal("0.00")


def test_lost_deals_count_zero_whatever_their_probability():
    rows = monthly_forecast(
        [deal("500", "lost", 80, dt.date(2025, 6, 1), closed_on=dt.date(2025, 6, 3))],
        first_month=dt.date(2025, 6, 1),
        months=1,
    )
    assert rows[0].forecast == Decimal("0.00")
    assert rows[0].lost == Decimal("500.00")


def test_rounds_half_even_once_per_month():
    rows = monthly_forecast(
        [deal("0.25", "open", 50, dt.date(2025, 6, 1))], first_month=dt.date(2025, 6, 1), months=1
    )
    assert rows[0].weighted_open == Decimal("0.12")


def test_company_currency_converts_each_deal_once_and_groups_what_is_missing(monkeypatch):
    from rapport.core.currency import MissingRate, RateBook
    from rapport.sales.forecast import in_company_currency

    book = RateBook.from_rows("EUR", [("USD", dt.date(2025, 3, 1), Decimal("0.5"))])
    asked = []
    convert = RateBook.convert

    def counting(self, amount, currency, on_date):
        asked.append((amount, currency, on_date))
        return convert(self, amount, currency, on_date)

    monkeypatch.setattr(RateBook, "convert", counting)
    deals = [
        deal("100.00", "open", 50, dt.date(2025, 3, 15), currency="USD"),
        deal("40.00", "open", 50, dt.date(2025, 4, 1), currency="GBP"),
        deal(
            "60.00", "lost", 0, dt.date(2025, 5, 1), closed_on=dt.date(2025, 2, 3), currency="GBP"
        ),
        deal("7.00", "won", 100, dt.date(2025, 3, 1), currency="EUR"),
    ]
    converted, missing = in_company_currency(deals, book)
    assert len(asked) == len(deals)
    assert [(d.amount, d.currency) for d in converted] == [
        (Decimal("50.0000"), "EUR"),
        (Decimal("7.00"), "EUR"),
    ]
    assert missing == [
        MissingRate(currency="GBP", earliest=dt.date(2025, 2, 3), count=2, amount=Decimal("100.00"))
    ]
