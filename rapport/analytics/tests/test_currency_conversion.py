"""Orders in other currencies count in the company currency, each at its own day's rate."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from rapport.analytics import queries, refresh
from rapport.commerce import rates
from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact
from rapport.core.currency import RateBook
from rapport.core.display import money_text

pytestmark = pytest.mark.django_db


def at(days_ago):
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def test_each_order_converts_at_its_own_day_and_missing_rates_are_named(owner, admin_user):
    today = timezone.localdate()
    rates.add_rate(
        actor=admin_user, currency="USD", rate="0.5", valid_on=today - dt.timedelta(days=100)
    )
    rates.add_rate(
        actor=admin_user, currency="USD", rate="0.9", valid_on=today - dt.timedelta(days=10)
    )
    ada = make_contact(owner=owner, first_name="Ada")
    make_order(contact=ada, ordered_at=at(50), total="100.00", currency="USD")  # at 0.5
    make_order(contact=ada, ordered_at=at(5), total="100.00", currency="USD")  # at 0.9
    make_order(contact=ada, ordered_at=at(5), total="10.00")  # EUR, as it is
    make_order(contact=ada, ordered_at=at(200), total="40.00", currency="USD")  # before any rate
    make_order(contact=ada, ordered_at=at(30), total="7.00", currency="GBP")  # no GBP rate at all
    make_order(contact=ada, ordered_at=at(20), total="3.00", currency="GBP")
    facts = queries.load_order_facts(currency="EUR", as_of=today)
    rows = sorted(
        (today.toordinal() - queries.date_of(d).toordinal(), int(n), round(float(a), 2))
        for d, n, a in zip(facts.day, facts.orders, facts.amount, strict=True)
    )
    assert rows == [(5, 2, 100.0), (50, 1, 50.0)]
    assert [(g.currency, g.earliest, g.count, g.amount) for g in facts.missing] == [
        ("GBP", today - dt.timedelta(days=30), 2, Decimal("10.00")),
        ("USD", today - dt.timedelta(days=200), 1, Decimal("40.00")),
    ]


def test_the_refresh_counts_converted_orders_and_notes_the_missing_rates(owner, admin_user):
    rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2000-01-01")
    for index in range(3):
        contact = make_contact(owner=owner, first_name=f"C{index}")
        make_order(contact=contact, ordered_at=at(40 + index), total="100.00", currency="USD")
        make_order(contact=contact, ordered_at=at(10 + index), total="50.00")
    pounds = make_contact(owner=owner, first_name="Pounds")
    make_order(contact=pounds, ordered_at=at(3), total="70.00", currency="GBP")
    run = refresh.refresh_now(actor=admin_user)
    assert run.n_orders == 6 and run.n_customers == 3
    assert (
        f"Left out for want of an exchange rate: No GBP rate on or before "
        f"{(timezone.localdate() - dt.timedelta(days=3)).isoformat()} (1 order, {money_text(70, 'GBP')})."
    ) in run.message


def test_a_refresh_with_only_unconvertible_orders_says_why(owner, admin_user):
    contact = make_contact(owner=owner, first_name="Pounds")
    make_order(contact=contact, ordered_at=at(3), total="70.00", currency="GBP")
    run = refresh.refresh_now(actor=admin_user)
    assert run.status == "insufficient_data"
    assert "No GBP rate on or before" in run.message


def test_convert_amounts_is_one_lookup_per_currency():
    book = RateBook.from_rows(
        "EUR", [("USD", dt.date(2024, 1, 1), Decimal("0.5")), ("USD", dt.date(2024, 2, 1), 2)]
    )
    day = np.array([queries.day_number(dt.date(2024, m, 15)) for m in (1, 2, 1)] + [0])
    code = np.array([1, 1, 0, 1])
    converted, kept, missing = queries.convert_amounts(
        book, ["EUR", "USD"], day, code, np.array([10.0, 10.0, 10.0, 4.0])
    )
    assert converted[kept].tolist() == [5.0, 20.0, 10.0]
    assert kept.tolist() == [True, True, True, False]
    assert [(m.currency, m.earliest, m.count) for m in missing] == [("USD", dt.date(1970, 1, 1), 1)]
