"""Merging two contacts: the loser's enrollments follow the survivor without breaking the one
open enrollment per sequence."""

import pytest

from rapport.contacts.tests.factories import make_contact
from rapport.data_exchange.services import merge_contacts
from rapport.sequences import services
from rapport.sequences.models import Enrollment

pytestmark = pytest.mark.django_db


def test_enrollments_follow_the_survivor_and_a_duplicate_one_stops(
    owner, sequence, enroll, ada, mailbox, follow_up
):
    other = services.create_sequence(
        actor=owner,
        name="Nurture",
        mailbox=mailbox,
        steps=[{"kind": "email", "template": follow_up.pk}],
    )
    twin = make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada.l@example.org"])
    kept = enroll(ada)
    duplicate = enroll(twin)
    moved = enroll(twin, on=other)

    merge_contacts(actor=owner, survivor=ada, loser=twin)

    kept.refresh_from_db()
    duplicate.refresh_from_db()
    moved.refresh_from_db()
    assert (kept.contact_id, kept.status) == (ada.pk, "active")
    assert (duplicate.contact_id, duplicate.status) == (ada.pk, "stopped")
    assert duplicate.status_detail == "merged into Ada Lovelace, who is already in this sequence"
    assert (moved.contact_id, moved.status) == (ada.pk, "active")
    assert Enrollment.objects.filter(contact=ada).count() == 3
