"""A sequence's manual email step, written by a person: its task opens the compose page with
the step's template for that contact (a draft the person reads and edits), in the sequence's
thread and from its mailbox; sending it completes the task, so the sequence goes on, and the
message is the step's own, so a reply stops the sequence and counts in the step's figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.mail.models import Mailbox
from rapport.sales.choices import TaskStatus
from rapport.sequences.choices import StepKind, StepOutcome
from rapport.sequences.models import StepRun

_REPLY_PREFIX_LENGTH = 4  # "Re: "


@dataclass(frozen=True)
class Draft:
    """What the compose page starts from for a manual email step."""

    step_run: StepRun
    contact: object
    to: str
    subject: str
    body_html: str
    template_id: int | None
    mailbox_id: int | None
    reply_to_message: object | None


def _open_step_run(task) -> StepRun | None:
    return (
        StepRun.objects.filter(task=task, kind=StepKind.MANUAL_EMAIL, message=None)
        .select_related("enrollment__contact", "enrollment__mailbox", "step__template")
        .first()
    )


def mark_awaiting(tasks) -> None:
    """Note on each of `tasks` whether it waits for its manual email to be written: one query
    for a page's list of task rows, which `write_url` otherwise asks once per row."""
    tasks = list(tasks)
    ids = [task.pk for task in tasks if task.status == TaskStatus.OPEN and task.contact_id]
    waiting = set(
        StepRun.objects.filter(
            task__pk__any_of=ids, kind=StepKind.MANUAL_EMAIL, message=None
        ).values_list("task_id", flat=True)
        if ids
        else ()
    )
    for task in tasks:
        task.awaits_manual_email = task.pk in waiting


def _awaits_manual_email(task) -> bool:
    marked = getattr(task, "awaits_manual_email", None)
    if marked is not None:
        return marked
    return StepRun.objects.filter(task=task, kind=StepKind.MANUAL_EMAIL, message=None).exists()


def write_url(actor, task) -> str:
    """The compose address for the task of a manual email step the actor may do; "" for any
    other task (done, not a manual email, already written, or not the actor's to work)."""
    if task is None or task.status != TaskStatus.OPEN or not task.contact_id:
        return ""
    if not _awaits_manual_email(task):
        return ""
    if not access.can(actor, Action.CHANGE, task):
        return ""
    return f"{reverse('mail:compose')}?contact={task.contact_id}&sequence_task={task.pk}"


def draft_for(actor, task) -> Draft | None:
    """The draft of the task's manual email step, or None when the task is not one the actor
    may write now. The template's merge fields are rendered when the message is sent, for the
    contact, as for any composed message."""
    if task is None or task.status != TaskStatus.OPEN or not access.can(actor, Action.CHANGE, task):
        return None
    run = _open_step_run(task)
    if run is None:
        return None
    enrollment = run.enrollment
    template = run.step.template if run.step is not None else None
    if template is not None and template.is_archived:
        template = None
    subject = template.subject if template else ""
    original = None
    if run.step is not None and run.step.reply_in_thread:
        previous = (
            StepRun.objects.filter(
                enrollment=enrollment, position__lt=run.position, message__isnull=False
            )
            .select_related("message")
            .order_by("-position")
            .first()
        )
        if previous is not None:
            original = previous.message
            first = original.subject or subject
            while first[:_REPLY_PREFIX_LENGTH].lower() == "re: ":
                first = first[_REPLY_PREFIX_LENGTH:]
            subject = f"Re: {first}"
    mailbox_id = enrollment.mailbox_id
    if mailbox_id and not Mailbox.objects.usable_by(actor).filter(pk=mailbox_id).exists():
        mailbox_id = None
    return Draft(
        step_run=run,
        contact=enrollment.contact,
        to=enrollment.contact.primary_email or "",
        subject=subject,
        body_html=template.body_html if template else "",
        template_id=template.pk if template else None,
        mailbox_id=mailbox_id,
        reply_to_message=original,
    )


def written(actor, task, message) -> bool:
    """The actor sent `message` for the task's manual email step: the step records it and the
    task is completed (which moves the sequence on). False when the task was no longer open
    for it (completed by hand meanwhile): the message stays an ordinary one."""
    from rapport.sales.services.work import complete_task

    with transaction.atomic():
        run = (
            StepRun.objects.select_for_update()
            .filter(task=task, kind=StepKind.MANUAL_EMAIL, message=None)
            .first()
        )
        if run is None:
            return False
        run.message = message
        run.outcome = StepOutcome.SENT
        run.detail = f"Written by {actor}: “{message.subject}”."[:500]
        run.save(update_fields=["message", "outcome", "detail"])
        complete_task(actor=actor, task=task)
    return True
