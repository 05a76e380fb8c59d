from django.db import models


class StepKind(models.TextChoices):
    AUTOMATIC_EMAIL = "email", "Automatic email"
    MANUAL_EMAIL = "manual_email", "Manual email task"
    CALL = "call", "Call task"
    TASK = "task", "Task"


class DelayUnit(models.TextChoices):
    BUSINESS_DAYS = "business_days", "Business days"
    DAYS = "days", "Days"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    FINISHED = "finished", "Finished"
    STOPPED = "stopped", "Stopped"


class StopReason(models.TextChoices):
    """Why an enrollment ended before its last step; `Enrollment.status_detail` says it in full."""

    REPLIED = "replied", "Replied"
    MEETING_BOOKED = "meeting_booked", "Meeting booked"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    NO_CONSENT = "no_consent", "No consent for marketing mail"
    BOUNCED = "bounced", "Bounced"
    DEAL_STAGE_CHANGED = "deal_stage_changed", "Deal stage changed"
    SEND_FAILED = "send_failed", "Email could not be sent"
    NO_ACCESS = "no_access", "Enrolling user lost access"
    STOPPED_BY_USER = "by_user", "Stopped by a person"


class StepOutcome(models.TextChoices):
    SENT = "sent", "Email queued"
    TASK_CREATED = "task_created", "Task created"
    SKIPPED = "skipped", "Skipped"
    DEFERRED = "deferred", "Moved by the daily limit"
