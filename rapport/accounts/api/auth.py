"""API authentication (personal tokens, `Authorization: Bearer rpt_…`, or the UI's session) and
the write / admin checks every API route makes."""

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from rapport.accounts.access import can_administer, can_write
from rapport.accounts.models import TOKEN_PREFIX, ApiToken


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        api_token = (
            ApiToken.objects.select_related("user", "user__role")
            .filter(key_hash=ApiToken.hash_key(token), revoked_at__isnull=True)
            .first()
        )
        if api_token is None or not api_token.is_active or not api_token.user.is_active:
            return None
        now = timezone.now()
        # Write the last-use time at most once a minute: a hot token must not write every call.
        if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        request.user = api_token.user
        return api_token.user


class ActiveSessionAuth(SessionAuth):
    """The UI's session cookie (with its CSRF check on writes), for active users only."""

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None and user.is_active:
            return user
        return None


api_auth = [TokenAuth(), ActiveSessionAuth()]


def require_write(user) -> None:
    """Refuse a write (403) to a read-only role, before looking at any record."""
    if not can_write(user):
        raise PermissionDenied("Your role is read-only.")


def require_admin(user) -> None:
    if not can_administer(user):
        raise PermissionDenied("Only administrators may do this.")
