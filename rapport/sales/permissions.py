"""Who may do what in sales, written once for the web UI and the API.

Reads are scoped by querysets (out of scope = 404). These are the checks on writes: a
read-only role may not write (403), configuration is for administrators (403), and a deal can
only be given to someone inside the actor's own sales scope (422 on the owner field).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError

from rapport.accounts.access import can_administer, can_write, teammate_ids
from rapport.accounts.choices import Domain, Scope


def require_write(user) -> None:
    if not can_write(user):
        raise PermissionDenied("Your role is read-only.")


def require_admin(user) -> None:
    if not can_administer(user):
        raise PermissionDenied("Only administrators can change this.")


def owner_in_scope(actor, owner) -> bool:
    if owner is None:
        return True
    scope = actor.scope_for(Domain.SALES)
    if scope == Scope.ALL:
        return True
    if scope == Scope.TEAM:
        return owner.pk in teammate_ids(actor)
    return owner.pk == actor.pk


def check_owner(actor, owner, field: str = "owner_id") -> None:
    if not owner_in_scope(actor, owner):
        raise ValidationError({field: ["You can only give deals to people within your access."]})
