"""Sign in and out, and the signed-in user's own account: profile, password, API tokens.

The administration pages (users, teams, roles) are in `views_admin`.
"""

import datetime as dt
import zoneinfo

from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from rapport.accounts import middleware, sessions, two_factor
from rapport.accounts.forms import ApiTokenForm, ProfileForm, add_service_errors
from rapport.accounts.models import ApiToken, User, UserSession
from rapport.accounts.services import (
    create_api_token,
    login_is_throttled,
    record_login_attempt,
    revoke_api_token,
    update_user,
)
from rapport.core.http import client_address

INVALID = 422  # the status of a page re-shown with validation errors (htmx swaps it too)
SIGN_IN_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Session keys: who passed the password step and awaits the code step; a user who must set up
# two-factor sign-in before anything else.
TWO_FACTOR_PENDING = "rapport_two_factor_pending"
TWO_FACTOR_SETUP_REQUIRED = middleware.TWO_FACTOR_SETUP_REQUIRED


def user_zone(user) -> zoneinfo.ZoneInfo | dt.tzinfo:
    """The time zone `user` reads dates in; UTC when theirs is unknown to this server."""
    try:
        return zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def render_for_user(request, template: str, context: dict, *, status: int = 200):
    """Render with dates shown in the signed-in user's own time zone."""
    with timezone.override(user_zone(request.user)):
        return render(request, template, context, status=status)


def safe_target(request, target: str) -> str:
    """Where to go after signing in: `target` when it is on this site, else the home page."""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return "core:home"
    return target


def complete_sign_in(request, user: User, *, address: str | None, target: str):
    """The last step of every sign-in: count the success, start and note the session."""
    record_login_attempt(username=user.get_username(), ip_address=address, succeeded=True)
    auth.login(request, user, backend=SIGN_IN_BACKEND)
    sessions.note_session(
        user=user,
        session=request.session,
        user_agent=request.headers.get("User-Agent", ""),
        ip_address=address,
        starting=True,
    )
    if two_factor.is_required(user) and not two_factor.has_second_factor(user):
        # Signed in, but every page leads to the set-up until it is done (see the middleware).
        request.session[TWO_FACTOR_SETUP_REQUIRED] = True
        return redirect("accounts:two_factor_setup")
    return redirect(safe_target(request, target))


def start_code_step(request, user: User, *, target: str):
    """A first factor passed (a password, or the OIDC provider): ask for the code next."""
    request.session[TWO_FACTOR_PENDING] = {
        "user": user.pk,
        "at": timezone.now().isoformat(),
        "next": target,
    }
    return redirect("accounts:login_code")


def login(request):
    """Sign-in, throttled per account and per address; the message never says which failed.

    With two-factor sign-in on, a right password only leads to the code step (`login_code`);
    the sign-in counts as a success when the code is right too.
    """
    if request.user.is_authenticated:
        return redirect("core:home")
    form = AuthenticationForm(request, data=request.POST or None)
    throttled = False
    status = 200
    if request.method == "POST":
        username = (request.POST.get("username") or "").strip()
        address = client_address(request)
        target = request.POST.get("next") or request.GET.get("next") or ""
        if login_is_throttled(username=username, ip_address=address):
            throttled = True
            status = 429
        elif form.is_valid():
            user = form.get_user()
            if two_factor.has_second_factor(user):
                return start_code_step(request, user, target=target)
            return complete_sign_in(request, user, address=address, target=target)
        else:
            record_login_attempt(username=username, ip_address=address, succeeded=False)
            status = 400
    return render(
        request,
        "accounts/login.html",
        {"form": form, "throttled": throttled, "next": request.GET.get("next", "")},
        status=status,
    )


@require_POST
def logout(request):
    sessions.forget_session(request.session.session_key)
    auth.logout(request)
    return redirect("accounts:login")


def _fresh_self(request) -> User:
    # Services mutate the object they are given before validating; a refused change must not
    # leak into `request.user`, which the page header still renders.
    return User.objects.select_related("role").get(pk=request.user.pk)


def _render_account(
    request,
    *,
    profile_form=None,
    password_form=None,
    token_form=None,
    new_token: tuple[ApiToken, str] | None = None,
    status: int = 200,
):
    user = request.user
    context = {
        "profile_form": profile_form or ProfileForm.for_user(user),
        "password_form": password_form or PasswordChangeForm(user, prefix="password"),
        "token_form": token_form or ApiTokenForm(time_zone=user.time_zone),
        "tokens": ApiToken.objects.filter(user=user),
        "sessions": sessions.active_sessions(user),
        "current_session_key": request.session.session_key,
        "two_factor_on": two_factor.has_two_factor(user),
        "two_factor_required": two_factor.is_required(user),
        "new_token": new_token[0] if new_token else None,
        "new_token_secret": new_token[1] if new_token else "",
    }
    response = render_for_user(request, "accounts/account.html", context, status=status)
    if new_token:
        # The secret is on this page and nowhere else; no cache may keep a copy.
        response["Cache-Control"] = "no-store"
    return response


@login_required
def account(request):
    """The signed-in user's own page: profile, password, personal API tokens and sessions."""
    return _render_account(request)


@login_required
@require_POST
def account_profile(request):
    form = ProfileForm.for_user(request.user, request.POST)
    if form.is_valid():
        try:
            update_user(actor=request.user, user=_fresh_self(request), **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:account")
    return _render_account(request, profile_form=form, status=INVALID)


@login_required
@require_POST
def account_password(request):
    user = _fresh_self(request)
    form = PasswordChangeForm(user, request.POST, prefix="password")
    if form.is_valid():
        try:
            update_user(actor=request.user, user=user, password=form.cleaned_data["new_password1"])
        except ValidationError as exc:
            add_service_errors(form, exc, aliases={"password": "new_password1"})
        else:
            # Keep this session signed in; every other session of the account ends.
            auth.update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed.")
            return redirect("accounts:account")
    return _render_account(request, password_form=form, status=INVALID)


@login_required
@require_POST
def token_create(request):
    """Create a personal API token and show its secret on this response only."""
    form = ApiTokenForm(request.POST, time_zone=request.user.time_zone)
    if form.is_valid():
        try:
            token, secret = create_api_token(
                actor=request.user,
                user=request.user,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc, aliases={"expires_at": "expires_on"})
        else:
            return _render_account(request, new_token=(token, secret), status=201)
    return _render_account(request, token_form=form, status=INVALID)


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    revoke_api_token(actor=request.user, token=token)
    messages.success(request, f"The token “{token.name}” no longer works.")
    return redirect("accounts:account")


@login_required
@require_POST
def session_end(request, pk: int):
    """Sign out one of the user's own sessions (another browser, or this one)."""
    user_session = get_object_or_404(UserSession, pk=pk, user=request.user)
    is_current = user_session.session_key == request.session.session_key
    sessions.end_session(actor=request.user, user_session=user_session)
    if is_current:
        auth.logout(request)
        return redirect("accounts:login")
    messages.success(request, "That session is signed out.")
    return redirect("accounts:account")


@login_required
@require_POST
def session_end_others(request):
    count = sessions.end_other_sessions(
        actor=request.user, keep_session_key=request.session.session_key
    )
    if count:
        messages.success(request, f"Signed out {count} other session{'s' if count != 1 else ''}.")
    else:
        messages.success(request, "No other session was signed in.")
    return redirect("accounts:account")
