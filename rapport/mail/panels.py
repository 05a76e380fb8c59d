"""The Email panel on the contact and organization 360° pages and on the deal page: the recent
conversations with their state, and a Compose button for those who may send.

`connect()` is called once by `rapport.mail.wiring`. The deal page has no panel registry of its
own yet; the "deal" entity registered here is rendered by it once it loops over
`core.htmx.panel_entries("deal", request, deal)` as the 360° pages do.
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse
from django.utils.http import urlencode

from rapport.contacts.models import Contact
from rapport.core.registry import Panel, register_panel
from rapport.mail.models import EmailMessage, EmailThread, Mailbox, SuppressedAddress

THREADS_SHOWN = 8
# Enough recent messages to find THREADS_SHOWN distinct conversations in a busy relationship.
MESSAGES_READ = 60


def _status(message: EmailMessage) -> str:
    from rapport.mail.views_messages import status_words

    return status_words(message)


def visible_counts(user, thread_ids) -> dict[int, int]:
    """How many messages of each thread `user` may see: a thread also holds mail of contacts
    outside their access, which its stored count includes."""
    return dict(
        EmailThread.objects.filter(pk__in=thread_ids)
        .with_visible_count(user)
        .values_list("pk", "visible_message_count")
    )


def recent_threads(messages, user) -> list[dict]:
    """The newest message of each conversation, newest conversation first, with the number of
    its messages `user` may see."""
    seen: set = set()
    rows = []
    for message in messages[:MESSAGES_READ]:
        key = message.thread_id or f"message-{message.pk}"
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "message": message,
                "status": _status(message),
                "count": 1,
                "url": reverse("mail:message", args=[message.uuid]),
            },
        )
        if len(rows) == THREADS_SHOWN:
            break
    counts = visible_counts(user, [row["message"].thread_id for row in rows])
    for row in rows:
        row["count"] = counts.get(row["message"].thread_id, 1)
    return rows


def _panel(request, messages, compose_query: dict) -> dict:
    ordered = messages.order_by("-occurred_at", "-id")
    may_compose = Mailbox.objects.usable_by(request.user).exists()
    return {
        "threads": recent_threads(ordered, request.user),
        "compose_url": f"{reverse('mail:compose')}?{urlencode(compose_query)}"
        if may_compose
        else "",
        "header_link": {"url": reverse("mail:inbox"), "label": "Mail"},
    }


def suppressed_rows(request, contact) -> list[dict]:
    """The contact's addresses Rapport does not mail, with why and, for those `access` lets
    release them, the way to mail one again."""
    from rapport.mail import tracking
    from rapport.mail.views_suppressed import release_url, report_url

    back = contact.get_absolute_url()
    rows = []
    for address in SuppressedAddress.objects.filter(
        email__in=contact.emails.values("email")
    ).order_by("email"):
        rows.append(
            {
                "address": address,
                "report_url": report_url(request.user, address),
                "release_url": release_url(address, back)
                if tracking.may_release(request.user, address)
                else "",
            }
        )
    return rows


def contact_email_panel(request, contact):
    visible = EmailMessage.objects.visible_to(request.user)
    messages = visible.filter(
        Q(contact=contact) | Q(pk__in=visible.filter(participants__contact=contact).values("pk")),
    )
    context = _panel(request, messages, {"contact": contact.pk})
    context["suppressed"] = suppressed_rows(request, contact)
    return context


def organization_email_panel(request, organization):
    visible = EmailMessage.objects.visible_to(request.user)
    members = organization.memberships.values("contact_id")
    messages = visible.filter(
        Q(organization=organization)
        | Q(pk__in=visible.filter(participants__contact__in=members).values("pk")),
    )
    return _panel(request, messages, {"organization": organization.pk})


def deal_email_panel(request, deal):
    messages = EmailMessage.objects.visible_to(request.user).filter(deal=deal)
    query = {"deal": deal.pk}
    if (
        deal.contact_id
        and Contact.objects.visible_to(request.user).filter(pk=deal.contact_id).exists()
    ):
        query["contact"] = deal.contact_id
    return _panel(request, messages, query)


def connect() -> None:
    register_panel(
        "contact",
        Panel(
            key="mail_email",
            title="Email",
            template="mail/panels/email.html",
            context=contact_email_panel,
            order=45,
        ),
    )
    register_panel(
        "organization",
        Panel(
            key="mail_email",
            title="Email",
            template="mail/panels/email.html",
            context=organization_email_panel,
            order=45,
        ),
    )
    register_panel(
        "deal",
        Panel(
            key="mail_email",
            title="Email",
            template="mail/panels/email.html",
            context=deal_email_panel,
            order=45,
        ),
    )
