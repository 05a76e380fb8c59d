"""The sales API under /api/v1: thin — translate, check access, call services and reads.

Reads go through the scoped querysets (out of scope → 404); writes need a role that may write
(403) and configuration needs an administrator (403). Errors are problem details (rapport.api).
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from ninja import Query, Router, Status

from rapport.accounts import access
from rapport.accounts.access import require_admin, require_write
from rapport.accounts.models import Team, User
from rapport.contacts.models import Contact, Organization
from rapport.core.api_types import MAX_COUNT, Moment, PathId, RecordId, missing_rates_out
from rapport.core.pagination import keyset_page
from rapport.sales import assignment_kinds, reports, tasks
from rapport.sales import board as board_reads
from rapport.sales.api import schemas as s
from rapport.sales.assignment import (
    assign_lead,
    assign_lead_by_hand,
    create_assignment_rule,
    delete_assignment_rule,
    update_assignment_rule,
)
from rapport.sales.choices import TaskStatus
from rapport.sales.forecast import month_of
from rapport.sales.models import (
    AssignmentRule,
    Deal,
    LeadScore,
    LeadScoreHistory,
    LostReason,
    Notification,
    Pipeline,
    ScoringRule,
    Stage,
    Task,
    WebForm,
)
from rapport.sales.querysets import leads_visible_to
from rapport.sales.scoring.facts import lead_field_set
from rapport.sales.scoring.rules import describe
from rapport.sales.scoring.services import (
    active_model,
    create_scoring_rule,
    delete_scoring_rule,
    explanation,
    latest_model,
    score_lead,
    update_scoring_rule,
)
from rapport.sales.services import deals as deal_services
from rapport.sales.services import pipelines as pipeline_services
from rapport.sales.services import webforms as form_services
from rapport.sales.services import work
from rapport.sales.services.leads import convert_lead, create_lead
from rapport.sales.webform_embed import embed_html

router = Router(tags=["sales"])
NOT_FOUND = "No such record, or it is outside your access."


def _id_error(field: str, message: str = NOT_FOUND):
    return ValidationError({field: [message]})


# -- serializers -------------------------------------------------------------------------------


def stage_out(stage: Stage) -> dict:
    return {
        "id": stage.pk,
        "name": stage.name,
        "position": stage.position,
        "kind": stage.kind,
        "probability": stage.weight,
        "stall_days": stage.stall_days,
    }


def pipeline_out(pipeline: Pipeline) -> dict:
    return {
        "id": pipeline.pk,
        "name": pipeline.name,
        "description": pipeline.description,
        "currency": pipeline.currency,
        "is_default": pipeline.is_default,
        "is_archived": pipeline.is_archived,
        "stages": [stage_out(stage) for stage in pipeline.stages.all()],
    }


def deal_out(deal: Deal) -> dict:
    return {
        "id": deal.pk,
        "name": deal.name,
        "pipeline_id": deal.pipeline_id,
        "stage_id": deal.stage_id,
        "stage": deal.stage.name,
        "status": deal.status,
        "amount": deal.amount,
        "currency": deal.currency,
        "weighted_amount": (deal.amount * deal.stage.weight / 100).quantize(deal.amount),
        "expected_close_date": deal.expected_close_date,
        "owner_id": deal.owner_id,
        "owner": str(deal.owner) if deal.owner_id else None,
        "contact_id": deal.contact_id,
        "contact": str(deal.contact) if deal.contact_id else None,
        "organization_id": deal.organization_id,
        "organization": str(deal.organization) if deal.organization_id else None,
        "products": deal.products,
        "source": deal.source,
        "source_detail": deal.source_detail,
        "custom_fields": deal.custom_fields,
        "tags": sorted(t.name for t in deal.tags.all()),
        "description": deal.description,
        "stage_entered_at": deal.stage_entered_at,
        "closed_at": deal.closed_at,
        "lost_reason": str(deal.lost_reason) if deal.lost_reason_id else None,
        "lost_note": deal.lost_note,
        "created_at": deal.created_at,
        "updated_at": deal.updated_at,
    }


def card_out(deal: Deal) -> dict:
    return {
        "id": deal.pk,
        "name": deal.name,
        "amount": deal.amount,
        "currency": deal.currency,
        "expected_close_date": deal.expected_close_date,
        "owner": str(deal.owner) if deal.owner_id else None,
        "contact": str(deal.contact) if deal.contact_id else None,
        "organization": str(deal.organization) if deal.organization_id else None,
        "stage_entered_at": deal.stage_entered_at,
    }


def _money(pairs) -> list[dict]:
    return [{"currency": currency, "amount": amount} for currency, amount in pairs]


def column_summary_out(column) -> dict:
    return {
        "stage_id": column.stage.pk,
        "count": column.count,
        "totals": _money(column.totals),
        "weighted": _money(column.weighted),
    }


def lead_out(contact: Contact) -> dict:
    try:
        score = contact.lead_score
    except LeadScore.DoesNotExist:
        score = None
    return {
        "id": contact.pk,
        "name": contact.full_name,
        "email": contact.primary_email,
        "phone": contact.primary_phone,
        "job_title": contact.job_title,
        "country": contact.country,
        "postcode": contact.postcode,
        "lifecycle_stage": contact.lifecycle_stage,
        "source": contact.source,
        "source_detail": contact.source_detail,
        "owner_id": contact.owner_id,
        "owner": str(contact.owner) if contact.owner_id else None,
        "products_of_interest": [p.product for p in contact.product_interests.all()],
        "score": score.score if score else None,
        "score_basis": score.basis if score else None,
        "rule_points": score.rule_points if score else None,
        "probability": score.model_probability if score else None,
        "created_at": contact.created_at,
    }


def score_out(score: LeadScore | None) -> dict | None:
    if score is None:
        return None
    data = explanation(score)
    data["model"] = [
        {"feature": r["feature"], "label": r["label"], "contribution": r["contribution"]}
        for r in data["model"]
    ]
    return data


def assignment_out(assignment) -> dict:
    return {
        "owner_id": assignment.owner_id,
        "owner": str(assignment.owner) if assignment.owner_id else None,
        "method": assignment.method,
        "rule_id": assignment.rule_id,
        "rule_name": assignment.rule_name,
        "reason": assignment.reason,
        "assigned_at": assignment.assigned_at,
    }


def task_out(task: Task) -> dict:
    return {
        "id": task.pk,
        "title": task.title,
        "description": task.description,
        "due_at": task.due_at,
        "priority": task.priority,
        "status": task.status,
        "assignee_id": task.assignee_id,
        "assignee": str(task.assignee),
        "created_by_id": task.created_by_id,
        "contact_id": task.contact_id,
        "organization_id": task.organization_id,
        "deal_id": task.deal_id,
        "remind_at": task.remind_at,
        "completed_at": task.completed_at,
        "is_overdue": task.status == TaskStatus.OPEN and task.due_at < timezone.now(),
    }


def webform_out(request, form: WebForm) -> dict:
    submit_url = request.build_absolute_uri(reverse("sales:webform_submit", args=[form.public_id]))
    return {
        "id": form.pk,
        "public_id": str(form.public_id),
        "name": form.name,
        "description": form.description,
        "is_active": form.is_active,
        "fields": form.fields,
        "source": form.source,
        "source_detail": form.source_detail,
        "campaign": form.campaign,
        "lifecycle_stage": form.lifecycle_stage,
        "submit_label": form.submit_label,
        "thank_you_message": form.thank_you_message,
        "redirect_url": form.redirect_url,
        "consent_enabled": form.consent_enabled,
        "consent_text": form.consent_text,
        "allowed_origins": form.origin_list,
        "max_submissions_per_minute": form.max_submissions_per_minute,
        "submission_count": form.submission_count,
        "spam_count": form.spam_count,
        "submit_url": submit_url,
        "embed_html": embed_html(request, form),
    }


def model_out(row) -> dict | None:
    if row is None:
        return None
    return {
        "id": row.pk,
        "status": row.status,
        "is_active": row.is_active,
        "message": row.message,
        "algorithm": row.algorithm,
        "window_days": row.window_days,
        "n_labelled": row.n_labelled,
        "n_positive": row.n_positive,
        "n_negative": row.n_negative,
        "n_train": row.n_train,
        "n_test": row.n_test,
        "roc_auc": row.roc_auc,
        "brier_score": row.brier_score,
        "base_rate": row.base_rate,
        "calibration": row.calibration,
        "duration_seconds": row.duration_seconds,
        "trigger": row.trigger,
        "created_at": row.created_at,
    }


# -- lookups by id (scoped) --------------------------------------------------------------------


def _deal(user, deal_id: int) -> Deal:
    return get_object_or_404(
        Deal.objects.visible_to(user)
        .active()
        .select_related("stage", "owner", "contact", "organization", "lost_reason")
        .prefetch_related("tags"),
        pk=deal_id,
    )


def _pipeline(pipeline_id: int) -> Pipeline:
    return get_object_or_404(Pipeline.objects.prefetch_related("stages"), pk=pipeline_id)


def _active_user(user_id, field: str) -> User:
    found = User.objects.filter(pk=user_id, is_active=True).first()
    if found is None:
        raise _id_error(field, "No such active user.")
    return found


def _links(user, data: dict, *, owner_field: str = "owner_id", domain: str = "sales") -> dict:
    """Turn *_id fields into records the user may reach; unknown or hidden ids are 422."""
    resolved = {}
    if owner_field in data:
        owner = _active_user(data[owner_field], owner_field) if data[owner_field] else None
        # The one rule for who may be given a record, named on the field that was sent.
        access.check_owner(user, owner, domain, owner_field)
        resolved["owner"] = owner
    if "contact_id" in data:
        contact = None
        if data["contact_id"]:
            contact = Contact.objects.visible_to(user).filter(pk=data["contact_id"]).first()
            if contact is None:
                raise _id_error("contact_id")
        resolved["contact"] = contact
    if "organization_id" in data:
        organization = None
        if data["organization_id"]:
            organization = (
                Organization.objects.visible_to(user).filter(pk=data["organization_id"]).first()
            )
            if organization is None:
                raise _id_error("organization_id")
        resolved["organization"] = organization
    if "deal_id" in data:
        deal = None
        if data["deal_id"]:
            deal = Deal.objects.visible_to(user).filter(pk=data["deal_id"]).first()
            if deal is None:
                raise _id_error("deal_id")
        resolved["deal"] = deal
    return resolved


# -- pipelines ---------------------------------------------------------------------------------


@router.get("/pipelines/", response=list[s.PipelineOut])
def list_pipelines(request, include_archived: bool = False):
    pipelines = Pipeline.objects.prefetch_related("stages")
    if not include_archived:
        pipelines = pipelines.active()
    return [pipeline_out(p) for p in pipelines]


@router.post("/pipelines/", response={201: s.PipelineOut})
def create_pipeline(request, payload: s.PipelineIn):
    require_admin(request.user)
    data = payload.model_dump()
    stages = data.pop("stages")
    if stages is not None:
        stages = [{k: v for k, v in stage.items() if v is not None} for stage in stages]
    pipeline = pipeline_services.create_pipeline(actor=request.user, stages=stages, **data)
    return Status(201, pipeline_out(_pipeline(pipeline.pk)))


@router.get("/pipelines/{pipeline_id}", response=s.PipelineOut)
def get_pipeline(request, pipeline_id: PathId):
    return pipeline_out(_pipeline(pipeline_id))


@router.patch("/pipelines/{pipeline_id}", response=s.PipelineOut)
def update_pipeline(request, pipeline_id: PathId, payload: s.PipelinePatch):
    require_admin(request.user)
    pipeline = _pipeline(pipeline_id)
    pipeline_services.update_pipeline(
        actor=request.user, pipeline=pipeline, **payload.model_dump(exclude_unset=True)
    )
    return pipeline_out(_pipeline(pipeline_id))


@router.post("/pipelines/{pipeline_id}/stages/", response={201: s.StageOut})
def add_stage(request, pipeline_id: PathId, payload: s.StageIn):
    require_admin(request.user)
    stage = pipeline_services.add_stage(
        actor=request.user, pipeline=_pipeline(pipeline_id), **payload.model_dump()
    )
    return Status(201, stage_out(stage))


@router.patch("/stages/{stage_id}", response=s.StageOut)
def update_stage(request, stage_id: PathId, payload: s.StagePatch):
    require_admin(request.user)
    stage = get_object_or_404(Stage, pk=stage_id)
    stage = pipeline_services.update_stage(
        actor=request.user, stage=stage, **payload.model_dump(exclude_unset=True)
    )
    return stage_out(stage)


@router.delete("/stages/{stage_id}", response={204: None})
def remove_stage(request, stage_id: PathId):
    require_admin(request.user)
    pipeline_services.remove_stage(actor=request.user, stage=get_object_or_404(Stage, pk=stage_id))
    return Status(204, None)


@router.get("/lost-reasons/", response=list[s.LostReasonOut])
def list_lost_reasons(request):
    return [
        {"id": r.pk, "name": r.name, "is_active": r.is_active} for r in LostReason.objects.all()
    ]


@router.post("/lost-reasons/", response={201: s.LostReasonOut})
def create_lost_reason(request, payload: s.LostReasonIn):
    require_admin(request.user)
    reason = pipeline_services.create_lost_reason(actor=request.user, **payload.model_dump())
    return Status(201, {"id": reason.pk, "name": reason.name, "is_active": reason.is_active})


# -- board, forecast, analytics ----------------------------------------------------------------


def _board_filters(request) -> board_reads.BoardFilters:
    filters, errors = board_reads.BoardFilters.from_params(request.GET)
    if errors:
        raise ValidationError({f"query.{k}": [v] for k, v in errors.items()})
    return filters


@router.get("/pipelines/{pipeline_id}/board", response=s.BoardOut)
def get_board(
    request,
    pipeline_id: PathId,
    owner_id: RecordId | None = None,
    team_id: RecordId | None = None,
    close_month: str | None = Query(None, pattern=r"^\d{4}-\d{2}$"),
    limit: int = Query(board_reads.CARDS_PER_COLUMN, ge=1, le=200),
):
    """Every column with its count and totals (one aggregate query) and its first cards."""
    pipeline = _pipeline(pipeline_id)
    _stages, columns = board_reads.build_board(
        pipeline, request.user, _board_filters(request), per_column=limit
    )
    return {
        "pipeline": pipeline_out(pipeline),
        "columns": [
            {
                "stage": stage_out(column.stage),
                **{k: v for k, v in column_summary_out(column).items() if k != "stage_id"},
                "deals": [card_out(d) for d in column.deals],
                "next_cursor": column.next_cursor,
            }
            for column in columns
        ],
    }


@router.get("/pipelines/{pipeline_id}/board/stages/{stage_id}", response=s.CardPage)
def get_board_column(
    request,
    pipeline_id: PathId,
    stage_id: PathId,
    cursor: str | None = None,
    owner_id: RecordId | None = None,
    team_id: RecordId | None = None,
    close_month: str | None = Query(None, pattern=r"^\d{4}-\d{2}$"),
    limit: int = Query(board_reads.CARDS_PER_COLUMN, ge=1, le=200),
):
    """More cards of one column, after `cursor` (from the board or the previous page)."""
    pipeline = _pipeline(pipeline_id)
    stage = get_object_or_404(Stage, pk=stage_id, pipeline=pipeline)
    queryset = board_reads.board_queryset(pipeline, request.user, _board_filters(request))
    page = board_reads.column_page(queryset, stage, cursor=cursor, limit=limit)
    return {"items": [card_out(d) for d in page.items], "next_cursor": page.next_cursor}


# Forecasts look at deals, not history or science fiction; the bounds also keep the last of
# 36 months a real date.
FORECAST_YEARS = (1900, 2999)


def _first_month(start: str) -> dt.date:
    try:
        first = dt.date.fromisoformat(f"{start}-01")
    except ValueError:
        first = None
    if first is None or not FORECAST_YEARS[0] <= first.year <= FORECAST_YEARS[1]:
        raise ValidationError(
            {"query.start": ["Give a month as YYYY-MM, between 1900-01 and 2999-12."]}
        )
    return first


@router.get("/pipelines/{pipeline_id}/forecast", response=list[s.ForecastRow])
def get_forecast(
    request,
    pipeline_id: PathId,
    start: str | None = Query(None, pattern=r"^\d{4}-\d{2}$"),
    months: int = Query(6, ge=1, le=36),
):
    """Weighted forecast per month and currency: won in full, open × stage probability, lost 0."""
    pipeline = _pipeline(pipeline_id)
    first = _first_month(start) if start else month_of(timezone.localdate())
    rows = reports.forecast_rows(pipeline, request.user, first_month=first, months=months)
    return [_forecast_row_out(row) for row in rows]


def _forecast_row_out(row) -> dict:
    return {
        "month": row.month.strftime("%Y-%m"),
        "currency": row.currency,
        "won": row.won,
        "weighted_open": row.weighted_open,
        "forecast": row.forecast,
        "open_total": row.open_total,
        "lost": row.lost,
        "open_deals": row.open_deals,
        "won_deals": row.won_deals,
        "lost_deals": row.lost_deals,
    }


def _originals_out(pairs) -> list[dict]:
    return [{"currency": code, "amount": amount} for code, amount in pairs]


@router.get("/pipelines/{pipeline_id}/forecast/company-currency", response=s.CompanyForecastOut)
def get_company_forecast(
    request,
    pipeline_id: PathId,
    start: str | None = Query(None, pattern=r"^\d{4}-\d{2}$"),
    months: int = Query(6, ge=1, le=36),
):
    """The weighted forecast in the company currency, each deal converted at its own date, with
    the per-currency rows beside it and the rates that were missing."""
    pipeline = _pipeline(pipeline_id)
    first = _first_month(start) if start else month_of(timezone.localdate())
    result = reports.company_forecast(pipeline, request.user, first_month=first, months=months)
    return {
        "currency": result.currency,
        "months": [
            {k: v for k, v in _forecast_row_out(row).items() if k != "currency"}
            for row in result.months
        ],
        "missing_rates": missing_rates_out(result.missing),
        "by_currency": [_forecast_row_out(row) for row in result.by_currency],
    }


def _value_out(value) -> dict:
    return {
        "currency": value.currency,
        "won_value": value.won.amount,
        "won_originals": _originals_out(value.won.originals),
        "won_deals": value.won_deals,
        "average_won": value.average_won,
        "by_stage": [
            {
                "stage_id": row.stage_id,
                "stage": row.name,
                "open_deals": row.open_deals,
                "open_value": row.total.amount,
                "originals": _originals_out(row.total.originals),
            }
            for row in value.by_stage
        ],
        "missing_rates": missing_rates_out(value.missing),
    }


def _win_rates_out(rows) -> list[dict]:
    return [
        {**row, "won_value": row["won_value"].amount if row["won_value"] else None} for row in rows
    ]


@router.get("/pipelines/{pipeline_id}/analytics", response=s.AnalyticsOut)
def get_analytics(request, pipeline_id: PathId):
    """Conversion stage to stage, time in stage, bottleneck, stalled deals, win rates."""
    report = reports.pipeline_report(_pipeline(pipeline_id), request.user)
    bottleneck = report["bottleneck"]
    return {
        "deal_count": report["deal_count"],
        "open_count": report["open_count"],
        "won": report["won"],
        "lost": report["lost"],
        "win_rate": report["win_rate"],
        "conversion": [
            {
                "stage_id": c.stage_id,
                "stage": c.name,
                "next_stage": c.next_name,
                "reached": c.reached,
                "advanced": c.advanced,
                "decided": c.decided,
                "open_here": c.open_here,
                "rate": c.rate,
            }
            for c in report["conversion"]
        ],
        "time_in_stage": [
            {
                "stage_id": t.stage_id,
                "stage": t.name,
                "completed_visits": t.completed_visits,
                "median_days": t.median_days,
                "mean_days": t.mean_days,
                "open_deals": t.open_deals,
                "oldest_open_days": t.oldest_open_days,
            }
            for t in report["times"]
        ],
        "bottleneck": (
            {
                "stage_id": bottleneck.stage_id,
                "stage": bottleneck.name,
                "rate": bottleneck.rate,
                "median_days": bottleneck.median_days,
                "reason": bottleneck.reason,
            }
            if bottleneck
            else None
        ),
        "stalled_deal_ids": [d.pk for d in report["stalled"]],
        "win_rate_by_source": _win_rates_out(report["win_by_source"]),
        "win_rate_by_owner": _win_rates_out(report["win_by_owner"]),
        "value": _value_out(report["value"]),
    }


# -- deals -------------------------------------------------------------------------------------

DEAL_ORDERINGS = {
    "expected_close_date": ("expected_close_date", False),
    "-expected_close_date": ("expected_close_date", True),
    "amount": ("amount", False),
    "-amount": ("amount", True),
    "created_at": ("created_at", False),
    "-created_at": ("created_at", True),
}


@router.get("/deals/", response=s.DealPage)
def list_deals(
    request,
    pipeline_id: RecordId | None = None,
    stage_id: RecordId | None = None,
    status: str | None = Query(None, pattern=r"^(open|won|lost)$"),
    owner_id: RecordId | None = None,
    contact_id: RecordId | None = None,
    organization_id: RecordId | None = None,
    q: str | None = Query(None, max_length=200),
    ordering: str = Query(
        "expected_close_date", pattern=r"^-?(expected_close_date|amount|created_at)$"
    ),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
):
    deals = (
        Deal.objects.visible_to(request.user)
        .active()
        .select_related("stage", "owner", "contact", "organization", "lost_reason")
        .prefetch_related("tags")
    )
    for name, value in (
        ("pipeline_id", pipeline_id),
        ("stage_id", stage_id),
        ("status", status),
        ("owner_id", owner_id),
        ("contact_id", contact_id),
        ("organization_id", organization_id),
    ):
        if value is not None:
            deals = deals.filter(**{name: value})
    if q:
        deals = deals.filter(name__icontains=q.strip())
    field, descending = DEAL_ORDERINGS[ordering]
    page = keyset_page(deals, order_field=field, descending=descending, cursor=cursor, limit=limit)
    return {"items": [deal_out(d) for d in page.items], "next_cursor": page.next_cursor}


@router.post("/deals/", response={201: s.DealOut})
def create_deal(request, payload: s.DealIn):
    require_write(request.user)
    data = payload.model_dump()
    pipeline = Pipeline.objects.filter(pk=data.pop("pipeline_id")).first()
    if pipeline is None:
        raise _id_error("pipeline_id", "No such pipeline.")
    stage_id = data.pop("stage_id")
    stage = None
    if stage_id is not None:
        stage = Stage.objects.filter(pk=stage_id, pipeline=pipeline).first()
        if stage is None:
            raise _id_error("stage_id", "Choose a stage of this pipeline.")
    reason_id = data.pop("lost_reason_id")
    lost_reason = LostReason.objects.filter(pk=reason_id).first() if reason_id else None
    if reason_id and lost_reason is None:
        raise _id_error("lost_reason_id", "No such lost reason.")
    links = _links(
        request.user, {k: data.pop(k) for k in ("owner_id", "contact_id", "organization_id")}
    )
    if links.get("owner") is None:
        links.pop("owner")
    deal = deal_services.create_deal(
        actor=request.user, pipeline=pipeline, stage=stage, lost_reason=lost_reason, **links, **data
    )
    return Status(201, deal_out(_deal(request.user, deal.pk)))


@router.get("/deals/{deal_id}", response=s.DealOut)
def get_deal(request, deal_id: PathId):
    return deal_out(_deal(request.user, deal_id))


@router.patch("/deals/{deal_id}", response=s.DealOut)
def update_deal(request, deal_id: PathId, payload: s.DealPatch):
    require_write(request.user)
    deal = _deal(request.user, deal_id)
    data = payload.model_dump(exclude_unset=True)
    links = _links(
        request.user,
        {k: data.pop(k) for k in ("owner_id", "contact_id", "organization_id") if k in data},
    )
    deal_services.update_deal(actor=request.user, deal=deal, **links, **data)
    return deal_out(_deal(request.user, deal_id))


@router.post("/deals/{deal_id}/archive", response=s.DealOut)
def archive_deal(request, deal_id: PathId):
    require_write(request.user)
    deal = _deal(request.user, deal_id)
    deal_services.archive_deal(actor=request.user, deal=deal)
    return deal_out(deal)


def _summaries(deal: Deal, user, stage_ids) -> list[dict]:
    queryset = board_reads.board_queryset(deal.pipeline, user, board_reads.BoardFilters())
    stages = list(Stage.objects.filter(pk__in=stage_ids))
    columns = board_reads.column_summaries(queryset.filter(stage_id__in=stage_ids), stages)
    return [column_summary_out(columns[stage.pk]) for stage in stages]


@router.post("/deals/{deal_id}/move", response=s.MoveOut)
def move_deal(request, deal_id: PathId, payload: s.MoveIn):
    """Move a deal to another stage; the answer has the new counts of both columns."""
    require_write(request.user)
    deal = _deal(request.user, deal_id)
    stage = Stage.objects.filter(pk=payload.stage_id).first()
    if stage is None:
        raise _id_error("stage_id", "No such stage.")
    lost_reason = None
    if payload.lost_reason_id:
        lost_reason = LostReason.objects.filter(pk=payload.lost_reason_id).first()
        if lost_reason is None:
            raise _id_error("lost_reason_id", "No such lost reason.")
    from_stage_id = deal.stage_id
    change = deal_services.move_deal(
        actor=request.user,
        deal=deal,
        stage=stage,
        lost_reason=lost_reason,
        lost_note=payload.lost_note,
    )
    moved = _deal(request.user, deal_id)
    return {
        "deal": deal_out(moved),
        "change_id": change.pk if change else None,
        "moved": change is not None,
        "columns": _summaries(moved, request.user, {from_stage_id, stage.pk}),
    }


@router.post("/deals/{deal_id}/undo-move", response=s.MoveOut)
def undo_move(request, deal_id: PathId, payload: s.UndoIn):
    require_write(request.user)
    deal = _deal(request.user, deal_id)
    change = deal.stage_changes.filter(pk=payload.change_id).first()
    if change is None:
        raise _id_error("change_id", "No such move of this deal.")
    moved_away_from = change.to_stage_id
    deal_services.undo_stage_move(actor=request.user, change=change)
    restored = _deal(request.user, deal_id)
    return {
        "deal": deal_out(restored),
        "change_id": None,
        "moved": True,
        "columns": _summaries(restored, request.user, {moved_away_from, restored.stage_id}),
    }


@router.get("/deals/{deal_id}/history", response=list[s.StageChangeOut])
def deal_history(request, deal_id: PathId):
    deal = _deal(request.user, deal_id)
    return [
        {
            "id": c.pk,
            "from_stage_id": c.from_stage_id,
            "from_stage": c.from_stage.name if c.from_stage_id else None,
            "to_stage_id": c.to_stage_id,
            "to_stage": c.to_stage.name,
            "changed_at": c.changed_at,
            "actor": str(c.actor) if c.actor_id else None,
            "lost_reason": str(c.lost_reason) if c.lost_reason_id else None,
        }
        for c in deal.stage_changes.select_related("from_stage", "to_stage", "actor", "lost_reason")
    ]


# -- leads -------------------------------------------------------------------------------------

LEAD_ORDERINGS = {
    "-score": ("sort_score", True),
    "score": ("sort_score", False),
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
}
UNSCORED = -1_000_000


def lead_queryset(user):
    return (
        leads_visible_to(user)
        .select_related("owner", "lead_score")
        .prefetch_related("product_interests")
        .annotate(sort_score=Coalesce("lead_score__score", Value(UNSCORED)))
    )


@router.get("/leads/", response=s.LeadPage)
def list_leads(
    request,
    mine: bool = False,
    owner_id: RecordId | None = None,
    unassigned: bool = False,
    stage: str | None = Query(None, max_length=30),
    source: str | None = Query(None, max_length=20),
    min_score: int | None = Query(None, ge=-MAX_COUNT, le=MAX_COUNT),
    max_score: int | None = Query(None, ge=-MAX_COUNT, le=MAX_COUNT),
    q: str | None = Query(None, max_length=200),
    ordering: str = Query("-score", pattern=r"^-?(score|created_at)$"),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
):
    """Leads the caller may see, highest score first unless told otherwise."""
    leads = lead_queryset(request.user)
    if mine:
        leads = leads.filter(owner_id=request.user.pk)
    if owner_id is not None:
        leads = leads.filter(owner_id=owner_id)
    if unassigned:
        leads = leads.filter(owner__isnull=True)
    if stage:
        leads = leads.filter(lifecycle_stage=stage)
    if source:
        leads = leads.filter(source=source)
    if min_score is not None:
        leads = leads.filter(lead_score__score__gte=min_score)
    if max_score is not None:
        leads = leads.filter(lead_score__score__lte=max_score)
    if q:
        leads = leads.search(q)
    field, descending = LEAD_ORDERINGS[ordering]
    page = keyset_page(leads, order_field=field, descending=descending, cursor=cursor, limit=limit)
    return {"items": [lead_out(c) for c in page.items], "next_cursor": page.next_cursor}


def _lead(user, contact_id: int) -> Contact:
    lead = lead_queryset(user).filter(pk=contact_id).first()
    if lead is None:
        raise Http404
    return lead


def lead_detail_out(contact: Contact) -> dict:
    try:
        score = contact.lead_score
    except LeadScore.DoesNotExist:
        score = None
    return {
        **lead_out(contact),
        "explanation": score_out(score),
        "assignments": [
            assignment_out(a) for a in contact.lead_assignments.select_related("owner")[:20]
        ],
    }


@router.post("/leads/", response={201: s.LeadDetailOut})
def create_lead_endpoint(request, payload: s.LeadIn):
    """A new lead; unless an owner is given, the assignment rules pick one, and it is scored."""
    require_write(request.user)
    data = payload.model_dump()
    owner_id = data.pop("owner_id")
    owner = _active_user(owner_id, "owner_id") if owner_id else None
    contact = create_lead(actor=request.user, owner=owner, **data)
    # Rules may have given the lead to someone outside the caller's scope; it was still made.
    visible = lead_queryset(request.user).filter(pk=contact.pk).first()
    return Status(
        201,
        lead_detail_out(
            visible or Contact.objects.prefetch_related("product_interests").get(pk=contact.pk)
        ),
    )


@router.get("/leads/{contact_id}", response=s.LeadDetailOut)
def get_lead(request, contact_id: PathId):
    return lead_detail_out(_lead(request.user, contact_id))


@router.get("/leads/{contact_id}/score", response=s.LeadScoreDetailOut)
def get_lead_score(request, contact_id: PathId):
    """The current score with its explanation, and how it moved over time."""
    lead = _lead(request.user, contact_id)
    history = LeadScoreHistory.objects.filter(contact=lead)[:100]
    try:
        score = lead.lead_score
    except LeadScore.DoesNotExist:
        score = None
    return {
        "current": score_out(score),
        "history": [
            {
                "score": h.score,
                "basis": h.basis,
                "rule_points": h.rule_points,
                "probability": h.model_probability,
                "computed_at": h.computed_at,
            }
            for h in history
        ],
    }


@router.post("/leads/{contact_id}/rescore", response=s.LeadScoreDetailOut)
def rescore_lead(request, contact_id: PathId):
    require_write(request.user)
    lead = _lead(request.user, contact_id)
    score_lead(contact=lead, actor=request.user)
    return get_lead_score(request, contact_id)


@router.post("/leads/{contact_id}/convert", response={201: s.DealOut})
def convert_lead_endpoint(request, contact_id: PathId, payload: s.ConvertIn):
    """Open a deal for the lead and move it on to opportunity."""
    require_write(request.user)
    lead = _lead(request.user, contact_id)
    pipeline = (
        Pipeline.objects.filter(pk=payload.pipeline_id).first()
        if payload.pipeline_id
        else pipeline_services.default_pipeline()
    )
    if pipeline is None:
        raise _id_error("pipeline_id", "No such pipeline.")
    stage = None
    if payload.stage_id:
        stage = Stage.objects.filter(pk=payload.stage_id, pipeline=pipeline).first()
        if stage is None:
            raise _id_error("stage_id", "Choose a stage of this pipeline.")
    owner = _links(request.user, {"owner_id": payload.owner_id}).get("owner")
    deal = convert_lead(
        actor=request.user,
        contact=lead,
        pipeline=pipeline,
        stage=stage,
        name=payload.name,
        amount=payload.amount,
        currency=payload.currency,
        expected_close_date=payload.expected_close_date,
        owner=owner,
    )
    return Status(201, deal_out(_deal(request.user, deal.pk)))


@router.post("/leads/{contact_id}/assign", response=s.AssignmentOut)
def assign_lead_endpoint(request, contact_id: PathId, payload: s.AssignIn):
    """Give the lead to `owner_id`, or (without one) run the assignment rules again."""
    require_write(request.user)
    lead = _lead(request.user, contact_id)
    if payload.owner_id:
        owner = _active_user(payload.owner_id, "owner_id")
        assignment = assign_lead_by_hand(
            actor=request.user, contact=lead, owner=owner, note=payload.note
        )
    else:
        assignment = assign_lead(
            contact=lead, actor=request.user, only_if_unowned=False, keep_team_owner=True
        )
    return assignment_out(assignment)


# -- web forms (administrators) ----------------------------------------------------------------


def _form_values(payload_data: dict) -> dict:
    if "fields" in payload_data and payload_data["fields"] is not None:
        payload_data["fields"] = [dict(f) for f in payload_data["fields"]]
    if "allowed_origins" in payload_data and payload_data["allowed_origins"] is not None:
        payload_data["allowed_origins"] = "\n".join(payload_data["allowed_origins"])
    return payload_data


@router.get("/web-forms/", response=list[s.WebFormOut])
def list_webforms(request):
    require_admin(request.user)
    return [webform_out(request, form) for form in WebForm.objects.all()]


@router.post("/web-forms/", response={201: s.WebFormOut})
def create_webform(request, payload: s.WebFormIn):
    require_admin(request.user)
    data = _form_values(payload.model_dump())
    form = form_services.create_webform(actor=request.user, **data)
    return Status(201, webform_out(request, form))


@router.get("/web-forms/{form_id}", response=s.WebFormOut)
def get_webform(request, form_id: PathId):
    require_admin(request.user)
    return webform_out(request, get_object_or_404(WebForm, pk=form_id))


@router.patch("/web-forms/{form_id}", response=s.WebFormOut)
def update_webform(request, form_id: PathId, payload: s.WebFormPatch):
    require_admin(request.user)
    form = get_object_or_404(WebForm, pk=form_id)
    data = _form_values(payload.model_dump(exclude_unset=True))
    form = form_services.update_webform(actor=request.user, form=form, **data)
    return webform_out(request, form)


@router.get("/web-forms/{form_id}/submissions", response=list[s.SubmissionOut])
def list_submissions(request, form_id: PathId, limit: int = Query(50, ge=1, le=500)):
    require_admin(request.user)
    form = get_object_or_404(WebForm, pk=form_id)
    return [
        {
            "id": sub.pk,
            "contact_id": sub.contact_id,
            "is_new_contact": sub.is_new_contact,
            "campaign": sub.campaign,
            "data": sub.data,
            "created_at": sub.created_at,
            "processed_at": sub.processed_at,
        }
        for sub in form.submissions.all()[:limit]
    ]


# -- scoring (rules and model) -----------------------------------------------------------------


def scoring_rule_out(rule: ScoringRule, fields) -> dict:
    return {
        "id": rule.pk,
        "name": rule.name,
        "condition": rule.condition,
        "description": describe(rule.condition, fields),
        "points": rule.points,
        "half_life_days": rule.half_life_days,
        "decay_anchor": rule.decay_anchor,
        "position": rule.position,
        "is_active": rule.is_active,
    }


@router.get("/scoring/rules/", response=list[s.ScoringRuleOut])
def list_scoring_rules(request):
    fields = lead_field_set()
    return [scoring_rule_out(rule, fields) for rule in ScoringRule.objects.all()]


@router.post("/scoring/rules/", response={201: s.ScoringRuleOut})
def create_scoring_rule_endpoint(request, payload: s.ScoringRuleIn):
    require_admin(request.user)
    rule = create_scoring_rule(actor=request.user, **payload.model_dump())
    return Status(201, scoring_rule_out(rule, lead_field_set()))


@router.patch("/scoring/rules/{rule_id}", response=s.ScoringRuleOut)
def update_scoring_rule_endpoint(request, rule_id: PathId, payload: s.ScoringRulePatch):
    require_admin(request.user)
    rule = get_object_or_404(ScoringRule, pk=rule_id)
    rule = update_scoring_rule(
        actor=request.user, rule=rule, **payload.model_dump(exclude_unset=True)
    )
    return scoring_rule_out(rule, lead_field_set())


@router.delete("/scoring/rules/{rule_id}", response={204: None})
def delete_scoring_rule_endpoint(request, rule_id: PathId):
    require_admin(request.user)
    delete_scoring_rule(actor=request.user, rule=get_object_or_404(ScoringRule, pk=rule_id))
    return Status(204, None)


@router.get("/scoring/model", response=s.ModelStateOut)
def get_model(request):
    """The model scoring leads now (if any) and the latest training run, with its quality."""
    active = active_model()
    return {
        "active": model_out(active),
        "latest": model_out(latest_model()),
        "scores_by": "model" if active else "rules",
    }


@router.post("/scoring/model/retrain", response={202: s.Enqueued})
def retrain_model(request):
    require_admin(request.user)
    result = tasks.retrain_lead_model.enqueue(actor_id=request.user.pk, trigger="user")
    return Status(202, {"task_id": str(result.id), "status": str(result.status)})


@router.post("/scoring/rescore", response={202: s.Enqueued})
def rescore_all(request):
    require_admin(request.user)
    result = tasks.score_all_leads.enqueue(actor_id=request.user.pk)
    return Status(202, {"task_id": str(result.id), "status": str(result.status)})


# -- assignment rules --------------------------------------------------------------------------


def assignment_rule_out(rule: AssignmentRule, fields: dict | None = None) -> dict:
    """`fields`: each kind's field set, when a list has read them once."""
    kind_fields = (fields or {}).get(rule.kind) or assignment_kinds.field_set(rule.kind)
    return {
        "id": rule.pk,
        "name": rule.name,
        "kind": rule.kind,
        "condition": rule.condition,
        "description": describe(rule.condition, kind_fields),
        "target_user_id": rule.target_user_id,
        "target_team_id": rule.target_team_id,
        "target": str(rule.target_user or rule.target_team),
        "position": rule.position,
        "is_active": rule.is_active,
    }


def _targets(data: dict) -> dict:
    resolved = {}
    if "target_user_id" in data:
        user_id = data.pop("target_user_id")
        resolved["target_user"] = _active_user(user_id, "target_user_id") if user_id else None
    if "target_team_id" in data:
        team_id = data.pop("target_team_id")
        team = Team.objects.filter(pk=team_id).first() if team_id else None
        if team_id and team is None:
            raise _id_error("target_team_id", "No such team.")
        resolved["target_team"] = team
    return resolved


@router.get("/assignment-rules/", response=list[s.AssignmentRuleOut])
def list_assignment_rules(request):
    rules = list(AssignmentRule.objects.select_related("target_user", "target_team"))
    fields = {kind: assignment_kinds.field_set(kind) for kind in {rule.kind for rule in rules}}
    return [assignment_rule_out(rule, fields) for rule in rules]


@router.post("/assignment-rules/", response={201: s.AssignmentRuleOut})
def create_assignment_rule_endpoint(request, payload: s.AssignmentRuleIn):
    require_admin(request.user)
    data = payload.model_dump()
    rule = create_assignment_rule(actor=request.user, **_targets(data), **data)
    return Status(201, assignment_rule_out(rule))


@router.post("/assignment-rules/rerun", response={202: s.Enqueued})
def rerun_assignment(request, payload: s.RerunIn):
    """Run the rules again on existing leads (unassigned ones, or all open leads)."""
    require_admin(request.user)
    result = tasks.reassign_leads.enqueue(actor_id=request.user.pk, scope=payload.scope)
    return Status(202, {"task_id": str(result.id), "status": str(result.status)})


@router.patch("/assignment-rules/{rule_id}", response=s.AssignmentRuleOut)
def update_assignment_rule_endpoint(request, rule_id: PathId, payload: s.AssignmentRulePatch):
    require_admin(request.user)
    rule = get_object_or_404(AssignmentRule, pk=rule_id)
    data = payload.model_dump(exclude_unset=True)
    targets = _targets(data)
    # Naming a new target replaces the old one of the other kind.
    if "target_user" in targets and targets["target_user"] is not None:
        targets.setdefault("target_team", None)
    if "target_team" in targets and targets["target_team"] is not None:
        targets.setdefault("target_user", None)
    rule = update_assignment_rule(actor=request.user, rule=rule, **targets, **data)
    return assignment_rule_out(rule)


@router.delete("/assignment-rules/{rule_id}", response={204: None})
def delete_assignment_rule_endpoint(request, rule_id: PathId):
    require_admin(request.user)
    delete_assignment_rule(actor=request.user, rule=get_object_or_404(AssignmentRule, pk=rule_id))
    return Status(204, None)


# -- tasks -------------------------------------------------------------------------------------


def _task(user, task_id: int) -> Task:
    return get_object_or_404(Task.objects.visible_to(user).select_related("assignee"), pk=task_id)


@router.get("/tasks/", response=s.TaskPage)
def list_tasks(
    request,
    view: str = Query("mine", pattern=r"^(mine|created|all)$"),
    status: str | None = Query("open", pattern=r"^(open|done)$"),
    due_before: Moment | None = None,
    due_after: Moment | None = None,
    deal_id: RecordId | None = None,
    contact_id: RecordId | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
):
    """Tasks by due time: the caller's own (default), those they created, or all they may see."""
    visible = Task.objects.visible_to(request.user).select_related("assignee")
    if view == "mine":
        visible = visible.filter(assignee_id=request.user.pk)
    elif view == "created":
        visible = visible.filter(created_by_id=request.user.pk)
    if status:
        visible = visible.filter(status=status)
    if due_before:
        visible = visible.filter(due_at__lt=due_before)
    if due_after:
        visible = visible.filter(due_at__gte=due_after)
    if deal_id:
        visible = visible.filter(deal_id=deal_id)
    if contact_id:
        visible = visible.filter(contact_id=contact_id)
    page = keyset_page(visible, order_field="due_at", descending=False, cursor=cursor, limit=limit)
    return {"items": [task_out(t) for t in page.items], "next_cursor": page.next_cursor}


@router.post("/tasks/", response={201: s.TaskOut})
def create_task(request, payload: s.TaskIn):
    """A task for yourself or anyone active — also in another team (a hand-off)."""
    require_write(request.user)
    data = payload.model_dump()
    assignee_id = data.pop("assignee_id")
    assignee = _active_user(assignee_id, "assignee_id") if assignee_id else request.user
    links = _links(
        request.user, {k: data.pop(k) for k in ("contact_id", "organization_id", "deal_id")}
    )
    task = work.create_task(actor=request.user, assignee=assignee, **links, **data)
    return Status(201, task_out(task))


@router.get("/tasks/{task_id}", response=s.TaskOut)
def get_task(request, task_id: PathId):
    return task_out(_task(request.user, task_id))


@router.patch("/tasks/{task_id}", response=s.TaskOut)
def update_task(request, task_id: PathId, payload: s.TaskPatch):
    require_write(request.user)
    task = _task(request.user, task_id)
    data = payload.model_dump(exclude_unset=True)
    if "assignee_id" in data:
        data["assignee"] = _active_user(data.pop("assignee_id"), "assignee_id")
    links = _links(
        request.user,
        {k: data.pop(k) for k in ("contact_id", "organization_id", "deal_id") if k in data},
    )
    task = work.update_task(actor=request.user, task=task, **links, **data)
    return task_out(task)


@router.post("/tasks/{task_id}/complete", response=s.TaskOut)
def complete_task(request, task_id: PathId):
    require_write(request.user)
    return task_out(work.complete_task(actor=request.user, task=_task(request.user, task_id)))


@router.post("/tasks/{task_id}/reopen", response=s.TaskOut)
def reopen_task(request, task_id: PathId):
    require_write(request.user)
    return task_out(work.reopen_task(actor=request.user, task=_task(request.user, task_id)))


@router.delete("/tasks/{task_id}", response={204: None})
def delete_task(request, task_id: PathId):
    require_write(request.user)
    work.delete_task(actor=request.user, task=_task(request.user, task_id))
    return Status(204, None)


# -- notifications -----------------------------------------------------------------------------


def notification_out(n: Notification) -> dict:
    return {
        "id": n.pk,
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "url": n.url,
        "created_at": n.created_at,
        "read_at": n.read_at,
    }


@router.get("/notifications/", response=list[s.NotificationOut])
def list_notifications(request, unread: bool = False, limit: int = Query(50, ge=1, le=200)):
    items = Notification.objects.for_user(request.user)
    if unread:
        items = items.unread()
    return [notification_out(n) for n in items[:limit]]


@router.post("/notifications/{notification_id}/read", response=s.NotificationOut)
def read_notification(request, notification_id: PathId):
    notification = get_object_or_404(
        Notification.objects.for_user(request.user), pk=notification_id
    )
    return notification_out(
        work.mark_notification_read(actor=request.user, notification=notification)
    )


@router.post("/notifications/read-all", response={200: dict})
def read_all_notifications(request):
    return {"marked": work.mark_all_notifications_read(actor=request.user)}


# A deal's product lines live in their own module; mounted here so api.py needs no change.
from rapport.sales.api.deal_lines import router as deal_lines_router  # noqa: E402

router.add_router("", deal_lines_router)

# Quotes too (sales.api.quotes).
from rapport.sales.api.quotes import router as quotes_router  # noqa: E402

router.add_router("", quotes_router)

# And quotas (sales.api.quotas).
from rapport.sales.api.quotas import router as quotas_router  # noqa: E402

router.add_router("", quotas_router)
