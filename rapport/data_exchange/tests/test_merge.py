"""Merging contacts and organizations: everything moves, aliases resolve, the audit remembers."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeAction, ChangeRecord
from rapport.contacts import services as contact_services
from rapport.contacts.models import Consent, Contact, LifecycleChange, Membership, Organization
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import registry
from rapport.customfields.services import create_definition
from rapport.data_exchange import events, services
from rapport.data_exchange.choices import AliasKind, DuplicateStatus
from rapport.data_exchange.models import (
    ContactDuplicate,
    IdentityAlias,
    MergeRecord,
    OrganizationDuplicate,
)
from rapport.interactions.services import log_interaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(owner):
    org = make_organization(actor=owner, owner=owner, name="Analytical Engines")
    other_org = make_organization(actor=owner, owner=owner, name="Difference Ltd")
    survivor = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=["ada@engines.org"],
        phones=["+442079460000"],
        organization=org,
        tags=["vip"],
        external_ids=[{"system": "shop", "value": "A-1"}],
    )
    loser = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="King",
        job_title="Countess",
        emails=["ada@engines.org", "countess@lovelace.uk"],
        phones=["+442079460001"],
        organization=other_org,
        tags=["vip", "math"],
        external_ids=[{"system": "crm", "value": "K-9"}],
        city="London",
    )
    return survivor, loser


def test_merge_moves_every_related_record(
    owner, pair, django_capture_on_commit_callbacks, subscriptions
):
    survivor, loser = pair
    log_interaction(actor=owner, kind="note", contact=loser, subject="Met at the Royal Society")
    log_interaction(actor=owner, kind="call", contact=loser, subject="Follow-up")
    old = timezone.now() - dt.timedelta(days=30)
    contact_services.set_consent(
        actor=owner, contact=survivor, channel="email", status="granted", lawful_basis="consent"
    )
    Consent.objects.filter(contact=survivor, channel="email").update(recorded_at=old)
    contact_services.set_consent(actor=owner, contact=loser, channel="email", status="withdrawn")
    contact_services.set_consent(
        actor=owner, contact=loser, channel="phone", status="granted", lawful_basis="contract"
    )
    contact_services.set_lifecycle_stage(actor=owner, contact=loser, stage="customer")
    loser_history = LifecycleChange.objects.filter(contact=loser).count()
    survivor_history = LifecycleChange.objects.filter(contact=survivor).count()
    received = []
    subscriptions(events.ContactsMerged, received.append)

    with django_capture_on_commit_callbacks(execute=True):
        merge = services.merge_contacts(actor=owner, survivor=survivor, loser=loser)

    assert not Contact.objects.filter(pk=loser.pk).exists()
    survivor.refresh_from_db()
    assert sorted(survivor.emails.values_list("email", flat=True)) == [
        "ada@engines.org",
        "countess@lovelace.uk",
    ]
    assert survivor.emails.filter(is_primary=True).get().email == "ada@engines.org"
    assert sorted(survivor.phones.values_list("number", flat=True)) == [
        "+442079460000",
        "+442079460001",
    ]
    assert sorted(survivor.external_ids.values_list("system", "value")) == [
        ("crm", "K-9"),
        ("shop", "A-1"),
    ]
    assert sorted(survivor.memberships.values_list("organization__name", flat=True)) == [
        "Analytical Engines",
        "Difference Ltd",
    ]
    assert survivor.memberships.filter(is_primary=True).count() == 1
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["math", "vip"]
    assert survivor.interactions.count() == 2
    assert LifecycleChange.objects.filter(contact=survivor).count() >= (
        loser_history + survivor_history
    )
    # Per channel the most recent decision wins: the loser withdrew email after the grant.
    consents = dict(survivor.consents.values_list("channel", "status"))
    assert consents == {"email": "withdrawn", "phone": "granted"}
    # Empty fields are filled from the loser; set ones stay.
    assert survivor.last_name == "Lovelace"
    assert survivor.job_title == "Countess"
    assert survivor.city == "London"
    assert "countess@lovelace.uk" in survivor.search_text
    assert merge.loser_deleted is True
    assert merge.loser_snapshot["last_name"] == "King"
    assert merge.moved["interactions"] == 2
    assert received == [
        events.ContactsMerged(
            survivor_id=survivor.pk, loser_id=loser.pk, actor_id=owner.pk, merge_id=merge.pk
        )
    ]


def test_chosen_values_win(owner, pair):
    survivor, loser = pair
    create_definition(
        actor=None,
        entity="contact",
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["Gold", "Silver"],
    )
    contact_services.update_contact(actor=owner, contact=survivor, custom_fields={"tier": "Silver"})
    contact_services.update_contact(actor=owner, contact=loser, custom_fields={"tier": "Gold"})
    preview = services.preview_contact_merge(
        survivor=survivor,
        loser=loser,
        choices={"last_name": "loser", "custom_fields.tier": "loser", "primary_email": "loser"},
    )
    fields = {f.name: f for f in preview.fields}
    assert fields["last_name"].result == "King"
    assert fields["custom_fields.tier"].result == "Gold"
    assert Contact.objects.filter(pk=loser.pk).exists()  # a preview writes nothing

    services.merge_contacts(
        actor=owner,
        survivor=survivor,
        loser=loser,
        choices={"last_name": "loser", "custom_fields.tier": "loser", "primary_phone": "loser"},
    )
    survivor.refresh_from_db()
    assert survivor.last_name == "King"
    assert survivor.custom_fields == {"tier": "Gold"}
    assert survivor.primary_phone == "+442079460001"


def test_preview_lists_what_moves(owner, pair):
    survivor, loser = pair
    log_interaction(actor=owner, kind="note", contact=loser, subject="hello")
    preview = services.preview_contact_merge(survivor=survivor, loser=loser)
    assert "Emails added: countess@lovelace.uk" in preview.moves
    assert "1 email already present" in preview.moves
    assert "External ids moved: crm:K-9" in preview.moves
    assert "Organizations joined: Difference Ltd" in preview.moves
    assert "Tags added: math" in preview.moves
    assert "1 timeline entry moved" in preview.moves
    assert f"record #{loser.pk}" in preview.aliases


def test_aliases_resolve_after_the_merge(owner, pair):
    survivor, loser = pair
    loser_id = loser.pk
    services.merge_contacts(actor=owner, survivor=survivor, loser=loser)
    # The emails moved, so they resolve directly; remove one to prove the alias takes over.
    contact_services.update_contact(
        actor=owner, contact=survivor, emails=["ada@engines.org"], phones=["+442079460000"]
    )
    assert services.resolve_contact(email="Countess@Lovelace.uk") == survivor
    assert services.resolve_contact(phone="+44 20 7946 0001") == survivor
    assert services.resolve_contact(external_id="K-9", system="crm") == survivor
    assert services.resolve_merged_contact_id(loser_id) == survivor.pk
    assert services.resolve_contact(email="nobody@nowhere.org") is None
    assert services.resolve_contact(email="not an email") is None
    kinds = set(IdentityAlias.objects.filter(contact=survivor).values_list("kind", flat=True))
    assert kinds == {AliasKind.EMAIL, AliasKind.PHONE, AliasKind.EXTERNAL_ID, AliasKind.RECORD}


def test_resolve_respects_scope(owner, outsider, pair):
    survivor, _loser = pair
    assert services.resolve_contact(email="ada@engines.org", user=owner) == survivor
    assert services.resolve_contact(email="ada@engines.org", user=outsider) is None


def test_merge_writes_audit_records_on_both(owner, pair):
    survivor, loser = pair
    loser_id = loser.pk
    services.merge_contacts(actor=owner, survivor=survivor, loser=loser)
    on_survivor = ChangeRecord.objects.get(
        entity="contacts.contact", object_id=str(survivor.pk), action=ChangeAction.MERGE
    )
    assert on_survivor.actor == owner
    assert "countess@lovelace.uk" in on_survivor.after["emails"]
    on_loser = ChangeRecord.objects.get(
        entity="contacts.contact", object_id=str(loser_id), action=ChangeAction.MERGE
    )
    assert on_loser.after == {"merged_into": survivor.pk}
    assert on_loser.before["last_name"] == "King"


def test_registered_relations_move_and_keep_the_loser_otherwise(owner, pair):
    survivor, loser = pair
    moved = []
    relation = registry.MergeRelation(
        key="test.widgets",
        entity="contact",
        move=lambda loser, survivor, actor: moved.append((loser.pk, survivor.pk, actor)),
    )
    registry.register_merge_relation(relation)
    try:
        merge = services.merge_contacts(actor=owner, survivor=survivor, loser=loser)
    finally:
        registry.merge_relations.remove(relation)
    assert moved == [(loser.pk, survivor.pk, owner)]
    assert merge.moved["relation:test.widgets"] == 1


def test_pairs_follow_the_survivor_and_decisions_are_kept(owner, pair):
    survivor, loser = pair
    third = make_contact(actor=owner, owner=owner, first_name="Third", last_name="Person")
    fourth = make_contact(actor=owner, owner=owner, first_name="Fourth", last_name="Person")
    ContactDuplicate.objects.all().delete()
    a, b = sorted([survivor.pk, loser.pk])
    ContactDuplicate.objects.create(contact_a_id=a, contact_b_id=b, score=0.9, reasons=["x"])
    dismissed = ContactDuplicate.objects.create(
        contact_a_id=min(loser.pk, third.pk),
        contact_b_id=max(loser.pk, third.pk),
        score=0.8,
        reasons=["y"],
        status=DuplicateStatus.DISMISSED,
    )
    ContactDuplicate.objects.create(
        contact_a_id=min(loser.pk, fourth.pk),
        contact_b_id=max(loser.pk, fourth.pk),
        score=0.8,
        reasons=["z"],
    )
    services.merge_contacts(actor=owner, survivor=survivor, loser=loser)
    remaining = list(ContactDuplicate.objects.values_list("contact_a", "contact_b", "status"))
    low, high = sorted([survivor.pk, third.pk])
    assert remaining == [(low, high, DuplicateStatus.DISMISSED)]
    dismissed_exists = ContactDuplicate.objects.filter(pk=dismissed.pk).exists()
    assert dismissed_exists


def test_merge_refuses_bad_input(owner, pair):
    survivor, loser = pair
    with pytest.raises(ValidationError) as error:
        services.merge_contacts(actor=owner, survivor=survivor, loser=survivor)
    assert "loser" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.merge_contacts(
            actor=owner, survivor=survivor, loser=loser, choices={"password": "loser"}
        )
    assert "choices.password" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.merge_contacts(
            actor=owner, survivor=survivor, loser=loser, choices={"first_name": "both"}
        )
    assert Contact.objects.filter(pk=loser.pk).exists()


def test_read_only_role_cannot_merge(pair):
    survivor, loser = pair
    reader = UserFactory(
        role=RoleFactory(name="Reader", is_read_only=True, scopes={"contacts": "all"})
    )
    with pytest.raises(PermissionDenied):
        services.merge_contacts(actor=reader, survivor=survivor, loser=loser)
    assert Contact.objects.filter(pk=loser.pk).exists()


def test_dismissed_pair_is_never_suggested_again(owner, django_capture_on_commit_callbacks):
    from rapport.data_exchange import matching

    with django_capture_on_commit_callbacks(execute=True):
        first = make_contact(actor=owner, owner=owner, emails=["twin@example.net"])
        second = make_contact(actor=owner, owner=owner, emails=["twin@example.net"])
    pair = ContactDuplicate.objects.get()
    assert (pair.contact_a_id, pair.contact_b_id) == (first.pk, second.pk)
    services.dismiss_duplicate(actor=owner, pair=pair)
    matching.scan("contact")
    matching.record_suspects_for_contacts([first.pk, second.pk])
    pair.refresh_from_db()
    assert pair.status == DuplicateStatus.DISMISSED
    assert ContactDuplicate.objects.count() == 1
    assert ChangeRecord.objects.filter(entity="data_exchange.contactduplicate").exists()


def test_merge_organizations(owner):
    survivor = make_organization(actor=owner, owner=owner, name="Initech", domain="initech.com")
    loser = make_organization(
        actor=owner, owner=owner, name="Initech LLC", domain="initech.io", industry="Software"
    )
    partner = make_organization(actor=owner, owner=owner, name="Globex")
    both = make_contact(actor=owner, owner=owner, first_name="Peter", organization=survivor)
    contact_services.add_membership(actor=owner, contact=both, organization=loser, role="Dev")
    only_loser = make_contact(actor=owner, owner=owner, first_name="Milton", organization=loser)
    contact_services.add_relationship(
        actor=owner, from_organization=loser, to_organization=partner, kind="partner"
    )
    contact_services.add_relationship(
        actor=owner, from_organization=loser, to_organization=survivor, kind="parent"
    )
    log_interaction(actor=owner, kind="note", organization=loser, subject="Kickoff")
    OrganizationDuplicate.objects.all().delete()

    merge = services.merge_organizations(actor=owner, survivor=survivor, loser=loser)

    assert not Organization.objects.filter(pk=loser.pk).exists()
    survivor.refresh_from_db()
    assert survivor.industry == "Software"
    assert sorted(
        Membership.objects.filter(organization=survivor).values_list("contact_id", flat=True)
    ) == sorted([both.pk, only_loser.pk])
    assert Membership.objects.get(organization=survivor, contact=both).role == "Dev"
    assert list(survivor.outgoing_relationships.values_list("to_organization", "kind")) == [
        (partner.pk, "partner")
    ]
    assert survivor.interactions.count() == 1
    assert IdentityAlias.objects.filter(
        organization=survivor, kind=AliasKind.DOMAIN, value="initech.io"
    ).exists()
    assert MergeRecord.objects.get(pk=merge.pk).loser_snapshot["name"] == "Initech LLC"
    assert ChangeRecord.objects.filter(
        entity="contacts.organization", object_id=str(loser.pk), action=ChangeAction.MERGE
    ).exists()
