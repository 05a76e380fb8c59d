"""Sequences over JSON: sequences with their steps, their figures, and enrollments (list,
create, pause, resume, stop). Thin: records are read in the caller's scope (404 outside it) and
the services decide the rest."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from rapport.accounts import access
from rapport.contacts.models import Contact
from rapport.core.api_types import PathId
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate
from rapport.mail.models import Mailbox
from rapport.sequences import figures, services
from rapport.sequences.api.schemas import (
    EnrollmentIn,
    EnrollmentOut,
    EnrollmentPage,
    EnrollmentParams,
    FiguresOut,
    SequenceIn,
    SequenceOut,
    SequencePatch,
)
from rapport.sequences.models import Enrollment, Sequence

router = Router(tags=["Sequences"])

RENAMES = {"mailbox": "mailbox_id", "owner": "owner_id", "contact": "contact_id"}


def _sequence(request, sequence_id: int) -> Sequence:
    return get_object_or_404(
        Sequence.objects.visible_to(request.user).prefetch_related("steps"), pk=sequence_id
    )


def _enrollment(request, enrollment_id: int) -> Enrollment:
    return get_object_or_404(
        Enrollment.objects.visible_to(request.user).select_related("contact"), pk=enrollment_id
    )


def _mailbox(user, mailbox_id, field="mailbox_id") -> Mailbox | None:
    """A mailbox the caller may send from; any other id is "no such mailbox", so ids and names
    outside their access are not told."""
    if mailbox_id is None:
        return None
    mailbox = Mailbox.objects.usable_by(user).filter(pk=mailbox_id).first()
    if mailbox is None:
        raise ValidationError({f"body.{field}": ["No such mailbox."]})
    return mailbox


def _steps(payload_steps) -> list[dict]:
    steps = []
    for step in payload_steps:
        values = step.model_dump()
        values["template"] = values.pop("template_id")
        steps.append(values)
    return steps


def _relocated(exc: ValidationError):
    moved = relocate(exc, "body", RENAMES)
    if hasattr(moved, "error_dict"):
        # A step's template is `template_id` in the API.
        renamed = {
            key.replace(".template", ".template_id") if ".steps[" in key else key: messages
            for key, messages in moved.message_dict.items()
        }
        return ValidationError(renamed)
    return moved


@router.get("/sequences/", response=list[SequenceOut])
def list_sequences(request):
    """The sequences you may see: your own and those of the people your sales scope reaches."""
    return list(
        Sequence.objects.visible_to(request.user).prefetch_related("steps").order_by("name", "pk")
    )


@router.post("/sequences/", response={201: SequenceOut})
def create_sequence(request, payload: SequenceIn):
    """Create a sequence with its steps (each step: an automatic email from a template, or a
    manual email, call or other task, with its delay and send window)."""
    # Refused before any of the payload is looked at: a read-only seat gets 403, not 422.
    access.require_write(request.user)
    owner = None
    if payload.owner_id is not None:
        owner = get_user_model().objects.filter(pk=payload.owner_id).first()
        if owner is None:
            raise ValidationError({"body.owner_id": ["No such user."]})
    mailbox = _mailbox(request.user, payload.mailbox_id)
    try:
        sequence = services.create_sequence(
            actor=request.user,
            name=payload.name,
            description=payload.description,
            mailbox=mailbox,
            owner=owner,
            is_active=payload.is_active,
            stop_on_meeting=payload.stop_on_meeting,
            stop_on_deal_stage_change=payload.stop_on_deal_stage_change,
            daily_email_limit=payload.daily_email_limit,
            steps=_steps(payload.steps),
        )
    except ValidationError as exc:
        raise _relocated(exc) from None
    return Status(201, sequence)


@router.get("/sequences/{sequence_id}", response=SequenceOut)
def get_sequence(request, sequence_id: PathId):
    return _sequence(request, sequence_id)


@router.patch("/sequences/{sequence_id}", response=SequenceOut)
def update_sequence(request, sequence_id: PathId, payload: SequencePatch):
    """Change a sequence; `steps`, when given, replaces the steps (send a step's `id` to keep
    it). Enrollments carry on from the position they wait at."""
    # Refused before any of the payload is looked at: a read-only seat gets 403, not 422.
    access.require_write(request.user)
    sequence = _sequence(request, sequence_id)
    data = payload.model_dump(exclude_unset=True)
    steps = data.pop("steps", None)
    if "mailbox_id" in data:
        data["mailbox"] = _mailbox(request.user, data.pop("mailbox_id"))
    try:
        sequence = services.update_sequence(
            actor=request.user,
            sequence=sequence,
            steps=_steps(payload.steps) if steps is not None else None,
            **data,
        )
    except ValidationError as exc:
        raise _relocated(exc) from None
    return Sequence.objects.prefetch_related("steps").get(pk=sequence.pk)


@router.delete("/sequences/{sequence_id}", response={204: None})
def delete_sequence(request, sequence_id: PathId):
    """Delete a sequence and its enrollments; the mail sent and the tasks created stay."""
    # Refused before any of the payload is looked at: a read-only seat gets 403, not 422.
    access.require_write(request.user)
    services.delete_sequence(actor=request.user, sequence=_sequence(request, sequence_id))
    return Status(204, None)


@router.get("/sequences/{sequence_id}/figures", response=FiguresOut)
def sequence_figures(request, sequence_id: PathId):
    """Enrolled, active, finished, stopped by reason; emails sent, opened, clicked, replied and
    the reply rate (percent), for the sequence and each step."""
    sequence = _sequence(request, sequence_id)
    totals = figures.for_sequence(sequence)
    return {
        "enrolled": totals.enrolled,
        "active": totals.active,
        "paused": totals.paused,
        "finished": totals.finished,
        "stopped": totals.stopped,
        "stopped_by_reason": totals.stopped_by_reason,
        "sent": totals.mail.sent,
        "opened": totals.mail.opened,
        "clicked": totals.mail.clicked,
        "replied": totals.mail.replied,
        "reply_rate": totals.mail.reply_rate,
        "steps": [
            {**row.__dict__, "reply_rate": row.reply_rate} for row in figures.for_steps(sequence)
        ],
    }


@router.get("/sequences/enrollments/", response=EnrollmentPage)
def list_enrollments(request, params: Query[EnrollmentParams]):
    """Enrollments of the contacts you may see, newest first."""
    check_query_params(request.GET, EnrollmentParams.model_fields)
    queryset = Enrollment.objects.visible_to(request.user).prefetch_related("runs")
    if params.sequence_id is not None:
        queryset = queryset.filter(sequence_id=params.sequence_id)
    if params.contact_id is not None:
        queryset = queryset.filter(contact_id=params.contact_id)
    if params.status:
        queryset = queryset.filter(status=params.status)
    page = keyset_page(
        queryset,
        order_field="created_at",
        descending=True,
        cursor=params.cursor,
        limit=params.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/sequences/enrollments/", response={201: EnrollmentOut})
def create_enrollment(request, payload: EnrollmentIn):
    """Enroll a contact: 422 on `contact_id` when they are already in it, have no email or may
    not be mailed; 403 when you may not change the contact."""
    # Refused before any of the payload is looked at: a read-only seat gets 403, not 422.
    access.require_write(request.user)
    sequence = Sequence.objects.visible_to(request.user).filter(pk=payload.sequence_id).first()
    if sequence is None:
        raise ValidationError({"body.sequence_id": ["No such sequence, or outside your access."]})
    contact = Contact.objects.visible_to(request.user).filter(pk=payload.contact_id).first()
    if contact is None:
        raise ValidationError({"body.contact_id": ["No such contact, or outside your access."]})
    mailbox = _mailbox(request.user, payload.mailbox_id)
    try:
        enrollment = services.enroll_contact(
            actor=request.user, sequence=sequence, contact=contact, mailbox=mailbox
        )
    except ValidationError as exc:
        raise relocate(exc, "body", {**RENAMES, "sequence": "sequence_id"}) from None
    return Status(201, enrollment)


@router.get("/sequences/enrollments/{enrollment_id}", response=EnrollmentOut)
def get_enrollment(request, enrollment_id: PathId):
    return _enrollment(request, enrollment_id)


def _change(request, enrollment_id, service):
    access.require_write(request.user)
    enrollment = _enrollment(request, enrollment_id)
    try:
        enrollment = service(actor=request.user, enrollment=enrollment)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Enrollment.objects.prefetch_related("runs").get(pk=enrollment.pk)


@router.post("/sequences/enrollments/{enrollment_id}/pause", response=EnrollmentOut)
def pause_enrollment(request, enrollment_id: PathId):
    return _change(request, enrollment_id, services.pause_enrollment)


@router.post("/sequences/enrollments/{enrollment_id}/resume", response=EnrollmentOut)
def resume_enrollment(request, enrollment_id: PathId):
    return _change(request, enrollment_id, services.resume_enrollment)


@router.post("/sequences/enrollments/{enrollment_id}/stop", response=EnrollmentOut)
def stop_enrollment(request, enrollment_id: PathId):
    return _change(request, enrollment_id, services.stop_enrollment)
