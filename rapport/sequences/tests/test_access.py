"""Who may see, change and enroll: the owner's sequence, the contact's enrollments, read-only
seats, outsiders; and the bulk "Enroll in sequence"."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.audit.models import ChangeRecord
from rapport.contacts.tests.factories import make_contact
from rapport.core import bulk
from rapport.core.models import BulkOperation
from rapport.sequences import services
from rapport.sequences.choices import EnrollmentStatus, StopReason
from rapport.sequences.models import Enrollment, Sequence

pytestmark = pytest.mark.django_db


def test_a_read_only_seat_cannot_enroll_and_nothing_is_written(read_only_user, sequence, ada):
    with pytest.raises(PermissionDenied):
        services.enroll_contact(actor=read_only_user, sequence=sequence, contact=ada)
    assert Enrollment.objects.count() == 0


def test_an_outsider_sees_neither_the_sequence_nor_the_enrollment(outsider, enroll, ada, sequence):
    enroll(ada)
    assert list(Sequence.objects.visible_to(outsider)) == []
    assert list(Enrollment.objects.visible_to(outsider)) == []


def test_a_teammate_sees_and_uses_the_sequence_but_may_not_change_it(
    teammate, sequence, owner, mailbox
):
    from rapport.contacts.tests.factories import make_contact

    assert list(Sequence.objects.visible_to(teammate)) == [sequence]
    with pytest.raises(PermissionDenied):
        services.update_sequence(actor=teammate, sequence=sequence, name="Mine now")
    sequence.refresh_from_db()
    assert sequence.name == "New leads"

    bob = make_contact(actor=teammate, owner=teammate, first_name="Bob", emails=["bob@example.com"])
    enrollment = services.enroll_contact(actor=teammate, sequence=sequence, contact=bob)
    assert enrollment.enrolled_by == teammate
    assert list(Enrollment.objects.visible_to(owner)) == [enrollment]


def test_enrolling_someone_elses_contact_is_refused(outsider, sequence, ada, mailbox):
    with pytest.raises(PermissionDenied):
        services.enroll_contact(actor=outsider, sequence=sequence, contact=ada)
    assert Enrollment.objects.count() == 0


def test_enrolling_twice_without_an_email_or_from_a_mailbox_one_may_not_use_is_refused(
    owner, enroll, ada, sequence, admin_user
):
    from rapport.mail.mailboxes import create_mailbox

    enroll(ada)
    with pytest.raises(ValidationError) as twice:
        enroll(ada)
    assert twice.value.message_dict == {"contact": ["Ada Lovelace is already in “New leads”."]}

    phone_only = make_contact(actor=owner, owner=owner, first_name="Phil", phones=["+4930999"])
    with pytest.raises(ValidationError) as no_email:
        enroll(phone_only)
    assert no_email.value.message_dict == {"contact": ["Phil Lovelace has no email address."]}

    private = create_mailbox(
        actor=admin_user,
        kind="personal",
        owner=admin_user,
        name="Admin's own",
        email_address="admin@rapport.example",
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        check=False,
    )
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", emails=["g@example.com"])
    with pytest.raises(ValidationError) as mailbox_refused:
        enroll(grace, mailbox=private)
    assert mailbox_refused.value.message_dict == {"mailbox": ["You may not send from Admin's own."]}
    assert Enrollment.objects.count() == 1


def test_after_an_enrollment_ends_the_contact_can_be_enrolled_again(owner, enroll, ada):
    first = enroll(ada)
    services.stop_enrollment(actor=owner, enrollment=first)
    second = enroll(ada)
    assert second.pk != first.pk and second.status == EnrollmentStatus.ACTIVE


def test_steps_are_validated_by_field(owner, mailbox, intro):
    with pytest.raises(ValidationError) as refused:
        services.create_sequence(
            actor=owner,
            name="",
            mailbox=mailbox,
            steps=[
                {"kind": "email"},
                {"kind": "fax", "delay_amount": 400},
                {"kind": "call", "window_start_hour": 18, "window_end_hour": 9},
            ],
        )
    assert refused.value.message_dict == {
        "name": ["Give the sequence a name."],
        "steps[0].template": ["Choose the email template to send."],
        "steps[1].kind": ["Choose one of: Automatic email, Manual email task, Call task, Task."],
        "steps[1].delay_amount": ["Give a whole number from 0 to 365."],
        "steps[2].window_end_hour": ["The send window must end after it starts (hours 0–24)."],
    }
    assert Sequence.objects.count() == 0


def test_reordering_steps_keeps_their_rows(owner, sequence):
    first, _second, third = sequence.steps.all()
    steps = [
        {"id": third.pk, "kind": "call", "task_title": "Call first"},
        {"id": first.pk, "kind": "email", "template": first.template_id},
    ]
    services.update_sequence(actor=owner, sequence=sequence, steps=steps)

    assert list(sequence.steps.values_list("pk", "position", "kind")) == [
        (third.pk, 1, "call"),
        (first.pk, 2, "email"),
    ]
    assert ChangeRecord.objects.filter(entity="sequences.sequence", action="update").exists()


def test_bulk_enroll_counts_the_refused_as_skipped_with_the_reason(owner, outsider, sequence, ada):
    already = make_contact(actor=owner, owner=owner, first_name="Al", emails=["al@example.com"])
    services.enroll_contact(actor=owner, sequence=sequence, contact=already)
    no_email = make_contact(actor=owner, owner=owner, first_name="Phil", phones=["+4930999"])
    theirs = make_contact(
        actor=outsider, owner=outsider, first_name="Oz", emails=["oz@example.com"]
    )

    operation = bulk.start(
        actor=owner,
        entity_key="contacts",
        action_key="enroll_in_sequence",
        params={"sequence": sequence.pk},
        ids=[ada.pk, already.pk, no_email.pk, theirs.pk],
    )

    assert operation.status == BulkOperation.Status.DONE
    assert (operation.changed, operation.skipped, operation.failed) == (1, 3, 0)
    assert operation.reasons == {
        "skipped: Al Lovelace is already in “New leads”.": 1,
        "skipped: Phil Lovelace has no email address.": 1,
        "skipped: not yours": 1,
    }
    assert Enrollment.objects.filter(contact=ada, status="active").count() == 1
    assert not Enrollment.objects.filter(contact=theirs).exists()

    undone = bulk.start_undo(actor=owner, operation=operation, inline=True)
    assert undone.undone == 1
    enrollment = Enrollment.objects.get(contact=ada)
    assert (enrollment.status, enrollment.stop_reason) == (
        EnrollmentStatus.STOPPED,
        StopReason.STOPPED_BY_USER,
    )
    assert enrollment.status_detail == "the bulk enrollment was undone"


def test_a_read_only_seat_gets_no_bulk_enroll(read_only_user, sequence, ada):
    with pytest.raises(PermissionDenied):
        bulk.start(
            actor=read_only_user,
            entity_key="contacts",
            action_key="enroll_in_sequence",
            params={"sequence": sequence.pk},
            ids=[ada.pk],
        )
    assert Enrollment.objects.count() == 0
