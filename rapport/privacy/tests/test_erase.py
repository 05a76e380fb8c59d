from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from rapport.audit.models import ChangeRecord
from rapport.audit.services import record_change
from rapport.contacts.models import Contact, Tag
from rapport.interactions.models import Interaction
from rapport.privacy import services
from rapport.privacy.models import Erasure
from rapport.privacy.tests.conftest import EMAIL, MARKERS
from rapport.sales.models import Deal, Task, WebFormSubmission

pytestmark = pytest.mark.django_db

TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


def traces(marker: str) -> list[str]:
    """Every table.column of every installed model whose text or JSON holds `marker`."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, TEXT_FIELDS):
                continue
            lookup = {f"{field.attname}__icontains": marker}
            if model._base_manager.filter(**lookup).exists():
                found.append(f"{model._meta.label}.{field.name}")
    return found


def test_the_scan_sees_the_person_everywhere_before_the_erasure(person):
    # The scan is only worth something if it finds what the world planted.
    found = set(traces(EMAIL))
    for place in [
        "contacts.ContactEmail.email",
        "contacts.Contact.primary_email",
        "audit.ChangeRecord.after",
        "sales.WebFormSubmission.data",
        "sales.LeadScore.reasons",
        "core.IdempotencyRecord.response_body",
        "interactions.Interaction.body",
        "sales.Deal.description",
    ]:
        assert place in found
    assert "data_exchange.ImportRow.after" in traces("Zelda")
    assert "data_exchange.MergeRecord.loser_snapshot" in traces("zq1987")


def test_no_trace_of_the_person_remains_anywhere(person, admin_user):
    services.erase_contact(
        actor=admin_user, contact=person.contact, reason="Zelda Quintrell asked by letter"
    )

    for marker in MARKERS:
        assert traces(marker) == [], marker


def test_a_tombstone_keeps_counts_deals_and_revenue(person, admin_user):
    contacts_before = Contact.objects.count()
    interactions_before = Interaction.objects.filter(contact=person.contact).count()

    services.erase_contact(actor=admin_user, contact=person.contact, reason="Request #12")

    contact = Contact.objects.get(pk=person.contact.pk)
    assert str(contact) == "Erased contact"
    assert contact.is_archived is True
    assert (contact.search_text, contact.primary_email, contact.primary_phone) == ("", "", "")
    assert contact.custom_fields == {}
    assert contact.emails.count() == contact.phones.count() == contact.external_ids.count() == 0
    assert contact.consents.count() == 0
    assert Contact.objects.count() == contacts_before
    assert Erasure.objects.get(contact=contact).reason == "Request #12"

    deal = Deal.objects.get(pk=person.deal.pk)
    assert (deal.contact_id, deal.amount, deal.name) == (
        contact.pk,
        Decimal("1000.00"),
        "Renewal for [erased]",
    )
    person.order.refresh_from_db()
    assert (person.order.contact_id, person.order.total) == (contact.pk, Decimal("250.00"))
    assert person.order.note == "Gift wrap for [erased]"

    # The timeline keeps its entries (activity counts) without what was said.
    assert Interaction.objects.filter(contact=contact).count() == interactions_before
    call = Interaction.objects.get(pk=person.interaction.pk)
    assert (call.kind, call.subject, call.body, call.external_id) == ("call", "Erased", "", None)
    note = Interaction.objects.get(pk=person.org_interaction.pk)
    assert note.body == "[erased] ([erased]) leaves in spring."
    task = Task.objects.get(pk=person.task.pk)
    assert (task.title, task.description) == ("Call [erased] back", "")

    # Tags that name the person go; the others stay.
    assert sorted(contact.tags.values_list("name", flat=True)) == ["VIP"]
    assert not Tag.objects.filter(name="Quintrell family").exists()
    # The membership stays (organization counts), without the role.
    assert list(contact.memberships.values_list("role", flat=True)) == [""]
    # Nothing waits to bring the person back.
    assert not WebFormSubmission.objects.filter(processed_at__isnull=True).exists()
    # The bystander is untouched.
    person.bystander.refresh_from_db()
    assert person.bystander.primary_email == "bert@b.example"


def test_a_search_afterwards_finds_nothing(person, admin_user):
    assert Contact.objects.search("quintrell").exists()

    services.erase_contact(actor=admin_user, contact=person.contact, reason="Request")

    for query in ["quintrell", "zelda", EMAIL, "+49 151 23987654", "erased"]:
        assert not Contact.objects.search(query).exists(), query


def test_the_erasure_is_one_audit_record_naming_who_and_why(person, admin_user):
    before = ChangeRecord.objects.count()

    services.erase_contact(
        actor=admin_user, contact=person.contact, reason="Right to erasure, ticket 7"
    )

    assert ChangeRecord.objects.count() == before + 1
    record = ChangeRecord.objects.latest("id")
    assert (record.entity, record.object_id) == ("contacts.contact", str(person.contact.pk))
    assert record.actor == admin_user
    assert record.object_repr == "Erased contact"
    assert record.message == "Erased (GDPR): Right to erasure, ticket 7"
    assert record.after["erased"] is True


def test_earlier_audit_snapshots_of_the_person_are_redacted(person, admin_user):
    services.erase_contact(actor=admin_user, contact=person.contact, reason="Request")

    created = ChangeRecord.objects.get(
        entity="contacts.contact", object_id=str(person.contact.pk), action="create"
    )
    assert created.after["first_name"] == "[erased]"
    assert created.after["emails"] == ["[erased]"]
    assert created.object_repr == "Erased contact"


def test_the_reason_is_stored_without_the_persons_name(person, admin_user):
    erasure = services.erase_contact(
        actor=admin_user, contact=person.contact, reason=f"Zelda wrote from {EMAIL}"
    )

    assert erasure.reason == "[erased] wrote from [erased]"


@pytest.mark.parametrize("who", ["owner", "read_only"])
def test_only_administrators_may_erase(person, people, who):
    before = ChangeRecord.objects.count()

    with pytest.raises(PermissionDenied):
        services.erase_contact(actor=people[who], contact=person.contact, reason="Request")

    contact = Contact.objects.get(pk=person.contact.pk)
    assert contact.primary_email == EMAIL
    assert not Erasure.objects.exists()
    assert ChangeRecord.objects.count() == before


def test_a_reason_is_required_and_a_second_erasure_refused(person, admin_user):
    with pytest.raises(ValidationError) as error:
        services.erase_contact(actor=admin_user, contact=person.contact, reason="  ")
    assert "reason" in error.value.message_dict
    assert Contact.objects.get(pk=person.contact.pk).primary_email == EMAIL

    services.erase_contact(actor=admin_user, contact=person.contact, reason="Request")
    with pytest.raises(ValidationError) as error:
        services.erase_contact(actor=admin_user, contact=person.contact, reason="Again")
    assert error.value.message_dict == {"contact": ["This contact has already been erased."]}


def test_erasing_sets_off_contact_archived_with_ids_only(
    person, admin_user, monkeypatch, django_capture_on_commit_callbacks
):
    from rapport.contacts.events import ContactArchived
    from rapport.core import events

    received = []
    monkeypatch.setitem(events._subscribers, ContactArchived, [received.append])

    with django_capture_on_commit_callbacks(execute=True):
        services.erase_contact(actor=admin_user, contact=person.contact, reason="Request")

    assert received == [ContactArchived(contact_id=person.contact.pk, actor_id=admin_user.pk)]


def test_a_name_with_accents_is_found_in_json_as_the_database_stores_it(owner, admin_user):
    from rapport.contacts.tests.factories import make_contact, make_organization
    from rapport.interactions.services import log_interaction

    organization = make_organization(actor=owner, owner=owner, name="Kettle & Co")
    contact = make_contact(actor=owner, owner=owner, first_name="Zoë", last_name="Müller-Öz")
    log_interaction(
        actor=owner, kind="note", organization=organization, subject="Zoë Müller-Öz joins in May"
    )

    # Only the JSON holds the name here (SQLite stores it as "M\\u00fcller").
    record_change(
        actor=owner,
        action="update",
        entity="contacts.organization",
        object_id=organization.pk,
        object_repr="Kettle & Co",
        before={"description": ""},
        after={"description": "Ask Zoë Müller-Öz"},
    )

    services.erase_contact(actor=admin_user, contact=contact, reason="Request")

    for marker in ["Müller", "M\\u00fcller", "Zoë", "Zo\\u00eb"]:
        assert traces(marker) == [], marker
