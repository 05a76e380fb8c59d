"""Mailboxes, messages and their threads, templates, tracking and the addresses not to mail.

A message is visible to a user when one of the contacts it was exchanged with (or its
organization) is: mail belongs to the relationship, as the timeline does. A message nobody's
contact sent waits in its mailbox's triage inbox, seen by those who may use that mailbox.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from rapport.accounts import access
from rapport.accounts.choices import Domain
from rapport.core.models import TimeStampedModel
from rapport.mail.choices import (
    MailboxKind,
    MailboxState,
    MessageDirection,
    MessagePurpose,
    MessageStatus,
    ParticipantRole,
    Security,
    SuppressionReason,
    TrackingKind,
    TriageState,
)


class MailboxQuerySet(models.QuerySet):
    def usable_by(self, user):
        """Mailboxes the user may send from and triage: their own, and the shared ones open to
        everyone or to one of their teams. Read-only seats send nothing."""
        if not access.can_write(user):
            return self.none()
        return self.filter(
            Q(kind=MailboxKind.PERSONAL, owner_id=user.pk)
            | Q(kind=MailboxKind.SHARED, team__isnull=True)
            | Q(kind=MailboxKind.SHARED, team__members=user)
        ).distinct()

    def manageable_by(self, user):
        """Mailboxes whose settings the user may see and change: administrators all of them,
        everyone else only their own personal mailbox."""
        if not access.is_signed_in(user):
            return self.none()
        if user.is_administrator:
            return self.all()
        return self.filter(kind=MailboxKind.PERSONAL, owner_id=user.pk)


class Mailbox(TimeStampedModel):
    """Where mail is received (IMAP) and sent from (SMTP), with its sending identity.

    Passwords are stored encrypted (`rapport.mail.secrets`) and never shown again. The sync
    keeps its own state: a failing mailbox records the error, backs off and never stops the
    others.
    """

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=MailboxKind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mailboxes",
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mailboxes",
        help_text="Only this team may send from and triage a shared mailbox; empty for everyone.",
    )
    # The sending identity.
    email_address = models.CharField(max_length=254)
    from_name = models.CharField(max_length=100, blank=True)
    signature = models.TextField(blank=True)
    # Receiving.
    imap_host = models.CharField(max_length=253, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_security = models.CharField(max_length=10, choices=Security.choices, default=Security.SSL)
    imap_username = models.CharField(max_length=254, blank=True)
    imap_password_encrypted = models.TextField(blank=True)
    imap_folder = models.CharField(max_length=200, default="INBOX")
    sent_folder = models.CharField(max_length=200, blank=True, default="Sent")
    # Sending.
    smtp_host = models.CharField(max_length=253, blank=True)
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(
        max_length=10, choices=Security.choices, default=Security.STARTTLS
    )
    smtp_username = models.CharField(max_length=254, blank=True)
    smtp_password_encrypted = models.TextField(blank=True)
    daily_send_limit = models.PositiveIntegerField(default=500)
    # Rapport's own local sink: mail "sent" from it never leaves the machine.
    is_local_sink = models.BooleanField(default=False)
    # The sync's state.
    is_active = models.BooleanField(default=True)
    state = models.CharField(max_length=10, choices=MailboxState.choices, default=MailboxState.NEW)
    last_error = models.CharField(max_length=500, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = MailboxQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=MailboxKind.SHARED, owner__isnull=True)
                | Q(kind=MailboxKind.PERSONAL, owner__isnull=False),
                name="mailbox_owner_matches_kind",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def receives(self) -> bool:
        return bool(self.imap_host and self.imap_username)

    @property
    def sends(self) -> bool:
        return self.is_local_sink or bool(self.smtp_host)

    @property
    def sender_display(self) -> str:
        return f"{self.from_name} <{self.email_address}>" if self.from_name else self.email_address


class FolderState(models.Model):
    """How far the sync has read one IMAP folder. A new UIDVALIDITY means the server renumbered
    the folder: the sync starts over and Message-IDs keep it from filing anything twice."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folder_states")
    folder = models.CharField(max_length=200)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "folder"], name="uniq_mail_folder_state")
        ]

    def __str__(self):
        return f"{self.mailbox} / {self.folder}"


class EmailThreadQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(
            Exists(EmailMessage.objects.visible_to(user).filter(thread_id=OuterRef("pk")))
        )

    def with_visible_count(self, user):
        """Each thread's `visible_message_count`: the messages of it `user` may see. The stored
        `message_count` counts every message, including those of contacts outside the user's
        access, and must not be shown to a reader."""
        counted = (
            EmailMessage.objects.visible_to(user)
            .filter(thread_id=OuterRef("pk"))
            .order_by()
            .values("thread_id")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return self.annotate(visible_message_count=Coalesce(Subquery(counted), Value(0)))


class EmailThread(TimeStampedModel):
    """A conversation: messages joined by Message-ID, In-Reply-To and References."""

    subject = models.CharField(max_length=300, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    message_count = models.PositiveIntegerField(default=0)

    objects = EmailThreadQuerySet.as_manager()

    class Meta:
        ordering = ["-last_message_at", "-id"]

    def __str__(self):
        return self.subject or "(no subject)"


class EmailMessageQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Mail of the contacts and organizations the user may see; unfiled mail of the
        mailboxes the user may use."""
        if not access.is_signed_in(user):
            return self.none()
        if access.sees_all(user, Domain.CONTACTS) and user.is_administrator:
            return self
        from rapport.contacts.models import Contact, Organization

        contacts = Contact.objects.visible_to(user).values("pk")
        organizations = Organization.objects.visible_to(user).values("pk")
        through_participant = Exists(
            Participant.objects.filter(message_id=OuterRef("pk"), contact_id__in=contacts)
        )
        return self.filter(
            through_participant
            | Q(organization_id__in=organizations)
            # What the user sent stays theirs to see, whoever it went to.
            | Q(sent_by_id=user.pk)
            | Q(
                triage_state__in=[TriageState.PENDING, TriageState.IGNORED],
                mailbox__in=Mailbox.objects.usable_by(user).values("pk"),
            )
        )

    def outbox(self):
        return self.filter(
            direction=MessageDirection.OUTBOUND,
            status__in=[MessageStatus.QUEUED, MessageStatus.SENDING],
        )


class EmailMessage(TimeStampedModel):
    """One email, received or sent.

    Outbound mail is an outbox row first: written in the same transaction as the user's action,
    its MIME bytes built once (so every retry sends the same Message-ID), then sent by the
    worker, retried with backoff, and marked sent or failed with the reason. Inbound mail is
    filed once per Message-ID and mailbox.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    thread = models.ForeignKey(
        EmailThread, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    direction = models.CharField(max_length=10, choices=MessageDirection.choices)
    status = models.CharField(max_length=10, choices=MessageStatus.choices)
    purpose = models.CharField(
        max_length=10, choices=MessagePurpose.choices, default=MessagePurpose.PERSONAL
    )
    message_id = models.CharField(max_length=500, db_index=True)
    in_reply_to = models.CharField(max_length=500, blank=True)
    references = models.JSONField(default=list, blank=True)
    from_address = models.CharField(max_length=254, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    to = models.JSONField(default=list, blank=True)  # [{"name": …, "email": …}]
    cc = models.JSONField(default=list, blank=True)
    bcc = models.JSONField(default=list, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    text_body = models.TextField(blank=True)
    visible_text = models.TextField(blank=True)
    quoted_text = models.TextField(blank=True)
    # Untrusted HTML as received; shown only through the sanitizer.
    html_body = models.TextField(blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    warnings = models.JSONField(default=list, blank=True)
    # Who it is about.
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_messages",
    )
    organization = models.ForeignKey(
        "contacts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_messages",
    )
    deal = models.ForeignKey(
        "sales.Deal",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_messages",
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sent_email_messages",
    )
    template = models.ForeignKey(
        "mail.EmailTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    triage_state = models.CharField(
        max_length=10, choices=TriageState.choices, default=TriageState.FILED
    )
    # Inbound: where it was read from.
    imap_folder = models.CharField(max_length=200, blank=True)
    imap_uid = models.BigIntegerField(null=True, blank=True)
    # Outbound: the outbox.
    raw = models.BinaryField(null=True, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    copied_to_sent_folder = models.BooleanField(default=False)
    # Tracking, counted as it happens (the events keep the detail).
    is_tracked = models.BooleanField(default=False)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    click_count = models.PositiveIntegerField(default=0)
    replied_at = models.DateTimeField(null=True, blank=True)

    objects = EmailMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"]),
            models.Index(fields=["deal", "-occurred_at"]),
            models.Index(fields=["mailbox", "triage_state"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]
        constraints = [
            # Received mail is filed once per mailbox; sent mail has its own unique Message-ID.
            models.UniqueConstraint(
                fields=["mailbox", "message_id"],
                condition=Q(direction="inbound"),
                name="uniq_inbound_message_per_mailbox",
            ),
            models.UniqueConstraint(
                fields=["message_id"],
                condition=Q(direction="outbound"),
                name="uniq_outbound_message_id",
            ),
        ]

    def __str__(self):
        return self.subject or "(no subject)"

    @property
    def sender_display(self) -> str:
        if self.from_name:
            return f"{self.from_name} <{self.from_address}>"
        return self.from_address

    def recipient_addresses(self) -> list[str]:
        return [entry["email"] for entry in (self.to or []) + (self.cc or [])]


class Participant(models.Model):
    """One address on a message, and the contact it belongs to when one does: how a message
    reaches every timeline it concerns and whose access decides who sees it."""

    message = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="participants")
    role = models.CharField(max_length=4, choices=ParticipantRole.choices)
    email = models.CharField(max_length=254, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_participations",
    )

    class Meta:
        indexes = [models.Index(fields=["contact", "message"])]

    def __str__(self):
        return f"{self.get_role_display()}: {self.email}"


def _attachment_path(instance, filename):
    return f"mail/attachments/{instance.message.uuid}/{filename}"


class Attachment(models.Model):
    """A file that came with a message, kept under the media root; a refused one (too large,
    a program, content not matching its type) is listed with the reason and no file."""

    message = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to=_attachment_path, max_length=500, blank=True)
    content_id = models.CharField(max_length=255, blank=True)
    is_inline = models.BooleanField(default=False)
    refused_reason = models.CharField(max_length=300, blank=True)

    def __str__(self):
        return self.filename


class EmailTemplateQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Shared templates and the user's own."""
        if not access.is_signed_in(user):
            return self.none()
        return self.filter(Q(owner__isnull=True) | Q(owner_id=user.pk))


class EmailTemplate(TimeStampedModel):
    """A reusable message with merge fields, shared (no owner, kept by administrators) or one
    user's own. Checked on save: a syntax error or an unknown merge field is refused."""

    name = models.CharField(max_length=150)
    subject = models.CharField(max_length=500)
    body_html = models.TextField()
    purpose = models.CharField(
        max_length=10, choices=MessagePurpose.choices, default=MessagePurpose.PERSONAL
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="email_templates",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_archived = models.BooleanField(default=False)

    objects = EmailTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TrackingEvent(models.Model):
    """One open of the pixel or one click through a tracked link."""

    message = models.ForeignKey(
        EmailMessage, on_delete=models.CASCADE, related_name="tracking_events"
    )
    kind = models.CharField(max_length=5, choices=TrackingKind.choices)
    url = models.CharField(max_length=2000, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-occurred_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M}"


class SuppressedAddressQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Administrators see every suppressed address; everyone else those of the contacts
        they may see (what the contact's page shows them)."""
        if not access.is_signed_in(user):
            return self.none()
        if access.can_administer(user):
            return self
        from rapport.contacts.models import Contact, ContactEmail

        contacts = Contact.objects.visible_to(user).values("pk")
        return self.filter(
            email__in=ContactEmail.objects.filter(contact_id__in=contacts).values("email")
        )


class SuppressedAddress(TimeStampedModel):
    """An address Rapport does not send marketing mail to (unsubscribed, complained) or does
    not send to at all (bouncing), with why and since when."""

    email = models.CharField(max_length=254, unique=True)
    reason = models.CharField(max_length=15, choices=SuppressionReason.choices)
    detail = models.CharField(max_length=500, blank=True)
    # The delivery report that said the address bounces, when Rapport received one.
    message = models.ForeignKey(
        EmailMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = SuppressedAddressQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self):
        return f"{self.email} ({self.get_reason_display()})"


class IgnoredSenderQuerySet(models.QuerySet):
    def for_mailbox(self, mailbox):
        """The patterns that apply to mail arriving in `mailbox`: its own and those set for
        every mailbox."""
        mailbox_id = getattr(mailbox, "pk", mailbox)
        return self.filter(Q(mailbox__isnull=True) | Q(mailbox_id=mailbox_id))


class IgnoredSender(TimeStampedModel):
    """A domain (or one address) whose mail triage skips: newsletters, notifications.

    A pattern belongs to the mailbox it was set from, so one team's "always ignore this
    domain" never hides mail arriving in another team's mailbox. Without a mailbox it holds for
    every mailbox; only administrators set those.
    """

    pattern = models.CharField(max_length=254)
    mailbox = models.ForeignKey(
        Mailbox,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="ignored_senders",
        help_text="The mailbox whose mail this pattern skips; empty for every mailbox.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = IgnoredSenderQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pattern", "mailbox"], name="uniq_ignored_sender_per_mailbox"
            ),
            models.UniqueConstraint(
                fields=["pattern"],
                condition=Q(mailbox__isnull=True),
                name="uniq_ignored_sender_everywhere",
            ),
        ]

    def __str__(self):
        return self.pattern

    def matches(self, email: str) -> bool:
        email = email.lower()
        if "@" in self.pattern:
            return email == self.pattern
        return email.rsplit("@", 1)[-1] == self.pattern
