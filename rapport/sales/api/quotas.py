"""Sales quotas under /api/v1/quotas/: the list and attainment, scoped like every sales read
(`Quota.objects.visible_to`); setting (PUT by assignee and period) and removing, for managers.

Writes ask who may set quotas before anything is looked up, so a rep gets 403 whether or not
the quota or person exists. Thin: translate ids and period keys, call `sales.quotas`; field
errors come back as 422 naming the field the caller sent (`body.user_id`, `body.amount`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from rapport.accounts.models import Team, User
from rapport.core.api_types import MissingRateOut, PathId, RecordId, missing_rates_out
from rapport.core.pagination import keyset_page
from rapport.sales import quota_periods, quotas
from rapport.sales.models import Pipeline, Quota

router = Router(tags=["sales"])

MAX_LIMIT = 500
PERIOD_HELP = "A month as YYYY-MM (2026-04) or a quarter as YYYY-Qn (2026-Q2)."


class QuotaIn(Schema):
    model_config = ConfigDict(extra="forbid")
    user_id: RecordId | None = Field(None, description="The rep; give this or `team_id`.")
    team_id: RecordId | None = Field(None, description="The team; give this or `user_id`.")
    period: str | None = Field(None, max_length=10, description=PERIOD_HELP)
    period_start: dt.date | None = Field(
        None, description="Instead of `period`: the first day of a calendar month or quarter."
    )
    period_end: dt.date | None = Field(None, description="With `period_start`: its last day.")
    pipeline_id: RecordId | None = Field(
        None, description="Count only this pipeline's deals; every pipeline when left out."
    )
    amount: Decimal = Field(
        max_digits=14, decimal_places=2, description="In the company currency; above zero."
    )


class QuotaOut(Schema):
    id: int
    user_id: int | None
    team_id: int | None
    assignee: str = Field(description="The rep's name, or “Team …”.")
    period: str = Field(description="month or quarter")
    period_key: str = Field(description=PERIOD_HELP)
    period_label: str
    period_start: dt.date
    period_end: dt.date
    pipeline_id: int | None
    pipeline: str | None
    amount: Decimal
    currency: str
    created_at: dt.datetime
    updated_at: dt.datetime


class QuotaPage(Schema):
    items: list[QuotaOut]
    next_cursor: str | None


class QuotaFilters(Schema):
    period: str = Field("", max_length=10, description=PERIOD_HELP)
    user_id: RecordId | None = None
    team_id: RecordId | None = None
    pipeline_id: RecordId | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


class AttainmentFilters(Schema):
    period: str = Field("", max_length=10, description=PERIOD_HELP + " This month if left out.")
    pipeline_id: RecordId | None = Field(
        None, description="Only the quotas of this pipeline; every quota when left out."
    )
    user_id: RecordId | None = Field(None, description="Only this rep's quotas.")


class AttainmentItemOut(Schema):
    quota: QuotaOut
    target: Decimal | None = Field(
        description="The quota in the company currency; null when it was set in another one."
    )
    won: Decimal = Field(description="Deals won in the period, each at its close day's rate.")
    won_deals: int
    percent: Decimal | None = Field(description="won ÷ target × 100, to one decimal.")
    remaining: Decimal | None
    open_pipeline: Decimal = Field(description="Open deals expected to close in the period.")
    open_deals: int
    weighted_open: Decimal = Field(description="Open deals × their stage's probability.")
    forecast: Decimal = Field(description="won + weighted_open")
    complete: bool = Field(description="False when some deals had no exchange rate.")
    missing_rates: list[MissingRateOut]
    problem: str


class AttainmentTotalOut(Schema):
    target: Decimal
    won: Decimal
    percent: Decimal
    quotas: int = Field(description="The reps' quotas for every pipeline that were added up.")
    missing_rates: list[MissingRateOut]


class AttainmentOut(Schema):
    period_key: str
    period_label: str
    period_start: dt.date
    period_end: dt.date
    currency: str
    items: list[AttainmentItemOut]
    total: AttainmentTotalOut | None


def quota_out(quota: Quota) -> dict:
    return {
        "id": quota.pk,
        "user_id": quota.user_id,
        "team_id": quota.team_id,
        "assignee": quota.assignee_label,
        "period": quota.period,
        "period_key": quota_periods.key_of(quota.period_start, quota.period_end),
        "period_label": quota.period_label,
        "period_start": quota.period_start,
        "period_end": quota.period_end,
        "pipeline_id": quota.pipeline_id,
        "pipeline": quota.pipeline.name if quota.pipeline else None,
        "amount": quota.amount,
        "currency": quota.currency,
        "created_at": quota.created_at,
        "updated_at": quota.updated_at,
    }


def _period(text: str, field: str) -> tuple[dt.date, dt.date]:
    try:
        return quota_periods.parse_key(text)
    except ValueError as exc:
        raise ValidationError({field: [str(exc)]}) from None


def _found(model, pk, field: str, message: str):
    if pk is None:
        return None
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise ValidationError({field: [message]})
    return row


# The services name the records; the API's fields are their ids.
_API_FIELDS = {"user": "user_id", "team": "team_id", "pipeline": "pipeline_id"}


def _api_names(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {_API_FIELDS.get(key, key): messages for key, messages in exc.message_dict.items()}
    )


@router.get("/quotas/", response=QuotaPage)
def list_quotas(request, filters: Query[QuotaFilters]):
    """The quotas the caller may see (their own and, with a wider sales scope, others'),
    latest period first."""
    queryset = Quota.objects.visible_to(request.auth).select_related("user", "team", "pipeline")
    if filters.period:
        start, end = _period(filters.period, "query.period")
        queryset = queryset.for_period(start, end)
    if filters.user_id:
        queryset = queryset.filter(user_id=filters.user_id)
    if filters.team_id:
        queryset = queryset.filter(team_id=filters.team_id)
    if filters.pipeline_id:
        queryset = queryset.filter(pipeline_id=filters.pipeline_id)
    page = keyset_page(
        queryset,
        order_field="period_start",
        descending=True,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return {"items": [quota_out(quota) for quota in page.items], "next_cursor": page.next_cursor}


@router.put("/quotas/", response=QuotaOut)
def put_quota(request, payload: QuotaIn):
    """Set the quota of one rep or team for one month or quarter (and pipeline): created, or
    its amount replaced. Managers and administrators only."""
    quotas.require_quota_manager(request.auth)
    if payload.period:
        start, end = _period(payload.period, "period")
    elif payload.period_start is None and payload.period_end is None:
        raise ValidationError({"period": [f"Give a period: {PERIOD_HELP}"]})
    else:
        start, end = payload.period_start, payload.period_end
    user = _found(User, payload.user_id, "user_id", "No such person.")
    team = _found(Team, payload.team_id, "team_id", "No such team.")
    pipeline = _found(Pipeline, payload.pipeline_id, "pipeline_id", "No such pipeline.")
    try:
        quota = quotas.set_quota(
            actor=request.auth,
            user=user,
            team=team,
            period_start=start,
            period_end=end,
            pipeline=pipeline,
            amount=payload.amount,
        )
    except ValidationError as exc:
        raise _api_names(exc) from None
    return quota_out(quota)


@router.get("/quotas/attainment", response=AttainmentOut)
def quota_attainment(request, filters: Query[AttainmentFilters]):
    """Each quota of the period the caller may see, against the deals won in it (in the
    company currency, each at its close day's rate) and the open deals expected to close in
    it. Deals without an exchange rate are left out and listed in `missing_rates`."""
    if filters.period:
        start, end = _period(filters.period, "query.period")
    else:
        start, end = quota_periods.month_bounds(timezone.localdate())
    results = quotas.attainment(
        actor=request.auth,
        period_start=start,
        period_end=end,
        pipeline=filters.pipeline_id or quotas.ANY_PIPELINE,
        user_id=filters.user_id,
    )
    summed = quotas.total(results)
    return {
        "period_key": quota_periods.key_of(start, end),
        "period_label": quota_periods.label(start, end),
        "period_start": start,
        "period_end": end,
        "currency": quotas.company_currency(),
        "items": [
            {
                "quota": quota_out(result.quota),
                "target": result.target,
                "won": result.won.amount,
                "won_deals": result.won_deals,
                "percent": result.percent,
                "remaining": result.remaining,
                "open_pipeline": result.open_pipeline.amount,
                "open_deals": result.open_deals,
                "weighted_open": result.weighted_open,
                "forecast": result.forecast,
                "complete": result.is_complete,
                "missing_rates": missing_rates_out(result.missing),
                "problem": result.problem,
            }
            for result in results
        ],
        "total": None
        if summed is None
        else {
            "target": summed.target,
            "won": summed.won,
            "percent": summed.percent,
            "quotas": summed.quotas,
            "missing_rates": missing_rates_out(summed.missing),
        },
    }


# After /quotas/attainment: routes match in order, and "attainment" would fill {quota_id}.
@router.delete("/quotas/{quota_id}", response={204: None})
def delete_quota(request, quota_id: PathId):
    quotas.require_quota_manager(request.auth)
    quota = get_object_or_404(Quota.objects.visible_to(request.auth), pk=quota_id)
    quotas.delete_quota(actor=request.auth, quota=quota)
    return Status(204, None)
