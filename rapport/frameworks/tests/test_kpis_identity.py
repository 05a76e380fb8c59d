"""Customer-data KPIs: the data-quality definitions, as percentages, today and from the daily
quality snapshot for past days."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.frameworks.kpis import Measurement, NotMeasurable
from rapport.frameworks.tests.conftest import at, measure
from rapport.interactions.services import log_interaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(owner):
    return {
        "named_email": make_contact(
            owner=owner,
            first_name="Ann",
            emails=[{"email": "ann@example.com"}],
            lifecycle_stage="customer",
            about="Wants next-day delivery",
        ),
        "name_only": make_contact(owner=owner, first_name="Ben", last_name="Only"),
        "email_only": make_contact(
            first_name="",
            last_name="",
            emails=[{"email": "anon@example.com"}],
            lifecycle_stage="customer",
        ),
        "named_phone": make_contact(
            first_name="Dee",
            last_name="Phone",
            phones=[{"number": "+4930123456"}],
            lifecycle_stage="customer",
        ),
    }


def value(key, **context):
    result = measure(key, **context)
    assert isinstance(result, Measurement), result
    return result


def test_identification_rate(people):
    result = value("identification_rate")
    assert (result.numerator, result.denominator) == (2, 4)
    assert result.value == 50.0


def test_owner_coverage(people):
    assert value("owner_coverage").value == 50.0


def test_needs_captured_among_customers(people):
    from rapport.sales.services.leads import add_products_of_interest

    add_products_of_interest(actor=None, contact=people["named_phone"], products=["Racks"])
    # Customers: Ann (About note), the anonymous one (nothing), Dee (a product of interest).
    result = value("needs_captured_share")
    assert (result.numerator, result.denominator) == (2, 3)


def test_interactions_linked_to_a_contact(people, owner):
    organization = make_organization(owner=owner)
    log_interaction(actor=owner, kind="call", contact=people["named_email"], occurred_at=at(3))
    log_interaction(actor=owner, kind="meeting", organization=organization, occurred_at=at(10))
    log_interaction(actor=owner, kind="meeting", organization=organization, occurred_at=at(120))
    result = value("linked_interaction_share")
    assert (result.numerator, result.denominator) == (1, 2)


def test_duplicates_and_consent_match_the_quality_page(people):
    from rapport.contacts.models import Contact, Organization
    from rapport.data_exchange import quality

    contacts = Contact.objects.filter(is_archived=False)
    expected = quality.report(contacts, Organization.objects.none()).figures()
    for key, figure in (
        ("duplicate_rate", "duplicate_rate"),
        ("consent_coverage", "consent_coverage"),
        ("profile_completeness", "profile_completeness"),
        ("stale_contact_rate", "stale_rate"),
    ):
        assert value(key).value == pytest.approx(100 * expected[figure]["value"]), key


def test_a_past_day_reads_that_days_quality_snapshot(people):
    from rapport.data_exchange import quality

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    quality.take_snapshot(day=yesterday)
    make_contact(first_name="New", last_name="Person", emails=[{"email": "new@example.com"}])
    assert value("identification_rate", as_of=yesterday).value == 50.0
    assert value("identification_rate").value == 60.0
    missing = measure("identification_rate", as_of=yesterday - dt.timedelta(days=1))
    assert isinstance(missing, NotMeasurable)
    assert "No data-quality snapshot" in missing.reason


def test_no_contacts_is_not_measurable(db):
    result = measure("identification_rate")
    assert isinstance(result, NotMeasurable)
    assert result.reason == "There are no contacts to measure."
