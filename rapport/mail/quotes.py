"""Quotes leave through the outbox: the mail app's side of `rapport.sales.quotes.mailing`.

Sales may not import mail (docs/architecture.md), so mail registers how a quote is sent;
`connect()` is called once by `rapport.mail.wiring`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When

from rapport.mail.models import Mailbox


def mailboxes_for(user) -> list[tuple[int, str]]:
    """The mailboxes `user` may send from that can send, their own personal one first."""
    usable = (
        Mailbox.objects.usable_by(user)
        .annotate(
            mine=Case(
                When(owner_id=getattr(user, "pk", None), then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("mine", "name", "pk")
    )
    return [(mailbox.pk, mailbox.sender_display) for mailbox in usable if mailbox.sends]


def send_quote_email(
    *, actor, mailbox_id, to, cc, subject, body_html, attachment, deal, contact, organization
) -> int:
    """Queue the quote's message through `send_email` (which checks the sender, the addresses,
    consent and the daily limit); the new message's id."""
    from rapport.mail.sending import send_email

    mailbox = None
    if isinstance(mailbox_id, int) and not isinstance(mailbox_id, bool):
        mailbox = Mailbox.objects.usable_by(actor).filter(pk=mailbox_id).first()
    if mailbox is None:
        raise ValidationError({"mailbox": ["Choose a mailbox you may send from."]})
    message = send_email(
        actor=actor,
        mailbox=mailbox,
        to=to,
        cc=cc,
        subject=subject,
        body_html=body_html,
        contact=contact,
        organization=organization,
        deal=deal,
        attachments=[(attachment.filename, attachment.content_type, attachment.data)],
    )
    return message.pk


def connect() -> None:
    from rapport.sales.quotes.mailing import QuoteMailer, register_quote_mailer

    register_quote_mailer(QuoteMailer(mailboxes=mailboxes_for, send=send_quote_email))
