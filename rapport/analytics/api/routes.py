"""The analytics and segments API. Thin: scoped reads of stored analytics, services for writes.

Figures are those of the user's part of the book (the whole book when their role sees every
contact), exactly as the pages show them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from rapport.accounts import access
from rapport.analytics import book, filters, refresh, segments, services
from rapport.analytics.api.schemas import (
    ChangedOut,
    ConfigurationOut,
    ConfigurationPatch,
    CountOut,
    CustomerPage,
    CustomerValueOut,
    FigureOut,
    MembersIn,
    ModelFitOut,
    RunOut,
    SegmentFieldOut,
    SegmentIn,
    SegmentMemberPage,
    SegmentOut,
    SegmentPatch,
    SegmentPreviewIn,
    SummaryOut,
)
from rapport.analytics.models import (
    AnalyticsConfiguration,
    CustomerAnalytics,
    ModelFit,
    RefreshRun,
    Segment,
)
from rapport.contacts.models import Contact
from rapport.core.api_types import PathId
from rapport.core.conditions import ConditionError
from rapport.core.pagination import keyset_page
from rapport.core.problems import also_answers

router = Router(tags=["analytics"])
MAX_LIMIT = 200


# Until the first refresh has run there are no figures: those reads answer 404.
NOT_YET_COMPUTED = also_answers(404)


def _run_or_404() -> RefreshRun:
    run = refresh.latest_run()
    if run is None:
        raise Http404("No analytics computed yet; POST /api/v1/analytics/refresh to compute them.")
    return run


# --------------------------------------------------------------------------- per contact


@router.get("/contacts/{contact_id}/analytics", response=CustomerValueOut)
def contact_analytics(request, contact_id: PathId):
    """The contact's current customer value: tier, CLV, P(alive), RFM, churn risk."""
    contact = get_object_or_404(Contact.objects.visible_to(request.auth), pk=contact_id)
    value = CustomerAnalytics.objects.filter(contact=contact).select_related("run").first()
    if value is None:
        run = refresh.latest_run()
        reason = (
            "No analytics computed yet."
            if run is None
            else f"No paid or shipped order in {run.currency} as of {run.as_of}."
        )
        return {"contact_id": contact.pk, "available": False, "reason": reason}
    run = value.run
    notes = []
    if run is not None:
        notes = [
            f"{fit.get_model_display()}: {fit.reason}"
            for fit in ModelFit.objects.filter(run=run).exclude(status="fitted")
        ]
    settings = (run.settings if run else {}) or {}
    return {
        "contact_id": contact.pk,
        "available": True,
        "as_of": value.computed_on,
        "value_tier": value.value_tier,
        "rfm_segment": value.segment,
        "r_score": value.r_score,
        "f_score": value.f_score,
        "m_score": value.m_score,
        "predicted_clv": value.predicted_clv,
        "p_alive": value.p_alive,
        "expected_purchases": value.expected_purchases,
        "expected_purchases_days": settings.get("expected_purchases_days"),
        "clv_horizon_months": settings.get("clv_horizon_months"),
        "is_at_risk": value.is_at_risk,
        "churn_reason": value.churn_reason_text,
        "revenue_total": value.revenue_total,
        "orders_count": value.orders_count,
        "average_order_value": value.average_order_value,
        "first_order_date": value.first_order_date,
        "last_order_date": value.last_order_date,
        "recency_days": value.recency_days,
        "currency": run.currency if run else None,
        "model_notes": notes,
    }


# --------------------------------------------------------------------------- customers list


class CustomerFilters(Schema):
    q: str = Field("", max_length=200)
    segment: str = Field("", max_length=40)
    tier: str = Field("", max_length=20)
    at_risk: bool = False
    r: int | None = Field(None, ge=1, le=5)
    fm: int | None = Field(None, ge=1, le=5)
    cohort: str = Field("", max_length=7, description="YYYY-MM")
    clv_min: float | None = Field(None, ge=0)
    clv_max: float | None = Field(None, ge=0)
    p_alive_max: float | None = Field(None, ge=0, le=1)
    top_percent: float | None = Field(None, gt=0, le=100)
    sort: str = Field("", max_length=20, description="-clv, clv, -revenue, -p_alive, recency, …")
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


@router.get("/analytics/customers", response=CustomerPage)
def list_customers(request, query: Query[CustomerFilters]):
    """Customers in the caller's scope with their value, filtered and sorted like the page."""
    run = refresh.latest_run()
    params = {
        key: ("1" if value is True else "" if value in (None, False) else str(value))
        for key, value in query.model_dump().items()
    }
    rows, _cleaned, errors = filters.apply_filters(filters.customer_rows(request.auth), params)
    if errors:
        raise filters.params_error(errors)
    if query.sort and query.sort not in filters.SORTS:
        raise ValidationError({"query.sort": [f"Choose one of: {', '.join(filters.SORTS)}."]})
    rows, sort, column, descending = filters.sort_rows(
        rows, query.sort, clv_available=run is not None and run.tier_basis == "clv"
    )
    page = keyset_page(
        rows, order_field=column, descending=descending, cursor=query.cursor, limit=query.limit
    )
    items = [
        {
            "contact_id": row.contact_id,
            "name": row.contact.full_name,
            "email": row.contact.primary_email,
            "value_tier": row.value_tier,
            "rfm_segment": row.segment,
            "predicted_clv": row.predicted_clv,
            "p_alive": row.p_alive,
            "expected_purchases": row.expected_purchases,
            "revenue_total": row.revenue_total,
            "orders_count": row.orders_count,
            "last_order_date": row.last_order_date,
            "recency_days": row.recency_days,
            "is_at_risk": row.is_at_risk,
            "churn_reason": row.churn_reason_text,
        }
        for row in page.items
    ]
    return {"items": items, "next_cursor": page.next_cursor, "sort": sort}


# --------------------------------------------------------------------------- book figures


@router.get("/analytics/summary", response=SummaryOut, openapi_extra=NOT_YET_COMPUTED)
def summary(request):
    run = _run_or_404()
    figures = book.summary(request.auth, run)
    pareto = figures.get("pareto") or {}
    return {
        "run": run,
        "whole_book": book.sees_whole_book(request.auth),
        "customers": figures["customers"],
        "revenue": figures["revenue"],
        "orders": figures["orders"],
        "at_risk": figures["at_risk"],
        "top_20_share": pareto.get("top_20_share"),
        "gini": pareto.get("gini"),
    }


def _figure(request, run, data) -> dict:
    return {
        "run_id": run.pk,
        "as_of": run.as_of,
        "whole_book": book.sees_whole_book(request.auth),
        "data": data,
    }


@router.get("/analytics/rfm", response=FigureOut, openapi_extra=NOT_YET_COMPUTED)
def rfm_figures(request):
    """The R × FM grid (customers and revenue per cell) and the segment table."""
    run = _run_or_404()
    return _figure(request, run, book.rfm(request.auth, run))


@router.get("/analytics/pareto", response=FigureOut, openapi_extra=NOT_YET_COMPUTED)
def pareto_figures(request):
    """The Pareto curve (101 points), top-20 % share and Gini."""
    run = _run_or_404()
    return _figure(request, run, book.pareto(request.auth, run))


@router.get("/analytics/clv", response=FigureOut, openapi_extra=NOT_YET_COMPUTED)
def clv_figures(request):
    """The predicted-CLV histogram and the value tiers."""
    run = _run_or_404()
    return _figure(request, run, book.clv(request.auth, run))


@router.get("/analytics/cohorts", response=FigureOut, openapi_extra=NOT_YET_COMPUTED)
def cohort_figures(request):
    """Retention and revenue per acquisition month × months since."""
    run = _run_or_404()
    return _figure(request, run, book.cohorts(request.auth, run))


@router.get("/analytics/model-fit", response=ModelFitOut, openapi_extra=NOT_YET_COMPUTED)
def model_fit(request):
    """Parameters, log-likelihood, convergence and the holdout check of the last refresh."""
    run = _run_or_404()
    return {
        "run_id": run.pk,
        "as_of": run.as_of,
        "fits": list(ModelFit.objects.filter(run=run)),
        "reference_parameters": AnalyticsConfiguration.current().reference_parameters,
    }


# --------------------------------------------------------------------------- refresh


@router.post("/analytics/refresh", response={202: RunOut})
def request_refresh(request):
    """Queue a refresh (or return the one already queued or running); poll the run for progress."""
    access.require_write(request.auth)
    run = refresh.request_refresh(actor=request.auth)
    run.refresh_from_db()
    return Status(202, run)


@router.get("/analytics/runs", response=list[RunOut])
def list_runs(request):
    return list(RefreshRun.objects.order_by("-created_at", "-id")[:20])


@router.get("/analytics/runs/{run_id}", response=RunOut)
def get_run(request, run_id: PathId):
    return get_object_or_404(RefreshRun, pk=run_id)


@router.get("/analytics/settings", response=ConfigurationOut)
def get_configuration(request):
    return AnalyticsConfiguration.current()


@router.patch("/analytics/settings", response=ConfigurationOut)
def update_configuration(request, payload: ConfigurationPatch):
    changes = payload.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name != "rfm_window_days":
            raise ValidationError({name: ["Must not be null."]})
    return services.update_configuration(actor=request.auth, **changes)


# --------------------------------------------------------------------------- segments


def _segment(request, segment_id: int) -> Segment:
    return get_object_or_404(
        Segment.objects.visible_to(request.auth).filter(is_archived=False), pk=segment_id
    )


def _conditions_error(exc: ConditionError, prefix: str = "conditions") -> ValidationError:
    path = exc.path.removeprefix("$").lstrip(".")
    return ValidationError({f"{prefix}.{path}" if path else prefix: [exc.message]})


def _segment_out(segment: Segment, count: int | None = None) -> dict:
    return {
        "id": segment.pk,
        "name": segment.name,
        "description": segment.description,
        "kind": segment.kind,
        "conditions": segment.conditions or {},
        "created_by_id": segment.created_by_id,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
        "count": count,
    }


@router.get("/segments/fields", response=list[SegmentFieldOut], tags=["segments"])
def segment_fields(request):
    """The fields a segment condition may name, with their operators (and choices, if any)."""
    result = []
    for definition in segments.available_fields().values():
        choices = definition.choices() if definition.choices else None
        result.append(
            {
                "name": definition.name,
                "label": definition.label,
                "kind": definition.kind,
                "group": definition.group,
                "operators": list(definition.operators),
                "choices": [[str(v), str(label)] for v, label in choices] if choices else None,
            }
        )
    return result


@router.post("/segments/preview", response=CountOut, tags=["segments"])
def preview_segment(request, payload: SegmentPreviewIn):
    """How many contacts in the caller's scope match some conditions (the editor's live count)."""
    try:
        return {"count": segments.count_matching(payload.conditions, request.auth)}
    except ConditionError as exc:
        raise _conditions_error(exc) from exc


class SegmentListQuery(Schema):
    with_counts: bool = False


@router.get("/segments/", response=list[SegmentOut], tags=["segments"])
def list_segments(request, query: Query[SegmentListQuery]):
    """Active segments; `with_counts=true` adds each one's member count in the caller's scope
    (one query per segment)."""
    items = Segment.objects.visible_to(request.auth).filter(is_archived=False)
    return [
        _segment_out(s, segments.members(s, request.auth).count() if query.with_counts else None)
        for s in items
    ]


@router.post("/segments/", response={201: SegmentOut}, tags=["segments"])
def create_segment(request, payload: SegmentIn):
    segment = services.create_segment(
        actor=request.auth,
        name=payload.name,
        description=payload.description,
        kind=payload.kind,
        conditions=payload.conditions,
    )
    return Status(201, _segment_out(segment, segments.members(segment, request.auth).count()))


@router.get("/segments/{segment_id}", response=SegmentOut, tags=["segments"])
def get_segment(request, segment_id: PathId):
    segment = _segment(request, segment_id)
    return _segment_out(segment, segments.members(segment, request.auth).count())


@router.patch("/segments/{segment_id}", response=SegmentOut, tags=["segments"])
def update_segment(request, segment_id: PathId, payload: SegmentPatch):
    segment = _segment(request, segment_id)
    changes = payload.model_dump(exclude_unset=True)
    segment = services.update_segment(actor=request.auth, segment=segment, **changes)
    return _segment_out(segment, segments.members(segment, request.auth).count())


@router.delete("/segments/{segment_id}", response={204: None}, tags=["segments"])
def archive_segment(request, segment_id: PathId):
    services.archive_segment(actor=request.auth, segment=_segment(request, segment_id))
    return Status(204, None)


class MemberQuery(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


@router.get("/segments/{segment_id}/members", response=SegmentMemberPage, tags=["segments"])
def segment_members(request, segment_id: PathId, query: Query[MemberQuery]):
    """The segment's members in the caller's scope, by contact id."""
    segment = _segment(request, segment_id)
    contacts = segments.members(segment, request.auth)
    page = keyset_page(contacts, order_field="id", cursor=query.cursor, limit=query.limit)
    return {"items": page.items, "next_cursor": page.next_cursor, "count": contacts.count()}


@router.post("/segments/{segment_id}/members", response=ChangedOut, tags=["segments"])
def add_members(request, segment_id: PathId, payload: MembersIn):
    """Put contacts on a static list (contacts already on it are kept once)."""
    segment = _segment(request, segment_id)
    added = services.add_to_list(
        actor=request.auth, segment=segment, contact_ids=payload.contact_ids
    )
    return {"changed": added}


@router.delete(
    "/segments/{segment_id}/members/{contact_id}", response=ChangedOut, tags=["segments"]
)
def remove_member(request, segment_id: PathId, contact_id: PathId):
    segment = _segment(request, segment_id)
    removed = services.remove_from_list(
        actor=request.auth, segment=segment, contact_ids=[contact_id]
    )
    return {"changed": removed}
