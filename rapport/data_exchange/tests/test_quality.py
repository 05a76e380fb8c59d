"""Data-quality figures on hand-built data, with the exact values expected."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.contacts import services as contact_services
from rapport.contacts.models import Contact, Organization
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.customfields.models import CustomFieldDefinition
from rapport.customfields.services import create_definition, update_definition
from rapport.data_exchange import quality
from rapport.data_exchange.choices import DuplicateStatus
from rapport.data_exchange.models import ContactDuplicate, QualitySnapshot
from rapport.interactions.models import Interaction
from rapport.interactions.services import log_interaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(owner):
    """Five contacts:
    ada    — name, email, phone, organization, city; consent granted; touched today
    grace  — name, email; consent withdrawn
    alan   — name only (no way to reach him)
    nobody — email only (no name)
    old    — name + phone, created and last touched 400 days ago; country 'x1' (invalid)
    """
    org = make_organization(actor=owner, owner=owner, name="Engines", domain="engines.org")
    ada = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=["ada@engines.org"],
        phones=["+442079460000"],
        organization=org,
        city="London",
    )
    grace = make_contact(
        actor=owner, owner=owner, first_name="Grace", last_name="", emails=["g@navy.mil"]
    )
    alan = make_contact(actor=owner, owner=owner, first_name="Alan", last_name="Turing")
    nobody = make_contact(
        actor=owner, owner=owner, first_name="", last_name="", emails=["someone@example.net"]
    )
    old = make_contact(
        actor=owner, owner=owner, first_name="Old", last_name="", phones=["+442079460009"]
    )
    long_ago = timezone.now() - dt.timedelta(days=400)
    Contact.objects.filter(pk=old.pk).update(
        created_at=long_ago, last_touched_at=long_ago, country="x1"
    )
    contact_services.set_consent(
        actor=owner, contact=ada, channel="email", status="granted", lawful_basis="consent"
    )
    contact_services.set_consent(actor=owner, contact=grace, channel="email", status="withdrawn")
    contact_services.set_consent(actor=owner, contact=alan, channel="email", status="unknown")
    log_interaction(actor=owner, kind="note", contact=ada, subject="Today")
    ContactDuplicate.objects.all().delete()
    return {"ada": ada, "grace": grace, "alan": alan, "nobody": nobody, "old": old, "org": org}


def contacts():
    return Contact.objects.filter(is_archived=False)


def test_identification_rate(people):
    m = quality.identification_rate(contacts())
    # ada, grace (email), old (phone) have a name and a way to reach them; alan and nobody not.
    assert (m.numerator, m.denominator) == (3, 5)
    assert m.value == pytest.approx(0.6)
    assert m.percent == 60.0
    behind = set(quality.records_behind("identification", contacts()).values_list("pk", flat=True))
    assert behind == {people["alan"].pk, people["nobody"].pk}


def test_completeness_per_field_and_profile(people):
    per_field = quality.completeness(contacts(), "contact")
    assert per_field["email"].numerator == 3
    assert per_field["phone"].numerator == 2
    assert per_field["organization"].numerator == 1
    assert per_field["city"].numerator == 1
    assert per_field["owner"].numerator == 5
    assert per_field["first_name"].numerator == 4
    assert per_field["last_name"].numerator == 2
    assert per_field["job_title"].numerator == 0
    assert per_field["country"].numerator == 1  # the invalid "x1" is still filled in
    assert per_field["email"].missing == 2
    profile = quality.profile_completeness(contacts())
    # (4 + 2 + 3 + 2 + 1 + 0 + 1 + 1 + 5) filled of 5 contacts × 9 fields
    assert (profile.numerator, profile.denominator) == (19, 45)
    missing_phone = quality.records_behind("completeness", contacts(), field="phone")
    assert set(missing_phone.values_list("pk", flat=True)) == {
        people["grace"].pk,
        people["alan"].pk,
        people["nobody"].pk,
    }


def test_custom_field_completeness_and_invalid_values(owner, people):
    create_definition(
        actor=None,
        entity="contact",
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["Gold", "Silver", "Bronze"],
    )
    contact_services.update_contact(
        actor=owner, contact=people["ada"], custom_fields={"tier": "Gold"}
    )
    contact_services.update_contact(
        actor=owner, contact=people["grace"], custom_fields={"tier": "Bronze"}
    )
    definition = CustomFieldDefinition.objects.get(key="tier")
    update_definition(actor=None, definition=definition, choices=["Gold", "Silver"])
    per_field = quality.completeness(contacts(), "contact")
    assert per_field["custom_fields.tier"].numerator == 2
    invalid = quality.invalid_rate(contacts())
    # old: country x1; grace: Bronze is no longer a choice.
    assert (invalid.numerator, invalid.denominator) == (2, 5)
    behind = set(quality.records_behind("invalid", contacts()).values_list("pk", flat=True))
    assert behind == {people["old"].pk, people["grace"].pk}


def test_consent_coverage(people):
    m = quality.consent_coverage(contacts())
    assert (m.numerator, m.denominator) == (2, 5)  # 'unknown' is not a recorded decision
    granted = quality.email_consent_rate(contacts())
    assert granted.numerator == 1


def test_stale_records(people):
    m = quality.stale_rate(contacts())
    assert (m.numerator, m.denominator) == (1, 5)  # only 'old'; new contacts count from creation
    assert list(quality.records_behind("stale", contacts()).values_list("pk", flat=True)) == [
        people["old"].pk
    ]
    in_two_years = timezone.now() + dt.timedelta(days=730)
    assert quality.stale_rate(contacts(), now=in_two_years).numerator == 5


def test_duplicate_rate_counts_pending_pairs_only(people, detection_ran):
    ada, grace, alan = people["ada"], people["grace"], people["alan"]
    ContactDuplicate.objects.create(contact_a=ada, contact_b=grace, score=0.9, reasons=[])
    ContactDuplicate.objects.create(
        contact_a=grace, contact_b=alan, score=0.8, reasons=[], status=DuplicateStatus.DISMISSED
    )
    m = quality.duplicate_rate(contacts())
    assert (m.numerator, m.denominator) == (2, 5)


def test_duplicate_rates_say_they_are_not_computed_before_detection_ran(people):
    # Given no detection run: no pair means nobody looked, not 0 %
    for measure in (
        quality.duplicate_rate(contacts()),
        quality.organization_duplicate_rate(Organization.objects.all()),
    ):
        assert measure.value is None
        assert measure.reason == "Not computed yet: duplicate detection has not run."


def test_empty_data_says_why(db):
    m = quality.identification_rate(Contact.objects.none())
    assert m.value is None and m.percent is None
    assert m.reason == "There are no contacts to measure."
    per_field = quality.completeness(Organization.objects.none(), "organization")
    assert per_field["domain"].reason == "There are no organizations to measure."


def test_organization_completeness(people, owner):
    make_organization(actor=owner, owner=None, name="Bare")
    per_field = quality.completeness(Organization.objects.all(), "organization")
    assert (per_field["domain"].numerator, per_field["domain"].denominator) == (1, 2)
    assert per_field["owner"].numerator == 1


def test_interactions_linked_rate(people, owner):
    log_interaction(actor=owner, kind="note", organization=people["org"], subject="Org only")
    m = quality.interactions_linked_rate(Interaction.objects.all())
    assert (m.numerator, m.denominator) == (1, 2)


def test_snapshot_once_a_day_and_trend(people):
    first = quality.take_snapshot()
    again = quality.take_snapshot()
    assert first.pk == again.pk
    assert QualitySnapshot.objects.count() == 1
    assert again.figures["identification_rate"]["numerator"] == 3
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    QualitySnapshot.objects.create(
        taken_on=yesterday, figures={"identification_rate": {"value": 0.5}}
    )
    assert quality.trend("identification_rate") == [
        (yesterday, 0.5),
        (timezone.localdate(), pytest.approx(0.6)),
    ]


def test_report_is_scoped_by_the_queryset(people, outsider):
    report = quality.report(
        Contact.objects.visible_to(outsider).active(),
        Organization.objects.visible_to(outsider).active(),
    )
    assert report.contacts == 0
    assert report.identification.value is None


def test_snapshot_command(people):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("quality_snapshot", stdout=out)
    assert "identification rate 60.0 %" in out.getvalue()
    assert QualitySnapshot.objects.count() == 1
