"""Tasks, in-app notifications and the schedule of periodic sales jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from rapport.core.models import TimeStampedModel
from rapport.sales.choices import NotificationKind, TaskPriority, TaskStatus
from rapport.sales.querysets import NotificationQuerySet, TaskQuerySet


class Task(TimeStampedModel):
    """Something a person must do by a time, about a contact, an organization or a deal.

    The assignee always sees it, whatever team they are in: that is how a service note
    ("considering an upgrade") becomes a sales rep's follow-up. A reminder at `remind_at`
    becomes a notification once (`reminder_sent_at`).
    """

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    due_at = models.DateTimeField(db_index=True)
    priority = models.CharField(
        max_length=10, choices=TaskPriority.choices, default=TaskPriority.NORMAL
    )
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sales_tasks"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    organization = models.ForeignKey(
        "contacts.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    deal = models.ForeignKey(
        "sales.Deal", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    remind_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["assignee", "status", "due_at"])]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("sales:task_edit", args=[self.pk])


class Notification(models.Model):
    """A message for one person in the app (the bell). `dedupe_key` makes senders idempotent."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sales_notifications"
    )
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=120, unique=True, null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self):
        return self.title


class PeriodicJob(models.Model):
    """When a recurring sales job (rescoring, reminders, retraining) last ran and runs next.

    Claimed with a conditional update, so two schedulers running at once run a job once.
    """

    name = models.CharField(max_length=50, unique=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self):
        return self.name
