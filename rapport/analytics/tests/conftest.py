"""A small hand-built purchase history with a refresh run over it, shared by the view and API
tests (the refresh tests build their own)."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.analytics import refresh
from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact

# name: (days since last order, orders 30 days apart, value of each order)
BOOK = {
    "C1": (2, 6, "50.00"),
    "C2": (5, 1, "400.00"),
    "C3": (10, 4, "80.00"),
    "C4": (20, 4, "30.00"),
    "C5": (40, 2, "120.00"),
    "C6": (60, 3, "60.00"),
    "C7": (85, 1, "20.00"),
    "C8": (150, 5, "90.00"),
    "C9": (250, 2, "45.00"),
    "C10": (400, 1, "10.00"),
}


def at_noon(days_ago: int) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


@pytest.fixture
def book_contacts(owner):
    contacts = {}
    for name, (recency, count, value) in BOOK.items():
        contact = make_contact(owner=owner, first_name=name, last_name="Customer")
        contacts[name] = contact
        for k in range(count):
            make_order(contact=contact, ordered_at=at_noon(recency + 30 * k), total=value)
    return contacts


@pytest.fixture
def refreshed(book_contacts, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = refresh.request_refresh(actor=owner)
    run.refresh_from_db()
    assert run.status == "succeeded", run.message
    return run
