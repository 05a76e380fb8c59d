"""Opens, clicks and unsubscribes of sent mail, and who may be mailed at all.

Every link Rapport puts into a message carries a token signed with the site's secret (salt
"rapport.mail.tracking"): it names the message, what the link does and, for a click, the very
URL the link leads to. The public endpoints trust nothing but that signature, so they redirect
only to a URL Rapport itself wrapped for that message (no open redirect), and a forged or
garbled token records nothing.

Counters on the message are bumped with F() expressions in one UPDATE, so concurrent opens never
lose one. An open or a click is not put on the timeline (one entry per pixel load would drown
it); it is an event instead (`EmailOpened`, `EmailLinkClicked`) for whoever wants to react.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from rapport.core import display
from rapport.core.events import emit
from rapport.mail.choices import (
    MessageDirection,
    MessagePurpose,
    SuppressionReason,
    TrackingKind,
)
from rapport.mail.events import EmailLinkClicked, EmailOpened
from rapport.mail.models import EmailMessage, SuppressedAddress, TrackingEvent

SALT = "rapport.mail.tracking"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
UNSUBSCRIBE_SOURCE = "one-click unsubscribe"
# What each kind of token stands for; the kind is inside the signed value, so a pixel token
# can never be replayed as an unsubscribe.
OPEN, CLICK, UNSUBSCRIBE = "o", "c", "u"
TRACKED_SCHEMES = {"http", "https"}
URL_LIMIT = 2000  # TrackingEvent.url

_signer = signing.Signer(salt=SALT)


# -- tokens and the URLs that carry them ------------------------------------------------------


def public_base_url() -> str:
    """Where recipients reach this Rapport: RAPPORT_PUBLIC_URL, or the local server."""
    base = getattr(settings, "RAPPORT_PUBLIC_URL", "") or DEFAULT_PUBLIC_URL
    return base.rstrip("/")


def _sign(*value) -> str:
    return _signer.sign_object(list(value), compress=True)


def _unsign(token: str, kind: str) -> list | None:
    """The signed value of `token` when it is valid and of `kind`, else None."""
    if not isinstance(token, str) or not token or len(token) > 4 * URL_LIMIT:
        return None
    try:
        value = _signer.unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        return None
    if not isinstance(value, list) or len(value) < 2 or value[0] != kind:
        return None
    if not isinstance(value[1], int) or isinstance(value[1], bool):
        return None
    return value


def pixel_url(message: EmailMessage) -> str:
    """The absolute URL of the message's open pixel."""
    token = _sign(OPEN, message.pk)
    return public_base_url() + reverse("mail_public:pixel", kwargs={"token": token})


def is_trackable(url: str) -> bool:
    """Only web links are wrapped; mailto:, tel: and anchors keep working as written."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in TRACKED_SCHEMES and bool(parts.netloc)


def click_url(message: EmailMessage, url: str) -> str:
    """The absolute tracked URL that records a click on `url` and redirects there.
    A URL that is not an http(s) link, or too long to record, is returned unchanged."""
    if not is_trackable(url) or len(url) > URL_LIMIT:
        return url
    token = _sign(CLICK, message.pk, url.strip())
    return public_base_url() + reverse("mail_public:click", kwargs={"token": token})


def unsubscribe_url(message: EmailMessage) -> str:
    """The absolute one-click unsubscribe URL of the message (RFC 8058's List-Unsubscribe)."""
    token = _sign(UNSUBSCRIBE, message.pk)
    return public_base_url() + reverse("mail_public:unsubscribe", kwargs={"token": token})


# -- recording ------------------------------------------------------------------------------


def _count(message_pk: int, *, kind: str, url: str, user_agent: str) -> bool | None:
    """Record one open or click; whether it was the message's first one, or None when the
    message is not (any longer) a sent message of ours."""
    now = timezone.now()
    if kind == TrackingKind.OPEN:
        counter, first_at = "open_count", "first_opened_at"
    else:
        counter, first_at = "click_count", "first_clicked_at"
    sent = EmailMessage.objects.filter(pk=message_pk, direction=MessageDirection.OUTBOUND)
    with transaction.atomic():
        # Single UPDATEs, no read-modify-write: two opens at once both count, and exactly one
        # of them finds the first-time stamp empty.
        is_first = bool(
            sent.filter(**{f"{first_at}__isnull": True}).update(
                **{counter: F(counter) + 1, first_at: now}
            )
        )
        if not is_first and not sent.update(**{counter: F(counter) + 1}):
            return None
        TrackingEvent.objects.create(
            message_id=message_pk,
            kind=kind,
            url=url[:URL_LIMIT],
            occurred_at=now,
            user_agent=(user_agent or "")[:300],
        )
    return is_first


def record_open(token: str, user_agent: str = "") -> bool:
    """Count an open of the message the pixel token names; False (nothing recorded) for a bad
    token or a message that no longer exists. Sets off EmailOpened."""
    value = _unsign(token, OPEN)
    if value is None:
        return False
    first = _count(value[1], kind=TrackingKind.OPEN, url="", user_agent=user_agent)
    if first is None:
        return False
    emit(EmailOpened(message_id=value[1], first_open=first))
    return True


def follow_click(token: str, user_agent: str = "") -> str | None:
    """Count a click and return the URL signed into the token, the only place the redirect
    may go; None for a bad token (the caller answers 404, never a redirect). A click on a
    message since deleted still leads to its URL. Sets off EmailLinkClicked."""
    value = _unsign(token, CLICK)
    if value is None or len(value) != 3 or not isinstance(value[2], str):
        return None
    url = value[2]
    if not is_trackable(url):
        return None
    first = _count(value[1], kind=TrackingKind.CLICK, url=url, user_agent=user_agent)
    if first is not None:
        emit(EmailLinkClicked(message_id=value[1], url=url[:URL_LIMIT], first_click=first))
    return url


def message_for_unsubscribe(token: str) -> EmailMessage | None:
    """The sent message an unsubscribe token names (for the confirmation page), or None."""
    value = _unsign(token, UNSUBSCRIBE)
    if value is None:
        return None
    return (
        EmailMessage.objects.filter(pk=value[1], direction=MessageDirection.OUTBOUND)
        .only("pk", "from_name", "from_address", "to", "cc", "bcc")
        .first()
    )


def _addresses_of(message: EmailMessage) -> list[str]:
    seen: dict[str, None] = {}
    for entry in (message.to or []) + (message.cc or []) + (message.bcc or []):
        email = (entry.get("email") or "").strip().lower()
        if email:
            seen[email] = None
    return list(seen)


@transaction.atomic
def unsubscribe(token: str) -> list | None:
    """Stop marketing mail to the recipients of the message the token names: each address is
    suppressed (reason unsubscribed, unless already bouncing) and each contact holding one of
    them has its email consent withdrawn, by the system, with the source "one-click
    unsubscribe". Every recipient of one message received the same link, so all of them are
    unsubscribed. Safe to repeat. The contacts changed; None for a bad token."""
    from rapport.contacts.choices import ConsentChannel, ConsentStatus
    from rapport.contacts.models import Consent, Contact
    from rapport.contacts.services import set_consent

    message = message_for_unsubscribe(token)
    if message is None:
        return None
    addresses = _addresses_of(message)
    already = set(
        SuppressedAddress.objects.filter(email__in=addresses).values_list("email", flat=True)
    )
    SuppressedAddress.objects.bulk_create(
        [
            SuppressedAddress(
                email=email,
                reason=SuppressionReason.UNSUBSCRIBED,
                detail=f"One-click unsubscribe from message {message.pk}.",
            )
            for email in addresses
            if email not in already
        ],
        ignore_conflicts=True,
    )
    contacts = list(Contact.objects.filter(emails__email__in=addresses).distinct().order_by("pk"))
    withdrawn = set(
        Consent.objects.filter(
            contact__in=contacts,
            channel=ConsentChannel.EMAIL,
            status=ConsentStatus.WITHDRAWN,
        ).values_list("contact_id", flat=True)
    )
    changed = []
    for contact in contacts:
        if contact.pk in withdrawn:
            continue
        set_consent(
            actor=None,
            contact=contact,
            channel=ConsentChannel.EMAIL,
            status=ConsentStatus.WITHDRAWN,
            source=UNSUBSCRIBE_SOURCE,
        )
        changed.append(contact)
    return changed


# -- who may be mailed ------------------------------------------------------------------------


def consent_problems(*, recipients: list[tuple[str, object]], purpose: str) -> dict[str, str]:
    """For each (address, contact or None) the reason it may not be sent this mail, keyed by the
    address; addresses that may be mailed are absent. Two queries for the whole list.

    Any mail: an address suppressed as bouncing is refused. Marketing mail: an unsubscribed or
    complaining address is refused, and so is an address without a contact whose email consent
    is granted (no consent on record is no consent).
    """
    from rapport.contacts.choices import ConsentChannel, ConsentStatus
    from rapport.contacts.models import Consent

    normalized = [((email or "").strip().lower(), contact) for email, contact in recipients]
    suppressed = {
        row.email: row
        for row in SuppressedAddress.objects.filter(email__in=[email for email, _ in normalized])
    }
    marketing = purpose == MessagePurpose.MARKETING
    granted: set[int] = set()
    if marketing:
        contact_ids = [contact.pk for _, contact in normalized if contact is not None]
        granted = set(
            Consent.objects.filter(
                contact_id__in=contact_ids,
                channel=ConsentChannel.EMAIL,
                status=ConsentStatus.GRANTED,
            ).values_list("contact_id", flat=True)
        )
    problems: dict[str, str] = {}
    for email, contact in normalized:
        row = suppressed.get(email)
        if row is not None and row.reason == SuppressionReason.BOUNCED:
            detail = f" ({row.detail})" if row.detail else ""
            problems[email] = (
                f"{email} is bouncing{detail}: Rapport sends it no mail until the address is "
                "corrected."
            )
        elif marketing and row is not None:
            what = (
                "unsubscribed"
                if row.reason == SuppressionReason.UNSUBSCRIBED
                else "marked our mail as spam"
            )
            since = display.day_text(row.created_at)
            problems[email] = f"{email} {what} on {since}: it gets no marketing mail."
        elif marketing and contact is None:
            problems[email] = (
                f"{email} belongs to no contact, so there is no consent on record for marketing "
                "mail."
            )
        elif marketing and contact.pk not in granted:
            problems[email] = (
                f"{email}: {contact} has not granted consent to marketing email (Consent → "
                "Email is not “granted”)."
            )
    return problems


def consent_problem(*, email: str, contact=None, purpose: str) -> str | None:
    """Why `email` (of `contact`, when it belongs to one) may not be sent mail of `purpose`, in
    the user's words; None when it may."""
    return consent_problems(recipients=[(email, contact)], purpose=purpose).get(
        (email or "").strip().lower()
    )


def mark_bouncing(*, email: str, detail: str = "", message=None) -> SuppressedAddress:
    """Stop all mail to `email`: a delivery report (`message`, when Rapport received one) said
    it bounces. Stronger than an unsubscribe, so it replaces one; repeated reports keep the
    latest detail and report."""
    email = (email or "").strip().lower()
    if not email:
        raise ValueError("An address is required.")
    defaults = {"reason": SuppressionReason.BOUNCED, "detail": (detail or "")[:500]}
    if message is not None:
        defaults["message"] = message
    row, _created = SuppressedAddress.objects.update_or_create(email=email, defaults=defaults)
    return row


def may_release(actor, address: SuppressedAddress) -> bool:
    """Whether `actor` may mail `address` again (what the UI asks before offering it)."""
    from rapport.accounts import access

    return access.can(actor, access.Action.DELETE, address)


@transaction.atomic
def release_suppressed(*, actor, address: SuppressedAddress) -> SuppressedAddress:
    """Mail `address` again: a decision (administrators' today, through `access`) after a
    bounce that has passed (a full mailbox, a moved address now fixed) or a mistaken
    suppression. Consent withdrawn by an unsubscribe stays withdrawn on the contact, so
    marketing mail still needs it granted again. Audited as the row's deletion, with what it
    said; returns the row as it was."""
    from rapport.accounts import access
    from rapport.audit.models import ChangeAction
    from rapport.audit.services import record_change

    access.require(actor, access.Action.DELETE, address)
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        instance=address,
        before={
            "email": address.email,
            "reason": address.reason,
            "detail": address.detail,
            "message_id": address.message_id,
        },
    )
    SuppressedAddress.objects.filter(pk=address.pk).delete()
    return address


def release_address(*, actor, email: str) -> bool:
    """`release_suppressed` for the row of `email`; False when the address was not
    suppressed. Only those who may release any address learn whether it is."""
    from rapport.accounts import access

    email = (email or "").strip().lower()
    # Asked of an unsaved row: the decision for a suppressed address, whichever it would be.
    access.require(actor, access.Action.DELETE, SuppressedAddress(email=email))
    row = SuppressedAddress.objects.filter(email=email).first()
    if row is None:
        return False
    release_suppressed(actor=actor, address=row)
    return True
