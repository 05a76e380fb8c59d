"""What the mail API reads and writes. Mailbox passwords go in and never come out."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints

from rapport.core.api_types import RecordId
from rapport.mail.choices import (
    MailboxKind,
    MessageDirection,
    MessagePurpose,
    MessageStatus,
    Security,
    SuppressionReason,
)

SecurityName = Literal[tuple(Security.values)]  # type: ignore[valid-type]
PurposeName = Literal[tuple(MessagePurpose.values)]  # type: ignore[valid-type]
ReasonName = Literal[tuple(SuppressionReason.values)]  # type: ignore[valid-type]
Line = Annotated[str, StringConstraints(max_length=254)]
Host = Annotated[str, StringConstraints(max_length=253)]
Secret = Annotated[str, StringConstraints(max_length=500)]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
AddressList = Annotated[list[Line], Field(max_length=100)]


class MailboxSettings(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=100)] | None = None
    email_address: Line | None = None
    from_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    signature: Annotated[str, StringConstraints(max_length=5000)] | None = None
    team_id: RecordId | None = None
    imap_host: Host | None = None
    imap_port: Port | None = None
    imap_security: SecurityName | None = None
    imap_username: Line | None = None
    imap_password: Secret | None = Field(
        None, description="Write-only; empty keeps the stored one."
    )
    imap_folder: Annotated[str, StringConstraints(max_length=200)] | None = None
    sent_folder: Annotated[str, StringConstraints(max_length=200)] | None = None
    smtp_host: Host | None = None
    smtp_port: Port | None = None
    smtp_security: SecurityName | None = None
    smtp_username: Line | None = None
    smtp_password: Secret | None = Field(
        None, description="Write-only; empty keeps the stored one."
    )
    daily_send_limit: Annotated[int, Field(ge=1, le=100_000, strict=True)] | None = None


class MailboxIn(MailboxSettings):
    """A mailbox to connect: shared (administrators) or your own personal one. Its servers are
    tried first; a refusal is a 422 naming the server and the reason."""

    kind: Literal[tuple(MailboxKind.values)]  # type: ignore[valid-type]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    email_address: Line
    check: bool = Field(True, description="Try the servers before saving.")


class MailboxPatch(MailboxSettings):
    check: bool = True
    is_active: bool | None = Field(None, description="False pauses the sync.")


class MailboxOut(Schema):
    id: int
    name: str
    kind: str
    owner_id: int | None
    team_id: int | None
    email_address: str
    from_name: str
    signature: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_folder: str
    sent_folder: str
    has_imap_password: bool
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    has_smtp_password: bool
    daily_send_limit: int
    is_local_sink: bool
    is_active: bool
    state: str
    state_label: str
    last_error: str
    last_checked_at: dt.datetime | None
    last_success_at: dt.datetime | None

    @staticmethod
    def resolve_has_imap_password(obj) -> bool:
        return bool(obj.imap_password_encrypted)

    @staticmethod
    def resolve_has_smtp_password(obj) -> bool:
        return bool(obj.smtp_password_encrypted)

    @staticmethod
    def resolve_state_label(obj) -> str:
        return obj.get_state_display()


class ConnectionCheckOut(Schema):
    ok: bool
    imap_checked: bool
    smtp_checked: bool
    imap_error: str | None
    smtp_error: str | None


class AddressOut(Schema):
    name: str = ""
    email: str


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    refused_reason: str


class MessageOut(Schema):
    id: uuid.UUID
    thread_id: int | None
    mailbox_id: int | None
    direction: Literal[tuple(MessageDirection.values)]  # type: ignore[valid-type]
    status: Literal[tuple(MessageStatus.values)]  # type: ignore[valid-type]
    status_label: str
    purpose: str
    message_id: str
    in_reply_to: str
    subject: str
    from_address: str
    from_name: str
    to: list[AddressOut]
    cc: list[AddressOut]
    occurred_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str
    contact_id: int | None
    organization_id: int | None
    deal_id: int | None
    triage_state: str
    visible_text: str
    quoted_text: str
    warnings: list[str]
    open_count: int
    click_count: int
    first_opened_at: dt.datetime | None
    first_clicked_at: dt.datetime | None
    replied_at: dt.datetime | None
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_id(obj):
        return obj.uuid

    @staticmethod
    def resolve_status_label(obj) -> str:
        if obj.status == MessageStatus.FAILED and obj.last_error:
            return f"Failed: {obj.last_error}"
        return obj.get_status_display()

    @staticmethod
    def resolve_attachments(obj):
        return list(obj.attachments.all())


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None


class MessageParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    contact: RecordId | None = None
    organization: RecordId | None = None
    deal: RecordId | None = None
    thread: RecordId | None = None
    mailbox: RecordId | None = None
    direction: Literal[tuple(MessageDirection.values)] | None = None  # type: ignore[valid-type]
    status: Literal[tuple(MessageStatus.values)] | None = None  # type: ignore[valid-type]
    triage: bool | None = Field(None, description="Only mail waiting to be triaged.")


class SendIn(Schema):
    """A message to send from one of your mailboxes. It is queued at once (status "queued")
    and sent by the worker; poll the message for "sent" or "failed"."""

    model_config = ConfigDict(extra="forbid")

    mailbox_id: RecordId
    to: AddressList
    cc: AddressList = []
    bcc: AddressList = []
    subject: Annotated[str, StringConstraints(max_length=998)] = ""
    body_html: Annotated[str, StringConstraints(max_length=200_000)] = ""
    template_id: RecordId | None = Field(None, description="Render this template instead.")
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    deal_id: RecordId | None = None
    purpose: PurposeName = MessagePurpose.PERSONAL
    reply_to: uuid.UUID | None = Field(None, description="The message this answers.")


class ThreadOut(Schema):
    id: int
    subject: str
    last_message_at: dt.datetime | None
    message_count: int


class ThreadDetailOut(ThreadOut):
    messages: list[MessageOut]


class TemplateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=150)]
    subject: Annotated[str, StringConstraints(max_length=500)]
    body_html: Annotated[str, StringConstraints(max_length=200_000)]
    purpose: PurposeName = MessagePurpose.PERSONAL
    shared: bool = Field(False, description="Shared with everyone (administrators only).")


class TemplatePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=150)] | None = None
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    body_html: Annotated[str, StringConstraints(max_length=200_000)] | None = None
    purpose: PurposeName | None = None
    is_archived: bool | None = None


class TemplateOut(Schema):
    id: int
    name: str
    subject: str
    body_html: str
    purpose: str
    shared: bool
    owner_id: int | None
    is_archived: bool

    @staticmethod
    def resolve_shared(obj) -> bool:
        return obj.owner_id is None


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    contact_id: RecordId | None = None
    deal_id: RecordId | None = None
    mailbox_id: RecordId | None = None


class PreviewOut(Schema):
    subject: str
    html: str
    text: str


class TriageIn(Schema):
    """What to do with mail from an unknown sender."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["create_contact", "ignore", "ignore_sender", "ignore_domain"]
    every_mailbox: bool = Field(
        False,
        description="With ignore_sender or ignore_domain: in every mailbox, not only this "
        "message's (administrators only).",
    )
    first_name: Annotated[str, StringConstraints(max_length=100)] = ""
    last_name: Annotated[str, StringConstraints(max_length=100)] = ""


class SuppressedAddressOut(Schema):
    """An address Rapport does not mail: `bounced` gets no mail at all, `unsubscribed` and
    `complained` no marketing mail."""

    id: int
    email: str
    reason: ReasonName
    reason_label: str
    detail: str
    since: dt.datetime = Field(description="When Rapport last stopped mailing it.")
    report_message: uuid.UUID | None = Field(
        None, description="The delivery report that said it bounces, when you may see it."
    )


class SuppressedAddressPage(Schema):
    items: list[SuppressedAddressOut]
    next_cursor: str | None


class SuppressedAddressParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    reason: ReasonName | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        None, description="Only addresses containing this text."
    )


class ReleaseIn(Schema):
    """Mail an address again (administrators)."""

    model_config = ConfigDict(extra="forbid")

    email: Line
