import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from rapport.analytics import queries
from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db


def at(days_ago, hour):
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def test_order_facts_group_by_contact_and_day(owner):
    ada = make_contact(owner=owner, first_name="Ada")
    bob = make_contact(owner=owner, first_name="Bob")
    make_contact(owner=owner, first_name="No orders")
    make_order(contact=ada, ordered_at=at(3, 9), total="10.00")
    make_order(contact=ada, ordered_at=at(3, 17), total="5.50")
    make_order(contact=ada, ordered_at=at(1, 12), total="1.00")
    make_order(contact=bob, ordered_at=at(400, 12), total="100.00")
    make_order(contact=bob, ordered_at=at(2, 12), total="7.00", status="cancelled")
    make_order(contact=bob, ordered_at=at(2, 12), total="7.00", currency="USD")
    make_order(contact=bob, ordered_at=at(0, 1), total="2.00")
    facts = queries.load_order_facts(
        currency="EUR", as_of=timezone.localdate() - dt.timedelta(days=1)
    )
    assert list(facts.contact_ids) == sorted([ada.pk, bob.pk])
    today = queries.day_number(timezone.localdate())
    rows = sorted(
        (int(facts.contact_ids[c]), today - int(d), int(n), round(float(a), 2))
        for c, d, n, a in zip(
            facts.customer_index, facts.day, facts.orders, facts.amount, strict=True
        )
    )
    # Same-day orders become one row with their count and sum; today's order is after as_of.
    assert rows == sorted([(ada.pk, 3, 2, 15.5), (ada.pk, 1, 1, 1.0), (bob.pk, 400, 1, 100.0)])
    assert facts.n_orders == 4 and facts.n_customers == 2
    # No USD rate is known: the dollar order is left out and named, never guessed.
    assert [(gap.currency, gap.count) for gap in facts.missing] == [("USD", 1)]
    limited = queries.load_order_facts(
        currency="EUR", as_of=timezone.localdate(), contact_ids=[bob.pk]
    )
    assert list(limited.contact_ids) == [bob.pk] and limited.n_orders == 2
    assert (
        queries.load_order_facts(
            currency="EUR", as_of=timezone.localdate(), contact_ids=[]
        ).n_customers
        == 0
    )


def test_group_by_contact_and_day_is_exact():
    contact = np.array([5, 3, 5, 5, 3])
    day = np.array([10, 10, 10, 11, 9])
    amount = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    grouped = queries.group_by_contact_and_day(contact, day, amount)
    assert [list(map(float, column)) for column in grouped] == [
        [3, 3, 5, 5],
        [9, 10, 10, 11],
        [1, 1, 2, 1],
        [5.0, 2.0, 4.0, 4.0],
    ]
