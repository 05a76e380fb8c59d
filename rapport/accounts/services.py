"""Writes for users, teams, roles and API tokens, and the sign-in throttle.

Every write is one transaction that leaves one ChangeRecord. Two invariants hold across them:
nobody is ever deleted (deactivation keeps the history pointing somewhere), and at least one
active administrator always remains once there has been one.
"""

import datetime as dt
import functools
import unicodedata
import zoneinfo

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rapport.accounts.choices import Domain, Scope
from rapport.accounts.models import ApiToken, LoginAttempt, Role, Team, User
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core import formatting

USER_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "time_zone",
    "locale",
    "is_away",
    "open_lead_capacity",
    "is_active",
]
# What a user's audit record shows; the password hash never enters the audit trail.
USER_AUDIT_FIELDS = [
    "username",
    "email",
    "first_name",
    "last_name",
    "role",
    "is_active",
    "time_zone",
    "locale",
    "is_away",
    "open_lead_capacity",
]
# A successful sign-in makes its address "known" to the account for this long: the account-wide
# throttle (meant for guessers with many addresses) never applies there.
KNOWN_ADDRESS_DAYS = 30


def _require_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_administrator", False):
        raise PermissionDenied("Only administrators may do this.")


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone name a user may pick."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def _check_time_zone(value, errors: dict) -> None:
    if value not in time_zone_names():
        errors.setdefault("time_zone", []).append("Choose a time zone such as Europe/Paris.")


def _check_locale(value, errors: dict) -> None:
    if value and value not in formatting.READER_LOCALES:
        errors.setdefault("locale", []).append(
            "Choose one of the offered formats, or none for the company's."
        )


def _is_administrator(user: User) -> bool:
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(user.role_id) and Role.objects.filter(pk=user.role_id, is_admin=True).exists()


def _ensure_an_administrator_remains(field: str) -> None:
    """Refuse a change that would leave nobody able to administer Rapport."""
    remaining = User.objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(role__is_admin=True)
    )
    if not remaining.exists():
        raise ValidationError(
            {field: ["This would leave no active administrator; make someone else one first."]}
        )


def _clean_scopes(scopes: dict) -> dict:
    if not isinstance(scopes, dict):
        raise ValidationError({"scopes": ["Must map domains to scopes."]})
    errors = {}
    for domain, scope in scopes.items():
        if domain not in Domain.values:
            errors[f"scopes.{domain}"] = [f"Unknown domain; use one of {', '.join(Domain.values)}."]
        elif scope not in Scope.values:
            errors[f"scopes.{domain}"] = [f"Choose one of: {', '.join(Scope.values)}."]
    if errors:
        raise ValidationError(errors)
    return dict(scopes)


def _validate_role(role: Role) -> None:
    errors = {}
    try:
        role.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    # `User.is_read_only` would silently let an administrator write; say so instead.
    if role.is_admin and role.is_read_only:
        errors.setdefault("is_read_only", []).append("An administrator role cannot be read-only.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_role(
    *,
    actor,
    name: str,
    scopes: dict,
    is_admin: bool = False,
    is_read_only: bool = False,
    requires_two_factor: bool = False,
    description: str = "",
) -> Role:
    """Add a role: a scope per domain (a domain left out means own records) and two flags."""
    _require_admin(actor)
    role = Role(
        name=(name or "").strip(),
        scopes=_clean_scopes(scopes),
        is_admin=is_admin,
        is_read_only=is_read_only,
        requires_two_factor=requires_two_factor,
        description=(description or "").strip(),
    )
    _validate_role(role)
    role.save()
    record_change(actor=actor, action=ChangeAction.CREATE, instance=role, after=snapshot(role))
    return role


@transaction.atomic
def update_role(*, actor, role: Role, **changes) -> Role:
    """Change a role; everyone holding it gains or loses access at their next request (a
    two-factor requirement at their next sign-in).

    Taking the administrator flag away is refused when it would leave no active administrator.
    """
    _require_admin(actor)
    unknown = set(changes) - {
        "name",
        "description",
        "is_admin",
        "is_read_only",
        "requires_two_factor",
        "scopes",
    }
    if unknown:
        raise ValidationError({name: ["Cannot be changed."] for name in sorted(unknown)})
    before = snapshot(role)
    was_admin = role.is_admin
    for name in ("name", "description"):
        if name in changes:
            setattr(role, name, (changes[name] or "").strip())
    for name in ("is_admin", "is_read_only", "requires_two_factor"):
        if name in changes:
            setattr(role, name, bool(changes[name]))
    if "scopes" in changes:
        role.scopes = _clean_scopes(changes["scopes"])
    _validate_role(role)
    role.save()
    if was_admin and not role.is_admin:
        _ensure_an_administrator_remains("is_admin")
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=role, before=before, after=snapshot(role)
    )
    return role


def _team_state(team: Team) -> dict:
    return {
        **snapshot(team),
        "members": sorted(team.members.values_list("pk", flat=True)),
    }


@transaction.atomic
def create_team(
    *,
    actor,
    name: str,
    kind: str = "other",
    description: str = "",
    members: list[User] | None = None,
) -> Team:
    """Add a team (sales, marketing, service …). Its members share team-scoped records."""
    _require_admin(actor)
    team = Team(name=(name or "").strip(), kind=kind, description=(description or "").strip())
    team.full_clean()
    team.save()
    if members:
        team.members.set(members)
    record_change(actor=actor, action=ChangeAction.CREATE, instance=team, after=_team_state(team))
    return team


@transaction.atomic
def update_team(*, actor, team: Team, **changes) -> Team:
    """Rename a team, change its kind or description, or replace its members (`members=[…]`)."""
    _require_admin(actor)
    unknown = set(changes) - {"name", "kind", "description", "members"}
    if unknown:
        raise ValidationError({name: ["Cannot be changed."] for name in sorted(unknown)})
    before = _team_state(team)
    for name in ("name", "description"):
        if name in changes:
            setattr(team, name, (changes[name] or "").strip())
    if "kind" in changes:
        team.kind = changes["kind"]
    team.full_clean()
    team.save()
    if "members" in changes:
        team.members.set(changes["members"] or [])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=team,
        before=before,
        after=_team_state(team),
    )
    return team


def _user_state(user: User) -> dict:
    return {
        **snapshot(user, USER_AUDIT_FIELDS),
        "teams": sorted(user.teams.values_list("pk", flat=True)),
    }


def _check_password(password: str, user: User, errors: dict) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        errors["password"] = exc.messages


@transaction.atomic
def create_user(
    *,
    actor,
    username: str,
    email: str,
    password: str | None = None,
    role: Role | None = None,
    teams: list[Team] | None = None,
    **fields,
) -> User:
    """Create a user. Without a password the account cannot sign in until one is set."""
    _require_admin(actor)
    unknown = set(fields) - set(USER_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    user = User(
        username=(username or "").strip(), email=(email or "").strip().lower(), role=role, **fields
    )
    errors = {}
    _check_time_zone(user.time_zone, errors)
    _check_locale(user.locale, errors)
    if password:
        _check_password(password, user, errors)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    user.save()
    if teams:
        user.teams.set(teams)
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=user,
        after={**_user_state(user), "password_set": bool(password)},
    )
    return user


@transaction.atomic
def update_user(
    *, actor, user: User, role=..., teams=..., password: str | None = None, **fields
) -> User:
    """Change a user's profile, role, teams or password. Users may edit their own profile.

    Deactivating (is_active=False) is how a user leaves: they can no longer sign in or use a
    token, and everything they did keeps pointing at them. Nobody may deactivate themselves,
    and no change may leave Rapport without an active administrator.
    """
    if (
        actor is None
        or actor.pk != user.pk
        or role is not ...
        or teams is not ...
        or "is_active" in fields
        or "open_lead_capacity" in fields
    ):
        _require_admin(actor)
    unknown = set(fields) - set(USER_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    errors = {}
    if fields.get("is_active") is False and actor is not None and actor.pk == user.pk:
        errors["is_active"] = ["You cannot deactivate your own account."]
    before = _user_state(user)
    was_admin = _is_administrator(user)
    for name, value in fields.items():
        if name == "email":
            value = (value or "").strip().lower()
        setattr(user, name, value)
    if role is not ...:
        user.role = role
    if "time_zone" in fields:
        _check_time_zone(user.time_zone, errors)
    if "locale" in fields:
        _check_locale(user.locale, errors)
    if password:
        _check_password(password, user, errors)
        user.set_password(password)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    user.save()
    if teams is not ...:
        user.teams.set(teams or [])
    if was_admin and not _is_administrator(user):
        _ensure_an_administrator_remains("is_active" if "is_active" in fields else "role")
    after = _user_state(user)
    if password:
        before["password_changed"] = False
        after["password_changed"] = True
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=user, before=before, after=after
    )
    return user


@transaction.atomic
def create_api_token(
    *, actor, user: User, name: str, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Make a personal token; returns (token, the secret). The secret is never stored or shown again."""
    if actor is None or (actor.pk != user.pk and not actor.is_administrator):
        raise PermissionDenied("You may only create tokens for yourself.")
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError({"name": ["Give the token a name of 1 to 80 characters."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    key = ApiToken.generate_key()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_prefix=key[:12],
        key_hash=ApiToken.hash_key(key),
        expires_at=expires_at,
    )
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=token,
        after={
            "name": name,
            "user": user.pk,
            "key_prefix": token.key_prefix,
            "expires_at": expires_at,
        },
    )
    return token, key


@transaction.atomic
def revoke_api_token(*, actor, token: ApiToken) -> ApiToken:
    """Stop a token from working, at once and for good. Revoking twice changes nothing."""
    if actor is None or (actor.pk != token.user_id and not actor.is_administrator):
        raise PermissionDenied("You may only revoke your own tokens.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=token,
            before={"revoked": False},
            after={"revoked": True},
        )
    return token


def normalize_username(username: str) -> str:
    """The name the throttle counts: what Django signs in with (NFKC, so a fullwidth
    `ｔｏｍ.becker` is `tom.becker`), case-folded so `Tom.Becker` is the same account too."""
    return unicodedata.normalize("NFKC", username or "").strip().casefold()[:150]


def _failures_since_success(attempts, **match) -> int:
    # Failures after the last success of the same match: a success clears them.
    last_success = attempts.filter(succeeded=True, **match).order_by("-pk").values("pk").first()
    failures = attempts.filter(succeeded=False, **match)
    if last_success is not None:
        failures = failures.filter(pk__gt=last_success["pk"])
    return failures.count()


def _is_known_address(*, username: str, ip_address: str | None) -> bool:
    if not ip_address:
        return False
    since = timezone.now() - dt.timedelta(days=KNOWN_ADDRESS_DAYS)
    return LoginAttempt.objects.filter(
        username=username, ip_address=ip_address, succeeded=True, attempted_at__gte=since
    ).exists()


def login_is_throttled(*, username: str, ip_address: str | None) -> bool:
    """Whether this sign-in is refused without looking at the password. Three rules, each over
    the window:

    - an account from one address: `limit` failures since that pair's last success. This is the
      lock a guesser meets, and it stops only the guesser's address;
    - an address: `limit × 4` failures over any accounts (password spraying), never reset;
    - an account from everywhere: `limit × 4` failures since its last success (a guesser with
      many addresses), except from an address the account signed in from in the last
      KNOWN_ADDRESS_DAYS days, so strangers cannot lock a user out of their usual place.
    """
    since = timezone.now() - dt.timedelta(seconds=settings.RAPPORT_LOGIN_WINDOW_SECONDS)
    limit = settings.RAPPORT_LOGIN_MAX_ATTEMPTS
    recent = LoginAttempt.objects.filter(attempted_at__gte=since)
    # An address gets more room than an account: several people may share one office NAT.
    if ip_address and recent.filter(ip_address=ip_address, succeeded=False).count() >= limit * 4:
        return True
    name = normalize_username(username)
    if not name:
        return False
    account = recent.filter(username=name)
    if _failures_since_success(account, ip_address=ip_address) >= limit:
        return True
    return _failures_since_success(account) >= limit * 4 and not _is_known_address(
        username=name, ip_address=ip_address
    )


def record_login_attempt(*, username: str, ip_address: str | None, succeeded: bool) -> None:
    """Remember one sign-in attempt under the normalized name. A success clears the failures of
    its account and address pair (not the address's own count); old attempts are pruned then,
    successes kept KNOWN_ADDRESS_DAYS to recognise a user's usual addresses."""
    LoginAttempt.objects.create(
        username=normalize_username(username), ip_address=ip_address, succeeded=succeeded
    )
    if succeeded:
        now = timezone.now()
        keep = max(settings.RAPPORT_LOGIN_WINDOW_SECONDS, 86_400)
        LoginAttempt.objects.filter(
            Q(succeeded=False, attempted_at__lt=now - dt.timedelta(seconds=keep))
            | Q(succeeded=True, attempted_at__lt=now - dt.timedelta(days=KNOWN_ADDRESS_DAYS))
        ).delete()
