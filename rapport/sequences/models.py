"""Sequences, their steps, the contacts enrolled in them and what each step did.

A sequence belongs to its owner (a personal record: only the owner or an administrator changes
it; whoever's sales scope reaches the owner sees it). An enrollment belongs to the contact's
relationship: whoever may see the contact sees it, and only someone who may change the contact
enrolls, pauses or stops it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from rapport.accounts import access
from rapport.accounts.choices import Domain
from rapport.core.models import TimeStampedModel
from rapport.sequences.choices import (
    DelayUnit,
    EnrollmentStatus,
    StepKind,
    StepOutcome,
    StopReason,
)

OPEN_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)


class SequenceQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's own sequences and those of the people their sales scope reaches."""
        if not access.is_signed_in(user):
            return self.none()
        return self.filter(access.scope_or(user, Domain.SALES, "owner", Q(owner_id=user.pk)))


class Sequence(TimeStampedModel):
    """A cadence of steps sent from one mailbox. Switching it off holds every enrollment where
    it is (nothing is sent or created) until it is switched on again."""

    name = models.CharField(max_length=150)
    description = models.CharField(max_length=500, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sequences"
    )
    mailbox = models.ForeignKey(
        "mail.Mailbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sequences",
        help_text="Where its emails are sent from, unless the enrolling person picks another.",
    )
    is_active = models.BooleanField(default=True)
    stop_on_meeting = models.BooleanField(
        default=True, help_text="Stop when a meeting with the contact is logged."
    )
    stop_on_deal_stage_change = models.BooleanField(
        default=False, help_text="Stop when a deal of the contact moves to another stage."
    )
    daily_email_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100_000)],
        help_text="At most this many of its emails per mailbox per day; the rest wait for the "
        "next business day. Empty: only the mailbox's own limit.",
    )

    objects = SequenceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class SequenceStep(models.Model):
    """One step: an automatic email from a template, or a task for a person (a manual email,
    a call, anything else), due a delay after the previous step, inside a send window."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=15, choices=StepKind.choices)
    delay_amount = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(365)])
    delay_unit = models.CharField(
        max_length=15, choices=DelayUnit.choices, default=DelayUnit.BUSINESS_DAYS
    )
    window_start_hour = models.PositiveSmallIntegerField(default=9)
    window_end_hour = models.PositiveSmallIntegerField(default=17)
    template = models.ForeignKey(
        "mail.EmailTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sequence_steps",
    )
    reply_in_thread = models.BooleanField(
        default=True, help_text="Send as a reply to the sequence's previous email."
    )
    task_title = models.CharField(max_length=200, blank=True)
    task_note = models.TextField(blank=True)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "position"], name="uniq_sequence_step_position"
            ),
        ]

    def __str__(self):
        return f"Step {self.position}: {self.get_kind_display()}"

    @property
    def is_email(self) -> bool:
        return self.kind == StepKind.AUTOMATIC_EMAIL


class EnrollmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Enrollments of the contacts the user may see."""
        from rapport.contacts.models import Contact

        if not access.is_signed_in(user):
            return self.none()
        return self.filter(contact__in=Contact.objects.visible_to(user).values("pk"))

    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def due(self, now):
        return self.filter(
            status=EnrollmentStatus.ACTIVE, next_due_at__lte=now, sequence__is_active=True
        )


class Enrollment(TimeStampedModel):
    """One contact going through one sequence: where they are, when the next step is due (in
    UTC, computed on the contact's business days in `time_zone`), and how it ended."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="sequence_enrollments"
    )
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sequence_enrollments",
    )
    mailbox = models.ForeignKey(
        "mail.Mailbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sequence_enrollments",
    )
    status = models.CharField(
        max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    stop_reason = models.CharField(max_length=20, choices=StopReason.choices, blank=True)
    status_detail = models.CharField(max_length=500, blank=True)
    current_position = models.PositiveIntegerField(default=1)
    next_due_at = models.DateTimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64)
    time_zone_source = models.CharField(max_length=100, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_due_at"])]
        constraints = [
            # A contact is in a sequence once at a time; enrolling again after it ended is fine.
            models.UniqueConstraint(
                fields=["sequence", "contact"],
                condition=Q(status__in=["active", "paused"]),
                name="uniq_open_enrollment",
            ),
        ]

    def __str__(self):
        return f"{self.contact} in {self.sequence}"

    @property
    def status_words(self) -> str:
        label = self.get_status_display()
        return f"{label}: {self.status_detail}" if self.status_detail else label


class StepRun(models.Model):
    """What one step did for one enrollment: the email queued, the task created, or why it was
    skipped or moved. One row per enrollment and step: the key that keeps a step from running
    twice when its task is delivered twice."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="runs")
    step = models.ForeignKey(
        SequenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=15, choices=StepKind.choices)
    outcome = models.CharField(max_length=15, choices=StepOutcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    message = models.ForeignKey(
        "mail.EmailMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sequence_step_runs",
    )
    task = models.ForeignKey(
        "sales.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sequence_step_runs",
    )
    deferrals = models.PositiveIntegerField(default=0)
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="uniq_step_run"),
        ]

    def __str__(self):
        return f"{self.enrollment}: step {self.position} {self.get_outcome_display()}"
