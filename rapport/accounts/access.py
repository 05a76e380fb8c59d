"""Record access, decided in one place.

Two questions, one module:

- *Which records may this user see?* `scope_q(user, domain, owner_field)`: every scoped queryset
  filters through it (`Model.objects.visible_to(user)`), so a record outside the scope is simply
  not there and views and the API answer 404.
- *May this actor do this to that record?* `can(actor, action, record)`, and `require(...)`
  which raises `PermissionDenied`. Every service that writes calls `require` before it writes,
  so the UI, the API, imports, bulk actions, tasks and automation all pass the same decision;
  templates call `can` (the `can` template tag) to hide what a user may not do.

Each app says how its records are owned with `register(Model, domain=…, owners=…)` in its
`AppConfig.ready()`: a record is inside a user's scope when any of its owners is. Who may be
*given* a record is one rule too: `check_owner` (the owner must be able to work it, and within
the reach of whoever gives it). Configuration the whole company shares is declared with
`register_configuration`: everyone signed in views it, administrators change it.

`actor=None` is the system itself (a task working on its own schedule, the demo builder, a
shop's signed webhook): it is not a user and is not scoped. Views and API routes always pass
`request.user`, which is never None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q

from rapport.accounts.choices import Scope


class Action(StrEnum):
    VIEW = "view"
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"
    ADMINISTER = "administer"


WRITES = frozenset({Action.CREATE, Action.CHANGE, Action.DELETE})


@dataclass(frozen=True)
class Rule:
    """How one kind of record is owned.

    `owners(record)` gives the ids of the users the record belongs to (None for nobody): the
    record is inside a scope when any of them is. A `personal` record (a saved list, an import
    preset) may be changed only by its owner or an administrator, whatever the scope.
    """

    domain: str
    owners: Callable[[Any], Iterable[int | None]]
    personal: bool = False
    # (user, record) -> whether the record was shared with the user beyond the scope (a report
    # shared with a team or a role): viewing only, never writing.
    shared_with: Callable[[Any, Any], bool] | None = None


_rules: dict[type, Rule] = {}
_configuration: set[type] = set()


def register(
    model: type,
    *,
    domain: str,
    owners: Callable[[Any], Iterable[int | None]] | None = None,
    owner_field: str = "owner",
    personal: bool = False,
    shared_with: Callable[[Any, Any], bool] | None = None,
) -> None:
    """Declare how `model`'s records are owned (called from `AppConfig.ready()`)."""
    if owners is None:
        attname = f"{owner_field}_id"

        def owners(record, attname=attname):
            return (getattr(record, attname),)

    _rules[model] = Rule(domain=domain, owners=owners, personal=personal, shared_with=shared_with)


def register_configuration(model: type) -> None:
    """Declare `model` configuration the whole company shares (the company currency, exchange
    rates): everyone signed in may view it, only administrators create, change or delete it.

    Asked of the model class as of a record (`require(actor, Action.DELETE, ExchangeRate)`), so a
    route can decide before it looks the record up and answer the same whether or not it exists.
    """
    _configuration.add(model)


def _is_configuration(record_or_model) -> bool:
    model = record_or_model if isinstance(record_or_model, type) else type(record_or_model)
    return any(klass in _configuration for klass in model.__mro__)


def owners_through(*relations: str, owner_field: str = "owner"):
    """`owners` for a record owned through its links (an order through its contact and
    organization): the owners of each linked record, read from the loaded object when it is
    there and otherwise with one small query per link."""

    def owners(record):
        result = []
        for relation in relations:
            field = record._meta.get_field(relation)
            related_id = getattr(record, field.attname)
            if related_id is None:
                continue
            loaded = record._state.fields_cache.get(relation)
            if loaded is not None and loaded.pk == related_id:
                result.append(getattr(loaded, f"{owner_field}_id"))
            else:
                result.append(
                    field.related_model._base_manager.filter(pk=related_id)
                    .values_list(f"{owner_field}_id", flat=True)
                    .first()
                )
        return result

    return owners


def rule_for(record_or_model) -> Rule | None:
    model = record_or_model if isinstance(record_or_model, type) else type(record_or_model)
    for klass in model.__mro__:
        if klass in _rules:
            return _rules[klass]
    return None


# --- who the user is -----------------------------------------------------------------------


def is_signed_in(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def can_write(user) -> bool:
    return is_signed_in(user) and not user.is_read_only


def can_administer(user) -> bool:
    return is_signed_in(user) and user.is_administrator


def teammate_ids(user) -> list[int]:
    """Ids of everyone who shares a team with `user` (including the user), cached per request."""
    cached = getattr(user, "_rapport_teammate_ids", None)
    if cached is not None:
        return cached
    from rapport.accounts.models import User

    ids = set(
        User.objects.filter(teams__in=user.teams.all()).values_list("id", flat=True).distinct()
    )
    ids.add(user.id)
    result = sorted(ids)
    user._rapport_teammate_ids = result
    return result


# --- which records ---------------------------------------------------------------------------


def scope_q(user, domain: str, owner_field: str = "owner") -> Q:
    """The filter that keeps only records `user` may see in `domain`, by their owner.

    With the "all" scope this is an empty `Q()`. Mind that `Q(a) | Q()` is `Q(a)`, not
    "everything": combine it with `|` only through `scope_or`.
    """
    if not is_signed_in(user):
        return Q(pk__in=[])
    scope = user.scope_for(domain)
    if scope == Scope.ALL:
        return Q()
    if scope == Scope.TEAM:
        return Q(**{f"{owner_field}_id__in": teammate_ids(user)})
    return Q(**{f"{owner_field}_id": user.id})


def sees_all(user, domain: str) -> bool:
    return is_signed_in(user) and user.scope_for(domain) == Scope.ALL


def scope_or(user, domain: str, owner_field: str, *also: Q) -> Q:
    """`scope_q(...) | also…`, keeping "all" as everything (where a bare `|` would drop it)."""
    if not is_signed_in(user):
        return Q(pk__in=[])
    if sees_all(user, domain):
        return Q()
    combined = scope_q(user, domain, owner_field)
    for other in also:
        combined |= other
    return combined


def in_scope(user, domain: str, owner_ids: Iterable[int | None]) -> bool:
    """Whether a record owned by `owner_ids` is inside `user`'s scope in `domain`."""
    if not is_signed_in(user):
        return False
    scope = user.scope_for(domain)
    if scope == Scope.ALL:
        return True
    owned = {owner_id for owner_id in owner_ids if owner_id is not None}
    if scope == Scope.TEAM:
        return bool(owned.intersection(teammate_ids(user)))
    return user.id in owned


# --- the decision ----------------------------------------------------------------------------


def _refusal(actor, action: str, record) -> str | None:
    """Why `actor` may not do `action` to `record` (None when it may)."""
    if actor is None:
        return None
    if not is_signed_in(actor):
        return "Sign in to do this."
    if action == Action.ADMINISTER:
        return None if actor.is_administrator else "Only administrators may do this."
    if record is not None and _is_configuration(record):
        if action == Action.VIEW or actor.is_administrator:
            return None
        return "Only administrators may change this."
    if action in WRITES and actor.is_read_only:
        return "Your role is read-only."
    if record is None or isinstance(record, type):
        return None
    rule = rule_for(record)
    if rule is None:
        # A record nobody declared is configuration: writers may read it, administrators change it.
        if action == Action.VIEW or actor.is_administrator:
            return None
        return "Only administrators may change this."
    owners = tuple(rule.owners(record))
    noun = _noun(record)
    if rule.personal and action in (Action.CHANGE, Action.DELETE):
        # A personal record nobody owns (made by the system, or its owner was removed) is shared.
        if actor.is_administrator or actor.id in owners or not any(owners):
            return None
        return f"Only the {noun}'s owner or an administrator may change it."
    if rule.personal and action == Action.VIEW and actor.id in owners:
        return None
    if action == Action.VIEW and rule.shared_with is not None and rule.shared_with(actor, record):
        return None
    if not in_scope(actor, rule.domain, owners):
        return f"This {noun} is outside your access."
    return None


def _noun(record) -> str:
    meta = getattr(record, "_meta", None)
    return str(meta.verbose_name) if meta is not None else "record"


def can(actor, action: str, record=None) -> bool:
    """May `actor` do `action` (view, create, change, delete, administer) to `record`?

    `record` may be a model class or None for "this kind of record in general" (create a
    contact, change the settings); an unsaved instance is judged by the owners it would have.
    """
    return _refusal(actor, action, record) is None


def require(actor, action: str, record=None) -> None:
    """`can`, or `PermissionDenied` with the reason in the user's words."""
    reason = _refusal(actor, action, record)
    if reason is not None:
        raise PermissionDenied(reason)


def require_write(actor) -> None:
    require(actor, Action.CHANGE)


def require_admin(actor) -> None:
    require(actor, Action.ADMINISTER)


def require_own_sign_in(actor, user_id: int) -> None:
    """A user's sign-in (passkeys, sessions, two-factor) may be changed by that user, and by an
    administrator (for someone who lost their device); `PermissionDenied` for anyone else,
    including a deactivated account. `actor=None` is the system, as everywhere here."""
    if actor is None:
        return
    if not is_signed_in(actor):
        raise PermissionDenied("Sign in to do this.")
    if actor.pk != user_id and not actor.is_administrator:
        raise PermissionDenied("You may only change your own sign-in.")


# --- who may be given a record ---------------------------------------------------------------


def may_own(user) -> bool:
    """Whether `user` can work records given to them: active and allowed to write."""
    return bool(user is not None and user.is_active and not user.is_read_only)


def owner_problem(actor, owner, domain: str) -> str | None:
    """Why `owner` may not be given a record of `domain` by `actor` (None when they may)."""
    if owner is None:
        return None
    if not owner.is_active:
        return f"{owner} is deactivated."
    if owner.is_read_only:
        return f"{owner} has a read-only role and could not work this record."
    if actor is not None and not in_scope(actor, domain, (owner.pk,)):
        return f"{owner} is outside your access: you can only give records to people within it."
    return None


def check_owner(actor, owner, domain: str, field: str = "owner") -> None:
    """`owner_problem` as a `ValidationError` on `field` (a 422 in the API, a form error)."""
    problem = owner_problem(actor, owner, domain)
    if problem is not None:
        raise ValidationError({field: [problem]})


def assignable_users(actor, domain: str):
    """The users `actor` may give a record of `domain` to: pickers and round robin read this."""
    from rapport.accounts.models import User

    # The same test as `User.is_read_only`, as a filter.
    users = User.objects.filter(is_active=True).exclude(
        role__is_read_only=True, role__is_admin=False, is_superuser=False
    )
    if actor is None or not is_signed_in(actor):
        return users if actor is None else users.none()
    scope = actor.scope_for(domain)
    if scope == Scope.TEAM:
        return users.filter(pk__in=teammate_ids(actor))
    if scope == Scope.OWN:
        return users.filter(pk=actor.pk)
    return users
