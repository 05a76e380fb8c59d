"""Every write of dashboards and their widgets, which dashboard Home shows, and what a widget
shows its viewer. Views call these; nothing else saves a Dashboard or a Widget.

A user's own dashboard is theirs to change (or an administrator's); a built-in one only an
administrator's, since it is everyone's. Each widget reads the viewer's records only.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.models import Role, Team
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.reports import dashboard_kpis, dashboard_lists
from rapport.reports.models import WIDGET_SPANS, Dashboard, Report, Widget, WidgetKind

MAX_WIDGETS = 24


def _state(dashboard: Dashboard) -> dict:
    return {
        **snapshot(dashboard, ["name", "key", "owner"]),
        "shared_teams": sorted(dashboard.shared_teams.values_list("pk", flat=True)),
        "shared_roles": sorted(dashboard.shared_roles.values_list("pk", flat=True)),
        "default_for_roles": sorted(dashboard.default_for_roles.values_list("pk", flat=True)),
        "widgets": [
            {
                "kind": w.kind,
                "report": w.report_id,
                "kpi": w.kpi,
                "list": w.list_key,
                "span": w.span,
            }
            for w in dashboard.widgets.all()
        ],
    }


def may_change(actor, dashboard: Dashboard) -> bool:
    """Built-ins are everyone's: administrators only. Others: `access` (owner or admin)."""
    if dashboard.is_builtin:
        return access.can(actor, Action.ADMINISTER)
    return access.can(actor, Action.CHANGE, dashboard)


def require_change(actor, dashboard: Dashboard) -> None:
    if dashboard.is_builtin:
        access.require_admin(actor)
    else:
        access.require(actor, Action.CHANGE, dashboard)


def _clean_name(name, errors: dict) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        errors.setdefault("name", []).append("Give the dashboard a name.")
    elif len(name) > 120:
        errors.setdefault("name", []).append("Use at most 120 characters.")
    return name


def _found(model, ids, field: str, errors: dict) -> list:
    ids = {getattr(value, "pk", value) for value in ids or []}
    found = list(model.objects.filter(pk__in=ids))
    if len(found) != len(ids):
        errors.setdefault(field, []).append(f"No such {model._meta.verbose_name}.")
    return found


@transaction.atomic
def create_dashboard(*, actor, name: str, shared_teams=(), shared_roles=()) -> Dashboard:
    """A new, empty dashboard owned by `actor`."""
    access.require(actor, Action.CREATE, Dashboard)
    errors: dict[str, list[str]] = {}
    name = _clean_name(name, errors)
    teams = _found(Team, shared_teams, "shared_teams", errors)
    roles = _found(Role, shared_roles, "shared_roles", errors)
    if errors:
        raise ValidationError(errors)
    dashboard = Dashboard.objects.create(name=name, owner=actor)
    dashboard.shared_teams.set(teams)
    dashboard.shared_roles.set(roles)
    record_change(
        actor=actor, action=ChangeAction.CREATE, instance=dashboard, after=_state(dashboard)
    )
    return dashboard


@transaction.atomic
def update_dashboard(
    *, actor, dashboard: Dashboard, name: str, shared_teams=(), shared_roles=()
) -> Dashboard:
    """Rename a dashboard or change whom it is shared with."""
    require_change(actor, dashboard)
    before = _state(dashboard)
    errors: dict[str, list[str]] = {}
    dashboard.name = _clean_name(name, errors)
    teams = _found(Team, shared_teams, "shared_teams", errors)
    roles = _found(Role, shared_roles, "shared_roles", errors)
    if errors:
        raise ValidationError(errors)
    dashboard.save(update_fields=["name", "updated_at"])
    dashboard.shared_teams.set(teams)
    dashboard.shared_roles.set(roles)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=dashboard,
        before=before,
        after=_state(dashboard),
    )
    return dashboard


@transaction.atomic
def set_role_defaults(*, actor, dashboard: Dashboard, roles) -> Dashboard:
    """Make `dashboard` what Home shows to holders of `roles` (administrators only). A role has
    one default: giving it to this dashboard takes it from any other."""
    access.require_admin(actor)
    errors: dict[str, list[str]] = {}
    found = _found(Role, roles, "default_for_roles", errors)
    if errors:
        raise ValidationError(errors)
    before = _state(dashboard)
    for other in Dashboard.objects.filter(default_for_roles__in=found).exclude(pk=dashboard.pk):
        other.default_for_roles.remove(*found)
    dashboard.default_for_roles.set(found)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=dashboard,
        before=before,
        after=_state(dashboard),
    )
    return dashboard


@transaction.atomic
def delete_dashboard(*, actor, dashboard: Dashboard) -> None:
    """Delete a dashboard and its widgets; the reports it showed stay."""
    if dashboard.is_builtin:
        raise PermissionDenied("A built-in dashboard cannot be deleted.")
    access.require(actor, Action.DELETE, dashboard)
    record_change(
        actor=actor, action=ChangeAction.DELETE, instance=dashboard, before=_state(dashboard)
    )
    dashboard.delete()


def _check_widget(actor, kind, report, kpi, list_key, span, errors: dict) -> None:
    if kind not in WidgetKind.values:
        errors.setdefault("kind", []).append(
            f"Choose one of: {', '.join(label for _v, label in WidgetKind.choices)}."
        )
    elif kind == WidgetKind.REPORT:
        if report is None or not Report.objects.visible_to(actor).filter(pk=report.pk).exists():
            errors.setdefault("report", []).append("Choose one of the reports you may open.")
    elif kind == WidgetKind.KPI:
        if kpi not in dict(dashboard_kpis.kpi_choices()):
            errors.setdefault("kpi", []).append("Choose a KPI of the catalogue.")
    elif list_key not in dashboard_lists.LISTS:
        errors.setdefault("list_key", []).append("Choose one of the lists offered.")
    if span not in WIDGET_SPANS:
        errors.setdefault("span", []).append(
            f"Choose a width of {', '.join(str(s) for s in WIDGET_SPANS)} columns."
        )


@transaction.atomic
def add_widget(
    *,
    actor,
    dashboard: Dashboard,
    kind: str,
    report: Report | None = None,
    kpi: str = "",
    list_key: str = "",
    span: int = 4,
) -> Widget:
    """Add a widget at the end of the dashboard."""
    require_change(actor, dashboard)
    errors: dict[str, list[str]] = {}
    _check_widget(actor, kind, report, kpi, list_key, span, errors)
    if dashboard.widgets.count() >= MAX_WIDGETS:
        errors.setdefault("kind", []).append(f"A dashboard holds at most {MAX_WIDGETS} widgets.")
    if errors:
        raise ValidationError(errors)
    before = _state(dashboard)
    last = dashboard.widgets.aggregate(last=Max("position"))["last"]
    widget = Widget.objects.create(
        dashboard=dashboard,
        kind=kind,
        report=report if kind == WidgetKind.REPORT else None,
        kpi=kpi if kind == WidgetKind.KPI else "",
        list_key=list_key if kind == WidgetKind.LIST else "",
        span=span,
        position=0 if last is None else last + 1,
    )
    _record(actor, dashboard, before)
    return widget


def _record(actor, dashboard: Dashboard, before: dict) -> None:
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=dashboard,
        before=before,
        after=_state(dashboard),
    )


@transaction.atomic
def remove_widget(*, actor, widget: Widget) -> None:
    dashboard = widget.dashboard
    require_change(actor, dashboard)
    before = _state(dashboard)
    widget.delete()
    _record(actor, dashboard, before)


@transaction.atomic
def resize_widget(*, actor, widget: Widget, span: int) -> Widget:
    dashboard = widget.dashboard
    require_change(actor, dashboard)
    if span not in WIDGET_SPANS:
        raise ValidationError(
            {"span": [f"Choose a width of {', '.join(str(s) for s in WIDGET_SPANS)} columns."]}
        )
    before = _state(dashboard)
    widget.span = span
    widget.save(update_fields=["span"])
    _record(actor, dashboard, before)
    return widget


@transaction.atomic
def move_widget(*, actor, widget: Widget, offset: int) -> Widget:
    """Move a widget `offset` places earlier (negative) or later in its dashboard's order."""
    dashboard = widget.dashboard
    require_change(actor, dashboard)
    before = _state(dashboard)
    widgets = list(dashboard.widgets.select_for_update().order_by("position", "id"))
    index = next(i for i, w in enumerate(widgets) if w.pk == widget.pk)
    target = max(0, min(len(widgets) - 1, index + offset))
    widgets.insert(target, widgets.pop(index))
    for position, item in enumerate(widgets):
        if item.position != position:
            item.position = position
            item.save(update_fields=["position"])
    _record(actor, dashboard, before)
    return widgets[target]


def dashboard_for(user, chosen: str | int | None = None) -> Dashboard | None:
    """What Home shows `user`: the dashboard they picked (if they may see it), else their role's
    default, else none (Home then keeps its usual panels alone)."""
    from rapport.reports.builtin_dashboards import ensure_builtin_dashboards

    ensure_builtin_dashboards()
    visible = Dashboard.objects.visible_to(user)
    if chosen not in (None, ""):
        try:
            return visible.get(pk=int(chosen))
        except (ValueError, TypeError, Dashboard.DoesNotExist):
            return None
    if not user.role_id:
        return None
    return visible.filter(default_for_roles=user.role_id).order_by("id").first()


def widget_report(widget: Widget, user) -> tuple[Report | None, bool]:
    """The widget's report and whether the viewer may open it (and so follow its links). A
    built-in dashboard's reports are the system's: they run for whoever sees the dashboard."""
    report = widget.report
    if report is None:
        return None, False
    opens = Report.objects.visible_to(user).filter(pk=report.pk).exists()
    if opens or (widget.dashboard.is_builtin and report.owner_id is None):
        return report, opens
    return None, False


def widget_title(widget: Widget) -> str:
    """The widget's heading, without running it."""
    from rapport.frameworks.kpis import KPIS

    if widget.kind == WidgetKind.REPORT:
        return widget.report.name if widget.report is not None else "Report"
    if widget.kind == WidgetKind.KPI:
        kpi = KPIS.get(widget.kpi)
        return kpi.name if kpi is not None else "KPI no longer in the catalogue"
    entry = dashboard_lists.LISTS.get(widget.list_key)
    return entry.title if entry is not None else "List no longer offered"
