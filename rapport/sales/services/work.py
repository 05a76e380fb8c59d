"""Tasks, reminders and in-app notifications."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core import display
from rapport.core.events import emit
from rapport.sales import events
from rapport.sales.choices import NotificationKind, TaskPriority, TaskStatus
from rapport.sales.models import Notification, Task
from rapport.sales.services.validation import actor_id, actor_or_none, clean_text

TASK_FIELDS = {
    "title",
    "description",
    "due_at",
    "priority",
    "assignee",
    "contact",
    "organization",
    "deal",
    "remind_at",
}


def _clean_task(values: dict, errors: dict) -> dict:
    cleaned = {}
    if "title" in values:
        cleaned["title"] = clean_text(
            values["title"], field="title", errors=errors, limit=200, required=True
        )
    if "description" in values:
        cleaned["description"] = clean_text(
            values["description"], field="description", errors=errors, limit=10_000
        )
    for name in ("due_at", "remind_at"):
        if name not in values:
            continue
        value = values[name]
        if value is None and name == "remind_at":
            cleaned[name] = None
            continue
        if not isinstance(value, dt.datetime) or timezone.is_naive(value):
            errors.setdefault(name, []).append("Give a date and time with a time zone.")
            continue
        if not 2000 <= value.year <= 2200:
            errors.setdefault(name, []).append("Give a date between 2000 and 2200.")
            continue
        cleaned[name] = value
    if "priority" in values:
        if values["priority"] not in TaskPriority.values:
            errors.setdefault("priority", []).append(
                f"Choose one of: {', '.join(TaskPriority.values)}."
            )
        cleaned["priority"] = values["priority"]
    if "assignee" in values:
        assignee = values["assignee"]
        if assignee is None:
            errors.setdefault("assignee", []).append("Choose who does the task.")
        else:
            # Tasks are handed off across teams on purpose (the assignee always sees their
            # task), so the giver's reach does not apply; the rest of the one rule does: the
            # assignee must be active and able to work it (not a read-only seat).
            problem = access.owner_problem(None, assignee, "sales")
            if problem is not None:
                errors.setdefault("assignee", []).append(problem)
        cleaned["assignee"] = assignee
    for name in ("contact", "organization", "deal"):
        if name in values:
            cleaned[name] = values[name]
    return cleaned


def _task_state(task: Task) -> dict:
    return snapshot(
        task,
        [
            "title",
            "due_at",
            "priority",
            "status",
            "assignee",
            "contact",
            "organization",
            "deal",
            "remind_at",
        ],
    )


@transaction.atomic
def create_task(
    *,
    actor,
    title: str,
    due_at: dt.datetime,
    assignee=None,
    description: str = "",
    priority: str = TaskPriority.NORMAL,
    contact=None,
    organization=None,
    deal=None,
    remind_at: dt.datetime | None = None,
) -> Task:
    """Create a task for anyone active — a teammate, or someone in another team (a hand-off).

    The assignee defaults to the actor; a deal's contact and organization are filled in from
    the deal. Someone else's new task notifies them. Sets off TaskCreated.
    """
    access.require(actor, Action.CREATE, Task)
    errors: dict[str, list[str]] = {}
    values = _clean_task(
        {
            "title": title,
            "description": description,
            "due_at": due_at,
            "priority": priority,
            "assignee": assignee if assignee is not None else actor_or_none(actor),
            "contact": contact,
            "organization": organization,
            "deal": deal,
            "remind_at": remind_at,
        },
        errors,
    )
    if errors:
        raise ValidationError(errors)
    if deal is not None:
        values["contact"] = values.get("contact") or deal.contact
        values["organization"] = values.get("organization") or deal.organization
    task = Task.objects.create(created_by=actor_or_none(actor), **values)
    record_change(actor=actor, action=ChangeAction.CREATE, instance=task, after=_task_state(task))
    if task.assignee_id != actor_id(actor):
        notify(
            recipient=task.assignee,
            kind=NotificationKind.TASK_ASSIGNED,
            # The system (a workflow, a sequence, the assignment rules) has no name to give.
            title=(
                f"New task from {actor}: {task.title}"
                if actor is not None
                else f"New task: {task.title}"
            )[:200],
            body=f"Due {display.moment_text(task.due_at)}",
            url="/sales/my-day/",
            dedupe_key=f"task-assigned:{task.pk}",
        )
    emit(
        events.TaskCreated(task_id=task.pk, assignee_id=task.assignee_id, actor_id=actor_id(actor))
    )
    return task


@transaction.atomic
def update_task(*, actor, task: Task, **changes) -> Task:
    """Edit a task. A new due or reminder time arms the reminder again."""
    unknown = set(changes) - TASK_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    access.require(actor, Action.CHANGE, task)
    task = Task.objects.select_for_update().get(pk=task.pk)
    before = _task_state(task)
    errors: dict[str, list[str]] = {}
    values = _clean_task(changes, errors)
    if errors:
        raise ValidationError(errors)
    for key, value in values.items():
        setattr(task, key, value)
    if "remind_at" in values and values["remind_at"] != before.get("remind_at"):
        task.reminder_sent_at = None
    task.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=task,
        before=before,
        after=_task_state(task),
    )
    return task


@transaction.atomic
def complete_task(*, actor, task: Task) -> Task:
    """Mark a task done (doing it twice changes nothing). Sets off TaskCompleted."""
    access.require(actor, Action.CHANGE, task)
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status == TaskStatus.DONE:
        return task
    task.status = TaskStatus.DONE
    task.completed_at = timezone.now()
    task.completed_by = actor_or_none(actor)
    task.save(update_fields=["status", "completed_at", "completed_by", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=task,
        before={"status": TaskStatus.OPEN},
        after={"status": TaskStatus.DONE},
    )
    emit(
        events.TaskCompleted(
            task_id=task.pk, assignee_id=task.assignee_id, actor_id=actor_id(actor)
        )
    )
    return task


@transaction.atomic
def reopen_task(*, actor, task: Task) -> Task:
    access.require(actor, Action.CHANGE, task)
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status == TaskStatus.OPEN:
        return task
    task.status = TaskStatus.OPEN
    task.completed_at = None
    task.completed_by = None
    task.save(update_fields=["status", "completed_at", "completed_by", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=task,
        before={"status": TaskStatus.DONE},
        after={"status": TaskStatus.OPEN},
    )
    return task


@transaction.atomic
def delete_task(*, actor, task: Task) -> None:
    access.require(actor, Action.DELETE, task)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=task, before=_task_state(task))
    task.delete()


def notify(
    *,
    recipient,
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    dedupe_key: str | None = None,
) -> Notification | None:
    """Put a message in someone's notifications; the same `dedupe_key` never makes two."""
    if recipient is None or not recipient.is_active:
        return None
    if dedupe_key and Notification.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    try:
        with transaction.atomic():
            return Notification.objects.create(
                recipient=recipient,
                kind=kind,
                title=title[:200],
                body=body[:500],
                url=url[:300],
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        return None  # a concurrent sender won the race with the same key


def send_due_reminders(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Turn due reminders of open tasks into notifications, each exactly once.

    Safe to run twice or concurrently: the reminder is claimed with a conditional update and
    the notification carries a dedupe key.
    """
    now = now or timezone.now()
    sent = 0
    due = list(
        Task.objects.filter(
            status=TaskStatus.OPEN, remind_at__lte=now, reminder_sent_at__isnull=True
        ).select_related("assignee")[:limit]
    )
    for task in due:
        with transaction.atomic():
            claimed = Task.objects.filter(pk=task.pk, reminder_sent_at__isnull=True).update(
                reminder_sent_at=now
            )
            if not claimed:
                continue
            created = notify(
                recipient=task.assignee,
                kind=NotificationKind.TASK_REMINDER,
                title=f"Reminder: {task.title}"[:200],
                body=f"Due {display.moment_text(task.due_at)}",
                url="/sales/my-day/",
                dedupe_key=f"task-reminder:{task.pk}:{task.remind_at.isoformat()}",
            )
            sent += created is not None
    return sent


def mark_notification_read(*, actor, notification: Notification) -> Notification:
    # A notification is its recipient's alone (read-only seats too: reading is not writing).
    if actor is not None and notification.recipient_id != actor.pk:
        raise PermissionDenied("This notification is someone else's.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk).update(read_at=notification.read_at)
    return notification


def mark_all_notifications_read(*, actor) -> int:
    return Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
