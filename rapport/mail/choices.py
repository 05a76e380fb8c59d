from django.db import models


class MailboxKind(models.TextChoices):
    SHARED = "shared", "Shared mailbox"
    PERSONAL = "personal", "Personal mailbox"


class Security(models.TextChoices):
    """How the connection to a mail server is protected."""

    SSL = "ssl", "SSL/TLS from the start"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None (only for a server on this machine)"


class MailboxState(models.TextChoices):
    NEW = "new", "Not checked yet"
    WORKING = "working", "Working"
    FAILING = "failing", "Failing"
    PAUSED = "paused", "Paused"


class MessageDirection(models.TextChoices):
    INBOUND = "inbound", "Received"
    OUTBOUND = "outbound", "Sent"


class MessageStatus(models.TextChoices):
    """Where a message is. Inbound messages are `received`; outbound ones go queued → sending →
    sent, or end `failed` with the reason."""

    RECEIVED = "received", "Received"
    QUEUED = "queued", "Sending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class MessagePurpose(models.TextChoices):
    """A personal message is one person writing to another; marketing mail needs consent and
    carries a one-click unsubscribe."""

    PERSONAL = "personal", "Personal"
    MARKETING = "marketing", "Marketing"


class TriageState(models.TextChoices):
    """Inbound mail from a sender no contact has: kept for a person to decide, never filed or
    created silently."""

    FILED = "filed", "Filed"
    PENDING = "pending", "To triage"
    IGNORED = "ignored", "Ignored"


class ParticipantRole(models.TextChoices):
    SENDER = "from", "From"
    TO = "to", "To"
    CC = "cc", "Cc"
    BCC = "bcc", "Bcc"


class TrackingKind(models.TextChoices):
    OPEN = "open", "Opened"
    CLICK = "click", "Clicked"


class SuppressionReason(models.TextChoices):
    BOUNCED = "bounced", "Bouncing"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    COMPLAINED = "complained", "Marked as spam"
