"""Two-factor sign-in: a TOTP authenticator app (django-otp) plus single-use recovery codes.

A user turns it on from My account (scan the QR code, confirm one code); from then on the
sign-in asks for a code after the password. A role may require it: its holders without an
authenticator are sent to set one up at their next sign-in. Every change is audited; secrets
(the TOTP key, recovery codes) never enter the audit trail.
"""

from base64 import b32encode

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rapport.accounts.models import User
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change

RECOVERY_CODE_COUNT = 10
DEVICE_NAME = "Authenticator app"


def has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def has_second_factor(user: User) -> bool:
    """An authenticator app or a passkey: either makes a password alone not enough."""
    from rapport.accounts.models import Passkey

    return has_two_factor(user) or Passkey.objects.filter(user=user).exists()


def is_required(user: User) -> bool:
    return bool(user.role_id and user.role and user.role.requires_two_factor)


def pending_authenticator(user: User) -> TOTPDevice:
    """The not yet confirmed authenticator being set up (a new secret if there is none)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an SVG QR code in a data: URI (no network, no inline
    script: the CSP allows data: images)."""
    import segno

    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def manual_key(device: TOTPDevice) -> str:
    """The secret to type into an app that cannot scan, in groups of four."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def confirm_authenticator(*, actor: User, device: TOTPDevice, code: str) -> list[str]:
    """Turn two-factor sign-in on once the app shows a matching code; returns the recovery
    codes, shown this once. Any other authenticator of the user is replaced."""
    if actor.pk != device.user_id:
        raise PermissionDenied("You may only set up your own authenticator.")
    if device.confirmed or not device.verify_token(code):
        raise ValidationError({"code": ["This code does not match; enter the current one."]})
    TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(device.user)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=device.user,
        before={"two_factor": False},
        after={"two_factor": True},
        message="Two-factor sign-in turned on",
    )
    return codes


@transaction.atomic
def replace_recovery_codes(*, actor: User) -> list[str]:
    """New recovery codes; the old ones stop working."""
    if not has_two_factor(actor):
        raise ValidationError({"code": ["Turn two-factor sign-in on first."]})
    codes = _new_recovery_codes(actor)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=actor,
        before={"recovery_codes": "old"},
        after={"recovery_codes": "new"},
        message="New recovery codes",
    )
    return codes


@transaction.atomic
def turn_off(*, actor: User, user: User) -> None:
    """Remove the authenticator and recovery codes. Refused when the user's role requires
    two-factor sign-in (an administrator may still reset someone who lost their phone)."""
    if actor.pk != user.pk and not actor.is_administrator:
        raise PermissionDenied("You may only change your own sign-in.")
    if actor.pk == user.pk and is_required(user):
        raise ValidationError({"code": ["Your role requires two-factor sign-in."]})
    if not has_two_factor(user):
        return
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=user,
        before={"two_factor": True},
        after={"two_factor": False},
        message="Two-factor sign-in turned off",
    )


def verify(user: User, code: str) -> bool:
    """Whether `code` is the user's current authenticator code or an unused recovery code (which
    is then used up). django-otp slows repeated failures per device."""
    code = "".join((code or "").split()).lower()
    if not code:
        return False
    # App codes are 6 digits; recovery codes 8 base-32 characters.
    if code.isdigit() and len(code) == 6:
        devices = TOTPDevice.objects.filter(user=user, confirmed=True)
    else:
        devices = StaticDevice.objects.filter(user=user, confirmed=True)
    return any(device.verify_token(code) for device in devices)
