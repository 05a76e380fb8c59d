"""Sign in with the OpenID Connect provider: send the browser there, take it back.

The callback ends the sign-in exactly like a right password does: with two-factor sign-in on,
the user is asked for the code next (the provider's sign-in is the first factor only, whatever
its `amr` says); then `complete_sign_in` counts the success for the throttle, signs in and notes
the session on My account.
"""

import logging

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache

from rapport.accounts import oidc, two_factor
from rapport.accounts.services import login_is_throttled, record_login_attempt
from rapport.accounts.views import complete_sign_in, start_code_step
from rapport.core.http import client_address

log = logging.getLogger(__name__)

# Where to go after the sign-in, kept in the session across the visit to the provider.
OIDC_NEXT = "rapport_oidc_next"
FAILED = "The sign-in with {label} did not work. Try again."


def _configured() -> oidc.Provider:
    config = oidc.provider()
    if config is None:
        raise Http404("Single sign-on is not configured.")
    return config


@never_cache
def oidc_start(request):
    """Send the browser to the provider's authorization endpoint (state, nonce and PKCE kept
    in this session)."""
    config = _configured()
    if request.user.is_authenticated:
        return redirect("core:home")
    request.session[OIDC_NEXT] = request.GET.get("next", "")
    callback = request.build_absolute_uri(reverse("accounts:oidc_callback"))
    try:
        oauth_client = oidc.client(config)
        oidc.check_discovered_issuer(config, oauth_client)
        return oauth_client.authorize_redirect(request, callback)
    except Exception:
        log.exception("Single sign-on could not start")
        messages.error(request, f"{config.label} cannot be reached now. Try again later.")
        return redirect("accounts:login")


@never_cache
def oidc_callback(request):
    """The provider sends the browser back here with a code; exchange it and sign in."""
    config = _configured()
    address = client_address(request)
    target = request.session.pop(OIDC_NEXT, "")
    if login_is_throttled(username="", ip_address=address):
        messages.error(request, "Too many failed attempts. Wait a few minutes and try again.")
        return redirect("accounts:login")
    try:
        oauth_client = oidc.client(config)
        oidc.check_discovered_issuer(config, oauth_client)
        # Checks the state against this session, exchanges the code (with the PKCE verifier)
        # and validates the id_token: signature from the JWKS, iss, aud, exp, nonce.
        token = oauth_client.authorize_access_token(request)
        claims = token.get("userinfo")
        if not claims:
            raise ValueError("The token response carries no id_token.")
    except Exception as exc:
        log.warning("Single sign-on failed: %s", exc)
        messages.error(request, FAILED.format(label=config.label))
        return redirect("accounts:login")
    try:
        user = oidc.user_for_claims(dict(claims))
    except oidc.SignInRefused as refused:
        # Counted like a wrong password, under the address given: the address's limit applies.
        record_login_attempt(username=refused.email, ip_address=address, succeeded=False)
        messages.error(request, refused.message)
        return redirect("accounts:login")
    if two_factor.has_second_factor(user):
        return start_code_step(request, user, target=target)
    return complete_sign_in(request, user, address=address, target=target)
