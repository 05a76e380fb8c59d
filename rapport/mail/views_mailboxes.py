"""Mailbox pages: the list with each mailbox's state, the add/edit form with "Test connection",
pause/resume and removal. Shared mailboxes are the administrators'; anyone who may write may
connect their own. The mailbox services check access, try the servers and audit.
"""

from __future__ import annotations

import copy

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.forms import add_service_errors
from rapport.mail import mailboxes as services
from rapport.mail import secrets
from rapport.mail.forms import MailboxForm
from rapport.mail.models import Mailbox
from rapport.mail.views_messages import INVALID


def _manageable(request, pk: int) -> Mailbox:
    mailbox = Mailbox.objects.manageable_by(request.user).filter(pk=pk).first()
    if mailbox is None:
        raise Http404("No such mailbox.")
    return mailbox


@login_required
@require_GET
def mailbox_list(request):
    """The mailboxes the user may change, and the shared ones they may send from."""
    manageable = list(Mailbox.objects.manageable_by(request.user).select_related("owner", "team"))
    usable = list(
        Mailbox.objects.usable_by(request.user)
        .exclude(pk__in=[m.pk for m in manageable])
        .select_related("team"),
    )
    return render(
        request,
        "mail/mailboxes.html",
        {
            "mailboxes": manageable,
            "usable": usable,
            "can_add": access.can_write(request.user),
        },
    )


def _trial_copy(form: MailboxForm, mailbox: Mailbox | None, user) -> Mailbox:
    """An unsaved mailbox with the typed settings (and the stored passwords where none was
    typed), for "Test connection" without saving anything."""
    trial = copy.copy(mailbox) if mailbox is not None else Mailbox(owner=user)
    settings = form.settings()
    for name, value in settings.items():
        if name in ("imap_password", "smtp_password"):
            setattr(trial, f"{name}_encrypted", secrets.encrypt(value))
        elif name != "team":
            setattr(trial, name, value.strip() if isinstance(value, str) else value)
    return trial


def _changed(mailbox: Mailbox, settings: dict) -> dict:
    """Only what the form changes: the service tries the servers again only when their
    settings (or a password) change, so renaming a mailbox works while its server is down."""
    changes = {}
    for name, value in settings.items():
        current = mailbox.team if name == "team" else getattr(mailbox, name, None)
        typed = value.strip() if isinstance(value, str) and name != "signature" else value
        if name.endswith("_password") or typed != current:
            changes[name] = value
    return changes


def _connection_words(report) -> list[dict]:
    lines = []
    for side, checked, error in (
        ("Receiving (IMAP)", report.imap_checked, report.imap_error),
        ("Sending (SMTP)", report.smtp_checked, report.smtp_error),
    ):
        if not checked:
            lines.append({"side": side, "ok": None, "words": "Not set up."})
        elif error:
            lines.append({"side": side, "ok": False, "words": error})
        else:
            lines.append({"side": side, "ok": True, "words": "Connected and signed in."})
    return lines


def _mailbox_form_page(request, *, mailbox: Mailbox | None):
    form = MailboxForm(request.POST or None, user=request.user, mailbox=mailbox)
    status = 200
    report = None
    if request.method == "POST":
        if not form.is_valid():
            status = INVALID
        elif request.POST.get("action") == "test":
            report = _connection_words(
                services.check_connection(mailbox=_trial_copy(form, mailbox, request.user)),
            )
        else:
            try:
                if mailbox is None:
                    data = form.settings()
                    saved = services.create_mailbox(
                        actor=request.user,
                        kind=form.cleaned_data["kind"],
                        **data,
                    )
                    messages.success(request, f"{saved.name} is connected.")
                else:
                    saved = services.update_mailbox(
                        actor=request.user,
                        mailbox=mailbox,
                        **_changed(mailbox, form.settings()),
                    )
                    messages.success(request, f"{saved.name} was saved.")
            except ValidationError as error:
                add_service_errors(form, error)
                status = INVALID
            else:
                return redirect("mail:mailboxes")
    return render(
        request,
        "mail/mailbox_form.html",
        {"form": form, "mailbox": mailbox, "report": report},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_create(request):
    if not access.can_write(request.user):
        raise PermissionDenied("A read-only seat cannot connect a mailbox.")
    return _mailbox_form_page(request, mailbox=None)


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_edit(request, pk: int):
    mailbox = _manageable(request, pk)
    if not access.can(request.user, access.Action.CHANGE, mailbox):
        raise PermissionDenied("You may not change this mailbox.")
    return _mailbox_form_page(request, mailbox=mailbox)


@login_required
@require_POST
def mailbox_pause(request, pk: int):
    """Pause (or, with paused=0, resume) the mailbox's sync."""
    mailbox = _manageable(request, pk)
    paused = request.POST.get("paused") != "0"
    services.set_mailbox_paused(actor=request.user, mailbox=mailbox, paused=paused)
    messages.success(
        request,
        f"{mailbox.name} is paused: no mail is read until you resume it."
        if paused
        else f"{mailbox.name} is resumed: it is checked again now.",
    )
    return redirect("mail:mailboxes")


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_delete(request, pk: int):
    """Ask, then disconnect: its messages stay on the timelines."""
    mailbox = _manageable(request, pk)
    if not access.can(request.user, access.Action.DELETE, mailbox):
        raise PermissionDenied("You may not remove this mailbox.")
    if request.method == "POST":
        name = mailbox.name
        services.delete_mailbox(actor=request.user, mailbox=mailbox)
        messages.success(request, f"{name} was removed. Its messages stay on the timelines.")
        return redirect("mail:mailboxes")
    return render(request, "mail/mailbox_delete.html", {"mailbox": mailbox})
