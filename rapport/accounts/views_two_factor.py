"""Two-factor pages: the code step of the sign-in, and setting it up from My account."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from rapport.accounts import two_factor
from rapport.accounts.forms import TwoFactorCodeForm, add_service_errors
from rapport.accounts.models import User
from rapport.accounts.services import login_is_throttled, record_login_attempt
from rapport.accounts.views import (
    INVALID,
    TWO_FACTOR_PENDING,
    TWO_FACTOR_SETUP_REQUIRED,
    complete_sign_in,
)
from rapport.core.http import client_address

# The code step must follow the password step soon: a half sign-in does not wait all day.
CODE_STEP_TIMEOUT = dt.timedelta(minutes=5)


def _pending_user(request) -> tuple[User | None, str]:
    pending = request.session.get(TWO_FACTOR_PENDING)
    if not isinstance(pending, dict):
        return None, ""
    try:
        started = dt.datetime.fromisoformat(pending["at"])
    except (KeyError, TypeError, ValueError):
        return None, ""
    if timezone.now() - started > CODE_STEP_TIMEOUT:
        return None, ""
    user = User.objects.filter(pk=pending.get("user"), is_active=True).first()
    return user, pending.get("next") or ""


def login_code(request):
    """The second step of a sign-in with two-factor on; throttled like the password step."""
    user, target = _pending_user(request)
    if user is None:
        request.session.pop(TWO_FACTOR_PENDING, None)
        messages.error(request, "Sign in again: the code step timed out.")
        return redirect("accounts:login")
    form = TwoFactorCodeForm(request.POST or None)
    throttled = False
    status = 200
    if request.method == "POST":
        address = client_address(request)
        username = user.get_username()
        if login_is_throttled(username=username, ip_address=address):
            throttled = True
            status = 429
        elif form.is_valid() and two_factor.verify(user, form.cleaned_data["code"]):
            request.session.pop(TWO_FACTOR_PENDING, None)
            return complete_sign_in(request, user, address=address, target=target)
        else:
            record_login_attempt(username=username, ip_address=address, succeeded=False)
            if form.is_valid():
                form.add_error("code", "This code is not right; enter the current one.")
            status = 400
    return render(
        request, "accounts/login_code.html", {"form": form, "throttled": throttled}, status=status
    )


def _render_setup(request, *, form=None, status=200):
    device = two_factor.pending_authenticator(request.user)
    context = {
        "form": form or TwoFactorCodeForm(),
        "qr_code": two_factor.qr_code_data_uri(device),
        "secret": two_factor.manual_key(device),
        "required": request.session.get(TWO_FACTOR_SETUP_REQUIRED, False),
        "replacing": two_factor.has_two_factor(request.user),
    }
    return render(request, "accounts/two_factor_setup.html", context, status=status)


def _render_codes(request, codes: list[str]):
    return render(request, "accounts/two_factor_codes.html", {"codes": codes}, status=201)


@login_required
def two_factor_setup(request):
    """Scan the QR code, confirm one code: two-factor sign-in is on, recovery codes shown once."""
    if request.method != "POST":
        return _render_setup(request)
    form = TwoFactorCodeForm(request.POST)
    if form.is_valid():
        device = two_factor.pending_authenticator(request.user)
        try:
            codes = two_factor.confirm_authenticator(
                actor=request.user, device=device, code=form.cleaned_data["code"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            request.session.pop(TWO_FACTOR_SETUP_REQUIRED, None)
            return _render_codes(request, codes)
    return _render_setup(request, form=form, status=INVALID)


@login_required
@require_POST
def two_factor_recovery_codes(request):
    try:
        codes = two_factor.replace_recovery_codes(actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:account")
    return _render_codes(request, codes)


@login_required
@require_POST
def two_factor_off(request):
    try:
        two_factor.turn_off(actor=request.user, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Two-factor sign-in is off.")
    return redirect("accounts:account")
