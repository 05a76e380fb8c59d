"""What automation keeps: webhook subscriptions and the outbox of their deliveries.

A `WebhookDelivery` row is written in the same transaction as the change it reports
(`webhooks.record_deliveries`), so a committed change always has its deliveries and a rolled
back one never has any. The row is the record of what is due: the queue may lose a task, the
sweep finds the row again.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from rapport.automation import listening


class WebhookSubscriptionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class WebhookSubscription(models.Model):
    """A receiver's URL and the events it wants, signed with its own Standard Webhooks secret.

    The secret ("whsec_…") is stored encrypted (rapport.mail.secrets) and shown once, when it is
    made; afterwards only `secret_hint` (its last 4 characters) is shown.
    """

    name = models.CharField(max_length=120)
    url = models.CharField(max_length=2000)
    event_types = models.JSONField(default=list, blank=True)
    secret_encrypted = models.TextField()
    secret_hint = models.CharField(max_length=4)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_subscriptions",
        help_text="Told when the subscription is switched off after failing.",
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Deliveries that went dead in a row (reset by any success).
    failure_streak = models.PositiveIntegerField(default=0)
    # When the current run of failed attempts began (None after a success).
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookSubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook subscription"

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        listening.webhook_events.forget()

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("automation:webhook_detail", args=[self.pk])

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        listening.webhook_events.forget()
        return result


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed, will be retried"
    DEAD = "dead", "Given up"


# Rows a worker may claim (when due and not leased).
SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class WebhookDelivery(models.Model):
    """One event for one subscription, and what became of sending it.

    `event_id` is the `webhook-id` header: unique per event and subscription and the same on
    every retry and replay, so a receiver that saw it already can drop the repeat (delivery is
    at least once). A worker claims a row by setting `lease_until`/`lease_token` with one
    conditional UPDATE; a row whose worker died is claimable again when the lease runs out.
    """

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="automation_due_idx"),
            models.Index(fields=["subscription", "-created_at"], name="automation_sub_recent_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} → {self.subscription_id} ({self.get_status_display()})"


# --- workflows -------------------------------------------------------------------------------


class RecordType(models.TextChoices):
    """What a workflow's runs work on: the record its trigger names."""

    CONTACT = "contact", "Contact"
    DEAL = "deal", "Deal"
    OBJECTIVE = "objective", "KPI objective"


class WorkflowQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True, is_deleted=False)

    def listed(self):
        return self.filter(is_deleted=False)


class Workflow(models.Model):
    """A trigger, conditions and ordered steps, run on one record at a time.

    What it does lives in its versions: `current_version` is what new runs start on, and a run
    keeps the version it started with, so an edit never changes a run already waiting. Only
    administrators make or change workflows (`workflows.py` requires `Action.ADMINISTER`).
    `trigger_type` copies the current version's trigger so an event finds its workflows with
    one indexed query; `next_fire_at` is when a date or schedule trigger is next due.
    """

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    record_type = models.CharField(max_length=10, choices=RecordType.choices)
    trigger_type = models.CharField(max_length=40)
    current_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=False)
    # Deleted workflows are kept (their runs are history) but never run again.
    is_deleted = models.BooleanField(default=False)
    next_fire_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Signs the "call a webhook" steps (Standard Webhooks), encrypted like subscriptions'.
    signing_secret_encrypted = models.TextField(blank=True)
    signing_secret_hint = models.CharField(max_length=4, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "workflow"
        indexes = [
            models.Index(fields=["trigger_type", "is_active"], name="automation_wf_trigger_idx"),
            models.Index(fields=["next_fire_at"], name="automation_wf_due_idx"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        listening.workflow_triggers.forget()

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("automation:workflow_detail", args=[self.pk])

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        listening.workflow_triggers.forget()
        return result


class WorkflowVersion(models.Model):
    """What a workflow did from one edit to the next; never changed once written."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    trigger = models.JSONField(default=dict)
    conditions = models.JSONField(default=dict, blank=True)
    steps = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="automation_wf_version_uniq"
            )
        ]

    def __str__(self):
        return f"{self.workflow_id} v{self.number}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped by a condition"
    FAILED = "failed", "Failed"
    LOOP_STOPPED = "loop_stopped", "Stopped: re-triggered too often"
    CANCELLED = "cancelled", "Cancelled"


# Runs a worker may still take up (the database is the record of what is due).
OPEN_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


class WorkflowRun(models.Model):
    """One record going through one version of a workflow.

    `position` is the index of the next step in the version's compiled step list; a worker
    takes a run by one conditional UPDATE of its `lease_token`, so a task delivered twice runs
    no step twice. `trigger_key` makes an enrolment unique where it must be (a date trigger
    enrols a record once per day).
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="runs")
    record_type = models.CharField(max_length=10, choices=RecordType.choices)
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="workflow_runs",
    )
    deal = models.ForeignKey(
        "sales.Deal", null=True, blank=True, on_delete=models.CASCADE, related_name="workflow_runs"
    )
    objective = models.ForeignKey(
        "frameworks.Objective",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="workflow_runs",
    )
    # "contact:12": one column to count a record's runs by and to keep an enrolment unique.
    record_key = models.CharField(max_length=40)
    # A reference without personal data ("Contact 12"): an erased contact keeps its row, so a
    # stored name would outlive the erasure. Pages show the record's current name.
    record_label = models.CharField(max_length=200, blank=True)
    trigger_summary = models.CharField(max_length=300, blank=True)
    trigger_key = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=14, choices=RunStatus.choices, default=RunStatus.QUEUED)
    outcome = models.CharField(max_length=500, blank=True)
    position = models.PositiveIntegerField(default=0)
    resume_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "workflow run"
        indexes = [
            models.Index(fields=["status", "resume_at"], name="automation_run_due_idx"),
            models.Index(fields=["workflow", "-started_at"], name="automation_run_recent_idx"),
            models.Index(
                fields=["workflow", "record_key", "started_at"], name="automation_run_record_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "record_key", "trigger_key"],
                condition=~models.Q(trigger_key=""),
                name="automation_run_once_per_key",
            )
        ]

    def __str__(self):
        return f"{self.workflow} on {self.record_key} ({self.get_status_display()})"

    @property
    def record(self):
        return {
            RecordType.CONTACT: self.contact,
            RecordType.DEAL: self.deal,
            RecordType.OBJECTIVE: self.objective,
        }.get(self.record_type)

    @property
    def record_id(self) -> int | None:
        return {
            RecordType.CONTACT: self.contact_id,
            RecordType.DEAL: self.deal_id,
            RecordType.OBJECTIVE: self.objective_id,
        }.get(self.record_type)

    @property
    def record_name(self) -> str:
        record = self.record
        return str(record) if record is not None else self.record_label

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_RUN_STATUSES


class StepStatus(models.TextChoices):
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"
    WAITING = "waiting", "Waiting"
    CONDITION_MET = "met", "Condition met"
    CONDITION_NOT_MET = "not_met", "Condition not met"


class WorkflowStepRun(models.Model):
    """What one step did for one run: its outcome in words, the error, when.

    Unique per run and step key: a step recorded as done is never run again for that run.
    """

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="step_runs")
    step_key = models.CharField(max_length=60)
    step_type = models.CharField(max_length=40)
    label = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=StepStatus.choices)
    outcome = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "started_at", "id"]
        verbose_name = "workflow step run"
        constraints = [
            models.UniqueConstraint(fields=["run", "step_key"], name="automation_step_once")
        ]

    def __str__(self):
        return f"{self.step_key} {self.step_type}: {self.get_status_display()}"
