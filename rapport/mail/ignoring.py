"""Senders whose mail triage skips, per mailbox.

"Always ignore this domain" is said from one message in one mailbox: the pattern belongs to that
mailbox, so a team silencing a sender in its own mailbox never hides what that sender writes to
another team's. An administrator may set a pattern for every mailbox at once (no mailbox).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.mail.choices import MessageDirection, TriageState
from rapport.mail.models import EmailMessage, IgnoredSender, Mailbox


def patterns_for(mailbox) -> set[str]:
    """The lower-cased domains and addresses whose mail arriving in `mailbox` is set aside."""
    return set(IgnoredSender.objects.for_mailbox(mailbox).values_list("pattern", flat=True))


def is_ignored(email: str, patterns: set[str]) -> bool:
    """Whether `email` (lower-cased) is one of `patterns` or at one of their domains."""
    return bool(email) and (email in patterns or email.rsplit("@", 1)[-1] in patterns)


def _free_mail_domains() -> frozenset[str]:
    from rapport.mail.receiving import FREE_MAIL_DOMAINS

    return FREE_MAIL_DOMAINS


@transaction.atomic
def ignore_sender(
    *, actor, message: EmailMessage, whole_domain: bool = True, every_mailbox: bool = False
) -> IgnoredSender:
    """Always ignore mail from the sender of `message` (its whole domain by default) in the
    mailbox it arrived in, or with `every_mailbox` (administrators only) in all of them. That
    message and the mail waiting in triage from the sender there leave the inbox; later mail
    skips it. A free mail provider's domain is refused (it would hide every private sender).
    Audited when the pattern is new."""
    message.refresh_from_db(fields=["triage_state", "mailbox", "direction", "from_address"])
    if message.mailbox_id is None or not (
        Mailbox.objects.usable_by(actor).filter(pk=message.mailbox_id).exists()
    ):
        raise PermissionDenied("Only those who may use this message's mailbox may triage it.")
    if every_mailbox:
        access.require_admin(actor)
    if message.direction != MessageDirection.INBOUND:
        raise ValidationError({"message": ["Only received mail is triaged."]})
    email = (message.from_address or "").lower()
    if "@" not in email:
        raise ValidationError({"message": ["This message has no sender address to ignore."]})
    domain = email.rsplit("@", 1)[1]
    if whole_domain and domain in _free_mail_domains():
        raise ValidationError(
            {
                "whole_domain": [
                    f"{domain} is a free mail provider: ignoring it would hide mail from every "
                    "private sender there. Ignore this address instead."
                ]
            }
        )
    pattern = domain if whole_domain else email
    mailbox = None if every_mailbox else message.mailbox
    ignored, created = IgnoredSender.objects.get_or_create(
        pattern=pattern, mailbox=mailbox, defaults={"created_by": actor}
    )
    if created:
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            instance=ignored,
            after=snapshot(ignored, ["pattern", "mailbox"]),
        )
    matching = Q(from_address=email) if not whole_domain else Q(from_address__endswith=f"@{domain}")
    # Only mail this pattern covers, and only in mailboxes the actor may use.
    where = Mailbox.objects.usable_by(actor)
    if mailbox is not None:
        where = where.filter(pk=mailbox.pk)
    EmailMessage.objects.filter(
        matching,
        direction=MessageDirection.INBOUND,
        triage_state=TriageState.PENDING,
        mailbox__in=where.values("pk"),
    ).update(triage_state=TriageState.IGNORED, updated_at=timezone.now())
    return ignored
