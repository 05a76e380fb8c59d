"""Users, teams, roles and API tokens."""

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from rapport.accounts.choices import Domain, Scope, TeamKind
from rapport.core.models import TimeStampedModel


class Role(TimeStampedModel):
    """What a user may reach: a scope per domain, plus read-only and administrator flags."""

    name = models.CharField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    is_admin = models.BooleanField(default=False)
    is_read_only = models.BooleanField(default=False)
    requires_two_factor = models.BooleanField(
        default=False, help_text="Holders must sign in with a code from an authenticator app."
    )
    # {"contacts": "team", "sales": "own", ...}; a domain left out falls back to "own".
    scopes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def scope_for(self, domain: str) -> str:
        if self.is_admin:
            return Scope.ALL
        value = self.scopes.get(domain, Scope.OWN)
        return value if value in Scope.values else Scope.OWN


class Team(TimeStampedModel):
    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=TeamKind.choices, default=TeamKind.OTHER)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RapportUserManager(UserManager):
    pass


class User(AbstractUser):
    """A person who signs in. Access comes from `role`; team scopes come from `teams`."""

    email = models.EmailField("email address", unique=True)
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.SET_NULL, related_name="users"
    )
    teams = models.ManyToManyField(Team, blank=True, related_name="members")
    time_zone = models.CharField(max_length=64, default="UTC")
    # How dates, numbers and amounts are written for this person ("de_DE"); "" follows the
    # installation (RAPPORT_LOCALE).
    locale = models.CharField(max_length=16, blank=True, default="")
    is_away = models.BooleanField(default=False, help_text="Skipped by round-robin assignment.")
    open_lead_capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most open leads this person may hold; empty for no limit."
    )

    objects = RapportUserManager()

    class Meta:
        ordering = ["first_name", "last_name", "username"]

    def __str__(self):
        return self.get_full_name() or self.username

    @property
    def is_administrator(self) -> bool:
        return self.is_superuser or bool(self.role and self.role.is_admin)

    @property
    def is_read_only(self) -> bool:
        return not self.is_administrator and bool(self.role and self.role.is_read_only)

    def scope_for(self, domain: str) -> str:
        if self.is_superuser:
            return Scope.ALL
        if self.role is None:
            return Scope.OWN
        return self.role.scope_for(domain)


TOKEN_PREFIX = "rpt_"  # noqa: S105 - a public marker, not a secret


class ApiToken(TimeStampedModel):
    """A personal API token. Only a hash is stored; the token is shown once, at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    key_prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        # Tokens carry 256 bits of randomness, so a fast unsalted hash is enough here.
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class LoginAttempt(models.Model):
    """One sign-in attempt, kept for throttling per account and per client address."""

    username = models.CharField(max_length=150, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, db_index=True)
    succeeded = models.BooleanField(default=False)
    attempted_at = models.DateTimeField(auto_now_add=True, db_index=True)


class UserSession(models.Model):
    """One signed-in browser session of a user, so My account can list and end them.

    The session itself lives in Django's session store; this row only names it. A row whose
    session is gone from the store is stale and is dropped when the list is read.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return f"{self.user} on {self.device}"

    @property
    def device(self) -> str:
        """The browser and system in people's words ("Firefox on Windows"), from the user agent."""
        agent = self.user_agent
        browser = next((name for marker, name in _BROWSERS if marker in agent), "")
        system = next((name for marker, name in _SYSTEMS if marker in agent), "")
        if browser and system:
            return f"{browser} on {system}"
        return browser or system or "Unknown browser"


# Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari", Android "Linux".
_BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
]
_SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


__all__ = ["ApiToken", "Domain", "LoginAttempt", "Role", "Scope", "Team", "User", "UserSession"]


class Passkey(models.Model):
    """A WebAuthn credential (a passkey) a user registered to sign in with.

    Only the public half is kept: the private key never leaves the user's authenticator. The
    credential id is stored base64url-encoded, unique across all users, so an assertion names
    its owner by itself (the passwordless sign-in starts without a username). `sign_count` is
    the authenticator's counter at the last accepted use; a lower or equal one later is refused
    as a possible clone (see `accounts.passkeys`).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=80)
    # Credential ids are at most 1023 bytes: 1364 characters of base64url.
    credential_id = models.CharField(max_length=1364, unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="accounts_passkey_name_per_user")
        ]

    def __str__(self):
        return self.name


__all__ += ["Passkey"]
