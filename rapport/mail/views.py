"""Mail home: the triage inbox of unknown senders, the user's sent mail with its delivery state,
and the local "Delivered here" mailbox. Thin: the receiving and sending services decide.

The other pages live beside this module: views_messages (message, compose), views_mailboxes,
views_templates.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from rapport.accounts import access
from rapport.accounts.forms import add_service_errors
from rapport.core.htmx import is_htmx
from rapport.mail.choices import MessageDirection, MessageStatus, TriageState
from rapport.mail.forms import TriageContactForm
from rapport.mail.models import EmailMessage, Mailbox
from rapport.mail.plaintext import html_to_text
from rapport.mail.views_messages import INVALID, status_words, visible_message

LIST_LIMIT = 100
DELIVERED_LIMIT = 200
# Maildir keys as the sink writes them: never a path.
SINK_KEY = re.compile(r"^[A-Za-z0-9._,:=-]{1,200}$")


def _triage_messages(user):
    return (
        EmailMessage.objects.filter(
            direction=MessageDirection.INBOUND,
            triage_state=TriageState.PENDING,
            mailbox__in=Mailbox.objects.usable_by(user).values("pk"),
        )
        .select_related("mailbox")
        .order_by("-occurred_at", "-id")
    )


def _suggested_name(message: EmailMessage) -> dict:
    parts = (message.from_name or "").replace('"', "").split()
    if not parts:
        return {"first_name": message.from_address.split("@", 1)[0], "last_name": ""}
    return {"first_name": parts[0], "last_name": " ".join(parts[1:])}


def _triage_row(message: EmailMessage, form=None) -> dict:
    from rapport.mail.receiving import FREE_MAIL_DOMAINS

    domain = message.from_address.rsplit("@", 1)[-1].lower() if "@" in message.from_address else ""
    return {
        "message": message,
        "form": form or TriageContactForm(initial=_suggested_name(message), prefix=str(message.pk)),
        "domain": domain,
        # Ignoring a free mail provider would hide every private sender there: offer the address.
        "whole_domain": bool(domain) and domain not in FREE_MAIL_DOMAINS,
    }


def sink_directory() -> Path | None:
    directory = getattr(settings, "RAPPORT_MAIL_SINK_DIR", None)
    return Path(directory) if directory else None


@login_required
@require_GET
def inbox(request):
    """Two tabs: mail from unknown senders waiting for a decision, and the user's sent mail."""
    tab = "sent" if request.GET.get("tab") == "sent" else "triage"
    context = {
        "tab": tab,
        "has_sink": Mailbox.objects.filter(is_local_sink=True).exists(),
        "triage_count": _triage_messages(request.user).count(),
        "can_write": access.can_write(request.user),
    }
    if tab == "triage":
        context["rows"] = [_triage_row(m) for m in _triage_messages(request.user)[:LIST_LIMIT]]
    else:
        sent = list(
            EmailMessage.objects.filter(
                direction=MessageDirection.OUTBOUND,
                sent_by_id=request.user.pk,
            )
            .select_related("contact", "mailbox")
            .order_by("-occurred_at", "-id")[:LIST_LIMIT],
        )
        context["sent"] = [{"message": m, "status": status_words(m)} for m in sent]
    return render(request, "mail/inbox.html", context)


def _triage_target(request, uuid) -> EmailMessage:
    """A pending message of a mailbox the user may use; 404 for any other."""
    message = visible_message(request.user, uuid)
    if not _triage_messages(request.user).filter(pk=message.pk).exists():
        raise Http404("This message is not waiting for triage.")
    return message


def _triage_answer(
    request,
    message,
    *,
    done: str = "",
    form=None,
    url: str = "",
    error: str = "",
    status=200,
):
    if is_htmx(request):
        row = _triage_row(message, form)
        return render(
            request,
            "mail/_triage_row.html",
            {"row": row, "done": done, "done_url": url, "error": error},
            status=status,
        )
    if done:
        messages.success(request, done)
    elif error:
        messages.error(request, error)
    elif form is not None:
        for error in form.non_field_errors() or [
            e for errors in form.errors.values() for e in errors
        ]:
            messages.error(request, error)
    return redirect(reverse("mail:inbox"))


@login_required
@require_POST
def triage_create_contact(request, uuid):
    """Make the unknown sender a contact; the message is filed on their timeline."""
    from rapport.mail import receiving

    message = _triage_target(request, uuid)
    form = TriageContactForm(request.POST, prefix=str(message.pk))
    if not form.is_valid():
        return _triage_answer(request, message, form=form, status=INVALID)
    try:
        contact = receiving.triage_create_contact(
            actor=request.user,
            message=message,
            first_name=form.cleaned_data["first_name"].strip(),
            last_name=form.cleaned_data["last_name"].strip(),
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return _triage_answer(request, message, form=form, status=INVALID)
    return _triage_answer(
        request,
        message,
        done=f"{contact} was added as a contact and the message filed.",
        url=contact.get_absolute_url(),
    )


@login_required
@require_POST
def triage_ignore(request, uuid):
    from rapport.mail import receiving

    message = _triage_target(request, uuid)
    try:
        receiving.triage_ignore(actor=request.user, message=message)
    except ValidationError as error:
        return _triage_answer(request, message, error=" ".join(error.messages), status=INVALID)
    return _triage_answer(request, message, done="Ignored.")


@login_required
@require_POST
def triage_ignore_sender(request, uuid):
    """Ignore this message and all future mail from the sender's domain (or, with
    whole_domain=0, from the sender's address) in its mailbox, or with every_mailbox=1
    (administrators) in all of them."""
    from rapport.mail import ignoring

    message = _triage_target(request, uuid)
    whole_domain = request.POST.get("whole_domain") != "0"
    every_mailbox = request.POST.get("every_mailbox") == "1"
    try:
        ignoring.ignore_sender(
            actor=request.user,
            message=message,
            whole_domain=whole_domain,
            every_mailbox=every_mailbox,
        )
    except ValidationError as error:
        return _triage_answer(request, message, error=" ".join(error.messages), status=INVALID)
    sender = message.from_address.rsplit("@", 1)[-1] if whole_domain else message.from_address
    where = "every mailbox" if every_mailbox else message.mailbox.name
    return _triage_answer(
        request,
        message,
        done=f"Mail from {sender} is ignored from now on. This holds for {where}.",
    )


@login_required
@require_POST
def retry(request, uuid):
    """Queue a failed message again (same Message-ID: it is sent at most once)."""
    from rapport.mail import sending

    message = visible_message(request.user, uuid)
    if message.direction != MessageDirection.OUTBOUND or message.status != MessageStatus.FAILED:
        messages.info(request, "Only a message that failed can be sent again.")
    else:
        try:
            sending.retry_message(actor=request.user, message=message)
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
        else:
            messages.success(request, "Sending… The message was queued again.")
    back = request.POST.get("next") or ""
    # Only back to a page of this site: a crafted form must not bounce the user elsewhere.
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("mail:inbox") + "?tab=sent"
    return redirect(back)


# -- the local sink --------------------------------------------------------------------------
def _bare_id(message_id: str) -> str:
    return (message_id or "").strip().strip("<>").strip()


def _visible_message_ids(user, message_ids) -> set[str]:
    """Which of these Message-IDs belong to a message the user may see. Mail the sink kept with
    no message behind it (a password reset) is nobody's to read here, administrators' neither:
    its link would sign them in as someone else."""
    bare = {_bare_id(value) for value in message_ids if value}
    candidates = bare | {f"<{value}>" for value in bare}
    found = EmailMessage.objects.visible_to(user).filter(message_id__in=candidates)
    return {_bare_id(value) for value in found.values_list("message_id", flat=True)}


@login_required
@require_GET
def delivered(request):
    """Mail the local sink kept instead of sending it to the internet."""
    from rapport.mail.sink import read_delivered

    directory = sink_directory()
    found = read_delivered(directory, limit=DELIVERED_LIMIT) if directory else []
    allowed = _visible_message_ids(request.user, [item.message_id for item in found])
    shown = [item for item in found if _bare_id(item.message_id) in allowed]
    return render(
        request,
        "mail/delivered.html",
        {"delivered": shown, "hidden_count": len(found) - len(shown), "configured": directory},
    )


@login_required
@require_GET
def delivered_one(request, key: str):
    """One message the sink kept, as text; only when the user may see the message it is."""
    from rapport.mail.sink import read_one

    directory = sink_directory()
    if directory is None or not SINK_KEY.match(key):
        raise Http404("No such delivered message.")
    try:
        raw = read_one(directory, key)
    except KeyError as missing:
        raise Http404("No such delivered message.") from missing
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = str(parsed.get("Message-ID", "") or "")
    if _bare_id(message_id) not in _visible_message_ids(request.user, [message_id]):
        raise Http404("No such delivered message.")
    text = ""
    body = parsed.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, ValueError):
            content = body.get_payload(decode=True).decode("utf-8", "replace")
        text = html_to_text(content) if body.get_content_type() == "text/html" else content
    headers = [
        (label, str(parsed.get(name, "") or ""))
        for name, label in (
            ("From", "From"),
            ("To", "To"),
            ("Cc", "Cc"),
            ("Subject", "Subject"),
            ("Date", "Date"),
            ("Message-ID", "Message-ID"),
            ("List-Unsubscribe", "Unsubscribe link"),
        )
        if parsed.get(name)
    ]
    related = (
        EmailMessage.objects.visible_to(request.user)
        .filter(message_id__in=[message_id.strip(), f"<{_bare_id(message_id)}>"])
        .first()
    )
    return render(
        request,
        "mail/delivered_one.html",
        {
            "key": key,
            "headers": headers,
            "text": text,
            "attachments": [
                part.get_filename() or "(unnamed)" for part in parsed.iter_attachments()
            ],
            "size": len(raw),
            "related": related,
        },
    )
