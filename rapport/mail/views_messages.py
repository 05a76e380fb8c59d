"""Reading and writing mail: the message page, its sandboxed HTML, its attachments, and the compose
page (new, reply, reply all, forward). Thin: the services decide, refuse and queue.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.forms import add_service_errors
from rapport.contacts.models import Contact, Organization
from rapport.core.ids import id_from_text
from rapport.mail.choices import MessageDirection, MessageStatus
from rapport.mail.forms import ComposeForm
from rapport.mail.models import EmailMessage, EmailTemplate, Mailbox
from rapport.mail.rendering import MERGE_FIELDS, TemplateProblem, check_template
from rapport.mail.sanitizing import sanitize_html
from rapport.mail.templating import custom_keys, render_for
from rapport.sales.models import Deal

INVALID = 422
THREAD_SHOWN = 50
# The sandboxed frame that shows a message's HTML: no script, no form, no plugin, nothing fetched
# but the images the user allowed; only its own inline styles (mail is styled that way).
FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:{images}; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
COMPOSE_MODES = {"reply": "Reply", "reply_all": "Reply all", "forward": "Forward"}


def visible_message(user, uuid) -> EmailMessage:
    """The message if the user may see it; 404 otherwise, so its existence is not revealed."""
    message = (
        EmailMessage.objects.visible_to(user)
        .select_related("mailbox", "thread", "contact", "organization", "deal", "sent_by")
        .filter(uuid=uuid)
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    return message


def status_words(message: EmailMessage) -> str:
    """How the pages say where a message is: "Sending", "Sent", "Failed: <reason>"."""
    if message.status == MessageStatus.FAILED and message.last_error:
        return f"Failed: {message.last_error}"
    return message.get_status_display()


def _addresses(entries) -> str:
    shown = []
    for entry in entries or []:
        name, email = entry.get("name", ""), entry.get("email", "")
        shown.append(f"{name} <{email}>" if name else email)
    return ", ".join(shown)


@login_required
@require_GET
def message_detail(request, uuid):
    """One message: headers in words, the visible text with the quoted part folded, the HTML
    version in a sandboxed frame, attachments and the rest of its thread."""
    message = visible_message(request.user, uuid)
    blocked_images = 0
    if message.html_body:
        blocked_images = sanitize_html(message.html_body).blocked_images
    thread = []
    if message.thread_id:
        thread = list(
            EmailMessage.objects.visible_to(request.user)
            .filter(thread_id=message.thread_id)
            .exclude(pk=message.pk)
            .order_by("occurred_at", "id")[:THREAD_SHOWN],
        )
    attachments = list(message.attachments.order_by("filename", "pk"))
    may_compose = Mailbox.objects.usable_by(request.user).exists()
    # A message seen through one participant may name a contact, organization or deal the
    # reader may not open: each is shown only when they may.
    linked = {
        name: record
        for name, record in (
            ("contact", message.contact),
            ("organization", message.organization),
            ("deal", message.deal),
        )
        if record is not None and access.can(request.user, access.Action.VIEW, record)
    }
    return render(
        request,
        "mail/message.html",
        {
            "message": message,
            "linked": linked,
            "may_retry": access.can(request.user, access.Action.CHANGE, message),
            "status": status_words(message),
            "to_display": _addresses(message.to),
            "cc_display": _addresses(message.cc),
            "bcc_display": _addresses(message.bcc)
            if message.direction == MessageDirection.OUTBOUND
            else "",
            "visible_text": message.visible_text or message.text_body,
            "quoted_text": message.quoted_text if message.visible_text else "",
            "blocked_images": blocked_images,
            "show_images": request.GET.get("images") == "1",
            "thread": thread,
            "attachments": attachments,
            "may_compose": may_compose,
            "compose_modes": COMPOSE_MODES,
            "is_outbound": message.direction == MessageDirection.OUTBOUND,
        },
    )


def framed_html(html: str, *, allow_images: bool) -> HttpResponse:
    """A complete HTML document for the sandboxed frame, with its own narrow policy."""
    document = render_to_string("mail/_frame.html", {"html": html})
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = FRAME_POLICY.format(
        images=" https: http:" if allow_images else "",
    )
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_GET
@xframe_options_sameorigin
def message_html(request, uuid):
    """The message's HTML, sanitized, for the frame on its page; remote images only when the
    user asked for them."""
    message = visible_message(request.user, uuid)
    allow = request.GET.get("images") == "1"
    safe = sanitize_html(message.html_body or "", allow_remote_images=allow)
    return framed_html(safe.html, allow_images=allow)


@login_required
@require_GET
def attachment_download(request, uuid, pk: int):
    """A kept attachment, always as a download, only for those who may see its message."""
    message = visible_message(request.user, uuid)
    attachment = message.attachments.filter(pk=pk).first()
    if attachment is None or attachment.refused_reason or not attachment.file:
        raise Http404("No such attachment.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404("The attachment's file is missing.") from missing
    # Served as an opaque download: a received HTML or SVG file must never render as our page.
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename or "attachment",
        content_type="application/octet-stream",
    )
    response["Cache-Control"] = "private, no-store"
    return response


# -- compose ---------------------------------------------------------------------------------
def _records(request, source) -> dict:
    """The contact, organization and deal the message is about, each only when visible."""
    user = request.user
    found = {"contact": None, "organization": None, "deal": None}
    for name, model in (("contact", Contact), ("organization", Organization), ("deal", Deal)):
        value = (source.get(name) or "").strip()
        if (record_id := id_from_text(value)) is not None:
            record = model.objects.visible_to(user).filter(pk=record_id).first()
            if record is None:
                raise Http404(f"No such {name}.")
            found[name] = record
    return found


def _source_message(request, source, key: str):
    value = (source.get(key) or "").strip()
    if not value:
        return None
    try:
        return visible_message(request.user, value)
    except ValidationError as bad:  # not a UUID at all
        raise Http404("No such message.") from bad


def _visible_or_none(request, message: EmailMessage):
    try:
        return visible_message(request.user, str(message.uuid))
    except Http404:
        return None


def _sequence_task(request, source):
    """The open task of a sequence's manual email step this message is written for, with its
    draft; (None, None) when there is none. A task the user may not work is not found."""
    from rapport.sales.models import Task
    from rapport.sequences import manual_email

    task_id = id_from_text((source.get("sequence_task") or "").strip())
    if task_id is None:
        return None, None
    task = Task.objects.visible_to(request.user).filter(pk=task_id).first()
    draft = manual_email.draft_for(request.user, task)
    if draft is None:
        raise Http404("No such email to write: the task is done or not yours.")
    return task, draft


def _back_to(records: dict, message: EmailMessage | None = None) -> str:
    for name in ("deal", "contact", "organization"):
        if records[name] is not None:
            if name == "deal":
                return reverse("sales:deal_detail", args=[records[name].pk])
            return records[name].get_absolute_url()
    if message is not None:
        return reverse("mail:message", args=[message.uuid])
    return reverse("mail:inbox") + "?tab=sent"


def compose_querysets(user):
    mailboxes = Mailbox.objects.usable_by(user).filter(Q(is_local_sink=True) | ~Q(smtp_host=""))
    templates = EmailTemplate.objects.visible_to(user).filter(is_archived=False)
    return mailboxes, templates


@login_required
@require_http_methods(["GET", "POST"])
def compose(request):
    """Write a message about a contact, organization or deal, or reply to / forward one."""
    if not access.can_write(request.user):
        raise PermissionDenied("A read-only seat cannot send mail.")
    from rapport.mail import sending

    source = request.POST if request.method == "POST" else request.GET
    records = _records(request, source)
    replying = _source_message(request, source, "reply_to")
    forwarding = _source_message(request, source, "forward_of")
    mode = source.get("mode") or ("forward" if forwarding else "reply" if replying else "")
    mailboxes, templates = compose_querysets(request.user)
    sequence_task, draft = _sequence_task(request, source)
    initial = {}
    if draft is not None and request.method == "GET":
        initial = {
            "to": draft.to,
            "subject": draft.subject,
            "body_html": draft.body_html,
            "mailbox": draft.mailbox_id,
        }
        if draft.template_id and templates.filter(pk=draft.template_id).exists():
            initial["template"] = draft.template_id
        if draft.reply_to_message is not None and replying is None:
            replying = _visible_or_none(request, draft.reply_to_message)
            mode = "reply" if replying is not None else mode
    elif request.method == "GET":
        original = replying or forwarding
        if original is not None:
            if mode not in COMPOSE_MODES:
                mode = "reply"
            defaults = sending.reply_defaults(actor=request.user, message=original, mode=mode)
            initial = {
                "to": ", ".join(defaults.get("to") or []),
                "cc": ", ".join(defaults.get("cc") or []),
                "subject": defaults.get("subject", ""),
                "body_html": defaults.get("body_html", ""),
            }
            if defaults.get("forward_of") is not None:
                forwarding, replying = defaults["forward_of"], None
            elif defaults.get("reply_to_message") is not None:
                replying, forwarding = defaults["reply_to_message"], None
            for name in ("contact", "organization", "deal"):
                if records[name] is None and getattr(original, f"{name}_id"):
                    records[name] = (
                        type(getattr(original, name))
                        .objects.visible_to(request.user)
                        .filter(pk=getattr(original, f"{name}_id"))
                        .first()
                    )
            if original.mailbox_id and mailboxes.filter(pk=original.mailbox_id).exists():
                initial["mailbox"] = original.mailbox_id
        else:
            contact = records["contact"] or (records["deal"].contact if records["deal"] else None)
            if contact is not None and contact.primary_email:
                initial["to"] = contact.primary_email
    form = ComposeForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        mailboxes=mailboxes,
        templates=templates,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                message = sending.send_email(
                    actor=request.user,
                    mailbox=data["mailbox"],
                    to=data["to"],
                    cc=data["cc"],
                    bcc=data["bcc"],
                    subject=data["subject"],
                    body_html=data["body_html"],
                    contact=records["contact"],
                    organization=records["organization"],
                    deal=records["deal"],
                    template=data["template"],
                    purpose=data["purpose"],
                    reply_to_message=replying,
                    forward_of=forwarding,
                )
            except (ValidationError, TemplateProblem) as error:
                if isinstance(error, TemplateProblem):
                    error = ValidationError({error.field: [str(error)]})
                add_service_errors(
                    form,
                    error,
                    aliases={"body": "body_html", "mailbox_id": "mailbox"},
                )
            else:
                if sequence_task is not None:
                    from rapport.sequences import manual_email

                    manual_email.written(request.user, sequence_task, message)
                messages.success(request, f"Sending… “{message.subject}” is on its way.")
                return redirect(_back_to(records, message))
        status = INVALID
    return render(
        request,
        "mail/compose.html",
        {
            "form": form,
            "records": records,
            "replying": replying,
            "forwarding": forwarding,
            "mode": mode,
            "mode_label": COMPOSE_MODES.get(mode, "New message"),
            "sequence_task": sequence_task,
            "has_mailbox": mailboxes.exists(),
            "merge_fields": MERGE_FIELDS,
            "back_url": _back_to(records, replying or forwarding)
            if any(records.values()) or replying or forwarding
            else reverse("mail:inbox"),
        },
        status=status,
    )


@login_required
@require_GET
def compose_template(request):
    """HTMX: the subject, purpose and body of the chosen template, for the compose form."""
    if not access.can_write(request.user):
        raise PermissionDenied("A read-only seat cannot send mail.")
    mailboxes, templates = compose_querysets(request.user)
    initial = {
        "subject": request.GET.get("subject", ""),
        "body_html": request.GET.get("body_html", ""),
        "purpose": request.GET.get("purpose", ""),
    }
    chosen = id_from_text(request.GET.get("template"))
    if chosen is not None:
        template = templates.filter(pk=chosen).first()
        if template is None:
            raise Http404("No such template.")
        initial = {
            "subject": template.subject,
            "body_html": template.body_html,
            "purpose": template.purpose,
        }
    form = ComposeForm(initial=initial, mailboxes=mailboxes, templates=templates)
    # Only ever a fragment: the compose page asks for it when a template is chosen.
    return render(request, "mail/_compose_message.html", {"form": form})


@login_required
@require_POST
@xframe_options_sameorigin
def preview_html(request):
    """The subject and body rendered for a real record, as a document for the preview frame
    (the editor's form posts into the frame). Merge problems are shown in words."""
    records = _records(request, request.POST)
    preview_contact = id_from_text(request.POST.get("preview_contact"))
    if preview_contact is not None:
        records["contact"] = (
            Contact.objects.visible_to(request.user).filter(pk=preview_contact).first()
        )
    mailbox = None
    chosen = id_from_text(request.POST.get("mailbox"))
    if chosen is not None:
        mailbox = Mailbox.objects.usable_by(request.user).filter(pk=chosen).first()
    context = {"records": records, "problem": "", "subject": "", "html": ""}
    problems = check_template(
        subject=request.POST.get("subject", ""),
        body_html=request.POST.get("body_html", ""),
        custom_keys=custom_keys(),
    )
    if problems:
        context["problem"] = " ".join(
            message for field in ("subject", "body_html") for message in problems.get(field, [])
        )
    else:
        context.update(_rendered(request, records, mailbox))
    document = render_to_string("mail/_preview_frame.html", context)
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = FRAME_POLICY.format(images="")
    response["Cache-Control"] = "private, no-store"
    return response


def _rendered(request, records, mailbox) -> dict:
    try:
        rendered = render_for(
            subject=request.POST.get("subject", ""),
            body_html=request.POST.get("body_html", ""),
            contact=records["contact"],
            organization=records["organization"],
            deal=records["deal"],
            mailbox=mailbox,
            sender=request.user,
        )
    except TemplateProblem as problem:
        return {"problem": str(problem)}
    return {
        "subject": rendered.subject,
        "html": sanitize_html(rendered.html, allow_remote_images=False).html,
    }
