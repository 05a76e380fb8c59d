"""Mail over JSON: mailboxes, messages and threads, templates, sending and triage.

Thin: records are looked up in the caller's scope (404 outside it) and the services decide the
rest. A message is visible when a contact it was exchanged with, or its organization, is.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from rapport.accounts import access
from rapport.contacts.models import Contact, Organization
from rapport.core.api_types import PathId
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate
from rapport.mail import mailboxes, templating
from rapport.mail.api.schemas import (
    ConnectionCheckOut,
    MailboxIn,
    MailboxOut,
    MailboxPatch,
    MessageOut,
    MessagePage,
    MessageParams,
    PreviewIn,
    PreviewOut,
    ReleaseIn,
    SendIn,
    SuppressedAddressOut,
    SuppressedAddressPage,
    SuppressedAddressParams,
    TemplateIn,
    TemplateOut,
    TemplatePatch,
    ThreadDetailOut,
    ThreadOut,
    TriageIn,
)
from rapport.mail.choices import TriageState
from rapport.mail.models import (
    EmailMessage,
    EmailTemplate,
    EmailThread,
    Mailbox,
    SuppressedAddress,
)
from rapport.mail.rendering import TemplateProblem

router = Router(tags=["mail"])

NEWEST_FIRST = {"order_fields": ("occurred_at",), "descending": True}


# --- mailboxes -------------------------------------------------------------------------------


def _mailbox(request, mailbox_id: int) -> Mailbox:
    return get_object_or_404(Mailbox.objects.manageable_by(request.user), pk=mailbox_id)


def _visible_mailboxes(user):
    return Mailbox.objects.filter(
        Q(pk__in=Mailbox.objects.manageable_by(user).values("pk"))
        | Q(pk__in=Mailbox.objects.usable_by(user).values("pk"))
    )


def _team(request, team_id):
    from rapport.accounts.models import Team

    if team_id is None:
        return None
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise ValidationError({"body.team_id": ["No such team."]})
    return team


@router.get("/mail/mailboxes/", response=list[MailboxOut])
def list_mailboxes(request):
    """The mailboxes you may send from, and those whose settings you manage."""
    return list(_visible_mailboxes(request.user).order_by("kind", "name"))


@router.post("/mail/mailboxes/", response={201: MailboxOut})
def create_mailbox(request, payload: MailboxIn):
    """Connect a mailbox. The servers are tried first: "authentication failed" or "offers no
    TLS" come back as a 422 on the server's host field."""
    data = payload.model_dump(exclude_none=True, exclude={"kind", "name", "email_address", "check"})
    team_id = data.pop("team_id", None)
    if team_id is not None:
        data["team"] = _team(request, team_id)
    try:
        mailbox = mailboxes.create_mailbox(
            actor=request.user,
            kind=payload.kind,
            name=payload.name,
            email_address=payload.email_address,
            check=payload.check,
            **data,
        )
    except ValidationError as exc:
        raise relocate(exc, "body", {"team": "team_id"}) from None
    return Status(201, mailbox)


@router.get("/mail/mailboxes/{mailbox_id}", response=MailboxOut)
def get_mailbox(request, mailbox_id: PathId):
    return get_object_or_404(_visible_mailboxes(request.user), pk=mailbox_id)


@router.patch("/mail/mailboxes/{mailbox_id}", response=MailboxOut)
def update_mailbox(request, mailbox_id: PathId, payload: MailboxPatch):
    """Change a mailbox; an empty or missing password keeps the stored one."""
    mailbox = _mailbox(request, mailbox_id)
    data = payload.model_dump(exclude_unset=True, exclude={"check", "is_active"})
    if "team_id" in data:
        data["team"] = _team(request, data.pop("team_id"))
    try:
        if data:
            mailbox = mailboxes.update_mailbox(
                actor=request.user, mailbox=mailbox, check=payload.check, **data
            )
        if payload.is_active is not None and payload.is_active != mailbox.is_active:
            mailbox = mailboxes.set_mailbox_paused(
                actor=request.user, mailbox=mailbox, paused=not payload.is_active
            )
    except ValidationError as exc:
        raise relocate(exc, "body", {"team": "team_id"}) from None
    return mailbox


@router.delete("/mail/mailboxes/{mailbox_id}", response={204: None})
def delete_mailbox(request, mailbox_id: PathId):
    """Disconnect a mailbox; its messages stay on the timelines, unsent ones fail."""
    mailboxes.delete_mailbox(actor=request.user, mailbox=_mailbox(request, mailbox_id))
    return Status(204, None)


@router.post("/mail/mailboxes/{mailbox_id}/check", response=ConnectionCheckOut)
def check_mailbox(request, mailbox_id: PathId):
    """Sign in to the mailbox's servers now and say what failed."""
    mailbox = _mailbox(request, mailbox_id)
    access.require(request.user, access.Action.CHANGE, mailbox)
    report = mailboxes.check_connection(mailbox=mailbox)
    return {
        "ok": report.ok,
        "imap_checked": report.imap_checked,
        "smtp_checked": report.smtp_checked,
        "imap_error": report.imap_error,
        "smtp_error": report.smtp_error,
    }


# --- messages and threads --------------------------------------------------------------------


def message_queryset(user):
    return EmailMessage.objects.visible_to(user).prefetch_related("attachments")


def _message(request, message_id: uuid.UUID) -> EmailMessage:
    return get_object_or_404(message_queryset(request.user), uuid=message_id)


@router.get("/mail/messages/", response=MessagePage)
def list_messages(request, params: Query[MessageParams]):
    """Mail you may see, newest first: of a contact, organization, deal, thread or mailbox."""
    check_query_params(request.GET, MessageParams.model_fields)
    queryset = message_queryset(request.user)
    for field in ("contact", "organization", "deal", "thread", "mailbox"):
        value = getattr(params, field)
        if value is not None:
            if field == "contact":
                queryset = queryset.filter(participants__contact_id=value).distinct()
            else:
                queryset = queryset.filter(**{f"{field}_id": value})
    if params.direction:
        queryset = queryset.filter(direction=params.direction)
    if params.status:
        queryset = queryset.filter(status=params.status)
    if params.triage is not None:
        pending = queryset.filter(triage_state=TriageState.PENDING)
        queryset = pending if params.triage else queryset.exclude(triage_state=TriageState.PENDING)
    page = keyset_page(queryset, cursor=params.cursor, limit=params.limit, **NEWEST_FIRST)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/mail/messages/{message_id}", response=MessageOut)
def get_message(request, message_id: uuid.UUID):
    return _message(request, message_id)


def _record(model, queryset, pk, field):
    if pk is None:
        return None
    record = queryset.filter(pk=pk).first()
    if record is None:
        raise ValidationError({f"body.{field}": [f"No such {model}."]})
    return record


@router.post("/mail/messages/", response={202: MessageOut})
def send_message(request, payload: SendIn):
    """Queue a message from one of your mailboxes (send `Idempotency-Key` to make a retry
    safe). Refused with the reason: no consent for marketing mail, a bouncing address, the
    mailbox's daily limit."""
    from rapport.mail import sending
    from rapport.sales.models import Deal

    user = request.user
    access.require(user, access.Action.CREATE, EmailMessage)
    mailbox = Mailbox.objects.usable_by(user).filter(pk=payload.mailbox_id).first()
    if mailbox is None:
        raise ValidationError(
            {"body.mailbox_id": ["No such mailbox, or you may not send from it."]}
        )
    contact = _record("contact", Contact.objects.visible_to(user), payload.contact_id, "contact_id")
    organization = _record(
        "organization",
        Organization.objects.visible_to(user),
        payload.organization_id,
        "organization_id",
    )
    deal = _record("deal", Deal.objects.visible_to(user), payload.deal_id, "deal_id")
    replied = None
    if payload.reply_to is not None:
        replied = message_queryset(user).filter(uuid=payload.reply_to).first()
        if replied is None:
            raise ValidationError({"body.reply_to": ["No such message."]})
    template = None
    subject, body_html = payload.subject, payload.body_html
    if payload.template_id is not None:
        template = _record(
            "template",
            EmailTemplate.objects.visible_to(user).filter(is_archived=False),
            payload.template_id,
            "template_id",
        )
        subject = subject or template.subject
        body_html = body_html or template.body_html
    try:
        message = sending.send_email(
            actor=user,
            mailbox=mailbox,
            to=payload.to,
            cc=payload.cc,
            bcc=payload.bcc,
            subject=subject,
            body_html=body_html,
            contact=contact,
            organization=organization,
            deal=deal,
            template=template,
            purpose=payload.purpose,
            reply_to_message=replied,
        )
    except TemplateProblem as exc:
        raise ValidationError({f"body.{exc.field}": [exc.message]}) from None
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(202, message_queryset(user).get(pk=message.pk))


@router.post("/mail/messages/{message_id}/retry", response={202: MessageOut})
def retry_message(request, message_id: uuid.UUID):
    """Send a failed message again (the same Message-ID)."""
    from rapport.mail import sending

    message = sending.retry_message(actor=request.user, message=_message(request, message_id))
    return Status(202, message_queryset(request.user).get(pk=message.pk))


@router.post("/mail/messages/{message_id}/triage", response=MessageOut)
def triage_message(request, message_id: uuid.UUID, payload: TriageIn):
    """Decide about mail from an unknown sender: make them a contact (the message is filed on
    their timeline), ignore it, or always ignore the sender or their whole domain in the
    message's mailbox (`every_mailbox`: in all of them, administrators only)."""
    from rapport.mail import ignoring, receiving

    access.require_write(request.user)
    message = _message(request, message_id)
    try:
        if payload.action == "create_contact":
            receiving.triage_create_contact(
                actor=request.user,
                message=message,
                first_name=payload.first_name,
                last_name=payload.last_name,
            )
        elif payload.action == "ignore":
            receiving.triage_ignore(actor=request.user, message=message)
        else:
            ignoring.ignore_sender(
                actor=request.user,
                message=message,
                whole_domain=payload.action == "ignore_domain",
                every_mailbox=payload.every_mailbox,
            )
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return message_queryset(request.user).get(pk=message.pk)


@router.get("/mail/threads/", response=list[ThreadOut])
def list_threads(request, contact: int | None = None, deal: int | None = None, limit: int = 50):
    """Conversations you may see, latest first; narrow by contact or deal."""
    check_query_params(request.GET, {"contact", "deal", "limit"})
    if not 1 <= limit <= 200:
        raise ValidationError({"query.limit": ["Give a number between 1 and 200."]})
    messages = EmailMessage.objects.visible_to(request.user)
    if contact is not None:
        messages = messages.filter(participants__contact_id=contact)
    if deal is not None:
        messages = messages.filter(deal_id=deal)
    threads = (
        EmailThread.objects.filter(pk__in=messages.values("thread_id"))
        .with_visible_count(request.user)
        .values("id", "subject", "last_message_at", "visible_message_count")[:limit]
    )
    return [_thread_out(row) for row in threads]


def _thread_out(row: dict) -> dict:
    """A thread as its reader sees it: counted by the messages of it they may see."""
    row = dict(row)
    row["message_count"] = row.pop("visible_message_count")
    return row


@router.get("/mail/threads/{thread_id}", response=ThreadDetailOut)
def get_thread(request, thread_id: PathId):
    """A conversation with the messages of it you may see, oldest first."""
    thread = get_object_or_404(EmailThread.objects.visible_to(request.user), pk=thread_id)
    thread.messages_visible = list(
        message_queryset(request.user).filter(thread=thread).order_by("occurred_at", "id")
    )
    return {
        "id": thread.pk,
        "subject": thread.subject,
        "last_message_at": thread.last_message_at,
        "message_count": len(thread.messages_visible),
        "messages": thread.messages_visible,
    }


# --- templates -------------------------------------------------------------------------------


def _template(request, template_id: int) -> EmailTemplate:
    return get_object_or_404(EmailTemplate.objects.visible_to(request.user), pk=template_id)


@router.get("/mail/templates/", response=list[TemplateOut])
def list_templates(request):
    """Shared templates and your own."""
    return list(EmailTemplate.objects.visible_to(request.user).filter(is_archived=False))


@router.post("/mail/templates/", response={201: TemplateOut})
def create_template(request, payload: TemplateIn):
    """Save a template. A syntax error or an unknown merge field is a 422 with the line."""
    try:
        template = templating.create_template(actor=request.user, **payload.model_dump())
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(201, template)


@router.get("/mail/templates/{template_id}", response=TemplateOut)
def get_template(request, template_id: PathId):
    return _template(request, template_id)


@router.patch("/mail/templates/{template_id}", response=TemplateOut)
def update_template(request, template_id: PathId, payload: TemplatePatch):
    template = _template(request, template_id)
    try:
        return templating.update_template(
            actor=request.user, template=template, **payload.model_dump(exclude_unset=True)
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None


@router.delete("/mail/templates/{template_id}", response={204: None})
def delete_template(request, template_id: PathId):
    templating.delete_template(actor=request.user, template=_template(request, template_id))
    return Status(204, None)


@router.post("/mail/templates/{template_id}/preview", response=PreviewOut)
def preview_template(request, template_id: PathId, payload: PreviewIn):
    """The template rendered for a real contact or deal you may see."""
    from rapport.sales.models import Deal

    template = _template(request, template_id)
    user = request.user
    contact = _record("contact", Contact.objects.visible_to(user), payload.contact_id, "contact_id")
    deal = _record("deal", Deal.objects.visible_to(user), payload.deal_id, "deal_id")
    mailbox = None
    if payload.mailbox_id is not None:
        mailbox = _record(
            "mailbox", Mailbox.objects.usable_by(user), payload.mailbox_id, "mailbox_id"
        )
    if deal is not None and contact is None:
        contact = deal.contact if deal.contact and access.can(user, "view", deal.contact) else None
    try:
        rendered = templating.render_for(
            subject=template.subject,
            body_html=template.body_html,
            contact=contact,
            deal=deal,
            mailbox=mailbox,
            sender=user,
        )
    except TemplateProblem as exc:
        raise ValidationError({f"body.{exc.field}": [exc.message]}) from None
    except PermissionDenied:
        raise
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}


# --- addresses not mailed --------------------------------------------------------------------

SUPPRESSED_ORDER = {"order_fields": ("updated_at",), "descending": True}


def _suppressed_out(user, rows) -> list[dict]:
    """Rows as the reader sees them: the delivery report only when they may open it."""
    reports = dict(
        EmailMessage.objects.visible_to(user)
        .filter(pk__in=[row.message_id for row in rows if row.message_id])
        .values_list("pk", "uuid")
    )
    return [
        {
            "id": row.pk,
            "email": row.email,
            "reason": row.reason,
            "reason_label": row.get_reason_display(),
            "detail": row.detail,
            "since": row.updated_at,
            "report_message": reports.get(row.message_id),
        }
        for row in rows
    ]


@router.get("/mail/suppressed-addresses/", response=SuppressedAddressPage)
def list_suppressed_addresses(request, params: Query[SuppressedAddressParams]):
    """Addresses Rapport does not mail, most recently changed first: all of them for
    administrators, those of the contacts you may see for everyone else."""
    check_query_params(request.GET, SuppressedAddressParams.model_fields)
    rows = SuppressedAddress.objects.visible_to(request.user)
    if params.reason:
        rows = rows.filter(reason=params.reason)
    if params.email:
        rows = rows.filter(email__contains=params.email.strip().lower())
    page = keyset_page(rows, cursor=params.cursor, limit=params.limit, **SUPPRESSED_ORDER)
    return {"items": _suppressed_out(request.user, page.items), "next_cursor": page.next_cursor}


@router.post("/mail/suppressed-addresses/release", response=SuppressedAddressOut)
def release_suppressed_email(request, payload: ReleaseIn):
    """Mail the address `email` again (administrators); the released address as it was. A
    422 on `email` when Rapport was not refusing it."""
    from rapport.mail import tracking

    email = payload.email.strip().lower()
    # Asked of the row it would be, before anything is said about the address.
    access.require(request.user, access.Action.DELETE, SuppressedAddress(email=email))
    if "@" not in email:
        raise ValidationError({"body.email": ["Give an email address, such as ada@example.com."]})
    address = SuppressedAddress.objects.visible_to(request.user).filter(email=email).first()
    if address is None:
        raise ValidationError({"body.email": [f"Rapport is not refusing to mail {email}."]})
    (out,) = _suppressed_out(request.user, [address])
    tracking.release_suppressed(actor=request.user, address=address)
    return out


@router.delete("/mail/suppressed-addresses/{address_id}", response={204: None})
def release_suppressed_address(request, address_id: PathId):
    """Mail this address again (administrators). Audited; consent withdrawn by an
    unsubscribe stays withdrawn on the contact."""
    from rapport.mail import tracking

    address = get_object_or_404(SuppressedAddress.objects.visible_to(request.user), pk=address_id)
    tracking.release_suppressed(actor=request.user, address=address)
    return Status(204, None)
