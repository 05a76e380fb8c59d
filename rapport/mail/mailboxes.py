"""Connecting mailboxes: create, change, check and remove them. The only write path for
`Mailbox`; every change is audited without its secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.mail import secrets
from rapport.mail.choices import MailboxKind, MailboxState, Security
from rapport.mail.connections import MailServerError, imap_connection, smtp_connection
from rapport.mail.models import Mailbox

LOCAL_SINK_NAME = "Delivered here (not sent to the internet)"
# What the audit record and the API may show of a mailbox: never a password.
AUDITED_FIELDS = [
    "name",
    "kind",
    "owner",
    "team",
    "email_address",
    "from_name",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_username",
    "imap_folder",
    "sent_folder",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "daily_send_limit",
    "is_active",
]
SETTABLE = set(AUDITED_FIELDS) - {"kind", "owner"} | {"signature"}
HOST_PATTERN = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[?[0-9a-fA-F:.]+\]?$")


@dataclass(frozen=True)
class ConnectionReport:
    """The outcome of trying a mailbox's servers: None where it worked or is not configured."""

    imap_error: str | None
    smtp_error: str | None
    imap_checked: bool
    smtp_checked: bool

    @property
    def ok(self) -> bool:
        return self.imap_error is None and self.smtp_error is None


def _validate(mailbox: Mailbox) -> None:
    errors: dict[str, list[str]] = {}
    if not mailbox.name.strip():
        errors["name"] = ["Give the mailbox a name."]
    elif len(mailbox.name) > 100:
        errors["name"] = ["Use at most 100 characters."]
    try:
        validate_email(mailbox.email_address)
    except ValidationError:
        errors["email_address"] = [f"{mailbox.email_address!r} is not an email address."]
    if len(mailbox.from_name) > 100 or any(ch in mailbox.from_name for ch in "\r\n"):
        errors["from_name"] = ["Use one line of at most 100 characters."]
    if len(mailbox.signature) > 5000:
        errors["signature"] = ["Use at most 5,000 characters."]
    for side in ("imap", "smtp"):
        host = getattr(mailbox, f"{side}_host")
        port = getattr(mailbox, f"{side}_port")
        security = getattr(mailbox, f"{side}_security")
        if host and not HOST_PATTERN.match(host):
            errors[f"{side}_host"] = [f"{host!r} is not a host name or address."]
        if not isinstance(port, int) or not 1 <= port <= 65535:
            errors[f"{side}_port"] = ["Give a port between 1 and 65535."]
        if security not in Security.values:
            errors[f"{side}_security"] = [f"Choose one of: {', '.join(Security.labels)}."]
    if mailbox.imap_host and not mailbox.imap_username:
        errors["imap_username"] = ["Give the user name the IMAP server expects."]
    if not mailbox.is_local_sink and not (mailbox.imap_host or mailbox.smtp_host):
        errors["smtp_host"] = ["Give at least an SMTP server to send or an IMAP server to receive."]
    if not 1 <= mailbox.daily_send_limit <= 100_000:
        errors["daily_send_limit"] = ["Give a number between 1 and 100,000."]
    if errors:
        raise ValidationError(errors)


def check_connection(*, mailbox: Mailbox) -> ConnectionReport:
    """Sign in to the mailbox's IMAP and SMTP servers and say what failed, in words."""
    imap_error = smtp_error = None
    if mailbox.receives:
        try:
            with imap_connection(mailbox) as client:
                folder = mailbox.imap_folder or "INBOX"
                if not client.folder_exists(folder):
                    imap_error = f"The IMAP server has no folder {folder!r}."
        except MailServerError as exc:
            imap_error = str(exc)
    if mailbox.sends:
        try:
            with smtp_connection(mailbox) as client:
                client.noop()
        except MailServerError as exc:
            smtp_error = str(exc)
    return ConnectionReport(
        imap_error=imap_error,
        smtp_error=smtp_error,
        imap_checked=mailbox.receives,
        smtp_checked=mailbox.sends,
    )


def _refuse_on_failure(report: ConnectionReport) -> None:
    errors = {}
    if report.imap_error:
        errors["imap_host"] = [report.imap_error]
    if report.smtp_error:
        errors["smtp_host"] = [report.smtp_error]
    if errors:
        raise ValidationError(errors)


def _apply(mailbox: Mailbox, changes: dict) -> None:
    unknown = set(changes) - SETTABLE - {"imap_password", "smtp_password"}
    if unknown:
        raise ValidationError({name: ["This field cannot be set."] for name in sorted(unknown)})
    for name, value in changes.items():
        if name in ("imap_password", "smtp_password"):
            # An empty password keeps the stored one: the form never shows it back.
            if value:
                setattr(mailbox, f"{name}_encrypted", secrets.encrypt(value))
            continue
        if isinstance(value, str) and name != "signature":
            value = value.strip()
        setattr(mailbox, name, value)
    mailbox.email_address = mailbox.email_address.lower()


@transaction.atomic
def create_mailbox(
    *,
    actor,
    kind: str,
    name: str,
    email_address: str,
    owner=None,
    check: bool = True,
    **settings_: object,
) -> Mailbox:
    """Connect a mailbox: shared ones by administrators, personal ones by their owner.

    With `check`, the servers are tried first and a refusal is a field error ("authentication
    failed", "no TLS"), so a mailbox that cannot work is never saved.
    """
    access.require(actor, Action.CREATE, Mailbox)
    if kind not in MailboxKind.values:
        raise ValidationError({"kind": [f"Choose one of: {', '.join(MailboxKind.labels)}."]})
    if kind == MailboxKind.SHARED:
        access.require_admin(actor)
        owner = None
    else:
        owner = owner or actor
        if owner is None:
            raise ValidationError({"owner": ["A personal mailbox needs its owner."]})
        if actor is not None and owner.pk != actor.pk:
            access.require_admin(actor)
        if not access.may_own(owner):
            raise ValidationError({"owner": [f"{owner} cannot send mail (read-only role)."]})
    mailbox = Mailbox(kind=kind, owner=owner, name=name or "", email_address=email_address or "")
    _apply(mailbox, settings_)
    access.require(actor, Action.CREATE, mailbox)
    _validate(mailbox)
    if check:
        _refuse_on_failure(check_connection(mailbox=mailbox))
        mailbox.state = MailboxState.WORKING
        mailbox.last_checked_at = mailbox.last_success_at = timezone.now()
    mailbox.next_check_at = timezone.now()
    mailbox.save()
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=mailbox,
        after=snapshot(mailbox, AUDITED_FIELDS),
    )
    return mailbox


@transaction.atomic
def update_mailbox(*, actor, mailbox: Mailbox, check: bool = True, **changes: object) -> Mailbox:
    """Change a mailbox's settings; an empty password keeps the stored one. Changed server
    settings are tried before they are saved."""
    access.require(actor, Action.CHANGE, mailbox)
    before = snapshot(mailbox, AUDITED_FIELDS)
    _apply(mailbox, changes)
    _validate(mailbox)
    server_changed = any(
        name.startswith(("imap_", "smtp_")) or name.endswith("_password") for name in changes
    )
    if check and server_changed:
        _refuse_on_failure(check_connection(mailbox=mailbox))
        mailbox.state = MailboxState.WORKING
        mailbox.last_error = ""
        mailbox.failure_count = 0
        mailbox.next_check_at = timezone.now()
    mailbox.save()
    after = snapshot(mailbox, AUDITED_FIELDS)
    if after != before or server_changed:
        record_change(
            actor=actor, action=ChangeAction.UPDATE, instance=mailbox, before=before, after=after
        )
    return mailbox


@transaction.atomic
def set_mailbox_paused(*, actor, mailbox: Mailbox, paused: bool) -> Mailbox:
    """Pause or resume a mailbox's sync (its outbox keeps sending)."""
    access.require(actor, Action.CHANGE, mailbox)
    before = snapshot(mailbox, ["is_active"])
    mailbox.is_active = not paused
    mailbox.state = MailboxState.PAUSED if paused else MailboxState.NEW
    mailbox.next_check_at = None if paused else timezone.now()
    mailbox.save(update_fields=["is_active", "state", "next_check_at", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=mailbox,
        before=before,
        after=snapshot(mailbox, ["is_active"]),
    )
    return mailbox


@transaction.atomic
def delete_mailbox(*, actor, mailbox: Mailbox) -> None:
    """Disconnect a mailbox. Its messages stay on the timelines; unsent ones fail."""
    access.require(actor, Action.DELETE, mailbox)
    from rapport.mail.choices import MessageStatus
    from rapport.mail.models import EmailMessage

    EmailMessage.objects.outbox().filter(mailbox=mailbox).update(
        status=MessageStatus.FAILED, last_error="Its mailbox was disconnected before it was sent."
    )
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        instance=mailbox,
        before=snapshot(mailbox, AUDITED_FIELDS),
    )
    mailbox.delete()


def local_sink_mailbox() -> Mailbox:
    """Rapport's own shared mailbox wired to the local sink `rapport serve` starts: mail sent
    from it is "delivered here" and never leaves the machine. Created on first use."""
    mailbox = Mailbox.objects.filter(is_local_sink=True).first()
    if mailbox is not None:
        return mailbox
    domain = getattr(settings, "RAPPORT_MAIL_DOMAIN", "") or "rapport.localhost"
    return Mailbox.objects.create(
        name=LOCAL_SINK_NAME,
        kind=MailboxKind.SHARED,
        email_address=f"team@{domain}",
        from_name="Rapport demo team",
        is_local_sink=True,
        smtp_host="127.0.0.1",
        smtp_port=int(getattr(settings, "RAPPORT_MAIL_SINK_PORT", 8025)),
        smtp_security=Security.NONE,
        imap_security=Security.NONE,
        state=MailboxState.WORKING,
    )
