"""The dashboards API. Thin: dashboards through `Dashboard.objects.visible_to` (404 otherwise),
every write through `reports.dashboards`, which decides who may change what."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.responses import Status

from rapport.core.api_types import PathId
from rapport.reports import dashboards
from rapport.reports.api.schemas import (
    DashboardDetailOut,
    DashboardIn,
    DashboardOut,
    DashboardPatch,
    WidgetIn,
    WidgetOut,
    WidgetPatch,
)
from rapport.reports.builtin_dashboards import ensure_builtin_dashboards
from rapport.reports.models import Dashboard, Report, Widget

router = Router(tags=["dashboards"])


def _dashboard(request, dashboard_id: int) -> Dashboard:
    return get_object_or_404(
        Dashboard.objects.visible_to(request.auth).prefetch_related(
            "shared_teams", "shared_roles", "default_for_roles"
        ),
        pk=dashboard_id,
    )


def _widget(request, dashboard_id: int, widget_id: int) -> Widget:
    dashboard = _dashboard(request, dashboard_id)
    widget = get_object_or_404(dashboard.widgets.select_related("report"), pk=widget_id)
    widget.dashboard = dashboard
    return widget


def widget_out(widget: Widget) -> dict:
    return {
        "id": widget.pk,
        "kind": widget.kind,
        "title": dashboards.widget_title(widget),
        "report_id": widget.report_id,
        "kpi": widget.kpi,
        "list_key": widget.list_key,
        "span": widget.span,
        "position": widget.position,
    }


def _out(dashboard: Dashboard, user, *, widgets: bool = False) -> dict:
    data = {
        "id": dashboard.pk,
        "name": dashboard.name,
        "key": dashboard.key,
        "is_builtin": dashboard.is_builtin,
        "owner_id": dashboard.owner_id,
        "shared_teams": sorted(team.pk for team in dashboard.shared_teams.all()),
        "shared_roles": sorted(role.pk for role in dashboard.shared_roles.all()),
        "default_for_roles": sorted(role.pk for role in dashboard.default_for_roles.all()),
        "may_change": dashboards.may_change(user, dashboard),
        "created_at": dashboard.created_at,
        "updated_at": dashboard.updated_at,
    }
    if widgets:
        data["widgets"] = [
            widget_out(widget)
            for widget in dashboard.widgets.select_related("report").order_by("position", "id")
        ]
    return data


def _renamed(exc: ValidationError, names: dict[str, str]) -> ValidationError:
    """The service's field names as the API's (`report` → `report_id`)."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({names.get(key, key): value for key, value in exc.message_dict.items()})


@router.get("/dashboards", response=list[DashboardOut])
def list_dashboards(request):
    """The caller's dashboards, the built-ins, and those shared with their teams or role."""
    ensure_builtin_dashboards()
    visible = Dashboard.objects.visible_to(request.auth).prefetch_related(
        "shared_teams", "shared_roles", "default_for_roles"
    )
    return [_out(dashboard, request.auth) for dashboard in visible]


@router.post("/dashboards", response={201: DashboardDetailOut})
def create_dashboard(request, payload: DashboardIn):
    dashboard = dashboards.create_dashboard(actor=request.auth, **payload.model_dump())
    return Status(201, _out(dashboard, request.auth, widgets=True))


@router.get("/dashboards/{dashboard_id}", response=DashboardDetailOut)
def get_dashboard(request, dashboard_id: PathId):
    """A dashboard with its widgets in order (their figures: each report's /results)."""
    return _out(_dashboard(request, dashboard_id), request.auth, widgets=True)


@router.patch("/dashboards/{dashboard_id}", response=DashboardDetailOut)
def update_dashboard(request, dashboard_id: PathId, payload: DashboardPatch):
    """Rename it or change whom it is shared with; `default_for_roles` (administrators) makes
    it Home for those roles."""
    dashboard = _dashboard(request, dashboard_id)
    changes = payload.model_dump(exclude_unset=True)
    roles = changes.pop("default_for_roles", None)
    with transaction.atomic():
        if changes:
            kept = {
                "name": dashboard.name,
                "shared_teams": list(dashboard.shared_teams.all()),
                "shared_roles": list(dashboard.shared_roles.all()),
            }
            given = {key: value for key, value in changes.items() if value is not None}
            dashboards.update_dashboard(
                actor=request.auth, dashboard=dashboard, **{**kept, **given}
            )
        if roles is not None:
            dashboards.set_role_defaults(actor=request.auth, dashboard=dashboard, roles=roles)
    return _out(_dashboard(request, dashboard_id), request.auth, widgets=True)


@router.delete("/dashboards/{dashboard_id}", response={204: None})
def delete_dashboard(request, dashboard_id: PathId):
    dashboards.delete_dashboard(actor=request.auth, dashboard=_dashboard(request, dashboard_id))
    return Status(204, None)


@router.get("/dashboards/{dashboard_id}/widgets", response=list[WidgetOut])
def list_widgets(request, dashboard_id: PathId):
    dashboard = _dashboard(request, dashboard_id)
    return [widget_out(w) for w in dashboard.widgets.select_related("report").order_by("position")]


@router.post("/dashboards/{dashboard_id}/widgets", response={201: WidgetOut})
def add_widget(request, dashboard_id: PathId, payload: WidgetIn):
    """Add a widget at the end: a report the caller may open, a KPI, or a list."""
    dashboard = _dashboard(request, dashboard_id)
    dashboards.require_change(request.auth, dashboard)
    report = None
    if payload.report_id is not None:
        report = Report.objects.visible_to(request.auth).filter(pk=payload.report_id).first()
        if report is None:
            raise ValidationError({"report_id": ["Choose one of the reports you may open."]})
    try:
        widget = dashboards.add_widget(
            actor=request.auth,
            dashboard=dashboard,
            kind=payload.kind,
            report=report,
            kpi=payload.kpi,
            list_key=payload.list_key,
            span=payload.span,
        )
    except ValidationError as exc:
        raise _renamed(exc, {"report": "report_id"}) from exc
    return Status(201, widget_out(widget))


@router.patch("/dashboards/{dashboard_id}/widgets/{widget_id}", response=WidgetOut)
def update_widget(request, dashboard_id: PathId, widget_id: PathId, payload: WidgetPatch):
    """Resize a widget (`span`) or move it to another place in the order (`position`)."""
    widget = _widget(request, dashboard_id, widget_id)
    dashboards.require_change(request.auth, widget.dashboard)
    with transaction.atomic():
        if payload.span is not None:
            widget = dashboards.resize_widget(actor=request.auth, widget=widget, span=payload.span)
        if payload.position is not None:
            order = list(widget.dashboard.widgets.order_by("position", "id"))
            index = next(i for i, item in enumerate(order) if item.pk == widget.pk)
            widget = dashboards.move_widget(
                actor=request.auth, widget=widget, offset=payload.position - index
            )
    widget.refresh_from_db()
    return widget_out(widget)


@router.delete("/dashboards/{dashboard_id}/widgets/{widget_id}", response={204: None})
def delete_widget(request, dashboard_id: PathId, widget_id: PathId):
    dashboards.remove_widget(actor=request.auth, widget=_widget(request, dashboard_id, widget_id))
    return Status(204, None)
