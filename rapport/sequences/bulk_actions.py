"""“Enroll in sequence” on the contact and lead lists: each selected contact is enrolled through
`services.enroll_contact`; one already in the sequence, without an email address or who may not
be mailed is counted skipped with the reason. Undoing stops the enrollments it made."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from rapport.core import bulk
from rapport.core.bulk import BulkAction, Unchanged
from rapport.mail.models import Mailbox
from rapport.sequences import services
from rapport.sequences.choices import StopReason
from rapport.sequences.models import Enrollment, Sequence


class EnrollInSequence(BulkAction):
    key = "enroll_in_sequence"
    entity = "contacts"
    label = "Enroll in sequence"
    help_text = "Start a sequence for every selected contact."
    undoable = True

    def fields(self, actor):
        return {
            "sequence": forms.ModelChoiceField(
                queryset=Sequence.objects.visible_to(actor).filter(is_active=True),
                label="Sequence",
                error_messages={"invalid_choice": "Choose a sequence you may use."},
            ),
            "mailbox": forms.ModelChoiceField(
                queryset=Mailbox.objects.usable_by(actor),
                label="Send from",
                required=False,
                empty_label="The sequence's mailbox",
                error_messages={"invalid_choice": "Choose a mailbox you may send from."},
            ),
        }

    def prepare(self, actor, params):
        sequence = Sequence.objects.visible_to(actor).filter(pk=params.get("sequence")).first()
        if sequence is None:
            raise ValidationError({"sequence": ["Choose a sequence you may use."]})
        mailbox = None
        if params.get("mailbox"):
            mailbox = Mailbox.objects.usable_by(actor).filter(pk=params["mailbox"]).first()
        return {
            **params,
            "sequence": sequence,
            "mailbox": mailbox,
            "purpose": services.sequence_purpose(sequence),
        }

    def describe(self, params):
        sequence = Sequence.objects.filter(pk=params.get("sequence")).first()
        return f"Enroll in sequence: {sequence}" if sequence else self.label

    def apply(self, actor, record, params):
        try:
            enrollment = services.enroll_contact(
                actor=actor,
                sequence=params["sequence"],
                contact=record,
                mailbox=params["mailbox"],
                purpose=params["purpose"],
            )
        except ValidationError as exc:
            # The contact's own reason (already in it, no email, no consent) is a skip; a
            # problem with the sequence or the mailbox fails every record alike.
            reasons = getattr(exc, "message_dict", {})
            if set(reasons) == {"contact"}:
                raise Unchanged(" ".join(reasons["contact"])) from None
            raise
        return enrollment.pk

    def revert(self, actor, record, undo, params):
        enrollment = Enrollment.objects.open().filter(pk=undo, contact=record).first()
        if enrollment is None:
            raise Unchanged("the enrollment has already ended")
        services.stop_enrollment(
            actor=actor,
            enrollment=enrollment,
            reason=StopReason.STOPPED_BY_USER,
            detail="the bulk enrollment was undone",
        )


class EnrollLeadsInSequence(EnrollInSequence):
    entity = "leads"


def register() -> None:
    bulk.register_action(EnrollInSequence)
    bulk.register_action(EnrollLeadsInSequence)
