"""Passkeys (WebAuthn, through py_webauthn): registered from My account, then used to sign in
either instead of the password or in place of the authenticator code at the second-factor step.

Every ceremony takes two requests. The first makes a challenge, keeps it in the session and
returns the options for `navigator.credentials.create()`/`.get()` (rapport/static/js/passkeys.js);
the second verifies the browser's answer against it. A challenge serves one answer only, whatever
the outcome, only the ceremony it was made for, and expires after CHALLENGE_TIMEOUT.

The relying party is RAPPORT_PUBLIC_URL when that setting exists and is set (a server behind a
proxy that rewrites the host), else the request's own scheme and host, which Django has already
checked against ALLOWED_HOSTS. Every message a user may see is in their words; the library's own
reasons go to the log.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from rapport.accounts import access
from rapport.accounts.models import Passkey, User, UserSession
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change

logger = logging.getLogger(__name__)

RP_NAME = "Rapport"
CHALLENGE_TIMEOUT = dt.timedelta(minutes=5)
# What the browser is told to wait for the user (a hint); the server's limit is the one above.
CEREMONY_TIMEOUT_MS = 120_000
CHALLENGE_SESSION_KEY = "rapport_passkey_challenge"
# A session signed in this recently may remove a passkey without typing the password again.
RECENT_SIGN_IN = dt.timedelta(minutes=10)
NAME_MAX_LENGTH = Passkey._meta.get_field("name").max_length

# The ceremonies a challenge may be made for; one challenge never serves another.
REGISTER = "register"
SIGN_IN = "sign_in"
SECOND_FACTOR = "second_factor"

EXPIRED = "This passkey request has expired. Try again."
UNREADABLE = "Your browser's passkey answer could not be read. Try again."
UNKNOWN = "This passkey is not registered for any active account here."
NOT_VERIFIED = "Your passkey's answer could not be verified. Try again."
NO_USER_VERIFICATION = (
    "Your device did not confirm it is you (with its PIN, fingerprint or face). Try again and "
    "confirm on your device."
)
COUNTER_WENT_BACK = (
    "This passkey was refused: its use counter went backwards, as a copied passkey's would. "
    "Sign in another way and remove it on My account if you no longer trust it."
)


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys belong to: `id` is the host name they are bound to, `origin` the
    scheme, host and port the browser must report."""

    id: str
    origin: str


def relying_party(request) -> RelyingParty:
    public_url = (getattr(settings, "RAPPORT_PUBLIC_URL", "") or "").strip()
    if public_url:
        parts = urlsplit(public_url)
        return RelyingParty(id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}")
    host = request.get_host()
    # get_host() keeps the port, and brackets an IPv6 address; the rp id is the bare host name.
    return RelyingParty(
        id=urlsplit(f"//{host}").hostname or host, origin=f"{request.scheme}://{host}"
    )


def has_passkey(user: User) -> bool:
    return Passkey.objects.filter(user=user).exists()


def user_handle(user: User) -> bytes:
    """The id a passkey keeps for its account and hands back when it signs in. Users are never
    deleted (see accounts.services), so a primary key is never reused by someone else."""
    return str(user.pk).encode()


def _transports(names: list[str]) -> list[AuthenticatorTransport] | None:
    # Browsers name transports newer than the library knows; those are left out, not fatal.
    known = {transport.value: transport for transport in AuthenticatorTransport}
    return [known[name] for name in names if name in known] or None


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(passkey.credential_id),
            transports=_transports(passkey.transports or []),
        )
        for passkey in Passkey.objects.filter(user=user)
    ]


def _remember_challenge(session, *, ceremony: str, challenge: bytes, user: User | None) -> None:
    session[CHALLENGE_SESSION_KEY] = {
        "ceremony": ceremony,
        "challenge": bytes_to_base64url(challenge),
        "user": user.pk if user else None,
        "at": timezone.now().isoformat(),
    }


def _take_challenge(session, *, ceremony: str, user: User | None) -> bytes:
    """The session's challenge for this ceremony, used up now, or a ValidationError when there
    is none, it expired, or it was made for another ceremony or account."""
    pending = session.pop(CHALLENGE_SESSION_KEY, None)
    if not isinstance(pending, dict):
        raise ValidationError({"credential": [EXPIRED]})
    try:
        started = dt.datetime.fromisoformat(pending["at"])
        challenge = base64url_to_bytes(pending["challenge"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError({"credential": [EXPIRED]}) from None
    if (
        timezone.now() - started > CHALLENGE_TIMEOUT
        or pending.get("ceremony") != ceremony
        or pending.get("user") != (user.pk if user else None)
    ):
        raise ValidationError({"credential": [EXPIRED]})
    return challenge


# Registering -----------------------------------------------------------------------------------


def clean_name(*, user: User, name: str) -> str:
    """The name trimmed, or a ValidationError on `name` when it is empty, too long or taken."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": ["Give the passkey a name, such as “Work laptop”."]})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": [f"Keep the name to {NAME_MAX_LENGTH} characters."]})
    if Passkey.objects.filter(user=user, name__iexact=name).exists():
        raise ValidationError({"name": [f"You already have a passkey named “{name}”."]})
    return name


def registration_options(*, user: User, session, party: RelyingParty) -> str:
    """The options (JSON) for navigator.credentials.create(): a discoverable credential with
    user verification, so the passkey alone can sign in; the user's passkeys are excluded so
    one authenticator is not registered twice."""
    options = generate_registration_options(
        rp_id=party.id,
        rp_name=RP_NAME,
        user_name=user.get_username(),
        user_id=user_handle(user),
        user_display_name=user.get_full_name() or user.get_username(),
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(user),
    )
    _remember_challenge(session, ceremony=REGISTER, challenge=options.challenge, user=user)
    return options_to_json(options)


@transaction.atomic
def register_passkey(
    *, actor: User, name: str, credential: str, session, party: RelyingParty
) -> Passkey:
    """Verify the browser's answer to `registration_options` and keep the new passkey.

    Refused (ValidationError on `name` or `credential`) when the name is empty or taken, the
    challenge is spent or expired, the device did not verify the user, or the passkey is
    already registered. Audited on the user; the key itself never enters the audit trail.
    """
    challenge = _take_challenge(session, ceremony=REGISTER, user=actor)
    name = clean_name(user=actor, name=name)
    try:
        parsed = parse_registration_credential_json(credential or "")
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        logger.info("passkey registration refused for user %s: %s", actor.pk, exc)
        if "verification is required" in str(exc):
            raise ValidationError({"credential": [NO_USER_VERIFICATION]}) from None
        raise ValidationError({"credential": [NOT_VERIFIED]}) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if Passkey.objects.filter(credential_id=credential_id).exists():
        raise ValidationError({"credential": ["This passkey is already registered."]})
    try:
        with transaction.atomic():
            passkey = Passkey.objects.create(
                user=actor,
                name=name,
                credential_id=credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=[str(t.value) for t in parsed.response.transports or []],
            )
    except IntegrityError:
        # Another request registered the same passkey or name in the meantime.
        raise ValidationError({"credential": ["This passkey is already registered."]}) from None
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=actor,
        before={"passkeys": []},
        after={"passkeys": [name]},
        message=f"Passkey “{name}” added",
    )
    return passkey


# Signing in ------------------------------------------------------------------------------------


def authentication_options(*, user: User | None, session, party: RelyingParty) -> str:
    """The options (JSON) for navigator.credentials.get().

    Without `user` it is the passwordless sign-in: any passkey of this site may answer (the
    browser offers the discoverable ones), and the device must verify the user, so the passkey
    stands for both factors. With `user` it is the second-factor step after the password: only
    that user's passkeys may answer, and presence is enough, as a code would be.
    """
    if user is None:
        options = generate_authentication_options(
            rp_id=party.id,
            timeout=CEREMONY_TIMEOUT_MS,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        ceremony = SIGN_IN
    else:
        options = generate_authentication_options(
            rp_id=party.id,
            timeout=CEREMONY_TIMEOUT_MS,
            allow_credentials=_descriptors(user),
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        ceremony = SECOND_FACTOR
    _remember_challenge(session, ceremony=ceremony, challenge=options.challenge, user=user)
    return options_to_json(options)


def _parse_assertion(credential: str):
    try:
        return parse_authentication_credential_json(credential or "")
    except (WebAuthnException, ValueError, TypeError):
        return None


def passkey_for(credential: str) -> Passkey | None:
    """The registered passkey (of an active user) that an assertion claims to come from, before
    anything is verified: the sign-in throttle counts per account, so it needs the name first."""
    parsed = _parse_assertion(credential)
    if parsed is None:
        return None
    return (
        Passkey.objects.select_related("user", "user__role")
        .filter(credential_id=bytes_to_base64url(parsed.raw_id), user__is_active=True)
        .first()
    )


def authenticate(
    *, credential: str, session, party: RelyingParty, user: User | None = None
) -> Passkey:
    """Verify the browser's answer to `authentication_options` and note the passkey's use.

    `user` None is the passwordless sign-in (user verification required); a user is the
    second-factor step, where the passkey must be theirs. Refused with a ValidationError on
    `credential`, in the user's words, when the challenge is spent or expired, the passkey is
    unknown or someone else's, the device did not verify the user, the signature is wrong, or
    the use counter did not move forward (a cloned authenticator replays an old count).
    """
    ceremony = SIGN_IN if user is None else SECOND_FACTOR
    challenge = _take_challenge(session, ceremony=ceremony, user=user)
    parsed = _parse_assertion(credential)
    if parsed is None:
        raise ValidationError({"credential": [UNREADABLE]})
    passkey = passkey_for(credential)
    if passkey is None:
        raise ValidationError({"credential": [UNKNOWN]})
    if user is not None and passkey.user_id != user.pk:
        raise ValidationError(
            {"credential": ["This passkey is not one of yours. Use one you added on My account."]}
        )
    handle = parsed.response.user_handle
    if handle is not None and handle != user_handle(passkey.user):
        # The authenticator stored this credential for another account than the one it is
        # registered to here: never sign in on such a mismatch.
        raise ValidationError({"credential": [UNKNOWN]})
    try:
        counter = parse_authenticator_data(parsed.response.authenticator_data).sign_count
    except (WebAuthnException, ValueError):
        raise ValidationError({"credential": [UNREADABLE]}) from None
    # Authenticators that keep no counter always send 0; any other must exceed the last one.
    if (counter or passkey.sign_count) and counter <= passkey.sign_count:
        logger.warning(
            "passkey %s of user %s: counter %s after %s, refused",
            passkey.pk,
            passkey.user_id,
            counter,
            passkey.sign_count,
        )
        raise ValidationError({"credential": [COUNTER_WENT_BACK]})
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origin,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=user is None,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        logger.info("passkey %s sign-in refused: %s", passkey.pk, exc)
        if "verification is required" in str(exc):
            raise ValidationError({"credential": [NO_USER_VERIFICATION]}) from None
        raise ValidationError({"credential": [NOT_VERIFIED]}) from None
    return _note_use(passkey=passkey, sign_count=verified.new_sign_count)


def _note_use(*, passkey: Passkey, sign_count: int) -> Passkey:
    # Only moves forward: a concurrent sign-in with a higher count is not undone.
    Passkey.objects.filter(pk=passkey.pk, sign_count__lte=sign_count).update(
        sign_count=sign_count, last_used_at=timezone.now()
    )
    passkey.refresh_from_db()
    return passkey


# Removing --------------------------------------------------------------------------------------


def signed_in_recently(session) -> bool:
    """Whether this session began (a sign-in, or a password change) within RECENT_SIGN_IN, which
    stands in for typing the password again. Sessions started without the sign-in page (such as
    a test's force_login) have no such note and are never recent."""
    key = session.session_key
    if not key:
        return False
    started = UserSession.objects.filter(session_key=key).values_list("created_at", flat=True)
    started = started.first()
    return started is not None and timezone.now() - started <= RECENT_SIGN_IN


@transaction.atomic
def remove_passkey(*, actor: User, passkey: Passkey) -> None:
    """The passkey no longer signs in. Its owner may remove it, and an administrator (someone who
    lost their device); the caller has already had the owner confirm it is them. Audited."""
    access.require_own_sign_in(actor, passkey.user_id)
    name = passkey.name
    user = passkey.user
    passkey.delete()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=user,
        before={"passkeys": [name]},
        after={"passkeys": []},
        message=f"Passkey “{name}” removed",
    )
