"""Notes each signed-in browser session as it is used, for the list on My account (the
sign-in view starts the note; see `accounts.sessions`)."""

from django.contrib.auth import SESSION_KEY
from django.shortcuts import redirect
from django.urls import reverse

from rapport.accounts.sessions import note_session
from rapport.core.http import client_address
from rapport.core.problems import problem

# Set at sign-in when the role requires two-factor and the user has none (accounts.views).
TWO_FACTOR_SETUP_REQUIRED = "rapport_two_factor_setup_required"


class UserSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # After the view: signing in gives the session its user and a new key.
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if (
            user is not None
            and user.is_authenticated
            and session is not None
            # An API token sets request.user without any session: nothing to note.
            and session.get(SESSION_KEY) == str(user.pk)
        ):
            note_session(
                user=user,
                session=session,
                user_agent=request.headers.get("User-Agent", ""),
                ip_address=client_address(request),
            )
        return response


class TwoFactorSetupMiddleware:
    """A user whose role requires two-factor sign-in, signed in without it, reaches nothing but
    the set-up page (and signing out) until it is done."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(TWO_FACTOR_SETUP_REQUIRED):
            allowed = {reverse("accounts:two_factor_setup"), reverse("accounts:logout")}
            if request.path not in allowed:
                if request.path.startswith("/api/"):
                    return problem(
                        403, "Forbidden", "Set up two-factor sign-in on My account first."
                    )
                return redirect("accounts:two_factor_setup")
        return self.get_response(request)
