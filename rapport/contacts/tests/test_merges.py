"""The contacts app's side of a merge: the merged-away record's rows move through its
services, refused to whoever may not change both records."""

import pytest
from django.core.exceptions import PermissionDenied

from rapport.contacts import merges
from rapport.contacts.models import Contact, Membership
from rapport.contacts.tests.factories import make_contact, make_organization

pytestmark = pytest.mark.django_db


def test_absorbing_rows_needs_the_right_to_change_both_records(owner, outsider):
    mine = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    theirs = make_contact(actor=outsider, owner=outsider, emails=["grace@example.com"])
    with pytest.raises(PermissionDenied):
        merges.absorb_contact_rows(actor=owner, survivor=mine, loser=theirs)
    assert list(theirs.emails.values_list("email", flat=True)) == ["grace@example.com"]


def test_absorbed_rows_leave_one_primary_and_the_survivors_columns_up_to_date(owner):
    engines = make_organization(actor=owner, owner=owner, name="Analytical Engines")
    survivor = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    loser = make_contact(
        actor=owner,
        owner=owner,
        first_name="Augusta",
        emails=["countess@lovelace.uk", "ada@example.com"],
        phones=["+44 20 7946 0018"],
        organization=engines,
    )
    moved = merges.absorb_contact_rows(
        actor=owner, survivor=survivor, loser=loser, primary_email="countess@lovelace.uk"
    )
    assert (moved["emails"], moved["emails_dropped_as_duplicates"]) == (1, 1)
    assert (moved["phones"], moved["memberships"]) == (1, 1)
    survivor = Contact.objects.get(pk=survivor.pk)
    assert survivor.primary_email == "countess@lovelace.uk"
    assert survivor.primary_phone == "+442079460018"
    assert survivor.emails.filter(is_primary=True).count() == 1
    assert "countess@lovelace.uk" in survivor.search_text
    assert "analytical engines" in survivor.search_text
    assert Membership.objects.get(contact=survivor).is_primary


def test_absorbing_an_organization_names_the_survivor_in_its_new_members_search(owner):
    survivor = make_organization(actor=owner, owner=owner, name="Babbage & Co")
    loser = make_organization(actor=owner, owner=owner, name="Babage and Company")
    member = make_contact(actor=owner, owner=owner, organization=loser)
    moved = merges.absorb_organization_rows(actor=owner, survivor=survivor, loser=loser)
    assert moved["memberships"] == 1
    member.refresh_from_db()
    assert "babbage & co" in member.search_text and "babage and company" not in member.search_text
