"""Every write of the sequences app: sequences and their steps, enrolling, pausing, resuming and
stopping. Views, the API, the bulk action, the workflow step and the tasks call these.

Each service checks access first (`access.require`), validates before writing (errors keyed by
the field, steps as "steps[2].template"), runs in one transaction and leaves a ChangeRecord.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.core import display
from rapport.mail import tracking
from rapport.mail.choices import MessagePurpose
from rapport.mail.models import EmailTemplate, Mailbox
from rapport.sequences import scheduling
from rapport.sequences.choices import DelayUnit, EnrollmentStatus, StepKind, StopReason
from rapport.sequences.models import OPEN_STATUSES, Enrollment, Sequence, SequenceStep

STEP_LIMIT = 30
STEP_FIELDS = (
    "kind",
    "delay_amount",
    "delay_unit",
    "window_start_hour",
    "window_end_hour",
    "template",
    "reply_in_thread",
    "task_title",
    "task_note",
)
SEQUENCE_FIELDS = (
    "name",
    "description",
    "mailbox",
    "is_active",
    "stop_on_meeting",
    "stop_on_deal_stage_change",
    "daily_email_limit",
)


# -- sequences -----------------------------------------------------------------------------------


def _state(sequence: Sequence) -> dict:
    return {
        "name": sequence.name,
        "mailbox": sequence.mailbox_id,
        "is_active": sequence.is_active,
        "stop_on_meeting": sequence.stop_on_meeting,
        "stop_on_deal_stage_change": sequence.stop_on_deal_stage_change,
        "daily_email_limit": sequence.daily_email_limit,
        "steps": [
            {"kind": step.kind, "delay": f"{step.delay_amount} {step.delay_unit}"}
            for step in sequence.steps.all()
        ],
    }


def _template(value, owner, actor):
    if value is None or value == "":
        return None
    if isinstance(value, EmailTemplate):
        template = value
    else:
        template = EmailTemplate.objects.filter(pk=value).first()
    if template is None:
        raise ValueError("No such template.")
    for person in (owner, actor):
        if (
            person is not None
            and not EmailTemplate.objects.visible_to(person).filter(pk=template.pk).exists()
        ):
            raise ValueError("This template is outside your access.")
    if template.is_archived:
        raise ValueError(f"The template “{template}” is archived.")
    return template


def _clean_steps(steps, *, owner, actor, errors: dict) -> list[dict]:
    if not isinstance(steps, list | tuple):
        errors["steps"] = ["Give the steps as a list."]
        return []
    if len(steps) > STEP_LIMIT:
        errors["steps"] = [f"A sequence has at most {STEP_LIMIT} steps; this one has {len(steps)}."]
        return []
    cleaned = []
    for index, raw in enumerate(steps):
        prefix = f"steps[{index}]"
        if not isinstance(raw, dict):
            errors[prefix] = ["Give each step as an object."]
            continue
        unknown = set(raw) - set(STEP_FIELDS) - {"id"}
        for name in sorted(unknown):
            errors[f"{prefix}.{name}"] = ["Unknown field."]
        step = {
            "id": raw.get("id"),
            "kind": raw.get("kind"),
            "delay_amount": raw.get("delay_amount", 0),
            "delay_unit": raw.get("delay_unit") or DelayUnit.BUSINESS_DAYS,
            "window_start_hour": raw.get("window_start_hour", 9),
            "window_end_hour": raw.get("window_end_hour", 17),
            "reply_in_thread": bool(raw.get("reply_in_thread", True)),
            "task_title": (raw.get("task_title") or "").strip(),
            "task_note": (raw.get("task_note") or "").strip(),
            "template": None,
        }
        if step["kind"] not in StepKind.values:
            errors[f"{prefix}.kind"] = [f"Choose one of: {', '.join(StepKind.labels)}."]
        if step["delay_unit"] not in DelayUnit.values:
            errors[f"{prefix}.delay_unit"] = ["Choose business days or days."]
        for name, low, high in (
            ("delay_amount", 0, 365),
            ("window_start_hour", 0, 23),
            ("window_end_hour", 1, 24),
        ):
            value = step[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors[f"{prefix}.{name}"] = [f"Give a whole number from {low} to {high}."]
        start, end = step["window_start_hour"], step["window_end_hour"]
        if (
            isinstance(start, int)
            and isinstance(end, int)
            and f"{prefix}.window_end_hour" not in errors
            and end <= start
        ):
            errors[f"{prefix}.window_end_hour"] = [
                "The send window must end after it starts (hours 0–24)."
            ]
        if len(step["task_title"]) > 200:
            errors[f"{prefix}.task_title"] = ["Use at most 200 characters."]
        if step["kind"] == StepKind.AUTOMATIC_EMAIL:
            try:
                step["template"] = _template(raw.get("template"), owner, actor)
            except ValueError as exc:
                errors[f"{prefix}.template"] = [str(exc)]
            else:
                if step["template"] is None:
                    errors[f"{prefix}.template"] = ["Choose the email template to send."]
        elif step["kind"] == StepKind.MANUAL_EMAIL and raw.get("template") not in (None, ""):
            # Optional: the draft the person starts from when they write the email.
            try:
                step["template"] = _template(raw.get("template"), owner, actor)
            except ValueError as exc:
                errors[f"{prefix}.template"] = [str(exc)]
        cleaned.append(step)
    return cleaned


def _check_mailbox(mailbox, owner, actor, errors: dict) -> None:
    if mailbox is None:
        return
    for person in (owner, actor):
        if (
            person is not None
            and not Mailbox.objects.usable_by(person).filter(pk=mailbox.pk).exists()
        ):
            errors["mailbox"] = [f"{person} may not send from {mailbox}."]
            return
    if not mailbox.sends:
        errors["mailbox"] = [f"{mailbox} has no SMTP server: it cannot send mail."]


def _clean_sequence(values: dict, steps: list[dict], errors: dict) -> None:
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = ["Give the sequence a name."]
    elif len(name) > 150:
        errors["name"] = ["Use at most 150 characters."]
    values["name"] = name
    if len(values.get("description") or "") > 500:
        errors["description"] = ["Use at most 500 characters."]
    limit = values.get("daily_email_limit")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000
    ):
        errors["daily_email_limit"] = ["Give a whole number from 1 to 100,000, or leave it empty."]
    if values.get("mailbox") is None and any(s["kind"] == StepKind.AUTOMATIC_EMAIL for s in steps):
        errors.setdefault("mailbox", ["Choose the mailbox its emails are sent from."])


def _write_steps(sequence: Sequence, steps: list[dict]) -> None:
    """Replace the steps by `steps`, in their order. A step given with its id keeps its row (and
    so its figures and the enrollments waiting at it); the others are new; missing ones go."""
    existing = {step.pk: step for step in sequence.steps.all()}
    kept = {s["id"] for s in steps if s.get("id") in existing}
    sequence.steps.exclude(pk__in=kept).delete()
    # Positions are unique: park the kept rows out of the way before numbering them anew.
    offset = 10_000
    for pk in kept:
        SequenceStep.objects.filter(pk=pk).update(position=offset + pk)
    for position, values in enumerate(steps, start=1):
        fields = {name: values[name] for name in STEP_FIELDS}
        if values.get("id") in kept:
            SequenceStep.objects.filter(pk=values["id"]).update(position=position, **fields)
        else:
            SequenceStep.objects.create(sequence=sequence, position=position, **fields)


@transaction.atomic
def create_sequence(
    *,
    actor,
    name: str,
    steps: list[dict],
    mailbox: Mailbox | None = None,
    owner=None,
    description: str = "",
    is_active: bool = True,
    stop_on_meeting: bool = True,
    stop_on_deal_stage_change: bool = False,
    daily_email_limit: int | None = None,
) -> Sequence:
    """Create a sequence owned by `owner` (the actor by default) with its steps. Refused when
    the actor may not write, or gives it to someone outside their reach; the mailbox must be
    one both may send from, every email step needs a template both may use."""
    access.require(actor, Action.CREATE, Sequence)
    owner = owner or (actor if access.is_signed_in(actor) else None)
    errors: dict[str, list[str]] = {}
    if owner is None:
        errors["owner"] = ["Choose who owns the sequence."]
    else:
        problem = access.owner_problem(actor, owner, "sales")
        if problem:
            errors["owner"] = [problem]
    values = {
        "name": name,
        "description": (description or "").strip(),
        "mailbox": mailbox,
        "is_active": bool(is_active),
        "stop_on_meeting": bool(stop_on_meeting),
        "stop_on_deal_stage_change": bool(stop_on_deal_stage_change),
        "daily_email_limit": daily_email_limit,
    }
    cleaned = _clean_steps(steps, owner=owner, actor=actor, errors=errors)
    _clean_sequence(values, cleaned, errors)
    _check_mailbox(mailbox, owner, actor, errors)
    if errors:
        raise ValidationError(errors)
    sequence = Sequence.objects.create(owner=owner, **values)
    for step in cleaned:
        step["id"] = None
    _write_steps(sequence, cleaned)
    record_change(
        actor=actor, action=ChangeAction.CREATE, instance=sequence, after=_state(sequence)
    )
    return sequence


@transaction.atomic
def update_sequence(*, actor, sequence: Sequence, steps: list[dict] | None = None, **changes):
    """Change a sequence and, when `steps` is given, replace its steps (see `_write_steps`).
    Enrollments carry on from the position they wait at. Only the owner or an administrator."""
    unknown = set(changes) - set(SEQUENCE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    access.require(actor, Action.CHANGE, sequence)
    sequence.__dict__.pop("_plan_steps", None)
    sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
    before = _state(sequence)
    values = {name: getattr(sequence, name) for name in SEQUENCE_FIELDS}
    values.update(changes)
    for name in ("is_active", "stop_on_meeting", "stop_on_deal_stage_change"):
        values[name] = bool(values[name])
    values["description"] = (values.get("description") or "").strip()
    errors: dict[str, list[str]] = {}
    if steps is None:
        current = [{"kind": step.kind, "template": step.template} for step in sequence.steps.all()]
        cleaned = None
    else:
        cleaned = _clean_steps(steps, owner=sequence.owner, actor=actor, errors=errors)
        current = cleaned
    _clean_sequence(values, current, errors)
    if "mailbox" in changes:
        _check_mailbox(values["mailbox"], sequence.owner, actor, errors)
    if errors:
        raise ValidationError(errors)
    for name, value in values.items():
        setattr(sequence, name, value)
    sequence.save()
    if cleaned is not None:
        _write_steps(sequence, cleaned)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=sequence,
        before=before,
        after=_state(sequence),
    )
    return sequence


@transaction.atomic
def delete_sequence(*, actor, sequence: Sequence) -> None:
    """Delete a sequence with its enrollments and their records; the mail and tasks stay."""
    access.require(actor, Action.DELETE, sequence)
    record_change(
        actor=actor, action=ChangeAction.DELETE, instance=sequence, before=_state(sequence)
    )
    sequence.delete()


# -- who may be enrolled ---------------------------------------------------------------------


def plan(sequence: Sequence) -> list[SequenceStep]:
    """The sequence's steps in order, read once per Sequence instance (a bulk enrollment asks
    for them for every contact)."""
    steps = getattr(sequence, "_plan_steps", None)
    if steps is None:
        steps = list(sequence.steps.select_related("template").order_by("position"))
        sequence._plan_steps = steps
    return steps


def sequence_purpose(sequence: Sequence) -> str:
    """Marketing when any of its email steps sends a marketing template: then every email of
    the sequence needs the contact's consent."""
    marketing = any(
        step.kind == StepKind.AUTOMATIC_EMAIL
        and step.template is not None
        and step.template.purpose == MessagePurpose.MARKETING
        for step in plan(sequence)
    )
    return MessagePurpose.MARKETING if marketing else MessagePurpose.PERSONAL


def mail_refusal(contact, purpose: str) -> tuple[str, str] | None:
    """(stop reason, words) when the contact may not be sent the sequence's mail: the address
    bounces, they unsubscribed or withdrew email consent, or (marketing) never granted it."""
    from rapport.contacts.choices import ConsentChannel, ConsentStatus
    from rapport.contacts.models import Consent
    from rapport.mail.choices import SuppressionReason
    from rapport.mail.models import SuppressedAddress

    email = (contact.primary_email or "").strip().lower()
    if not email:
        return StopReason.SEND_FAILED, f"{contact} has no email address."
    suppressed = SuppressedAddress.objects.filter(email=email).first()
    if suppressed is not None and suppressed.reason == SuppressionReason.BOUNCED:
        return StopReason.BOUNCED, f"{email} bounces: Rapport sends it no mail."
    if suppressed is not None:
        return (
            StopReason.UNSUBSCRIBED,
            f"{email} unsubscribed on {display.day_text(suppressed.created_at, 'dated')}.",
        )
    consent = (
        Consent.objects.filter(contact=contact, channel=ConsentChannel.EMAIL)
        .values_list("status", flat=True)
        .first()
    )
    if consent == ConsentStatus.WITHDRAWN:
        return StopReason.UNSUBSCRIBED, f"{contact} withdrew consent to email."
    if purpose == MessagePurpose.MARKETING and consent != ConsentStatus.GRANTED:
        # The mail module's own words, as the sending would refuse it.
        problem = tracking.consent_problem(email=email, contact=contact, purpose=purpose)
        return StopReason.NO_CONSENT, f"No consent for marketing mail: {problem}"
    return None


# -- enrolling -----------------------------------------------------------------------------------


def enrollment_problem(*, sequence: Sequence, contact, purpose: str | None = None) -> str | None:
    """Why `contact` cannot be enrolled in `sequence` now, in words (None when it can)."""
    if not sequence.is_active:
        return f"The sequence “{sequence}” is switched off."
    if contact.is_archived:
        return f"{contact} is archived."
    if not contact.primary_email:
        return f"{contact} has no email address."
    if Enrollment.objects.open().filter(sequence=sequence, contact=contact).exists():
        return f"{contact} is already in “{sequence}”."
    refusal = mail_refusal(contact, purpose or sequence_purpose(sequence))
    return refusal[1] if refusal else None


def first_due(sequence: Sequence, zone: str, now: dt.datetime, position: int = 1):
    step = next((step for step in plan(sequence) if step.position >= position), None)
    if step is None:
        return None, None
    return step, scheduling.due_at(
        after=now,
        zone_name=zone,
        delay_amount=step.delay_amount,
        delay_unit=step.delay_unit,
        start_hour=step.window_start_hour,
        end_hour=step.window_end_hour,
    )


def _remembered(record, actor, decide) -> bool:
    """`decide()` for (record, actor), remembered on the record instance: a bulk enrollment
    passes the same sequence and mailbox for every contact."""
    answers = record.__dict__.setdefault("_access_answers", {})
    if actor.pk not in answers:
        answers[actor.pk] = decide()
    return answers[actor.pk]


@transaction.atomic
def enroll_contact(
    *,
    actor,
    sequence: Sequence,
    contact,
    mailbox: Mailbox | None = None,
    now=None,
    purpose: str | None = None,
) -> Enrollment:
    """Put `contact` into `sequence`; its first step is due on the contact's next business day
    window after its delay. Refused (PermissionDenied) when the actor may not change the
    contact or see the sequence; (ValidationError on "contact") when the contact is archived,
    has no email, is already in it, or may not be mailed; (on "mailbox") when the actor may not
    send from the mailbox (the sequence's unless another is given)."""
    access.require(actor, Action.CHANGE, contact)
    if actor is not None and not _remembered(
        sequence,
        actor,
        lambda: Sequence.objects.visible_to(actor).filter(pk=sequence.pk).exists(),
    ):
        raise PermissionDenied("This sequence is outside your access.")
    now = now or timezone.now()
    mailbox = mailbox or sequence.mailbox
    errors: dict[str, list[str]] = {}
    steps = plan(sequence)
    has_email_step = any(step.kind == StepKind.AUTOMATIC_EMAIL for step in steps)
    if not steps:
        errors["sequence"] = [f"“{sequence}” has no steps yet."]
    if has_email_step and mailbox is None:
        errors["mailbox"] = ["Choose the mailbox its emails are sent from."]
    elif (
        mailbox is not None
        and actor is not None
        and not _remembered(
            mailbox,
            actor,
            lambda: Mailbox.objects.usable_by(actor).filter(pk=mailbox.pk).exists(),
        )
    ):
        errors["mailbox"] = [f"You may not send from {mailbox}."]
    problem = enrollment_problem(sequence=sequence, contact=contact, purpose=purpose)
    if problem:
        errors["contact"] = [problem]
    if errors:
        raise ValidationError(errors)
    zone, source = scheduling.contact_time_zone(contact)
    step, due = first_due(sequence, zone, now)
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                sequence=sequence,
                contact=contact,
                enrolled_by=actor if access.is_signed_in(actor) else None,
                mailbox=mailbox,
                status=EnrollmentStatus.ACTIVE,
                current_position=step.position,
                next_due_at=due,
                time_zone=zone,
                time_zone_source=source,
            )
    except IntegrityError:
        # Another request enrolled the same contact a moment ago.
        raise ValidationError({"contact": [f"{contact} is already in “{sequence}”."]}) from None
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=enrollment,
        after={"sequence": sequence.name, "contact": contact.pk, "next_due_at": due.isoformat()},
        message=f"Enrolled {contact} in {sequence}",
    )
    return enrollment


def _locked(enrollment: Enrollment) -> Enrollment:
    return (
        Enrollment.objects.select_for_update()
        .select_related("sequence", "contact")
        .get(pk=enrollment.pk)
    )


def _set_status(enrollment, *, actor, status, reason="", detail="", **extra) -> Enrollment:
    before = {"status": enrollment.status, "detail": enrollment.status_detail}
    enrollment.status = status
    enrollment.stop_reason = reason
    enrollment.status_detail = detail[:500]
    for name, value in extra.items():
        setattr(enrollment, name, value)
    enrollment.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=enrollment,
        before=before,
        after={"status": status, "detail": enrollment.status_detail},
    )
    return enrollment


@transaction.atomic
def pause_enrollment(*, actor, enrollment: Enrollment) -> Enrollment:
    """Hold an active enrollment where it is: nothing is sent until it is resumed."""
    access.require(actor, Action.CHANGE, enrollment.contact)
    enrollment = _locked(enrollment)
    if enrollment.status != EnrollmentStatus.ACTIVE:
        raise ValidationError({"status": ["Only an active enrollment can be paused."]})
    return _set_status(
        enrollment, actor=actor, status=EnrollmentStatus.PAUSED, detail=f"paused by {actor}"
    )


@transaction.atomic
def resume_enrollment(*, actor, enrollment: Enrollment, now=None) -> Enrollment:
    """Carry on a paused enrollment; a step that fell due meanwhile is due at the contact's
    next send window (not all at once)."""
    access.require(actor, Action.CHANGE, enrollment.contact)
    enrollment = _locked(enrollment)
    if enrollment.status != EnrollmentStatus.PAUSED:
        raise ValidationError({"status": ["Only a paused enrollment can be resumed."]})
    now = now or timezone.now()
    due = enrollment.next_due_at
    if due is not None and due < now:
        step = enrollment.sequence.steps.filter(position__gte=enrollment.current_position).first()
        start, end = (step.window_start_hour, step.window_end_hour) if step else (9, 17)
        local = now.astimezone(scheduling.zone_named(enrollment.time_zone) or dt.UTC)
        due = scheduling.fit_window(local, start, end).astimezone(dt.UTC)
    return _set_status(enrollment, actor=actor, status=EnrollmentStatus.ACTIVE, next_due_at=due)


@transaction.atomic
def stop_enrollment(
    *, actor, enrollment: Enrollment, reason: str = StopReason.STOPPED_BY_USER, detail: str = ""
) -> Enrollment:
    """End an open enrollment for good, with the reason; `actor=None` is the system (a reply,
    a meeting, a bounce), which needs no access."""
    access.require(actor, Action.CHANGE, enrollment.contact)
    enrollment = _locked(enrollment)
    if enrollment.status not in OPEN_STATUSES:
        raise ValidationError({"status": ["This enrollment has already ended."]})
    if reason == StopReason.STOPPED_BY_USER and not detail:
        detail = f"stopped by {actor}"
    return _set_status(
        enrollment,
        actor=actor,
        status=EnrollmentStatus.STOPPED,
        reason=reason,
        detail=detail or StopReason(reason).label,
        next_due_at=None,
        ended_at=timezone.now(),
    )


def stop_open_enrollments(queryset, *, reason: str, detail: str) -> int:
    """Stop every open enrollment of `queryset` (the system's decision); how many stopped."""
    stopped = 0
    for enrollment in queryset.open().select_related("contact"):
        try:
            stop_enrollment(actor=None, enrollment=enrollment, reason=reason, detail=detail)
        except ValidationError:
            continue  # ended meanwhile
        stopped += 1
    return stopped
