"""The reports pages: the list, the editor, a report's chart and table, the records behind a
figure, and the exports. Thin: reports are looked up through `Report.objects.visible_to`, runs
read through the services (scoped to whoever is looking), writes go through the services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.reports import caching, services, tables
from rapport.reports.choices import Source
from rapport.reports.forms import ReportForm, describe_conditions
from rapport.reports.models import Report
from rapport.reports.sources import SOURCES, source_for

PAGE_SIZE = 50


def _report_or_404(request, pk) -> Report:
    return get_object_or_404(Report.objects.visible_to(request.user).select_related("owner"), pk=pk)


def _may(user, action, report) -> bool:
    # What to offer; the services make the same decision (`access`) when the change is sent.
    return access.can(user, action, report)


@login_required
@require_GET
def report_list(request):
    """The user's own reports and those shared with them (or within their analytics scope)."""
    reports = list(
        Report.objects.visible_to(request.user)
        .select_related("owner")
        .prefetch_related("shared_teams", "shared_roles")
    )
    return render(
        request,
        "reports/list.html",
        {
            "mine": [r for r in reports if r.owner_id == request.user.pk],
            "shared": [r for r in reports if r.owner_id != request.user.pk],
            "can_create": access.can(request.user, Action.CREATE, Report),
        },
    )


def _form_initial(report: Report) -> dict:
    return {
        "name": report.name,
        "description": report.description,
        "conditions": report.conditions or {"all": []},
        "group_by": report.group_by,
        "group_period": report.group_period,
        "then_by": report.then_by,
        "then_period": report.then_period,
        "measure": report.measure,
        "measure_field": report.measure_field,
        "chart": report.chart,
        "shared_teams": list(report.shared_teams.all()),
        "shared_roles": list(report.shared_roles.all()),
    }


def _definition(form: ReportForm) -> dict:
    data = dict(form.cleaned_data)
    data["shared_teams"] = [team.pk for team in data["shared_teams"]]
    data["shared_roles"] = [role.pk for role in data["shared_roles"]]
    return data


@login_required
@require_http_methods(["GET", "POST"])
def report_create(request):
    access.require(request.user, Action.CREATE, Report)
    key = request.POST.get("source") or request.GET.get("source") or ""
    if key not in Source.values:
        # First the kind of record: the fields the form offers depend on it.
        return render(request, "reports/choose_source.html", {"sources": SOURCES.values()})
    source = source_for(key)
    if request.method == "GET":
        form = ReportForm(source=source)
        return render(request, "reports/form.html", {"form": form, "source": source})
    form = ReportForm(request.POST, source=source)
    if form.is_valid():
        try:
            report = services.create_report(actor=request.user, source=key, **_definition(form))
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, f"Report “{report.name}” saved.")
            return redirect(report)
    return render(request, "reports/form.html", {"form": form, "source": source}, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def report_edit(request, pk):
    report = _report_or_404(request, pk)
    access.require(request.user, Action.CHANGE, report)
    source = source_for(report.source)
    context = {"report": report, "source": source}
    if request.method == "GET":
        form = ReportForm(initial=_form_initial(report), source=source)
        return render(request, "reports/form.html", {**context, "form": form})
    form = ReportForm(request.POST, source=source)
    if form.is_valid():
        try:
            report = services.update_report(actor=request.user, report=report, **_definition(form))
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, f"Report “{report.name}” saved.")
            return redirect(report)
    return render(request, "reports/form.html", {**context, "form": form}, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def report_delete(request, pk):
    report = _report_or_404(request, pk)
    access.require(request.user, Action.DELETE, report)
    if request.method == "POST":
        services.delete_report(actor=request.user, report=report)
        messages.success(request, f"Report “{report.name}” deleted.")
        return redirect("reports:list")
    return render(request, "reports/delete.html", {"report": report})


def _run(request, report):
    """The run, or the problem that keeps the report from running (a field since removed)."""
    try:
        return caching.run_report(report, request.user), ""
    except ValidationError as exc:
        return None, " ".join(exc.messages)


@login_required
@require_GET
def report_detail(request, pk):
    report = _report_or_404(request, pk)
    source = source_for(report.source)
    result, problem = _run(request, report)
    return render(
        request,
        "reports/detail.html",
        {
            "report": report,
            "source": source,
            "result": result,
            "problem": problem,
            "table": tables.table(result) if result else None,
            "chart": tables.chart_data(result) if result and report.chart != "table" else None,
            "conditions": describe_conditions(report.conditions, source),
            "can_change": _may(request.user, Action.CHANGE, report),
            "can_delete": _may(request.user, Action.DELETE, report),
        },
        status=200 if result else 422,
    )


@login_required
@require_GET
def report_records(request, pk):
    """The records behind one figure (`g1`, `g2`: the groups' link parameters), paged."""
    report = _report_or_404(request, pk)
    source = source_for(report.source)
    keys = {name: request.GET.get(name) for name in ("g1", "g2") if name in request.GET}
    try:
        records = services.records_behind(report, request.user, keys)
    except ValidationError as exc:
        return render(
            request,
            "reports/records.html",
            {"report": report, "source": source, "problem": " ".join(exc.messages)},
            status=400,
        )
    records = records.select_related(*source.related).order_by("-created_at", "-pk")
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"record": record, "url": source.link(record), "who": getattr(record, source.who, None)}
        for record in page
    ]
    return render(
        request,
        "reports/records.html",
        {
            "report": report,
            "source": source,
            "page": page,
            "rows": rows,
            "narrowed": services.narrowed_groups(report, keys),
        },
    )


def _filename(report: Report, extension: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"report-{report.pk}-{stamp}.{extension}"


@login_required
@require_GET
def report_export_csv(request, pk):
    report = _report_or_404(request, pk)
    result, problem = _run(request, report)
    if result is None:
        messages.error(request, problem)
        return redirect(report)
    response = StreamingHttpResponse(
        tables.csv_chunks(result), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(report, "csv")}"'
    return response


@login_required
@require_GET
def report_export_xlsx(request, pk):
    report = _report_or_404(request, pk)
    result, problem = _run(request, report)
    if result is None:
        messages.error(request, problem)
        return redirect(report)
    return FileResponse(
        tables.write_xlsx(result),
        as_attachment=True,
        filename=_filename(report, "xlsx"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
