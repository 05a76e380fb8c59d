"""Running due steps: the worker's side of sequences.

`run_due` picks the enrollments whose next step is due and runs each through `run_enrollment`,
which claims the enrollment row (`SELECT … FOR UPDATE SKIP LOCKED` where the database has it;
SQLite serializes writers anyway) and, in that one transaction, does the step, writes its
`StepRun` and moves the enrollment on. The `StepRun` is keyed by enrollment and step, and the
enrollment is only due while its step has not run, so a task delivered twice, or two workers on
the same enrollment, send nothing twice.

Before every step the stops that are checked rather than told are checked: the address bounces
or was unsubscribed, consent was withdrawn or (marketing) never granted, the previous email
failed, the enrolling person lost access to the contact or the mailbox.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.core import display
from rapport.core.bulk import error_text
from rapport.mail.choices import MessageStatus
from rapport.mail.models import Mailbox
from rapport.sequences import scheduling, services
from rapport.sequences.choices import EnrollmentStatus, StepKind, StepOutcome, StopReason
from rapport.sequences.models import Enrollment, Sequence, SequenceStep, StepRun

logger = logging.getLogger(__name__)

BATCH = 500
_REPLY_PREFIX = re.compile(r"^\s*re\s*:\s*", re.IGNORECASE)
TASK_TITLES = {
    StepKind.MANUAL_EMAIL: "Email {contact}",
    StepKind.CALL: "Call {contact}",
    StepKind.TASK: "Follow up with {contact}",
}


def run_due(*, now: dt.datetime | None = None, limit: int = BATCH) -> Counter:
    """Run up to `limit` due steps, oldest first; the outcomes counted."""
    now = now or timezone.now()
    ids = list(
        Enrollment.objects.due(now)
        .order_by("next_due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    outcomes: Counter = Counter()
    shared: dict = {}
    for pk in ids:
        try:
            outcomes[run_enrollment(pk, now=now, shared=shared)] += 1
        except Exception:
            # One broken enrollment must not hold up the others; it stays due and is retried.
            logger.exception("sequence enrollment %s failed", pk)
            outcomes["error"] += 1
    return outcomes


def _shared(shared: dict, model, pk, **related):
    """One instance per record for a whole sweep: a sequence's steps, a person's teammates and
    a mailbox are read once, not once per enrollment."""
    key = (model, pk)
    if key not in shared:
        rows = model._base_manager.filter(pk=pk)
        if related.get("select"):
            rows = rows.select_related(*related["select"])
        shared[key] = rows.first()
    return shared[key]


def _claim(pk: int, shared: dict):
    rows = Enrollment.objects.filter(pk=pk)
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    found = list(rows)
    if not found:
        return None
    enrollment = found[0]
    from django.contrib.auth import get_user_model

    from rapport.contacts.models import Contact

    enrollment.sequence = _shared(shared, Sequence, enrollment.sequence_id)
    if enrollment.mailbox_id:
        enrollment.mailbox = _shared(shared, Mailbox, enrollment.mailbox_id)
    if enrollment.enrolled_by_id:
        enrollment.enrolled_by = _shared(
            shared, get_user_model(), enrollment.enrolled_by_id, select=("role",)
        )
    enrollment.contact = Contact._base_manager.get(pk=enrollment.contact_id)
    return enrollment


def run_enrollment(pk: int, *, now: dt.datetime | None = None, shared: dict | None = None) -> str:
    """Run the due step of one enrollment: "sent", "task_created", "skipped", "deferred",
    "finished", "stopped", or "not_due" (already done, not due, or another worker holds it)."""
    now = now or timezone.now()
    with transaction.atomic():
        enrollment = _claim(pk, {} if shared is None else shared)
        if (
            enrollment is None
            or enrollment.status != EnrollmentStatus.ACTIVE
            or not enrollment.sequence.is_active
            or enrollment.next_due_at is None
            or enrollment.next_due_at > now
        ):
            return "not_due"
        return _run_step(enrollment, now)


def _step_at(enrollment: Enrollment) -> SequenceStep | None:
    return next(
        (
            step
            for step in services.plan(enrollment.sequence)
            if step.position >= enrollment.current_position
        ),
        None,
    )


def _stop(enrollment: Enrollment, reason: str, detail: str) -> str:
    services.stop_enrollment(actor=None, enrollment=enrollment, reason=reason, detail=detail)
    return "stopped"


def advance(enrollment: Enrollment, *, after: dt.datetime, step: SequenceStep) -> str:
    """Move past `step`: the next one is due its delay after `after`; without one, finished.
    `enrollment` is the claimed (locked) row."""
    next_step, due = services.first_due(
        enrollment.sequence, enrollment.time_zone, after, position=step.position + 1
    )
    if next_step is None:
        total = len(services.plan(enrollment.sequence))
        enrollment.status = EnrollmentStatus.FINISHED
        enrollment.status_detail = f"all {total} steps done"
        enrollment.next_due_at = None
        enrollment.ended_at = after
        enrollment.current_position = step.position + 1
        enrollment.save(
            update_fields=[
                "status",
                "status_detail",
                "next_due_at",
                "ended_at",
                "current_position",
                "updated_at",
            ]
        )
        return "finished"
    enrollment.current_position = next_step.position
    enrollment.next_due_at = due
    enrollment.save(update_fields=["current_position", "next_due_at", "updated_at"])
    return "advanced"


def _record(enrollment, step, now, existing: StepRun | None = None, **values) -> StepRun:
    """Write the step's record: a new row, or the deferred one it already has."""
    values = {"position": step.position, "kind": step.kind, "occurred_at": now, **values}
    if existing is None:
        return StepRun.objects.create(enrollment=enrollment, step=step, **values)
    for name, value in values.items():
        setattr(existing, name, value)
    existing.save()
    return existing


def _checked_stop(enrollment: Enrollment, purpose: str, runs: list[dict]) -> tuple[str, str] | None:
    """A stop found by looking rather than by an event."""
    person = enrollment.enrolled_by
    if person is not None and not access.can(person, Action.CHANGE, enrollment.contact):
        return StopReason.NO_ACCESS, f"{person} may no longer change {enrollment.contact}."
    refusal = services.mail_refusal(enrollment.contact, purpose)
    if refusal is not None:
        return refusal
    failed = next((run for run in runs if run["message__status"] == MessageStatus.FAILED), None)
    if failed is not None:
        error = failed["message__last_error"] or "the server refused it"
        reason = StopReason.BOUNCED if error.startswith("Bounced") else StopReason.SEND_FAILED
        return reason, f"The email of step {failed['position']} was not delivered: {error}"
    return None


def _run_step(enrollment: Enrollment, now: dt.datetime) -> str:
    step = _step_at(enrollment)
    if step is None:
        # The steps it waited for were removed: nothing is left to do.
        enrollment.status = EnrollmentStatus.FINISHED
        enrollment.status_detail = "no steps left after the sequence was edited"
        enrollment.next_due_at = None
        enrollment.ended_at = now
        enrollment.save()
        return "finished"
    runs = list(
        StepRun.objects.filter(enrollment=enrollment).values(
            "pk", "step_id", "position", "outcome", "message__status", "message__last_error"
        )
    )
    done = None
    if any(run["step_id"] == step.pk for run in runs):
        done = StepRun.objects.get(enrollment=enrollment, step=step)
    if done is not None and done.outcome != StepOutcome.DEFERRED:
        return advance(enrollment, after=done.occurred_at, step=step)
    purpose = services.sequence_purpose(enrollment.sequence)
    stop = _checked_stop(enrollment, purpose, runs)
    if stop is not None:
        return _stop(enrollment, *stop)
    if step.kind == StepKind.AUTOMATIC_EMAIL:
        return _send(enrollment, step, now, deferred=done)
    return _create_task(enrollment, step, now)


# -- email steps ------------------------------------------------------------------------------


def _limit_reached(enrollment: Enrollment, mailbox: Mailbox) -> str | None:
    from rapport.mail.sending import mailbox_sent_today

    sent = mailbox_sent_today(mailbox)
    if sent >= mailbox.daily_send_limit:
        cap = display.number_text(mailbox.daily_send_limit)
        return f"{mailbox} reached its daily limit of {cap} emails"
    limit = enrollment.sequence.daily_email_limit
    if limit:
        midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        ours = StepRun.objects.filter(
            enrollment__sequence_id=enrollment.sequence_id,
            enrollment__mailbox_id=mailbox.pk,
            outcome=StepOutcome.SENT,
            occurred_at__gte=midnight,
        ).count()
        if ours >= limit:
            cap = display.number_text(limit)
            return f"the sequence reached its limit of {cap} emails a day from {mailbox}"
    return None


def _defer(enrollment, step, now, why: str, deferred: StepRun | None) -> str:
    due = scheduling.next_window_after_today(
        now=now, zone_name=enrollment.time_zone, start_hour=step.window_start_hour
    )
    # The time as the contact's zone has it, the zone the detail names.
    moved_to = display.moment_text(due, "weekday", zone=scheduling.zone_named(enrollment.time_zone))
    count = (deferred.deferrals if deferred else 0) + 1
    _record(
        enrollment,
        step,
        now,
        deferred,
        outcome=StepOutcome.DEFERRED,
        deferrals=count,
        detail=f"Moved to {moved_to} ({enrollment.time_zone}): {why}."[:500],
    )
    Enrollment.objects.filter(pk=enrollment.pk).update(next_due_at=due, updated_at=now)
    return "deferred"


def _previous_email(enrollment: Enrollment) -> StepRun | None:
    return (
        StepRun.objects.filter(enrollment=enrollment, outcome=StepOutcome.SENT)
        .exclude(message=None)
        .select_related("message", "step__template")
        .order_by("-position")
        .first()
    )


def _send(enrollment, step, now, *, deferred: StepRun | None) -> str:
    from rapport.mail.sending import send_email

    template = step.template
    if template is None or template.is_archived:
        _record(
            enrollment,
            step,
            now,
            deferred,
            outcome=StepOutcome.SKIPPED,
            detail="Its email template was deleted or archived, so nothing was sent.",
        )
        return "skipped" if advance(enrollment, after=now, step=step) != "finished" else "finished"
    mailbox = enrollment.mailbox
    if mailbox is None:
        return _stop(enrollment, StopReason.SEND_FAILED, "Its mailbox was disconnected.")
    person = enrollment.enrolled_by
    if person is not None and not Mailbox.objects.usable_by(person).filter(pk=mailbox.pk).exists():
        return _stop(
            enrollment, StopReason.NO_ACCESS, f"{person} may no longer send from {mailbox}."
        )
    why = _limit_reached(enrollment, mailbox)
    if why:
        return _defer(enrollment, step, now, why, deferred)
    subject, original = template.subject, None
    previous = _previous_email(enrollment) if step.reply_in_thread else None
    if previous is not None:
        original = previous.message
        first = previous.step.template.subject if previous.step and previous.step.template else ""
        subject = "Re: " + _REPLY_PREFIX.sub("", first or template.subject)
    try:
        with transaction.atomic():
            # The system sends (the enrolling person's access was checked above and at
            # enrollment), so a template shared by the sequence's owner works for every enroller.
            message = send_email(
                actor=None,
                mailbox=mailbox,
                to=[enrollment.contact.primary_email],
                subject=subject,
                body_html=template.body_html,
                contact=enrollment.contact,
                template=template,
                purpose=template.purpose,
                reply_to_message=original,
            )
    except ValidationError as exc:
        text = error_text(exc)
        if "daily limit" in text:
            return _defer(enrollment, step, now, text, deferred)
        return _stop(enrollment, StopReason.SEND_FAILED, f"Step {step.position}: {text}")
    except PermissionDenied as exc:
        return _stop(enrollment, StopReason.NO_ACCESS, str(exc))
    waited = deferred.deferrals if deferred else 0
    detail = f"Sent “{message.subject}” from {mailbox}."
    if waited:
        detail += f" Waited {waited} day(s) for the daily limit."
    _record(
        enrollment,
        step,
        now,
        deferred,
        outcome=StepOutcome.SENT,
        message=message,
        deferrals=waited,
        detail=detail[:500],
    )
    advance(enrollment, after=now, step=step)
    return "sent"


# -- task steps -------------------------------------------------------------------------------


def _create_task(enrollment, step, now) -> str:
    """A task for the enrolling person (else the sequence's owner), due now; the enrollment
    waits until it is completed (`task_completed`) before the next delay starts."""
    from rapport.sales.services.work import create_task

    contact = enrollment.contact
    assignee = enrollment.enrolled_by
    if assignee is None or not access.may_own(assignee):
        assignee = enrollment.sequence.owner
    title = (
        f"{step.task_title} ({contact})"
        if step.task_title
        else TASK_TITLES[step.kind].format(contact=contact)
    )
    note = f"Step {step.position} of the sequence “{enrollment.sequence}”."
    if step.task_note:
        note = f"{step.task_note}\n\n{note}"
    try:
        # create_task validates before it writes, in its own savepoint.
        task = create_task(
            actor=None,
            title=title[:200],
            due_at=now,
            assignee=assignee,
            description=note,
            contact=contact,
        )
    except ValidationError as exc:
        _record(
            enrollment,
            step,
            now,
            outcome=StepOutcome.SKIPPED,
            detail=f"No task could be created: {error_text(exc)}"[:500],
        )
        advance(enrollment, after=now, step=step)
        return "skipped"
    _record(
        enrollment,
        step,
        now,
        outcome=StepOutcome.TASK_CREATED,
        task=task,
        detail=f"“{task.title}” for {assignee}.",
    )
    Enrollment.objects.filter(pk=enrollment.pk).update(next_due_at=None, updated_at=now)
    return "task_created"


def task_completed(task_id: int, *, now: dt.datetime | None = None) -> bool:
    """The task of a step was done: the enrollment goes on to its next step's delay. False when
    no open enrollment waits for that task."""
    now = now or timezone.now()
    run = StepRun.objects.filter(task_id=task_id).select_related("step").first()
    if run is None or run.step is None:
        return False
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().filter(pk=run.enrollment_id).first()
        if (
            enrollment is None
            or enrollment.status not in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)
            or enrollment.current_position != run.step.position
            or enrollment.next_due_at is not None
        ):
            return False
        advance(enrollment, after=now, step=run.step)
    return True
