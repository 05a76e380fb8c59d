"""The dashboard pages: the list, one dashboard's grid, its settings and widget editing, each
widget's deferred fragment, and the dashboard on Home (a panel). Thin: dashboards are looked up
through `Dashboard.objects.visible_to` (404 otherwise), writes go through `dashboards`."""

from __future__ import annotations

import json
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.reports import caching, dashboard_kpis, dashboard_lists, dashboards, tables
from rapport.reports.builtin_dashboards import ensure_builtin_dashboards
from rapport.reports.dashboard_forms import (
    WIDGET_FORMS,
    DashboardForm,
    ListWidgetForm,
    ResizeForm,
    RoleDefaultsForm,
)
from rapport.reports.models import Dashboard, Widget, WidgetKind

logger = logging.getLogger(__name__)


def _dashboard_or_404(request, pk) -> Dashboard:
    return get_object_or_404(Dashboard.objects.visible_to(request.user), pk=pk)


def _widget_or_404(request, pk, widget_id) -> Widget:
    dashboard = _dashboard_or_404(request, pk)
    widget = get_object_or_404(dashboard.widgets.select_related("report"), pk=widget_id)
    widget.dashboard = dashboard
    return widget


def grid_entries(dashboard: Dashboard) -> list[dict]:
    """The placeholders of a dashboard's widgets: heading, width, the URL each loads from."""
    return [
        {
            "widget": widget,
            "title": dashboards.widget_title(widget),
            "url": reverse("reports:dashboard_widget", args=[dashboard.pk, widget.pk]),
        }
        for widget in dashboard.widgets.select_related("report").order_by("position", "id")
    ]


@login_required
@require_GET
def dashboard_list(request):
    ensure_builtin_dashboards()
    visible = list(
        Dashboard.objects.visible_to(request.user)
        .select_related("owner")
        .prefetch_related("default_for_roles")
    )
    return render(
        request,
        "reports/dashboards/list.html",
        {
            "mine": [d for d in visible if d.owner_id == request.user.pk],
            "others": [d for d in visible if d.owner_id != request.user.pk],
            "form": DashboardForm(),
            "can_create": access.can(request.user, Action.CREATE, Dashboard),
        },
    )


@login_required
@require_POST
def dashboard_create(request):
    access.require(request.user, Action.CREATE, Dashboard)
    form = DashboardForm(request.POST)
    if form.is_valid():
        try:
            dashboard = dashboards.create_dashboard(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, f"Dashboard “{dashboard.name}” created: add its widgets.")
            return redirect(dashboard)
    visible = Dashboard.objects.visible_to(request.user).select_related("owner")
    return render(
        request,
        "reports/dashboards/list.html",
        {
            "mine": [d for d in visible if d.owner_id == request.user.pk],
            "others": [d for d in visible if d.owner_id != request.user.pk],
            "form": form,
            "can_create": True,
        },
        status=422,
    )


def _detail(request, dashboard, *, add_forms=None, status=200):
    may_change = dashboards.may_change(request.user, dashboard)
    forms = add_forms or {}
    if may_change:
        forms = {
            "report": forms.get("report") or WIDGET_FORMS["report"](user=request.user),
            "kpi": forms.get("kpi") or WIDGET_FORMS["kpi"](),
            "list": forms.get("list") or ListWidgetForm(),
        }
    return render(
        request,
        "reports/dashboards/detail.html",
        {
            "dashboard": dashboard,
            "entries": grid_entries(dashboard),
            "may_change": may_change,
            "add_forms": forms,
            "resize_choices": ResizeForm.base_fields["span"].choices,
            "can_delete": may_change and not dashboard.is_builtin,
            "is_admin": access.can(request.user, Action.ADMINISTER),
        },
        status=status,
    )


@login_required
@require_GET
def dashboard_detail(request, pk):
    return _detail(request, _dashboard_or_404(request, pk))


@login_required
@require_http_methods(["GET", "POST"])
def dashboard_settings(request, pk):
    """Name and sharing (whoever may change it); the roles it is Home for (administrators)."""
    dashboard = _dashboard_or_404(request, pk)
    may_change = dashboards.may_change(request.user, dashboard)
    is_admin = access.can(request.user, Action.ADMINISTER)
    if not is_admin:
        dashboards.require_change(request.user, dashboard)
    form = DashboardForm(
        initial={
            "name": dashboard.name,
            "shared_teams": list(dashboard.shared_teams.all()),
            "shared_roles": list(dashboard.shared_roles.all()),
        }
    )
    roles_form = RoleDefaultsForm(
        initial={"default_for_roles": list(dashboard.default_for_roles.all())}
    )
    status = 200
    if request.method == "POST":
        if request.POST.get("part") == "roles":
            roles_form = RoleDefaultsForm(request.POST)
            if roles_form.is_valid():
                try:
                    dashboards.set_role_defaults(
                        actor=request.user,
                        dashboard=dashboard,
                        roles=roles_form.cleaned_data["default_for_roles"],
                    )
                except ValidationError as exc:
                    roles_form.add_service_errors(exc.message_dict)
                else:
                    messages.success(request, "Home dashboards of the roles saved.")
                    return redirect(dashboard)
        else:
            form = DashboardForm(request.POST)
            if form.is_valid():
                try:
                    dashboards.update_dashboard(
                        actor=request.user, dashboard=dashboard, **form.cleaned_data
                    )
                except ValidationError as exc:
                    form.add_service_errors(exc.message_dict)
                else:
                    messages.success(request, f"Dashboard “{dashboard.name}” saved.")
                    return redirect(dashboard)
        status = 422
    return render(
        request,
        "reports/dashboards/settings.html",
        {
            "dashboard": dashboard,
            "form": form if may_change else None,
            "roles_form": roles_form if is_admin else None,
        },
        status=status,
    )


@login_required
@require_POST
def dashboard_delete(request, pk):
    dashboard = _dashboard_or_404(request, pk)
    dashboards.delete_dashboard(actor=request.user, dashboard=dashboard)
    messages.success(request, f"Dashboard “{dashboard.name}” deleted.")
    return redirect("reports:dashboard_list")


@login_required
@require_POST
def widget_add(request, pk):
    dashboard = _dashboard_or_404(request, pk)
    # Refused before the form is read, so an invalid form cannot hide a 403.
    dashboards.require_change(request.user, dashboard)
    kind = request.POST.get("kind", "")
    if kind not in WIDGET_FORMS:
        raise Http404("No such kind of widget.")
    form_class = WIDGET_FORMS[kind]
    form = (
        form_class(request.POST, user=request.user)
        if kind == "report"
        else form_class(request.POST)
    )
    if form.is_valid():
        try:
            dashboards.add_widget(
                actor=request.user, dashboard=dashboard, kind=kind, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, "Widget added.")
            return redirect(dashboard)
    return _detail(request, dashboard, add_forms={kind: form}, status=422)


@login_required
@require_POST
def widget_remove(request, pk, widget_id):
    widget = _widget_or_404(request, pk, widget_id)
    dashboards.remove_widget(actor=request.user, widget=widget)
    messages.success(request, "Widget removed.")
    return redirect(widget.dashboard)


@login_required
@require_POST
def widget_move(request, pk, widget_id):
    widget = _widget_or_404(request, pk, widget_id)
    offset = -1 if request.POST.get("direction") == "earlier" else 1
    dashboards.move_widget(actor=request.user, widget=widget, offset=offset)
    return redirect(widget.dashboard)


@login_required
@require_POST
def widget_resize(request, pk, widget_id):
    widget = _widget_or_404(request, pk, widget_id)
    form = ResizeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the widths offered.")
        return redirect(widget.dashboard)
    dashboards.resize_widget(actor=request.user, widget=widget, span=form.cleaned_data["span"])
    return redirect(widget.dashboard)


# --------------------------------------------------------------------------- a widget's figures


def _report_context(widget, user) -> dict:
    report, opens = dashboards.widget_report(widget, user)
    if report is None:
        return {"problem": "This report is not shared with you."}
    try:
        result = caching.run_report(report, user)
    except ValidationError as exc:
        return {"problem": f"This report cannot run: {' '.join(exc.messages)}"}
    chart = tables.chart_data(result) if report.chart != "table" else None
    table = tables.table(result) if chart is None else None
    if not opens and chart is not None:
        # The records behind a figure are on the report's pages, which this viewer cannot open.
        for dataset in chart["datasets"]:
            dataset["urls"] = [None for _url in dataset["urls"]]
    return {
        "report": report,
        "opens": opens,
        "result": result,
        "chart": chart,
        # In an attribute, not a json_script block: htmx drops script elements it swaps in.
        "chart_json": json.dumps(chart, cls=DjangoJSONEncoder) if chart else "",
        "table": table,
    }


def widget_context(widget: Widget, user) -> dict:
    if widget.kind == WidgetKind.REPORT:
        return _report_context(widget, user)
    if widget.kind == WidgetKind.KPI:
        tile = dashboard_kpis.build_tile(widget.kpi)
        if tile is None:
            return {"problem": "This KPI is no longer in the catalogue."}
        return {"tile": tile}
    entry = dashboard_lists.LISTS.get(widget.list_key)
    if entry is None:
        return {"problem": "This list is no longer offered."}
    return {"listing": entry.build(user)}


@login_required
@require_GET
def widget_render(request, pk, widget_id):
    """One widget's figures for the viewer, loaded by the grid once the page shows."""
    widget = _widget_or_404(request, pk, widget_id)
    try:
        context = widget_context(widget, request.user)
    except Exception:
        # One widget's failure must not take the dashboard (or Home) down.
        logger.exception("dashboard widget %s failed", widget.pk)
        context = {"problem": "This widget could not be shown; the error has been logged."}
    template = "reports/dashboards/_widget_body.html"
    response = render(request, template, {"widget": widget, **context})
    patch_vary_headers(response, ["HX-Request"])
    return response


# --------------------------------------------------------------------------- Home


def home_panel(request, _obj):
    """The user's dashboard on Home: the one they picked, else their role's; with the picker.
    Without either, a picker only, and Home's usual panels stay as they were."""
    user = request.user
    dashboard = dashboards.dashboard_for(user, request.GET.get("dashboard"))
    choices = list(Dashboard.objects.visible_to(user).order_by("name", "id"))
    if dashboard is None and not choices:
        return None
    return {
        "dashboard": dashboard,
        "choices": choices,
        "entries": grid_entries(dashboard) if dashboard is not None else [],
        "may_change": dashboard is not None and dashboards.may_change(user, dashboard),
    }
