"""Record access, written once: every scoped queryset goes through `scope_q`.

A role gives each domain a scope — own records, the own team's records, or all — and may be
read-only. Records outside the scope are simply not in the queryset, so views and the API answer
404 for them without a separate check.
"""

from django.db.models import Q

from rapport.accounts.choices import Scope


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


def scope_q(user, domain: str, owner_field: str = "owner") -> Q:
    """The filter that keeps only records `user` may see in `domain`, by their owner."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    scope = user.scope_for(domain)
    if scope == Scope.ALL:
        return Q()
    if scope == Scope.TEAM:
        return Q(**{f"{owner_field}_id__in": teammate_ids(user)})
    return Q(**{f"{owner_field}_id": user.id})


def can_write(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and not user.is_read_only)


def can_administer(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_administrator)
