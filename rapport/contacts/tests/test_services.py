"""The contacts services: what each write guarantees, records and sets off."""

import pytest
from django.core.exceptions import ValidationError

from rapport.audit.models import ChangeRecord
from rapport.contacts import events, services
from rapport.contacts.models import Contact, LifecycleChange, Membership, Tag
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import events as core_events

pytestmark = pytest.mark.django_db


def errors_of(function, **kwargs) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        function(**kwargs)
    return excinfo.value.message_dict


def records(instance) -> list[str]:
    return list(
        ChangeRecord.objects.filter(
            entity=instance._meta.label_lower, object_id=str(instance.pk)
        ).values_list("action", flat=True)
    )


def test_create_contact_collects_every_error_and_writes_nothing(owner):
    errors = errors_of(
        services.create_contact,
        actor=owner,
        first_name="x" * 101,
        emails=["ok@example.com", "bad", 7],
        phones=["+49 30 1234567", "12", None],
        country="Germany",
        tags=["x" * 51],
        external_ids=["shop:1"],
        lifecycle_stage="won",
    )
    assert set(errors) == {
        "first_name",
        "emails[1].email",
        "emails[2].email",
        "phones[1].number",
        "phones[2].number",
        "country",
        "tags",
        "external_ids[0]",
        "lifecycle_stage",
    }
    assert not Contact.objects.exists()
    assert not ChangeRecord.objects.exists()


def test_create_contact_sets_off_the_event_and_the_first_lifecycle_change(
    owner, monkeypatch, django_capture_on_commit_callbacks
):
    received = []
    monkeypatch.setitem(core_events._subscribers, events.ContactCreated, [received.append])
    with django_capture_on_commit_callbacks(execute=True):
        contact = make_contact(actor=owner, owner=owner, lifecycle_stage="subscriber")
    assert received == [
        events.ContactCreated(contact_id=contact.pk, actor_id=owner.pk, source="manual")
    ]
    change = LifecycleChange.objects.get(contact=contact)
    assert (change.from_stage, change.to_stage, change.actor) == ("", "subscriber", owner)
    assert records(contact) == ["create"]


def test_one_primary_email_even_when_several_are_marked(owner):
    contact = make_contact(
        actor=owner,
        emails=[
            {"email": "a@example.com", "is_primary": True},
            {"email": "b@example.com", "is_primary": True},
            {"email": "A@EXAMPLE.COM"},
        ],
    )
    assert list(contact.emails.values_list("email", "is_primary")) == [
        ("a@example.com", True),
        ("b@example.com", False),
    ]


def test_update_contact_records_before_and_after(owner, teammate):
    contact = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    services.update_contact(
        actor=owner, contact=contact, job_title="CTO", owner=teammate, emails=["new@example.com"]
    )
    record = ChangeRecord.objects.filter(entity="contacts.contact", action="update").get()
    assert record.before["job_title"] == ""
    assert record.after["job_title"] == "CTO"
    assert record.before["emails"] == ["ada@example.com"]
    assert record.after["emails"] == ["new@example.com"]
    assert record.after["owner_id"] == teammate.pk
    contact.refresh_from_db()
    assert contact.primary_email == "new@example.com"


def test_update_contact_refuses_unknown_fields_and_bad_values_atomically(owner):
    contact = make_contact(actor=owner, owner=owner, job_title="Engineer")
    assert errors_of(services.update_contact, actor=owner, contact=contact, is_archived=True) == {
        "is_archived": ["Unknown field."]
    }
    errors = errors_of(
        services.update_contact,
        actor=owner,
        contact=contact,
        job_title="CTO",
        phones=["nope"],
    )
    assert list(errors) == ["phones[0].number"]
    contact.refresh_from_db()
    assert contact.job_title == "Engineer"
    assert records(contact) == ["create"]


def test_lifecycle_moves_are_dated_and_a_repeat_is_a_no_op(owner):
    contact = make_contact(actor=owner, owner=owner)
    services.set_lifecycle_stage(actor=owner, contact=contact, stage="customer", reason="Won")
    services.set_lifecycle_stage(actor=owner, contact=contact, stage="customer")
    history = list(
        LifecycleChange.objects.filter(contact=contact).values_list("from_stage", "to_stage")
    )
    assert history == [("lead", "customer"), ("", "lead")]
    assert errors_of(
        services.set_lifecycle_stage, actor=owner, contact=contact, stage="won"
    ).keys() == {"lifecycle_stage"}


def test_archive_and_restore_are_recorded_once(owner):
    contact = make_contact(actor=owner, owner=owner)
    services.archive_contact(actor=owner, contact=contact)
    services.archive_contact(actor=owner, contact=contact)
    services.restore_contact(actor=owner, contact=contact)
    assert records(contact) == ["restore", "archive", "create"]
    contact.refresh_from_db()
    assert contact.is_archived is False
    assert contact.archived_at is None


def test_removing_the_primary_membership_promotes_the_oldest_other(owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    bolt = make_organization(actor=owner, owner=owner, name="Bolt")
    cogs = make_organization(actor=owner, owner=owner, name="Cogs")
    contact = make_contact(actor=owner, owner=owner, organization=acme)
    services.add_membership(actor=owner, contact=contact, organization=bolt, role=" Advisor ")
    services.add_membership(actor=owner, contact=contact, organization=cogs)
    assert Membership.objects.get(organization=bolt).role == "Advisor"
    assert Membership.objects.get(organization=acme).is_primary

    services.remove_membership(actor=owner, contact=contact, organization=acme)
    primaries = Membership.objects.filter(contact=contact, is_primary=True)
    assert [m.organization.name for m in primaries] == ["Bolt"]
    assert "acme" not in Contact.objects.get(pk=contact.pk).search_text


def test_renaming_an_organization_refreshes_its_contacts_search(owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    contact = make_contact(actor=owner, owner=owner, organization=acme)
    services.update_organization(actor=owner, organization=acme, name="Zenith")
    assert Contact.objects.search("zenith").get() == contact
    assert not Contact.objects.search("acme").exists()


def test_consent_needs_a_lawful_basis_when_granted(owner):
    contact = make_contact(actor=owner, owner=owner)
    assert errors_of(
        services.set_consent, actor=owner, contact=contact, channel="email", status="granted"
    ) == {"lawful_basis": ["Give the lawful basis for processing."]}
    consent = services.set_consent(
        actor=owner,
        contact=contact,
        channel="email",
        status="withdrawn",
    )
    assert consent.status == "withdrawn"
    assert contact.consents.count() == 1


def test_create_tag_refuses_duplicates_without_case(owner):
    tag = services.create_tag(actor=owner, name="  Key   Account ", color="#ABCDEF")
    assert (tag.name, tag.color) == ("Key Account", "#abcdef")
    assert errors_of(services.create_tag, actor=owner, name="key account") == {
        "name": ["A tag with this name already exists."]
    }
    assert errors_of(services.create_tag, actor=owner, name="X", color="blue") == {
        "color": ["Give a colour as #rrggbb."]
    }
    assert Tag.objects.count() == 1
    assert records(tag) == ["create"]


def test_relationship_to_itself_is_refused(owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    assert set(
        errors_of(
            services.add_relationship,
            actor=owner,
            from_organization=acme,
            to_organization=acme,
            kind="friend",
        )
    ) == {"kind", "to_organization"}


def test_relationship_changes_are_recorded_by_name(owner):

    holding = make_organization(actor=owner, owner=owner, name="Holding AG")
    daughter = make_organization(actor=owner, owner=owner, name="Daughter GmbH")
    tie = services.add_relationship(
        actor=owner, from_organization=holding, to_organization=daughter, kind="parent"
    )
    services.remove_relationship(actor=owner, relationship=tie)

    records = ChangeRecord.objects.filter(object_id=str(holding.pk)).order_by("id")
    added, removed = list(records)[-2:]
    assert added.after == {"relationship": "Parent company of Daughter GmbH"}
    assert removed.before == {"relationship": "Parent company of Daughter GmbH"}


def test_assign_contacts_gives_each_its_record_and_event_and_skips_those_already_theirs(
    owner, teammate, monkeypatch, django_capture_on_commit_callbacks
):
    received = []
    monkeypatch.setitem(core_events._subscribers, events.ContactUpdated, [received.append])
    mine = make_contact(actor=owner, owner=owner, first_name="Mia")
    theirs = make_contact(actor=owner, owner=teammate, first_name="Tom")
    with django_capture_on_commit_callbacks(execute=True):
        moved = services.assign_contacts(actor=owner, contacts=[mine, theirs], owner=teammate)

    assert moved == [(mine, owner.pk)]
    assert Contact.objects.get(pk=mine.pk).owner_id == teammate.pk
    record = ChangeRecord.objects.get(
        entity="contacts.contact", object_id=str(mine.pk), action="update"
    )
    assert (record.before, record.after) == ({"owner_id": owner.pk}, {"owner_id": teammate.pk})
    assert records(theirs) == ["create"]
    assert received == [
        events.ContactUpdated(contact_id=mine.pk, actor_id=owner.pk, changed_fields=("owner_id",))
    ]


def test_assign_contacts_refuses_the_whole_batch_for_one_contact_out_of_reach(
    owner, teammate, outsider
):
    from django.core.exceptions import PermissionDenied

    mine = make_contact(actor=owner, owner=owner)
    foreign = make_contact(actor=outsider, owner=outsider)
    with pytest.raises(PermissionDenied):
        services.assign_contacts(actor=owner, contacts=[mine, foreign], owner=teammate)
    assert Contact.objects.get(pk=mine.pk).owner_id == owner.pk
    assert errors_of(services.assign_contacts, actor=owner, contacts=[mine], owner=outsider) == {
        "owner": [
            errors_of(services.update_contact, actor=owner, contact=mine, owner=outsider)["owner"][
                0
            ]
        ]
    }
    assert Contact.objects.get(pk=mine.pk).owner_id == owner.pk


def test_an_external_id_taken_after_the_check_is_refused_by_the_constraint_not_a_500(
    owner, monkeypatch
):
    """Two writes that both passed the check: the unique constraint decides, and the loser
    gets the check's message with nothing of its contact written."""
    from rapport.contacts.models import ExternalId

    holder = make_contact(owner=owner, first_name="First")
    ExternalId.objects.create(contact=holder, system="shop", value="c-1")
    monkeypatch.setattr(
        services,
        "_clean_external_ids",
        lambda raw, errors, exclude_contact=None: [dict(item) for item in raw or []],
    )
    with pytest.raises(ValidationError) as caught:
        services.create_contact(
            actor=owner, first_name="Second", external_ids=[{"system": "shop", "value": "c-1"}]
        )
    assert caught.value.message_dict == {
        "external_ids": ["Another contact already has this external id."]
    }
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["First"]
