"""Sending mail: the outbox row written with the user's action, and the worker's delivery.

`send_email` checks everything a person can get wrong (who may send from which mailbox about
which record, the addresses, consent, the daily limit) and then, in one transaction, writes the
message as an outbox row with its MIME bytes built once, and puts a "sending" entry on the
timeline of every contact it goes to. After the commit a task delivers it: `deliver` claims the
row, hands the stored bytes to the SMTP server, and marks it sent or failed with the reason;
a temporary refusal is retried with backoff, always with the same bytes and Message-ID.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html as html_lib
import logging
import re
import smtplib
import time
import uuid as uuid_lib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.core import display
from rapport.interactions.services import log_interaction, set_delivery_outcome
from rapport.mail import composing, tracking
from rapport.mail.choices import (
    MessageDirection,
    MessagePurpose,
    MessageStatus,
    ParticipantRole,
    TriageState,
)
from rapport.mail.connections import (
    MailServerError,
    describe,
    imap_connection,
    smtp_connection,
)
from rapport.mail.models import (
    Attachment,
    EmailMessage,
    EmailTemplate,
    EmailThread,
    Mailbox,
    Participant,
)
from rapport.mail.plaintext import html_to_text
from rapport.mail.rendering import TemplateProblem
from rapport.mail.templating import render_for

logger = logging.getLogger(__name__)

RECIPIENT_LIMIT = 100
# Providers cap a message near 25 MB after base64 (which adds a third): keep well below.
ATTACHMENTS_LIMIT_BYTES = 15 * 1024 * 1024
# A claimed row whose worker has not finished within the lease is taken to be lost with it.
CLAIM_LEASE = dt.timedelta(minutes=5)
# Wait before attempt 2, 3, …; the attempt after the last wait is the last one.
BACKOFF = [
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
]
MAX_ATTEMPTS = len(BACKOFF) + 1
# A fresh row's task is queued after its commit; the sweep leaves it that long to run.
FRESH_GRACE = dt.timedelta(minutes=1)
# What one delivery task may send over its connection besides its own row.
DRAIN_LIMIT = 100
DRAIN_SECONDS = 30
REFERENCES_KEPT = 20
TIMELINE_SUBJECT_LIMIT = 200
TIMELINE_BODY_LIMIT = 50_000
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw)\s*:\s*", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(fwd?|wg|tr)\s*:\s*", re.IGNORECASE)
_CLOSING_BODY = re.compile(r"</body\s*>", re.IGNORECASE)


def _external_prefix(message: EmailMessage) -> str:
    return f"mail:{message.uuid}:"


def timeline_ids(message: EmailMessage) -> list[str]:
    """The external ids of the timeline entries `_log_on_timelines` wrote for a sent message:
    one per contact it went to (its participants) and the contact it is about."""
    contact_ids = set(
        Participant.objects.filter(message=message, contact__isnull=False).values_list(
            "contact_id", flat=True
        )
    )
    if message.contact_id is not None:
        contact_ids.add(message.contact_id)
    prefix = _external_prefix(message)
    return [f"{prefix}{contact_id}" for contact_id in sorted(contact_ids)]


def _message_id(unique: uuid_lib.UUID, mailbox: Mailbox) -> str:
    """The Message-ID under RAPPORT_MAIL_DOMAIN, or the mailbox's own domain when that setting
    is empty or not a domain (an IP address taken from RAPPORT_PUBLIC_URL, say)."""
    configured = getattr(settings, "RAPPORT_MAIL_DOMAIN", "") or ""
    if configured:
        try:
            return composing.make_message_id(unique=str(unique), domain=configured)
        except composing.HeaderProblem:
            logger.warning(
                "RAPPORT_MAIL_DOMAIN %r is not a domain; using the mailbox's", configured
            )
    return composing.make_message_id(
        unique=str(unique), domain=mailbox.email_address.rsplit("@", 1)[-1]
    )


def mailbox_sent_today(mailbox: Mailbox) -> int:
    """Messages the mailbox sent or has queued since midnight (local time): what its daily
    limit counts. Failed ones are not counted; they did not leave."""
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return EmailMessage.objects.filter(
        mailbox=mailbox,
        direction=MessageDirection.OUTBOUND,
        status__in=[MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT],
        created_at__gte=midnight,
    ).count()


# -- what goes into a message ------------------------------------------------------------------


def _signature_html(signature: str) -> str:
    """The mailbox's signature as HTML: sanitized when it is HTML, escaped text otherwise."""
    signature = (signature or "").strip()
    if not signature:
        return ""
    if "<" in signature and ">" in signature:
        from rapport.mail.sanitizing import sanitize_html

        content = sanitize_html(signature, allow_remote_images=True).html
    else:
        content = "<br>".join(html_lib.escape(line) for line in signature.splitlines())
    return f'<div class="signature">-- <br>{content}</div>'


def _append_to_body(html: str, addition: str) -> str:
    if not addition:
        return html
    closings = list(_CLOSING_BODY.finditer(html))
    if not closings:
        return html + addition
    position = closings[-1].start()
    return html[:position] + addition + html[position:]


def _unsubscribe_footer(url: str) -> str:
    return (
        '<p class="unsubscribe" style="font-size:12px;color:#666">'
        "You receive this because you agreed to hear from us. "
        f'<a href="{html_lib.escape(url, quote=True)}">Unsubscribe</a></p>'
    )


def _read_attachment(item) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) from a tuple or an uploaded file."""
    if isinstance(item, tuple | list) and len(item) == 3:
        filename, content_type, data = item
        return str(filename), str(content_type), bytes(data)
    filename = getattr(item, "name", "") or "attachment"
    content_type = getattr(item, "content_type", "") or "application/octet-stream"
    data = item.read()
    return filename.rsplit("/", 1)[-1], content_type, bytes(data)


def _header_problem(exc: composing.HeaderProblem) -> ValidationError:
    field = {"from_address": "mailbox", "from_name": "mailbox"}.get(exc.field, exc.field)
    return ValidationError({field: [exc.message]})


@dataclass(frozen=True)
class _Recipient:
    role: str
    email: str
    contact: object | None


def _match_contacts(addresses: list[str], preferred=None) -> dict[str, object]:
    """The contact each address belongs to (by any of its addresses), lower-cased keys. When
    several contacts share one address, the record the mail is about wins, else the oldest."""
    from rapport.contacts.models import ContactEmail

    lowered = sorted({address.lower() for address in addresses})
    rows = (
        ContactEmail.objects.filter(email__in=lowered)
        .select_related("contact")
        .order_by("contact_id")
    )
    matched: dict[str, object] = {}
    for row in rows:
        if row.email not in matched or (preferred is not None and row.contact_id == preferred.pk):
            matched[row.email] = row.contact
    return matched


def _visible(actor, message: EmailMessage) -> bool:
    return EmailMessage.objects.visible_to(actor).filter(pk=message.pk).exists()


# -- sending -----------------------------------------------------------------------------------


def send_email(
    *,
    actor,
    mailbox: Mailbox,
    to: list[str],
    cc=(),
    bcc=(),
    subject: str,
    body_html: str,
    contact=None,
    organization=None,
    deal=None,
    template: EmailTemplate | None = None,
    purpose: str = MessagePurpose.PERSONAL,
    reply_to_message: EmailMessage | None = None,
    forward_of: EmailMessage | None = None,
    attachments=(),
    track: bool = True,
    internal: bool = False,
) -> EmailMessage:
    """Queue a message from `mailbox` and return its outbox row.

    `internal` mail goes to colleagues (a scheduled report): its recipients are matched to no
    contact and it is logged on no timeline, so a colleague who is also a contact does not show
    their copy, and the figures in it, to whoever sees that contact.

    Refused with PermissionDenied when the actor may not use the mailbox or change the contact,
    organization or deal it is about (or see the message replied to / forwarded); with a
    ValidationError naming the field for bad or too many addresses (at most 100 in all), an
    empty subject or body, a merge field that cannot be rendered, a recipient refused by
    `tracking.consent_problem` (bouncing; for marketing mail, no consent or unsubscribed) or a
    mailbox over its daily limit. `actor=None` is the system (automation), which may use any
    mailbox.

    Guarantees: one transaction writes the message (status queued, a Message-ID made from its
    uuid, its MIME bytes built once into `raw`, so every retry sends the same bytes), its
    participants matched to contacts, and one timeline entry "sending" per matched contact
    (external id "mail:<uuid>:<contact pk>"); the delivery task is queued after the commit.
    Marketing mail (also when the template is marketing) carries List-Unsubscribe and a visible
    unsubscribe link. Bcc addresses are in the envelope only, never in a header. Merge fields
    are rendered for `contact`, `organization` and `deal`.
    """
    # -- who may do this
    if actor is not None and not Mailbox.objects.usable_by(actor).filter(pk=mailbox.pk).exists():
        raise PermissionDenied("You may not send from this mailbox.")
    for record in (contact, organization, deal):
        if record is not None:
            access.require(actor, Action.CHANGE, record)
    if actor is not None:
        for original in (reply_to_message, forward_of):
            if original is not None and not _visible(actor, original):
                raise PermissionDenied("This message is outside your access.")
        if (
            template is not None
            and not EmailTemplate.objects.visible_to(actor).filter(pk=template.pk).exists()
        ):
            raise PermissionDenied("This template is outside your access.")

    # -- what the user wrote
    errors: dict[str, list[str]] = {}
    if template is not None and template.purpose == MessagePurpose.MARKETING:
        purpose = MessagePurpose.MARKETING  # a marketing template never goes out as personal
    if purpose not in MessagePurpose.values:
        errors["purpose"] = [f"Choose one of: {', '.join(MessagePurpose.values)}."]
    if not mailbox.sends:
        errors["mailbox"] = [f"{mailbox} has no SMTP server: it cannot send mail."]
    fields = {"to": list(to or []), "cc": list(cc or []), "bcc": list(bcc or [])}
    clean: dict[str, list[str]] = {}
    for field, values in fields.items():
        if not all(isinstance(value, str) for value in values):
            errors[field] = ["Give the addresses as text."]
            clean[field] = []
            continue
        clean[field], problems = composing.validate_addresses(
            values,
            field=field,
            limit=RECIPIENT_LIMIT,
        )
        if problems:
            errors[field] = problems
    # An address given twice (in to and cc, say) is written once, where it came first.
    seen: set[str] = set()
    for field in ("to", "cc", "bcc"):
        kept = []
        for address in clean[field]:
            if address.lower() not in seen:
                seen.add(address.lower())
                kept.append(address)
        clean[field] = kept
    total = sum(len(values) for values in clean.values())
    given = sum(
        len([v for v in values if isinstance(v, str) and v.strip()]) for values in fields.values()
    )
    if given > RECIPIENT_LIMIT and "to" not in errors:
        errors["to"] = [
            f"This message has {display.number_text(given)} recipients; at most "
            f"{display.number_text(RECIPIENT_LIMIT)} are allowed."
        ]
    if total == 0 and not errors.get("to"):
        errors["to"] = ["Give at least one recipient."]
    if not (subject or "").strip():
        errors["subject"] = ["Write a subject."]
    if not (body_html or "").strip():
        errors["body_html"] = ["Write the message."]
    files: list[tuple[str, str, bytes]] = []
    try:
        files = [_read_attachment(item) for item in attachments or ()]
    except (TypeError, ValueError, OSError) as exc:
        errors["attachments"] = [f"An attachment could not be read: {exc}."]
    if forward_of is not None:
        files += _stored_attachments(forward_of)
    size = sum(len(data) for _, _, data in files)
    if size > ATTACHMENTS_LIMIT_BYTES:
        errors["attachments"] = [
            f"The attachments come to {display.number_text(size / 1024 / 1024, 1)} MB; at most "
            f"{display.number_text(ATTACHMENTS_LIMIT_BYTES // 1024 // 1024)} MB can be sent."
        ]
    if errors:
        raise ValidationError(errors)

    try:
        rendered = render_for(
            subject=subject,
            body_html=body_html,
            contact=contact,
            organization=organization,
            deal=deal,
            mailbox=mailbox,
            sender=actor,
        )
    except TemplateProblem as exc:
        raise ValidationError({exc.field: [exc.message]}) from exc
    if not rendered.subject.strip():
        raise ValidationError(
            {"subject": ["The subject is empty once its merge fields are filled."]}
        )

    # -- who receives it, and may they
    recipients = [
        _Recipient(role=role, email=address, contact=None)
        for role, field in (
            (ParticipantRole.TO, "to"),
            (ParticipantRole.CC, "cc"),
            (ParticipantRole.BCC, "bcc"),
        )
        for address in clean[field]
    ]
    matched = {} if internal else _match_contacts([r.email for r in recipients], preferred=contact)
    recipients = [
        _Recipient(role=r.role, email=r.email, contact=matched.get(r.email.lower()))
        for r in recipients
    ]
    refusals = tracking.consent_problems(
        recipients=[(r.email, r.contact) for r in recipients],
        purpose=purpose,
    )
    if refusals:
        by_field: dict[str, list[str]] = {}
        for r in recipients:
            reason = refusals.get(r.email.lower())
            if reason:
                by_field.setdefault(str(r.role), []).append(reason)
        raise ValidationError(by_field)

    with transaction.atomic():
        # The row lock makes the daily count and this message one step: two sends at once
        # cannot both take the last place.
        locked = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
        sent_today = mailbox_sent_today(locked)
        if sent_today >= locked.daily_send_limit:
            raise ValidationError(
                {
                    "mailbox": [
                        f"{locked} has sent or queued {display.number_text(sent_today)} messages "
                        f"today, its daily limit of {display.number_text(locked.daily_send_limit)}. "
                        "Try again tomorrow or ask an "
                        "administrator to raise the limit."
                    ]
                }
            )
        message = _write_outbox_row(
            actor=actor,
            mailbox=locked,
            recipients=recipients,
            rendered=rendered,
            contact=contact,
            organization=organization,
            deal=deal,
            template=template,
            purpose=purpose,
            reply_to_message=reply_to_message,
            files=files,
            track=track,
        )
        _log_on_timelines(actor=actor, message=message, recipients=recipients)
        pk = message.pk
        transaction.on_commit(lambda: enqueue_delivery(pk))
    return message


def _stored_attachments(message: EmailMessage) -> list[tuple[str, str, bytes]]:
    files = []
    for attachment in message.attachments.exclude(file="").filter(refused_reason=""):
        try:
            with attachment.file.open("rb") as handle:
                files.append((attachment.filename, attachment.content_type, handle.read()))
        except OSError:
            logger.warning("attachment %s of message %s is missing", attachment.pk, message.pk)
    return files


def _write_outbox_row(
    *,
    actor,
    mailbox,
    recipients,
    rendered,
    contact,
    organization,
    deal,
    template,
    purpose,
    reply_to_message,
    files,
    track,
) -> EmailMessage:
    now = timezone.now()
    unique = uuid_lib.uuid4()
    try:
        message_id = _message_id(unique, mailbox)
    except composing.HeaderProblem as exc:
        raise ValidationError({"mailbox": [exc.message]}) from exc
    if reply_to_message is not None and reply_to_message.thread_id:
        thread = reply_to_message.thread
        EmailThread.objects.filter(pk=thread.pk).update(
            message_count=F("message_count") + 1, last_message_at=now
        )
    else:
        thread = EmailThread.objects.create(
            subject=rendered.subject[:300], message_count=1, last_message_at=now
        )
    in_reply_to = reply_to_message.message_id if reply_to_message is not None else ""
    references: list[str] = []
    if reply_to_message is not None:
        references = [*(reply_to_message.references or []), reply_to_message.message_id]
        references = [value for value in references if value][-REFERENCES_KEPT:]
    if organization is None and deal is not None:
        organization = deal.organization
    first_contact = contact or next((r.contact for r in recipients if r.contact is not None), None)

    def entries(role):
        return [
            {"name": str(r.contact) if r.contact is not None else "", "email": r.email}
            for r in recipients
            if r.role == role
        ]

    message = EmailMessage.objects.create(
        uuid=unique,
        mailbox=mailbox,
        thread=thread,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.QUEUED,
        purpose=purpose,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        from_address=mailbox.email_address,
        from_name=mailbox.from_name,
        to=entries(ParticipantRole.TO),
        cc=entries(ParticipantRole.CC),
        bcc=entries(ParticipantRole.BCC),
        subject=rendered.subject,
        occurred_at=now,
        contact=first_contact,
        organization=organization,
        deal=deal,
        sent_by=actor if access.is_signed_in(actor) else None,
        template=template,
        triage_state=TriageState.FILED,
        next_attempt_at=now,
        is_tracked=track,
    )

    # The body: rendered, the signature, for marketing a visible way out; the text part is
    # made before tracking so it shows the real links.
    html = _append_to_body(rendered.html, _signature_html(mailbox.signature))
    unsubscribe = ""
    if purpose == MessagePurpose.MARKETING:
        unsubscribe = tracking.unsubscribe_url(message)
        html = _append_to_body(html, _unsubscribe_footer(unsubscribe))
    text = html_to_text(html)
    sent_html = html
    if track:
        sent_html = composing.add_tracking(
            html,
            click_url=lambda url: tracking.click_url(message, url),
            pixel_url=tracking.pixel_url(message),
            skip={unsubscribe} if unsubscribe else set(),
        )
    outgoing = composing.OutgoingEmail(
        message_id=message_id,
        from_address=mailbox.email_address,
        from_name=mailbox.from_name,
        to=[r.email for r in recipients if r.role == ParticipantRole.TO],
        cc=[r.email for r in recipients if r.role == ParticipantRole.CC],
        bcc=[r.email for r in recipients if r.role == ParticipantRole.BCC],
        subject=rendered.subject,
        html=sent_html,
        text=text,
        in_reply_to=in_reply_to,
        references=references,
        attachments=files,
    )
    if unsubscribe:
        # RFC 8058 one-click needs https; a local http Rapport offers a reply instead, which
        # lands in the mailbox for a person to act on.
        if unsubscribe.startswith("https://"):
            outgoing.list_unsubscribe_url = unsubscribe
        else:
            outgoing.list_unsubscribe_mailto = f"mailto:{mailbox.email_address}?subject=unsubscribe"
    try:
        raw = composing.build_mime(outgoing, now=now).as_bytes()
    except composing.HeaderProblem as exc:
        raise _header_problem(exc) from exc

    # What the sender wrote, without the tracking: showing it in Rapport must not count as an
    # open or a click. `raw` keeps what was sent.
    message.html_body = html
    message.text_body = text
    message.visible_text = text
    message.raw = raw
    message.save(update_fields=["html_body", "text_body", "visible_text", "raw", "updated_at"])

    Participant.objects.bulk_create(
        [
            Participant(
                message=message,
                role=ParticipantRole.SENDER,
                email=mailbox.email_address,
                name=mailbox.from_name,
            )
        ]
        + [
            Participant(
                message=message,
                role=r.role,
                email=r.email.lower(),
                name=str(r.contact)[:200] if r.contact is not None else "",
                contact=r.contact,
            )
            for r in recipients
        ]
    )
    for filename, content_type, data in files:
        attachment = Attachment(
            message=message,
            filename=filename[:255],
            content_type=content_type[:255],
            size=len(data),
        )
        attachment.file.save(filename[:100] or "attachment", ContentFile(data), save=False)
        attachment.save()
    return message


def _log_on_timelines(*, actor, message: EmailMessage, recipients) -> None:
    """One "sending" entry per contact the message goes to. A contact outside the actor's
    access still gets the entry (the mail did reach that person), logged by the system."""
    contacts = {}
    for r in recipients:
        if r.contact is not None:
            contacts.setdefault(r.contact.pk, r.contact)
    if message.contact is not None:
        contacts.setdefault(message.contact.pk, message.contact)
    body = message.text_body[:TIMELINE_BODY_LIMIT].replace("\x00", "")
    subject = message.subject[:TIMELINE_SUBJECT_LIMIT].replace("\x00", "")
    for contact in contacts.values():
        log_interaction(
            actor=actor if access.can(actor, Action.CHANGE, contact) else None,
            kind="email",
            channel="email",
            contact=contact,
            direction="outbound",
            subject=subject,
            body=body,
            outcome="sending",
            occurred_at=message.occurred_at,
            external_id=f"{_external_prefix(message)}{contact.pk}",
        )


def enqueue_delivery(message_pk: int, *, run_after: dt.datetime | None = None) -> bool:
    """Queue the delivery task (at `run_after` when the backend can defer). False when it
    could not be queued: the row stays in the outbox and `requeue_due` picks it up."""
    from rapport.mail.tasks_outbox import deliver_message

    try:
        if run_after is not None:
            from rapport.core import schedules

            return schedules.queue_later(deliver_message, run_after, message_pk=message_pk)
        deliver_message.enqueue(message_pk=message_pk)
    except Exception:
        # The outbox row is the truth; a queue that is down delays the mail, it does not lose it.
        logger.exception("could not queue the delivery of message %s", message_pk)
        return False
    return True


# -- delivering ----------------------------------------------------------------------------------


def _claim(message_pk: int, now: dt.datetime) -> bool:
    """Take the row for this worker: queued and due, or left "sending" by a worker that has not
    finished within the lease (crashed). One conditional UPDATE, so of two workers exactly one
    wins."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(
        EmailMessage.objects.filter(pk=message_pk, direction=MessageDirection.OUTBOUND)
        .filter(
            (Q(status=MessageStatus.QUEUED) & due)
            | Q(status=MessageStatus.SENDING, claimed_at__lt=now - CLAIM_LEASE)
        )
        .update(status=MessageStatus.SENDING, claimed_at=now)
    )


def _envelope(message: EmailMessage) -> list[str]:
    seen: dict[str, str] = {}
    for entry in (message.to or []) + (message.cc or []) + (message.bcc or []):
        address = (entry.get("email") or "").strip()
        if address and address.lower() not in seen:
            seen[address.lower()] = address
    return list(seen.values())


class _SmtpSession:
    """One SMTP connection for the mailbox, opened at the first message and reused for the
    next ones a task sends: connecting, TLS and signing in cost more than a message."""

    def __init__(self, mailbox: Mailbox, stack: contextlib.ExitStack):
        self.mailbox = mailbox
        self.stack = stack
        self.client: smtplib.SMTP | None = None
        if mailbox.is_local_sink:
            self.host = "127.0.0.1"
            self.port = int(getattr(settings, "RAPPORT_MAIL_SINK_PORT", 8025))
        else:
            self.host, self.port = mailbox.smtp_host, mailbox.smtp_port

    def send(self, message: EmailMessage) -> dict:
        """Hand the stored bytes to the server; the recipients it refused while accepting
        others. Raises MailServerError with the reason."""
        try:
            if self.client is None:
                self.client = self.stack.enter_context(smtp_connection(self.mailbox))
            return self.client.sendmail(
                message.from_address, _envelope(message), bytes(message.raw)
            )
        except MailServerError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            detail = "; ".join(
                f"{address}: {code} {_text_of(text)}"
                for address, (code, text) in exc.recipients.items()
            )
            raise MailServerError(
                f"The SMTP server refused every recipient ({detail}).",
                temporary=all(400 <= code < 500 for code in codes),
            ) from exc
        except Exception as exc:
            raise describe(exc, server="SMTP", host=self.host, port=self.port) from exc


def _text_of(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _short_outcome(reason: str) -> str:
    """The timeline's outcome (30 characters): "failed: " and the server's code when there is
    one, else the start of the reason; the message keeps the whole reason."""
    code = re.search(r"answered (\d{3})", reason)
    if code:
        return f"failed: {code.group(1)}"
    if "authentication failed" in reason:
        return "failed: authentication"
    return f"failed: {reason}"[:30]


def deliver(message_pk: int, *, now: dt.datetime | None = None) -> str:
    """Send one outbox row: "sent", "retry" (a temporary failure, queued again with backoff),
    "failed", or "skipped" (not due, already sent, or another worker holds it). After a
    success, the same connection carries the mailbox's other due rows (at most DRAIN_LIMIT, for
    at most DRAIN_SECONDS); their own tasks then find them sent and skip.

    Exactly once per success as far as this side can make it: the claim lets one worker send a
    row, and a sent row is never claimed again. A crash between the SMTP server's 250 and our
    commit of "sent" leaves the row "sending"; after the lease it is sent again. The receiver
    then gets the same bytes with the same Message-ID, which mail clients and servers use to
    de-duplicate.
    """
    now = now or timezone.now()
    if not _claim(message_pk, now):
        return "skipped"
    message = EmailMessage.objects.select_related("mailbox").get(pk=message_pk)
    if message.mailbox is None:
        problem = MailServerError(
            "Its mailbox was disconnected before it was sent.", temporary=False
        )
        return _record_failure(message, problem, now=now)
    with contextlib.ExitStack() as stack:
        session = _SmtpSession(message.mailbox, stack)
        outcome = _deliver_claimed(message, session, now=now)
        if outcome == "sent":
            _drain(session, now=now)
    return outcome


def _deliver_claimed(message: EmailMessage, session: _SmtpSession, *, now: dt.datetime) -> str:
    problem = None
    if not message.mailbox.sends:
        problem = MailServerError(f"{message.mailbox} has no SMTP server.", temporary=False)
    elif not message.raw:
        problem = MailServerError("The message has no content to send.", temporary=False)
    refused: dict = {}
    if problem is None:
        try:
            refused = session.send(message)
        except MailServerError as exc:
            problem = exc
    if problem is not None:
        return _record_failure(message, problem, now=now)
    _record_sent(message, refused, now=timezone.now())
    _copy_to_sent_folder(message)
    return "sent"


def _drain(session: _SmtpSession, *, now: dt.datetime) -> int:
    """Send the mailbox's other due rows over the open connection, oldest first, until one
    fails (the connection may be spoiled; its task retries it) or the budget is spent."""
    deadline = time.monotonic() + DRAIN_SECONDS
    due = list(
        EmailMessage.objects.filter(
            mailbox=session.mailbox,
            direction=MessageDirection.OUTBOUND,
            status=MessageStatus.QUEUED,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:DRAIN_LIMIT]
    )
    sent = 0
    for pk in due:
        if time.monotonic() > deadline:
            break
        if not _claim(pk, now):
            continue  # another worker took it
        message = EmailMessage.objects.select_related("mailbox").get(pk=pk)
        if _deliver_claimed(message, session, now=now) != "sent":
            break
        sent += 1
    return sent


def _record_sent(message: EmailMessage, refused: dict, *, now: dt.datetime) -> None:
    warnings = list(message.warnings or [])
    for address, (code, text) in (refused or {}).items():
        warnings.append(f"The server refused {address}: {code} {_text_of(text)}".strip())
    with transaction.atomic():
        EmailMessage.objects.filter(pk=message.pk).update(
            status=MessageStatus.SENT,
            sent_at=now,
            claimed_at=None,
            next_attempt_at=None,
            attempts=F("attempts") + 1,
            last_error="",
            warnings=warnings,
        )
        set_delivery_outcome(external_ids=timeline_ids(message), outcome="sent")
    message.status, message.sent_at, message.warnings = MessageStatus.SENT, now, warnings


def _record_failure(message: EmailMessage, problem: MailServerError, *, now: dt.datetime) -> str:
    reason = str(problem)[:500]
    attempts = message.attempts + 1
    if problem.temporary and attempts < MAX_ATTEMPTS:
        next_at = now + BACKOFF[attempts - 1]
        EmailMessage.objects.filter(pk=message.pk).update(
            status=MessageStatus.QUEUED,
            attempts=attempts,
            next_attempt_at=next_at,
            claimed_at=None,
            last_error=reason,
        )
        enqueue_delivery(message.pk, run_after=next_at)
        return "retry"
    if problem.temporary:
        reason = f"Gave up after {attempts} attempts. {reason}"[:500]
    with transaction.atomic():
        EmailMessage.objects.filter(pk=message.pk).update(
            status=MessageStatus.FAILED,
            attempts=attempts,
            next_attempt_at=None,
            claimed_at=None,
            last_error=reason,
        )
        set_delivery_outcome(
            external_ids=timeline_ids(message),
            outcome=_short_outcome(str(problem)),
        )
    return "failed"


def _copy_to_sent_folder(message: EmailMessage) -> None:
    """Put the sent bytes into the mailbox's Sent folder, read, so the user's mail client shows
    what Rapport sent. A failure is a warning on the message: the mail went out, and sending it
    again to fix the copy would be worse."""
    mailbox = message.mailbox
    if not (mailbox.receives and mailbox.sent_folder):
        return
    try:
        with imap_connection(mailbox) as client:
            client.append(
                mailbox.sent_folder,
                bytes(message.raw),
                flags=[b"\\Seen"],
                msg_time=message.sent_at,
            )
    except Exception as exc:
        problem = describe(exc, server="IMAP", host=mailbox.imap_host, port=mailbox.imap_port)
        warning = f"Sent, but not copied to the folder {mailbox.sent_folder!r}: {problem}"[:500]
        EmailMessage.objects.filter(pk=message.pk).update(
            warnings=[*(message.warnings or []), warning]
        )
        return
    EmailMessage.objects.filter(pk=message.pk).update(copied_to_sent_folder=True)
    message.copied_to_sent_folder = True


def requeue_due(*, now: dt.datetime | None = None) -> int:
    """Queue the delivery of every outbox row that is due: retries whose wait is over, fresh
    rows whose task was lost, rows a crashed worker left "sending" past the lease. For a
    periodic schedule; how many were due. Queuing one twice is harmless (the claim)."""
    now = now or timezone.now()
    due = list(
        EmailMessage.objects.filter(direction=MessageDirection.OUTBOUND)
        .filter(
            Q(
                status=MessageStatus.QUEUED,
                next_attempt_at__lte=now,
            )
            & (Q(attempts__gt=0) | Q(created_at__lte=now - FRESH_GRACE))
            | Q(status=MessageStatus.SENDING, claimed_at__lt=now - CLAIM_LEASE)
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:1000]
    )
    for pk in due:
        enqueue_delivery(pk)
    return len(due)


# -- replying and retrying -------------------------------------------------------------------------


def _quoted(message: EmailMessage) -> str:
    """The original, quoted as HTML that the merge-field renderer leaves alone."""
    from rapport.mail.sanitizing import sanitize_html

    if message.html_body:
        content = sanitize_html(message.html_body).html
    else:
        text = message.visible_text or message.text_body or ""
        content = "<br>".join(html_lib.escape(line) for line in text.splitlines())
    # Braces as entities: the reply is rendered as a template, and what someone else wrote must
    # never be read as merge fields (it would fail, or fill in our data).
    content = content.replace("{", "&#123;").replace("}", "&#125;")
    # With its year: the quote is read in the sent email long after today.
    when = html_lib.escape(display.moment_text(message.occurred_at, "full"))
    sender = html_lib.escape(message.sender_display or "").replace("{", "&#123;")
    return f"<p></p><p>On {when}, {sender} wrote:</p><blockquote>{content}</blockquote>"


def _with_prefix(subject: str, prefix: str, pattern: re.Pattern) -> str:
    subject = (subject or "").strip()
    return subject if pattern.match(subject) else f"{prefix} {subject}".strip()


def reply_defaults(*, actor, message: EmailMessage, mode: str) -> dict:
    """What the compose form starts with to reply, reply to all or forward `message`: to, cc,
    subject, body_html (the original quoted) and reply_to_message or forward_of. Our own
    mailboxes' addresses are never among the recipients."""
    if mode not in ("reply", "reply_all", "forward"):
        raise ValidationError({"mode": ["Choose one of: reply, reply_all, forward."]})
    if not _visible(actor, message):
        raise PermissionDenied("This message is outside your access.")
    if mode == "forward":
        return {
            "to": [],
            "cc": [],
            "subject": _with_prefix(message.subject, "Fwd:", _FORWARD_PREFIX),
            "body_html": _quoted(message),
            "forward_of": message,
        }
    ours = {address.lower() for address in Mailbox.objects.values_list("email_address", flat=True)}
    if message.direction == MessageDirection.OUTBOUND:
        to = [entry["email"] for entry in message.to or []]
    else:
        to = [message.reply_to or message.from_address]
    cc: list[str] = []
    if mode == "reply_all":
        others = [entry["email"] for entry in (message.to or []) + (message.cc or [])]
        if message.direction == MessageDirection.OUTBOUND:
            others = [entry["email"] for entry in message.cc or []]
        taken = {address.lower() for address in to}
        for address in others:
            if address and address.lower() not in taken and address.lower() not in ours:
                taken.add(address.lower())
                cc.append(address)
    to = [address for address in to if address and address.lower() not in ours] or [
        address for address in to if address
    ]
    return {
        "to": to,
        "cc": cc,
        "subject": _with_prefix(message.subject, "Re:", _REPLY_PREFIX),
        "body_html": _quoted(message),
        "reply_to_message": message,
    }


def retry_message(*, actor, message: EmailMessage) -> EmailMessage:
    """Send a failed message again, the same bytes and Message-ID: back in the outbox with
    fresh attempts, the timeline back to "sending". Refused when the actor may not use its
    mailbox or change the message, when it is not failed, or when a recipient may no longer be
    mailed (bouncing, consent withdrawn since). Audited."""
    access.require(actor, Action.CHANGE, message)
    mailbox = message.mailbox
    if mailbox is None:
        raise ValidationError({"mailbox": ["Its mailbox was disconnected: it cannot be sent."]})
    if actor is not None and not Mailbox.objects.usable_by(actor).filter(pk=mailbox.pk).exists():
        raise PermissionDenied("You may not send from this mailbox.")
    if message.direction != MessageDirection.OUTBOUND or message.status != MessageStatus.FAILED:
        raise ValidationError({"status": ["Only a message that failed can be sent again."]})
    addresses = _envelope(message)
    matched = _match_contacts(addresses)
    refusals = tracking.consent_problems(
        recipients=[(address, matched.get(address.lower())) for address in addresses],
        purpose=message.purpose,
    )
    if refusals:
        raise ValidationError({"to": list(refusals.values())})
    now = timezone.now()
    with transaction.atomic():
        changed = EmailMessage.objects.filter(pk=message.pk, status=MessageStatus.FAILED).update(
            status=MessageStatus.QUEUED,
            attempts=0,
            next_attempt_at=now,
            claimed_at=None,
            last_error="",
        )
        if not changed:
            raise ValidationError({"status": ["Only a message that failed can be sent again."]})
        set_delivery_outcome(external_ids=timeline_ids(message), outcome="sending")
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=message,
            before={"status": MessageStatus.FAILED, "last_error": message.last_error},
            after={"status": MessageStatus.QUEUED},
        )
        pk = message.pk
        transaction.on_commit(lambda: enqueue_delivery(pk))
    message.refresh_from_db()
    return message
