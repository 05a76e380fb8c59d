"""Request-wide concerns: request ids, a 503 when the database is down, the CSP header."""

import logging
import re
import zoneinfo

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.utils import timezone

from rapport.core import context, display
from rapport.core.problems import problem

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


class RequestIdMiddleware:
    """Tags each request with an id (the caller's X-Request-ID if well-formed) for audit and logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        request.request_id = request_id
        source = "api" if request.path.startswith("/api/") else "web"
        with context.work_context(request_id=request_id, source=source):
            response = self.get_response(request)
        if source == "api":
            response = _api_problem_for_plain_error(response)
        response["X-Request-ID"] = request_id
        return response


_PLAIN_API_ERRORS = {
    400: ("Bad Request", "The request could not be read."),
    403: ("Forbidden", "This request was refused (a missing CSRF token, say)."),
    404: ("Not Found", "There is no such endpoint; see /api/v1/docs."),
    405: ("Method Not Allowed", "This endpoint does not accept this method."),
    413: ("Content Too Large", "The request body is larger than this server accepts."),
    # Django has logged the exception; the client learns nothing of its internals.
    500: ("Internal Server Error", "Something went wrong on our side; it has been logged."),
}


def _api_problem_for_plain_error(response):
    """Unknown API paths, wrong methods, and errors raised outside the API's own handlers
    (Django's resolver, Ninja's dispatcher, the CSRF check, an unexpected exception) come back
    as Django's HTML pages; give them the API's problem shape too."""
    if response.status_code not in _PLAIN_API_ERRORS:
        return response
    if response.get("Content-Type", "").startswith(("application/json", "application/problem")):
        return response
    title, detail = _PLAIN_API_ERRORS[response.status_code]
    answer = problem(response.status_code, title, detail)
    if response.has_header("Allow"):
        answer["Allow"] = response["Allow"]
    return answer


def _is_unreachable(exc: BaseException) -> bool:
    # Only connection-level failures mean "come back later"; a broken query is still a bug (500).
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        text = str(exc).lower()
        markers = (
            "connection",
            "could not connect",
            "server closed",
            "terminating",
            "unable to open database",
            "database is locked",
            "timeout",
            "the database system is",
        )
        return any(marker in text for marker in markers)
    return False


class DatabaseUnavailableMiddleware:
    """Turns an unreachable database into 503 + Retry-After instead of a 500."""

    retry_after_seconds = 30

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DatabaseError) or not _is_unreachable(exception):
            return None
        logger.warning("database unavailable: %s", exception)
        return database_unavailable_response(request)


def database_unavailable_response(request):
    retry = str(DatabaseUnavailableMiddleware.retry_after_seconds)
    if request.path.startswith("/api/"):
        response = problem(
            503, "Service Unavailable", "The database cannot be reached. Retry later."
        )
    else:
        response = HttpResponse(
            "Rapport cannot reach its database right now. Please retry in a moment.",
            status=503,
            content_type="text/plain",
        )
    response["Retry-After"] = retry
    return response


class ContentSecurityPolicyMiddleware:
    """Every page forbids inline script: all behaviour lives in vendored static files."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class UserTimeZoneMiddleware:
    """Shows every time in the signed-in reader's own time zone (User.time_zone), and every
    date, number and amount in their own choice of formats (User.locale)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        with display.reading_as(getattr(user, "locale", "") or ""):
            return self._in_zone(request, getattr(user, "time_zone", "") or "")

    def _in_zone(self, request, name: str):
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class PrivateResponseMiddleware:
    """`Cache-Control: no-store` on every response to a signed-in user (page or API, session or
    token): a shared or back-button cache must not keep one person's records for the next.
    Static files never get here (WhiteNoise answers them first) and keep their long caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Read after the view: API token authentication sets request.user inside it.
        user = getattr(request, "user", None)
        # A view that declared its answer `public` (the web-form embed script) says it is the
        # same for everyone; anything else a signed-in user sees is theirs.
        public = "public" in response.get("Cache-Control", "")
        if user is not None and user.is_authenticated and not public:
            response["Cache-Control"] = "no-store"
        return response
