"""Passkey pages: signing in with one (instead of the password, or at the code step), and adding
and removing them from My account.

Each ceremony is an `*_options` request answered in JSON (read by static/js/passkeys.js, which
calls the browser's WebAuthn API) and then an ordinary form post carrying the browser's answer,
so success and failure are plain redirects and pages, as for the password.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rapport.accounts import passkeys
from rapport.accounts.forms import TwoFactorCodeForm
from rapport.accounts.models import Passkey, User
from rapport.accounts.services import login_is_throttled, record_login_attempt
from rapport.accounts.views import (
    INVALID,
    TWO_FACTOR_PENDING,
    TWO_FACTOR_SETUP_REQUIRED,
    complete_sign_in,
    render_for_user,
    safe_target,
)
from rapport.accounts.views_two_factor import _pending_user
from rapport.core.http import client_address

THROTTLED = "Too many failed attempts. Wait a few minutes and try again."


class PasskeyRemoveForm(forms.Form):
    """Confirms a removal with the account's password (unless the session is freshly signed in)."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def _options(options_json: str) -> HttpResponse:
    response = HttpResponse(options_json, content_type="application/json")
    # A challenge is for this answer only: no cache may keep it.
    response["Cache-Control"] = "no-store"
    return response


def _refusal(message: str, *, status: int, field: str = "") -> JsonResponse:
    return JsonResponse({"error": message, "field": field}, status=status)


def _first_message(exc: ValidationError) -> str:
    return exc.messages[0] if exc.messages else passkeys.NOT_VERIFIED


# Passwordless sign-in --------------------------------------------------------------------------


@require_POST
def sign_in_options(request):
    """The challenge for "Sign in with a passkey"; refused while the address is throttled."""
    if request.user.is_authenticated:
        return _refusal("You are already signed in.", status=400)
    if login_is_throttled(username="", ip_address=client_address(request)):
        return _refusal(THROTTLED, status=429)
    party = passkeys.relying_party(request)
    return _options(
        passkeys.authentication_options(user=None, session=request.session, party=party)
    )


def _render_login(request, *, error: str, target: str, throttled: bool, status: int):
    return render(
        request,
        "accounts/login.html",
        {
            "form": AuthenticationForm(request),
            "throttled": throttled,
            "next": target,
            "passkey_error": "" if throttled else error,
        },
        status=status,
    )


@require_POST
def sign_in(request):
    """Sign in with a passkey alone. The device verified the user (PIN or biometrics) holding a
    key only it has, which is both factors at once: it satisfies a role that requires two-factor
    sign-in, and skips the code step of a user with an authenticator app.

    It is a sign-in like the password's: the same throttle per account and address, failures
    and the success counted the same way, and the session started by `complete_sign_in`.
    """
    if request.user.is_authenticated:
        return redirect("core:home")
    credential = request.POST.get("credential", "")
    target = request.POST.get("next", "")
    address = client_address(request)
    known = passkeys.passkey_for(credential)
    username = known.user.get_username() if known else ""
    if login_is_throttled(username=username, ip_address=address):
        return _render_login(request, error="", target=target, throttled=True, status=429)
    party = passkeys.relying_party(request)
    try:
        passkey = passkeys.authenticate(credential=credential, session=request.session, party=party)
    except ValidationError as exc:
        record_login_attempt(username=username, ip_address=address, succeeded=False)
        return _render_login(
            request, error=_first_message(exc), target=target, throttled=False, status=400
        )
    response = complete_sign_in(request, passkey.user, address=address, target=target)
    if request.session.pop(TWO_FACTOR_SETUP_REQUIRED, None):
        # complete_sign_in sends a holder of a role requiring two-factor sign-in without an
        # authenticator app to set one up; a passkey with user verification already is the
        # second factor, so this sign-in goes on to where it was headed.
        return redirect(safe_target(request, target))
    return response


# The second-factor step ------------------------------------------------------------------------


@require_POST
def second_factor_options(request):
    """The challenge for using a passkey instead of the code, after a right password."""
    user, _target = _pending_user(request)
    if user is None:
        return _refusal("Sign in again: the code step timed out.", status=400)
    if login_is_throttled(username=user.get_username(), ip_address=client_address(request)):
        return _refusal(THROTTLED, status=429)
    if not passkeys.has_passkey(user):
        return _refusal(
            "You have no passkey yet. Enter the code from your authenticator app.", status=400
        )
    party = passkeys.relying_party(request)
    return _options(
        passkeys.authentication_options(user=user, session=request.session, party=party)
    )


@require_POST
def second_factor(request):
    """A passkey of the user who passed the password step, accepted in place of the code;
    throttled and counted like the code."""
    user, target = _pending_user(request)
    if user is None:
        request.session.pop(TWO_FACTOR_PENDING, None)
        messages.error(request, "Sign in again: the code step timed out.")
        return redirect("accounts:login")
    address = client_address(request)
    username = user.get_username()
    context = {"form": TwoFactorCodeForm(), "throttled": False}
    if login_is_throttled(username=username, ip_address=address):
        context["throttled"] = True
        return render(request, "accounts/login_code.html", context, status=429)
    party = passkeys.relying_party(request)
    try:
        passkeys.authenticate(
            credential=request.POST.get("credential", ""),
            session=request.session,
            party=party,
            user=user,
        )
    except ValidationError as exc:
        record_login_attempt(username=username, ip_address=address, succeeded=False)
        context["passkey_error"] = _first_message(exc)
        return render(request, "accounts/login_code.html", context, status=400)
    request.session.pop(TWO_FACTOR_PENDING, None)
    return complete_sign_in(request, user, address=address, target=target)


# My account ------------------------------------------------------------------------------------


@login_required
@require_POST
def add_options(request):
    """The challenge for adding a passkey; the name is checked first, so nobody goes through
    their device only to hear the name was empty."""
    try:
        passkeys.clean_name(user=request.user, name=request.POST.get("name", ""))
    except ValidationError as exc:
        return _refusal(_first_message(exc), status=INVALID, field="name")
    party = passkeys.relying_party(request)
    return _options(
        passkeys.registration_options(user=request.user, session=request.session, party=party)
    )


@login_required
@require_POST
def add(request):
    """Keep the passkey the browser just created, under the name given."""
    try:
        passkey = passkeys.register_passkey(
            actor=request.user,
            name=request.POST.get("name", ""),
            credential=request.POST.get("credential", ""),
            session=request.session,
            party=passkeys.relying_party(request),
        )
    except ValidationError as exc:
        messages.error(request, f"The passkey was not added: {_first_message(exc)}")
    else:
        messages.success(request, f"Your passkey “{passkey.name}” is added.")
    return redirect("accounts:account")


def _own_passkey(request, pk: int) -> Passkey:
    return get_object_or_404(Passkey, pk=pk, user=request.user)


@login_required
def remove(request, pk: int):
    """Remove one of the user's passkeys once they confirm it is them: their password, or a
    sign-in within the last few minutes (what a user without a password does)."""
    passkey = _own_passkey(request, pk)
    recent = passkeys.signed_in_recently(request.session)
    # Bound on every POST: a freshly signed-in user confirms with an empty form.
    form = PasskeyRemoveForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        confirmed, status = _confirmed(request, form, recent=recent)
        if confirmed:
            passkeys.remove_passkey(actor=request.user, passkey=passkey)
            messages.success(request, f"The passkey “{passkey.name}” no longer signs you in.")
            return redirect("accounts:account")
    context = {
        "passkey": passkey,
        "form": form,
        "recent": recent,
        "has_password": request.user.has_usable_password(),
        "recent_minutes": int(passkeys.RECENT_SIGN_IN.total_seconds() // 60),
    }
    return render_for_user(request, "accounts/passkeys_remove.html", context, status=status)


def _confirmed(request, form: PasskeyRemoveForm, *, recent: bool) -> tuple[bool, int]:
    """Whether the removal is confirmed; otherwise the error is on the form. A wrong password
    here is a guess like one on the sign-in page: throttled and counted the same way."""
    if recent:
        return True, 200
    user: User = request.user
    if not user.has_usable_password():
        form.add_error(None, "Sign out and sign in again, then remove the passkey.")
        return False, INVALID
    address = client_address(request)
    username = user.get_username()
    if login_is_throttled(username=username, ip_address=address):
        form.add_error("password", THROTTLED)
        return False, 429
    password = form.cleaned_data["password"]
    if not password:
        form.add_error("password", "Enter your password to remove the passkey.")
        return False, INVALID
    if not user.check_password(password):
        record_login_attempt(username=username, ip_address=address, succeeded=False)
        form.add_error("password", "This password is not right.")
        return False, INVALID
    return True, 200
