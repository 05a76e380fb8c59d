"""Sales quotas: who sets them, and setting them one at a time or as a grid.

Who may do what (one answer, asked by the pages, the API and the dashboard alike):

- **Set and remove** quotas: managers — administrators, and writers whose sales scope is "all"
  or who sit in a management team (the people who set the CRM models' objectives) — for people
  and teams within their own reach: `access.can` on the quota, whose owners are its rep or the
  team's members, and for a team quota one of their own teams unless they see every record.
- **See** quotas: through the sales scope (`Quota.objects.visible_to`): a rep their own and
  their team's, a team-scope seat their teammates', the "all" scope everyone's.
- **Attainment** (`sales.quota_attainment`, re-exported here) counts every deal of the quota's
  people, whoever asks, so everyone who may see a quota sees the same figure for it.

Amounts are in the company currency the quota was set in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain, Scope, TeamKind
from rapport.accounts.models import Team, User
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core.exchange import load_rate_book
from rapport.sales import quota_periods
from rapport.sales.models import Pipeline, Quota
from rapport.sales.quota_attainment import (  # noqa: F401 (the quota services, in one place)
    ANY_PIPELINE,
    Attainment,
    AttainmentTotal,
    attainment,
    missing_across,
    total,
    visible_quotas,
)
from rapport.sales.services.validation import clean_amount, clean_date

NOT_A_MANAGER = "Only sales managers and administrators set quotas."


# --------------------------------------------------------------------------- who


def may_manage_quotas(user) -> bool:
    if not access.can_write(user):
        return False
    if user.is_administrator or user.scope_for(Domain.SALES) == Scope.ALL:
        return True
    return user.teams.filter(kind=TeamKind.MANAGEMENT).exists()


def require_quota_manager(actor) -> None:
    """`PermissionDenied` unless `actor` may set quotas at all (None is the system)."""
    if actor is None:
        return
    access.require(actor, Action.CHANGE)
    if not may_manage_quotas(actor):
        raise PermissionDenied(NOT_A_MANAGER)


def quota_owner_ids(quota: Quota) -> list[int | None]:
    """The owners `access` judges a quota by: its rep, or every member of its team."""
    if quota.user_id is not None:
        return [quota.user_id]
    if quota.team_id is None:
        return []
    return list(User.objects.filter(teams=quota.team_id).values_list("id", flat=True))


def assignable_people(actor):
    """The people `actor` may set quotas for: those who could win deals, within their reach."""
    if actor is not None and not may_manage_quotas(actor):
        return User.objects.none()
    return access.assignable_users(actor, Domain.SALES)


def assignable_teams(actor):
    if actor is None or access.sees_all(actor, Domain.SALES):
        return Team.objects.all()
    if not may_manage_quotas(actor):
        return Team.objects.none()
    return Team.objects.filter(members=actor)


# --------------------------------------------------------------------------- writes


def _clean_period(start, end, errors: dict) -> tuple[dt.date | None, dt.date | None]:
    start = clean_date(start, field="period_start", errors=errors)
    end = clean_date(end, field="period_end", errors=errors)
    if start is None or end is None:
        return start, end
    if end < start:
        errors.setdefault("period_end", []).append("Must be on or after the period's start.")
    elif quota_periods.kind_of(start, end) is None:
        errors.setdefault("period_end", []).append(
            "A quota covers one calendar month or quarter: from its first day to its last."
        )
    return start, end


def _clean_quota_amount(value, errors: dict, field: str = "amount") -> Decimal:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.setdefault(field, []).append("This field is required.")
        return Decimal(0)
    found: dict[str, list[str]] = {}
    amount = clean_amount(value, field=field, errors=found)
    if not found and amount <= 0:
        found[field] = ["Must be greater than zero."]
    for name, messages in found.items():
        errors.setdefault(name, []).extend(messages)
    return amount


def _assignee_problem(actor, user, team) -> tuple[str, str] | None:
    """(field, why) when the quota may not go to `user` / `team`, else None."""
    if (user is None) == (team is None):
        return "user", "Give either a person or a team."
    if user is not None:
        if not isinstance(user, User):
            return "user", "No such person."
        if not user.is_active:
            return "user", f"{user} is deactivated."
        if not access.may_own(user):
            return "user", f"{user} has a read-only role and could not win deals."
        if actor is not None and not access.in_scope(actor, Domain.SALES, (user.pk,)):
            return "user", f"{user} is outside your access."
        return None
    if not isinstance(team, Team):
        return "team", "No such team."
    if not assignable_teams(actor).filter(pk=team.pk).exists():
        return "team", f"Team {team} is outside your access."
    return None


def _existing(*, user, team, start, end, pipeline) -> Quota | None:
    return (
        # Only the quota's row: its default ordering joins the people and teams.
        Quota.objects.select_for_update(of=("self",))
        .order_by("pk")
        .filter(
            user=user if user is not None else None,
            team=team if team is not None else None,
            period_start=start,
            period_end=end,
            pipeline=pipeline,
        )
        .first()
    )


def _write(*, actor, user, team, start, end, amount, pipeline, currency, again=False) -> Quota:
    quota = _existing(user=user, team=team, start=start, end=end, pipeline=pipeline)
    if quota is None:
        quota = Quota(user=user, team=team, period_start=start, period_end=end, pipeline=pipeline)
        access.require(actor, Action.CREATE, quota)
        quota.period = quota_periods.kind_of(start, end)
        quota.amount, quota.currency = amount, currency
        try:
            with transaction.atomic():
                quota.save()
        except IntegrityError:
            if again:
                raise
            # Someone set the same quota a moment ago: theirs is there now, so change it.
            return _write(
                actor=actor,
                user=user,
                team=team,
                start=start,
                end=end,
                amount=amount,
                pipeline=pipeline,
                currency=currency,
                again=True,
            )
        record_change(
            actor=actor, action=ChangeAction.CREATE, instance=quota, after=snapshot(quota)
        )
        return quota
    access.require(actor, Action.CHANGE, quota)
    before = snapshot(quota)
    if quota.amount == amount and quota.currency == currency:
        return quota
    quota.amount, quota.currency = amount, currency
    quota.save(update_fields=["amount", "currency", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=quota,
        before=before,
        after=snapshot(quota),
    )
    return quota


def _remove(*, actor, quota: Quota) -> None:
    access.require(actor, Action.DELETE, quota)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=quota, before=snapshot(quota))
    quota.delete()


def _clean_pipeline(pipeline, errors: dict) -> None:
    if pipeline is not None and (not isinstance(pipeline, Pipeline) or pipeline.pk is None):
        errors.setdefault("pipeline", []).append("No such pipeline.")


def company_currency() -> str:
    # An empty list of currencies: the company currency alone, without reading any rate.
    return load_rate_book(currencies=()).company_currency


@transaction.atomic
def set_quota(
    *,
    actor,
    amount,
    period_start,
    period_end,
    user: User | None = None,
    team: Team | None = None,
    pipeline: Pipeline | None = None,
) -> Quota:
    """Set the quota of one rep or team for one calendar month or quarter (and one pipeline, or
    every pipeline when none is given), in the company currency: created, or its amount
    changed when one is already set. Audited; field errors name `amount`, `period_start`,
    `period_end`, `user`, `team` or `pipeline`."""
    require_quota_manager(actor)
    errors: dict[str, list[str]] = {}
    start, end = _clean_period(period_start, period_end, errors)
    amount = _clean_quota_amount(amount, errors)
    _clean_pipeline(pipeline, errors)
    problem = _assignee_problem(actor, user, team)
    if problem is not None:
        errors.setdefault(problem[0], []).append(problem[1])
    if errors:
        raise ValidationError(errors)
    return _write(
        actor=actor,
        user=user,
        team=team,
        start=start,
        end=end,
        amount=amount,
        pipeline=pipeline,
        currency=company_currency(),
    )


@dataclass(frozen=True)
class QuotaEntry:
    """One cell of the quota grid: a rep or team, a period, and the amount typed (empty to
    remove the quota). `field` names the input, so an error lands beside it."""

    field: str
    period_start: dt.date
    period_end: dt.date
    amount: object
    user: User | None = None
    team: Team | None = None


@dataclass(frozen=True)
class GridResult:
    saved: int
    removed: int


@transaction.atomic
def set_quotas(*, actor, entries: list[QuotaEntry], pipeline: Pipeline | None = None) -> GridResult:
    """Save a whole grid (reps × periods) at once: every cell is checked first and errors come
    back keyed by each cell's `field`, with nothing written; then each quota is set, changed or
    (for an empty cell that had one) removed, and each change is audited."""
    require_quota_manager(actor)
    errors: dict[str, list[str]] = {}
    _clean_pipeline(pipeline, errors)
    cleaned = []
    for entry in entries:
        found: dict[str, list[str]] = {}
        start, end = _clean_period(entry.period_start, entry.period_end, found)
        problem = _assignee_problem(actor, entry.user, entry.team)
        if problem is not None:
            found.setdefault(problem[0], []).append(problem[1])
        empty = entry.amount is None or (isinstance(entry.amount, str) and not entry.amount.strip())
        amount = None if empty else _clean_quota_amount(entry.amount, found)
        for messages in found.values():
            errors.setdefault(entry.field, []).extend(messages)
        cleaned.append((entry, start, end, amount))
    if errors:
        raise ValidationError(errors)
    currency = company_currency()
    saved = removed = 0
    for entry, start, end, amount in cleaned:
        if amount is None:
            quota = _existing(
                user=entry.user, team=entry.team, start=start, end=end, pipeline=pipeline
            )
            if quota is not None:
                _remove(actor=actor, quota=quota)
                removed += 1
            continue
        _write(
            actor=actor,
            user=entry.user,
            team=entry.team,
            start=start,
            end=end,
            amount=amount,
            pipeline=pipeline,
            currency=currency,
        )
        saved += 1
    return GridResult(saved=saved, removed=removed)


@transaction.atomic
def delete_quota(*, actor, quota: Quota) -> None:
    """Remove a quota (audited). Attainment stops being reported for it; no deal changes."""
    require_quota_manager(actor)
    _remove(actor=actor, quota=quota)
