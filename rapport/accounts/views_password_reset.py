"""Forgot your password: ask for a link by email, open it, choose a new password.

The link's token leaves the address bar at once: opening it keeps the token in the session and
redirects to a page without it (as Django's own reset views do), so it is not left in the
browser's history or sent on in a Referer. The request form answers the same whether or not an
account uses the address.
"""

from django import forms
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from rapport.accounts import password_reset
from rapport.accounts.forms import add_service_errors
from rapport.core.http import client_address

INVALID = 422  # the status of a page re-shown with validation errors (as in accounts.views)
# Session key: the token of the link this browser opened, kept for the set-password step.
LINK_TOKEN = "rapport_password_reset_token"  # noqa: S105 - a session key, no secret


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class PasswordResetSetForm(forms.Form):
    """The new password twice. The password validators run in the service, whose messages the
    view shows beside `new_password1`."""

    new_password1 = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
    )
    new_password2 = forms.CharField(
        label="New password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The rules of the validators this deployment configured, read when the form is made.
        self.fields["new_password1"].help_text = " ".join(
            password_validation.password_validators_help_texts()
        )

    def clean_new_password2(self):
        first = self.cleaned_data.get("new_password1")
        second = self.cleaned_data["new_password2"]
        if first and first != second:
            raise ValidationError("The two passwords differ; type the same one twice.")
        return second


def public_base_url(request) -> str:
    """Where the emailed link points: RAPPORT_PUBLIC_URL, else this request's scheme and host
    (a host Django accepted from ALLOWED_HOSTS, so a forged Host header cannot pick it)."""
    configured = (getattr(settings, "RAPPORT_PUBLIC_URL", "") or "").strip()
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.get_host()}"


@never_cache
def request_link(request):
    """Ask for a link. Every valid address leads to the same "check your inbox" page."""
    form = PasswordResetRequestForm(request.POST or None)
    status = 200
    throttled = False
    if request.method == "POST":
        if form.is_valid():
            outcome = password_reset.request_password_reset(
                email=form.cleaned_data["email"],
                ip_address=client_address(request),
                base_url=public_base_url(request),
            )
            if outcome is not password_reset.ResetRequest.TOO_MANY_REQUESTS:
                return redirect("accounts:password_reset_sent")
            throttled = True
            status = 429
        else:
            status = INVALID
    return render(
        request,
        "accounts/password_reset_request.html",
        {"form": form, "throttled": throttled},
        status=status,
    )


def link_sent(request):
    return render(
        request,
        "accounts/password_reset_sent.html",
        {"valid_minutes": password_reset.reset_timeout_seconds() // 60},
    )


def _invalid_link(request):
    return render(request, "accounts/password_reset_invalid.html", status=400)


@never_cache
def open_link(request, uidb64: str, token: str):
    """The emailed link: a good one moves its token into the session and on to the form."""
    if password_reset.user_for_link(uidb64, token) is None:
        return _invalid_link(request)
    request.session[LINK_TOKEN] = token
    return redirect("accounts:password_reset_confirm", uidb64=uidb64)


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def set_password(request, uidb64: str):
    """Choose the new password; afterwards the user signs in with it (and their second factor)."""
    token = request.session.get(LINK_TOKEN, "")
    user = password_reset.user_for_link(uidb64, token)
    if user is None:
        return _invalid_link(request)
    form = PasswordResetSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset.reset_password(
                user=user, token=token, password=form.cleaned_data["new_password1"]
            )
        except ValidationError as exc:
            if "token" in exc.message_dict:
                return _invalid_link(request)
            add_service_errors(form, exc, aliases={"password": "new_password1"})
        else:
            if request.user.is_authenticated and request.user.pk == user.pk:
                # The reset ended this browser's session of the user too: start it a new,
                # anonymous one rather than write to the deleted one.
                auth.logout(request)
            else:
                request.session.pop(LINK_TOKEN, None)
            messages.success(request, "Your password is changed. Sign in with the new one.")
            return redirect("accounts:login")
    return render(
        request,
        "accounts/password_reset_confirm.html",
        {"form": form, "reset_user": user},
        status=INVALID if form.errors else 200,
    )
