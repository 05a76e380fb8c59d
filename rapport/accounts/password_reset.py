"""Forgotten passwords: a link by email that lets its holder choose a new password once.

Guarantees:
- asking never reveals whether an address belongs to an account (the caller shows one answer);
- an account gets at most one email per ACCOUNT_INTERVAL, and one client address may ask at
  most ADDRESS_LIMIT times per ADDRESS_WINDOW, so the form cannot flood anybody's inbox;
- deactivated users and users without a usable password (they sign in through SSO) get nothing;
- a link dies when the password changes (so it works once), when the user signs in meanwhile,
  and after `reset_timeout_seconds()`;
- a reset ends every session of the user and is audited; it does not sign anybody in, so a
  user with a second factor still has to pass it.
"""

import datetime as dt
import enum
import logging

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from rapport.accounts import sessions
from rapport.accounts.models import User
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change

logger = logging.getLogger(__name__)

# Django's own default (3 days) is long for a credential sitting in an inbox; unless the
# deployment chose PASSWORD_RESET_TIMEOUT itself, a link lives one hour.
DEFAULT_RESET_TIMEOUT_SECONDS = 3600
# One email per account per quarter hour: enough for "it went to spam, send it again".
ACCOUNT_INTERVAL = dt.timedelta(minutes=15)
# Per client address: room for a few typos, not for walking through a list of addresses.
ADDRESS_LIMIT = 5
ADDRESS_WINDOW = dt.timedelta(minutes=15)
ACCOUNT_KEY = "rapport:password-reset:account:{}"
ADDRESS_KEY = "rapport:password-reset:address:{}"


def reset_timeout_seconds() -> int:
    """How long a link works: PASSWORD_RESET_TIMEOUT when the settings set it, else an hour."""
    if settings.is_overridden("PASSWORD_RESET_TIMEOUT"):
        return int(settings.PASSWORD_RESET_TIMEOUT)
    return DEFAULT_RESET_TIMEOUT_SECONDS


class ResetTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens (bound to the password hash, last sign-in and email), with their
    own salt and `reset_timeout_seconds()` as the lifetime."""

    key_salt = "rapport.accounts.password_reset"

    def check_token(self, user, token) -> bool:
        # Django checks the signature and its own PASSWORD_RESET_TIMEOUT; the hour is on top.
        if not super().check_token(user, token):
            return False
        issued = base36_to_int(token.split("-")[0])
        return self._num_seconds(self._now()) - issued <= reset_timeout_seconds()


reset_tokens = ResetTokenGenerator()


class ResetRequest(enum.Enum):
    """What became of a request. SENT and NOTHING_SENT must look the same to the asker."""

    SENT = "sent"
    NOTHING_SENT = "nothing sent"
    TOO_MANY_REQUESTS = "too many requests"


def _address_is_over_limit(ip_address: str | None) -> bool:
    # Counts this request too. Requests without a known address share one count.
    key = ADDRESS_KEY.format(ip_address or "unknown")
    window = int(ADDRESS_WINDOW.total_seconds())
    if cache.add(key, 1, timeout=window):
        return False
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the two calls: this request opens a new window
        cache.add(key, 1, timeout=window)
        return False
    return count > ADDRESS_LIMIT


def may_receive_reset(user: User) -> bool:
    """Active, with a password of their own (an SSO-only user has none to reset)."""
    return user.is_active and user.has_usable_password()


def uid_for(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def link_for(user: User, *, base_url: str) -> str:
    """The address the email carries: `base_url` (scheme and host) plus the link's path."""
    path = reverse(
        "accounts:password_reset_link",
        kwargs={"uidb64": uid_for(user), "token": reset_tokens.make_token(user)},
    )
    return f"{base_url.rstrip('/')}{path}"


def _send_reset_email(user: User, *, base_url: str) -> None:
    context = {
        "user": user,
        "link": link_for(user, base_url=base_url),
        "valid_minutes": reset_timeout_seconds() // 60,
        "base_url": base_url.rstrip("/"),
    }
    send_mail(
        subject="Reset your Rapport password",
        message=render_to_string("accounts/email/password_reset.txt", context),
        from_email=None,
        recipient_list=[user.email],
        html_message=render_to_string("accounts/email/password_reset.html", context),
    )


def deliver_reset_email(*, user_id: int, base_url: str) -> bool:
    """The worker's half: email the link to a user who may still have one. A mail server that
    refuses is logged and lifts the account's hold, so the person may ask again at once."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or not may_receive_reset(user):
        return False
    try:
        _send_reset_email(user, base_url=base_url)
    except Exception:
        # Any failure of the backend (refused, unreachable, misconfigured).
        cache.delete(ACCOUNT_KEY.format(user.pk))
        logger.exception("The password reset email to user %s could not be sent", user.pk)
        return False
    return True


def request_password_reset(*, email: str, ip_address: str | None, base_url: str) -> ResetRequest:
    """Email a reset link to the account that uses `email`, if there is one that may have it.

    `base_url` is where the recipient reaches Rapport (RAPPORT_PUBLIC_URL, or the request's
    own scheme and host). Returns TOO_MANY_REQUESTS when `ip_address` asked too often (nothing
    is looked up then); otherwise SENT or NOTHING_SENT, which the caller must not tell apart
    to the asker. The email itself is sent by the worker (`deliver_reset_email`), so the answer
    takes as long for an address with an account as for one without.
    """
    if _address_is_over_limit(ip_address):
        return ResetRequest.TOO_MANY_REQUESTS
    address = (email or "").strip()
    if not address:
        return ResetRequest.NOTHING_SENT
    sent = ResetRequest.NOTHING_SENT
    for user in User.objects.filter(email__iexact=address):
        if not may_receive_reset(user):
            continue
        account_key = ACCOUNT_KEY.format(user.pk)
        if not cache.add(account_key, True, timeout=int(ACCOUNT_INTERVAL.total_seconds())):
            continue
        # Sent by the worker, not in the request: an answer that waited for the mail server
        # only when the address has an account would tell who has one.
        from rapport.accounts.tasks import send_password_reset_email

        send_password_reset_email.enqueue(user_id=user.pk, base_url=base_url)
        sent = ResetRequest.SENT
    return sent


def user_for_link(uidb64: str, token: str) -> User | None:
    """The user a link was made for, when its token is still good; None for a garbled, used,
    expired or foreign link, and for a user who may no longer reset (deactivated since)."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    user = User.objects.filter(pk=pk).first()
    if user is None or not may_receive_reset(user) or not reset_tokens.check_token(user, token):
        return None
    return user


@transaction.atomic
def reset_password(*, user: User, token: str, password: str) -> User:
    """Set `user`'s new password, the holder of a good link acting as the user. Every session
    of the user ends and the change is audited; nobody is signed in.

    Raises ValidationError on "token" when the link is no longer good, on "password" with the
    password validators' messages.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if not may_receive_reset(user) or not reset_tokens.check_token(user, token):
        raise ValidationError({"token": ["This link is no longer valid. Ask for a new one."]})
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    user.save(update_fields=["password"])
    record_change(
        actor=user,
        action=ChangeAction.UPDATE,
        instance=user,
        before={"password_changed": False},
        after={"password_changed": True},
        message="Password reset by email",
    )
    # No session is kept: the browser that reset is not signed in as this user.
    sessions.end_other_sessions(actor=user, keep_session_key=None)
    return user
