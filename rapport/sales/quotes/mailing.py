"""How a quote leaves by email, for an app that may not import the one that sends mail.

`sales` sits below `mail` in the layers (docs/architecture.md): the mail app registers its
sender here from its wiring (`rapport.mail.quotes`), and `send_quote` hands each quote over.
Without a mailer, quotes can still be made, downloaded, accepted and declined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class QuoteMailer:
    """`mailboxes(user)` lists the (id, label) of the mailboxes the user may send from, the
    user's own first; `send(actor=, mailbox_id=, to=, cc=, subject=, body_html=, attachment=,
    deal=, contact=, organization=)` queues the message in the outbox (delivered after the
    commit) and returns its id, or raises ValidationError naming the field (`mailbox`, `to`,
    `cc`, `subject`, `body_html`) or PermissionDenied."""

    mailboxes: Callable[[object], list[tuple[int, str]]]
    send: Callable[..., int]


_mailer: QuoteMailer | None = None


def register_quote_mailer(mailer: QuoteMailer) -> None:
    global _mailer
    _mailer = mailer


def quote_mailer() -> QuoteMailer | None:
    return _mailer


def sender_choices(user) -> list[tuple[int, str]]:
    """The mailboxes `user` may send a quote from; none when mail is not wired in."""
    return _mailer.mailboxes(user) if _mailer is not None else []
