"""Tagging many contacts at once writes per contact what `update_contact(tags=…)` writes, and
asks the same access decision for each: one contact the actor may not change refuses all."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.audit.models import ChangeRecord
from rapport.contacts.services import update_contact
from rapport.contacts.tagging import tag_contacts
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _last_record(contact) -> ChangeRecord:
    return ChangeRecord.objects.filter(object_id=str(contact.pk)).latest("id")


def _plain(record: ChangeRecord) -> tuple:
    strip = {"id", "lifecycle_changed_at"}
    return (
        record.action,
        record.actor_id,
        record.message,
        {k: v for k, v in record.before.items() if k not in strip},
        {k: v for k, v in record.after.items() if k not in strip},
    )


def test_tagging_together_writes_what_update_contact_writes(owner, teammate):
    alone = make_contact(actor=owner, owner=owner, tags=["Newsletter"], emails=["a@example.com"])
    together = make_contact(actor=owner, owner=owner, tags=["Newsletter"], emails=["a@example.com"])
    tagged = make_contact(actor=owner, owner=owner, first_name="Bea", tags=["spring"])
    update_contact(actor=teammate, contact=alone, tags=["Newsletter", "Spring"])

    changed = tag_contacts(actor=teammate, contacts=[together, tagged], tag="Spring")

    assert changed == {together.pk: True, tagged.pk: False}
    assert _plain(_last_record(together)) == _plain(_last_record(alone))
    # The existing tag "spring" is used, as update_contact matches names regardless of case.
    assert _last_record(together).after["tags"] == ["Newsletter", "spring"]
    assert list(tagged.tags.values_list("name", flat=True)) == ["spring"]  # left alone
    assert ChangeRecord.objects.filter(object_id=str(tagged.pk)).count() == 1  # its creation

    assert tag_contacts(actor=teammate, contacts=[together], tag="spring", adds=False) == {
        together.pk: True
    }
    assert sorted(together.tags.values_list("name", flat=True)) == ["Newsletter"]


def test_one_contact_the_actor_may_not_change_refuses_the_batch(owner, outsider):
    theirs = make_contact(actor=outsider, owner=outsider, first_name="Own")
    not_theirs = make_contact(actor=owner, owner=owner, first_name="Other")
    with pytest.raises(PermissionDenied):
        tag_contacts(actor=outsider, contacts=[theirs, not_theirs], tag="Spring")
    assert not theirs.tags.exists() and not not_theirs.tags.exists()
    assert not ChangeRecord.objects.filter(after__tags=["Spring"]).exists()


def test_a_contact_with_the_most_tags_refuses_the_batch(owner):
    full = make_contact(actor=owner, owner=owner, tags=[f"Tag {n}" for n in range(50)])
    other = make_contact(actor=owner, owner=owner, first_name="Bea")
    with pytest.raises(ValidationError) as refused:
        tag_contacts(actor=owner, contacts=[other, full], tag="Spring")
    assert refused.value.message_dict == {"tags": ["At most 50 tags."]}
    assert not other.tags.exists()
