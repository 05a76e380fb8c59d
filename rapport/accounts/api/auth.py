"""API authentication (personal tokens, `Authorization: Bearer rpt_…`, or the UI's session) and
the write / admin checks every API route makes."""

from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from rapport.accounts import access
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

    def __call__(self, request):
        # Without a signed-in session there is nothing a forged request could borrow, so skip
        # the CSRF check: a write with no or a revoked token must say 401, not "CSRF failed".
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None and user.is_active:
            return user
        return None


api_auth = [TokenAuth(), ActiveSessionAuth()]


# The early refusals routes make before looking at any record are the access module's own;
# the services make the same decision again on the record itself.
require_write = access.require_write
require_admin = access.require_admin
