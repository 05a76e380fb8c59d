"""Sequences on the contact's timeline: enrolled, each step, a step's task done, and the end
with its reason in words; on an organization's timeline, named by whose they are."""

from __future__ import annotations

import pytest

from rapport.contacts.models import Contact
from rapport.contacts.services import add_membership
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.interactions.models import Interaction
from rapport.sales.models import Task
from rapport.sales.services.work import complete_task
from rapport.sequences import services, timeline
from rapport.sequences.choices import StopReason
from rapport.sequences.tests.conftest import make_due

pytestmark = pytest.mark.django_db


def titles(contact_ids, organization_ids=(), limit=50):
    return [
        (entry.title, entry.body)
        for entry in timeline.timeline_entries(contact_ids, list(organization_ids), limit)
    ]


def test_every_step_and_the_finish_reach_the_contacts_timeline(
    client, owner, enroll, ada, run_due, smtp_server, django_capture_on_commit_callbacks
):
    enrollment = enroll(ada)
    for _ in range(3):
        make_due(enrollment)
        run_due()
    task = Task.objects.get(contact=ada)
    with django_capture_on_commit_callbacks(execute=True):
        complete_task(actor=owner, task=task)

    assert titles([ada.pk]) == [
        ("Finished the sequence “New leads”", "all 3 steps done"),
        (
            "Sequence “New leads”, step 3: done",
            f"Task “Ask about the budget (Ada Lovelace)” completed by {owner}.",
        ),
        (
            "Sequence “New leads”, step 3: task created",
            f"“Ask about the budget (Ada Lovelace)” for {owner}.",
        ),
        (
            "Sequence “New leads”, step 2: email sent",
            "Sent “Re: Hello Ada” from Sales.",
        ),
        ("Sequence “New leads”, step 1: email sent", "Sent “Hello Ada” from Sales."),
        ("Enrolled in the sequence “New leads”", f"by {owner}"),
    ]
    client.force_login(owner)
    html = client.get(ada.get_absolute_url()).content.decode()
    assert "Enrolled in the sequence “New leads”" in html
    assert "Sequence “New leads”, step 2: email sent" in html
    assert "Finished the sequence “New leads”" in html


def test_a_stop_says_its_reason_in_words(owner, enroll, ada):
    enrollment = enroll(ada)
    services.stop_enrollment(
        actor=None, enrollment=enrollment, reason=StopReason.REPLIED, detail="replied on 7 Dec"
    )
    second = services.create_sequence(
        actor=owner, name="Second try", steps=[{"kind": "call", "delay_amount": 0}]
    )
    services.stop_enrollment(
        actor=owner, enrollment=enroll(ada, on=second), reason=StopReason.STOPPED_BY_USER
    )

    assert titles([ada.pk]) == [
        ("Stopped in the sequence “Second try”: Stopped by a person", f"stopped by {owner}"),
        ("Enrolled in the sequence “Second try”", f"by {owner}"),
        ("Stopped in the sequence “New leads”: Replied", "replied on 7 Dec"),
        ("Enrolled in the sequence “New leads”", f"by {owner}"),
    ]


def test_the_timeline_entries_are_read_not_written(owner, enroll, ada):
    touched = Contact.objects.get(pk=ada.pk).last_touched_at
    enroll(ada)
    # No Interaction: an enrollment is not a touch of the contact, nor an `interaction.logged`.
    assert not Interaction.objects.filter(contact=ada).exists()
    assert Contact.objects.get(pk=ada.pk).last_touched_at == touched
    assert titles([ada.pk]) == [("Enrolled in the sequence “New leads”", f"by {owner}")]


def test_an_organizations_timeline_names_whose_entry_it_is(client, owner, enroll, ada):
    organization = make_organization(actor=owner, owner=owner)
    add_membership(actor=owner, contact=ada, organization=organization)
    enroll(ada)

    assert titles([ada.pk], [organization.pk]) == [
        ("Ada Lovelace: Enrolled in the sequence “New leads”", f"by {owner}")
    ]
    client.force_login(owner)
    html = client.get(organization.get_absolute_url()).content.decode()
    assert "Ada Lovelace: Enrolled in the sequence “New leads”" in html


def test_other_contacts_entries_stay_off(owner, enroll, ada):
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", emails=["g@example.com"])
    enroll(grace)
    assert titles([ada.pk]) == []
    assert titles([]) == []
