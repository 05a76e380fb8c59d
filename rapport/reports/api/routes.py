"""The reports API. Thin: reports through `Report.objects.visible_to`, writes and runs through
the services; a run counts only the caller's records."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.responses import Status

from rapport.core.api_types import PathId
from rapport.reports import caching, services, tables
from rapport.reports.api import dashboard_routes, delivery_routes
from rapport.reports.api.schemas import (
    ReportIn,
    ReportOut,
    ReportPatch,
    ResultsOut,
    SourceFieldsOut,
)
from rapport.reports.models import Report
from rapport.reports.sources import SOURCES

router = Router(tags=["reports"])


def _report(request, report_id: int) -> Report:
    return get_object_or_404(Report.objects.visible_to(request.auth), pk=report_id)


def _out(report: Report) -> dict:
    return {
        "id": report.pk,
        "name": report.name,
        "description": report.description,
        "source": report.source,
        "conditions": report.conditions or {},
        "group_by": report.group_by,
        "group_period": report.group_period,
        "then_by": report.then_by,
        "then_period": report.then_period,
        "measure": report.measure,
        "measure_field": report.measure_field,
        "chart": report.chart,
        "owner_id": report.owner_id,
        "shared_teams": sorted(team.pk for team in report.shared_teams.all()),
        "shared_roles": sorted(role.pk for role in report.shared_roles.all()),
        "created_at": report.created_at,
        "updated_at": report.updated_at,
    }


@router.get("/reports/fields", response=list[SourceFieldsOut])
def report_fields(request):
    """What each source may be grouped by and measured (the conditions take the same fields
    as segments for contacts and as workflows for deals)."""
    return [
        {
            "source": source.key,
            "label": source.label,
            "group_fields": [
                {"name": f.name, "label": f.label, "kind": f.kind}
                for f in source.group_fields().values()
            ],
            "measure_fields": [
                {"name": f.name, "label": f.label, "kind": "money" if f.is_money else "number"}
                for f in source.measure_fields().values()
            ],
        }
        for source in SOURCES.values()
    ]


@router.get("/reports", response=list[ReportOut])
def list_reports(request):
    """The caller's reports and those shared with their teams or role."""
    reports = Report.objects.visible_to(request.auth).prefetch_related(
        "shared_teams", "shared_roles"
    )
    return [_out(report) for report in reports]


@router.post("/reports", response={201: ReportOut})
def create_report(request, payload: ReportIn):
    report = services.create_report(actor=request.auth, **payload.model_dump())
    return Status(201, _out(report))


@router.get("/reports/{report_id}", response=ReportOut)
def get_report(request, report_id: PathId):
    return _out(_report(request, report_id))


@router.patch("/reports/{report_id}", response=ReportOut)
def update_report(request, report_id: PathId, payload: ReportPatch):
    changes = payload.model_dump(exclude_unset=True)
    report = services.update_report(
        actor=request.auth, report=_report(request, report_id), **changes
    )
    return _out(report)


@router.delete("/reports/{report_id}", response={204: None})
def delete_report(request, report_id: PathId):
    services.delete_report(actor=request.auth, report=_report(request, report_id))
    return Status(204, None)


@router.get("/reports/{report_id}/results", response=ResultsOut)
def report_results(request, report_id: PathId):
    """The report run over the caller's records: each figure with its groups' labels, the
    key to pass as `g1`/`g2` to the records page, and the amounts left out for want of a rate."""
    report = _report(request, report_id)
    result = caching.run_report(report, request.auth)
    return {
        "report_id": report.pk,
        "measure": result.measure_label,
        "currency": result.currency or None,
        "groupings": [
            {"field": key, "label": axis.label, "period": axis.period}
            for key, axis in zip(
                [k for k in (report.group_by, report.then_by) if k], result.axes, strict=True
            )
        ],
        "figures": list(tables.flat_rows(result)),
        "total": result.total,
        "missing_rates": [
            {
                "currency": m.currency,
                "earliest": m.earliest,
                "count": m.count,
                "amount": m.amount,
                "text": m.text,
            }
            for m in result.missing
        ],
        "truncated_groups": result.table.truncated_rows + result.table.truncated_columns,
    }


# Dashboards and scheduled email have routers of their own, mounted here so that the API mounts
# the reports app's one router.
router.add_router("", dashboard_routes.router)
router.add_router("", delivery_routes.router)
