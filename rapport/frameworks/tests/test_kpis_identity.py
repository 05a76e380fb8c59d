"""Customer-data KPIs: the data-quality definitions, as percentages, today and from the daily
quality snapshot for past days."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.data_exchange.tests.conftest import mark_detection_run
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
    mark_detection_run()
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


def test_duplicate_rate_counts_each_contact_once_on_either_side_of_its_pairs(people):
    from rapport.data_exchange.models import ContactDuplicate

    mark_detection_run()

    ann, ben, anon, dee = (
        people[key] for key in ("named_email", "name_only", "email_only", "named_phone")
    )
    # Pairs are stored lower id first. Ben is in two pending pairs, once on each side; Ann and
    # Dee in one each; the anonymous contact's pair was dismissed, so it is no longer suspected.
    ContactDuplicate.objects.create(contact_a=ann, contact_b=ben, score=0.9, reasons=[])
    ContactDuplicate.objects.create(contact_a=ben, contact_b=dee, score=0.8, reasons=[])
    ContactDuplicate.objects.create(
        contact_a=anon, contact_b=dee, score=0.7, reasons=[], status="dismissed"
    )
    result = value("duplicate_rate")
    assert (result.numerator, result.denominator) == (3, 4)


def test_a_past_day_reads_that_days_quality_snapshot(people):
    from rapport.data_exchange import quality

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    quality.take_snapshot(day=yesterday)
    make_contact(first_name="New", last_name="Person", emails=[{"email": "new@example.com"}])
    assert value("identification_rate", as_of=yesterday).value == 50.0
    assert value("identification_rate").value == 60.0
    # The day before, without a snapshot, is rebuilt from the records: nobody existed yet.
    missing = measure("identification_rate", as_of=yesterday - dt.timedelta(days=1))
    assert isinstance(missing, NotMeasurable)
    assert missing.reason == "There are no contacts to measure."


def _backdate(contact, days_ago):
    from rapport.contacts.models import Contact, LifecycleChange

    Contact.objects.filter(pk=contact.pk).update(created_at=at(days_ago))
    LifecycleChange.objects.filter(contact=contact).update(changed_at=at(days_ago))


def _consent(contact, days_ago, *, channel="email", status="granted"):
    from rapport.contacts.models import Consent
    from rapport.contacts.services import set_consent

    consent = set_consent(
        actor=None, contact=contact, channel=channel, status=status, lawful_basis="consent"
    )
    Consent.objects.filter(pk=consent.pk).update(recorded_at=at(days_ago))


@pytest.fixture
def history(owner):
    """Ann and Ben joined 100 days ago, Cat 10 days ago. Ann has always had an email, an owner
    and email consent (recorded 80 days ago); Ben got his phone and his owner today (the audit
    trail keeps what he had before); his consent was recorded 5 days ago. Ann was last
    touched 400 days ago, Ben 20 days ago."""
    from rapport.contacts.services import update_contact

    ann = make_contact(
        owner=owner, first_name="Ann", last_name="A", emails=[{"email": "ann@example.com"}]
    )
    ben = make_contact(first_name="Ben", last_name="B")
    cat = make_contact(first_name="Cat", last_name="C", emails=[{"email": "cat@example.com"}])
    for person, days_ago in ((ann, 500), (ben, 100), (cat, 10)):
        _backdate(person, days_ago)
    _consent(ann, 80)
    _consent(ben, 5, channel="phone", status="withdrawn")
    ben = update_contact(actor=None, contact=ben, phones=[{"number": "+4930123456"}], owner=owner)
    log_interaction(actor=owner, kind="call", contact=ann, occurred_at=at(400))
    log_interaction(actor=owner, kind="call", contact=ben, occurred_at=at(20))
    return {"ann": ann, "ben": ben, "cat": cat}


def test_a_past_day_without_a_snapshot_is_rebuilt_from_dated_records(history):
    from rapport.data_exchange.models import DuplicateScan

    past = timezone.localdate() - dt.timedelta(days=50)
    mark_detection_run()
    DuplicateScan.objects.update(started_at=at(60), finished_at=at(60))
    # Fifty days ago: Ann and Ben existed; only Ann had an email or phone, an owner, consent.
    for key, expected in (
        ("identification_rate", (1, 2)),
        ("owner_coverage", (1, 2)),
        ("consent_coverage", (1, 2)),
        ("email_consent_rate", (1, 2)),
        ("duplicate_rate", (0, 2)),
        # Ann's last touch was 350 days before that day: not stale yet; Ben was created then.
        ("stale_contact_rate", (0, 2)),
    ):
        result = value(key, as_of=past)
        assert (result.numerator, result.denominator) == expected, key
    # Today all three are identified and Ben has an owner and a consent on record.
    assert (value("identification_rate").numerator, value("owner_coverage").numerator) == (3, 2)
    assert value("consent_coverage").numerator == 2
    # Ann's touch is now more than a year old.
    assert value("stale_contact_rate").numerator == 1
    # Completeness 50 days ago: first and last name of both (4 cells), Ann's email and owner.
    completeness = value("profile_completeness", as_of=past)
    assert (completeness.numerator, completeness.denominator) == (6, 18)


def test_past_lifecycle_and_needs_read_the_stage_history(history, owner):
    from rapport.contacts.models import LifecycleChange
    from rapport.contacts.services import set_lifecycle_stage
    from rapport.sales.models import ProductInterest
    from rapport.sales.services.leads import add_products_of_interest

    ann, ben = history["ann"], history["ben"]
    set_lifecycle_stage(actor=None, contact=ann, stage="customer")
    set_lifecycle_stage(actor=None, contact=ben, stage="customer")
    LifecycleChange.objects.filter(contact=ann, to_stage="customer").update(changed_at=at(60))
    add_products_of_interest(actor=None, contact=ann, products=["Racks"])
    ProductInterest.objects.filter(contact=ann).update(created_at=at(55))
    # 50 days ago only Ann was a customer, with a product of interest noted 55 days ago.
    result = value("needs_captured_share", as_of=timezone.localdate() - dt.timedelta(days=50))
    assert (result.numerator, result.denominator) == (1, 1)
    # 58 days ago she was a customer whose needs nobody had noted yet.
    result = value("needs_captured_share", as_of=timezone.localdate() - dt.timedelta(days=58))
    assert (result.numerator, result.denominator) == (0, 1)
    assert value("needs_captured_share").denominator == 2


def test_duplicate_rate_is_not_computed_before_detection_ran(people):
    # Given contacts, no suspected pair, and no detection run: 0 % would claim nobody is a
    # duplicate when nobody looked.
    today = measure("duplicate_rate")
    assert isinstance(today, NotMeasurable)
    assert today.reason == "Not computed yet: duplicate detection has not run."
    # A run today does not tell what a past day looked like.
    mark_detection_run()
    assert isinstance(value("duplicate_rate"), Measurement)
    before = measure("duplicate_rate", as_of=timezone.localdate() - dt.timedelta(days=3))
    assert before.reason == "Not computed: duplicate detection had not run by that day."


def test_no_contacts_is_not_measurable(db):
    result = measure("identification_rate")
    assert isinstance(result, NotMeasurable)
    assert result.reason == "There are no contacts to measure."
