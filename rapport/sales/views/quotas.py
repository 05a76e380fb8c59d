"""The quotas page: attainment for a month or quarter, for everyone within the viewer's sales
scope; for managers, the grid of reps × the quarter's months to set them, and a form for anyone
else within reach. Saving goes through `sales.quotas`, which decides who may."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from rapport.accounts.choices import TeamKind
from rapport.accounts.models import Team, User
from rapport.core.ids import id_from_text
from rapport.sales import quota_periods, quotas
from rapport.sales.forms import add_service_errors
from rapport.sales.forms_quotas import EVERY_PIPELINE, QuotaForm, period_choices
from rapport.sales.models import Pipeline, Quota


@dataclass
class GridCell:
    name: str
    period_label: str
    value: str
    error: str = ""
    attainment: quotas.Attainment | None = None


@dataclass
class GridRow:
    label: str
    user: User | None = None
    team: Team | None = None
    cells: list[GridCell] = field(default_factory=list)


def _selected_period(request, today: dt.date) -> tuple[dt.date, dt.date, str]:
    key = request.GET.get("period", "")
    try:
        start, end = quota_periods.parse_key(key)
    except ValueError:
        start, end = quota_periods.month_bounds(today)
        return start, end, "" if not key else "That period is not one we know; this month instead."
    return start, end, ""


def _selected_pipeline(request) -> Pipeline | None:
    pipeline_id = id_from_text(request.GET.get("pipeline", ""))
    if pipeline_id is None:
        return None
    return Pipeline.objects.filter(pk=pipeline_id).first()


def _page_url(start: dt.date, end: dt.date, pipeline: Pipeline | None) -> str:
    query = {"period": quota_periods.key_of(start, end)}
    if pipeline is not None:
        query["pipeline"] = pipeline.pk
    return f"{reverse('sales:quotas')}?{urlencode(query)}"


def _columns(start: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The quarter's three months, then the quarter itself."""
    return [*quota_periods.months_of_quarter(start), quota_periods.quarter_bounds(start)]


def _grid_rows(actor, columns, pipeline) -> list[GridRow]:
    """The reps of the sales teams within the manager's reach (everyone within it when there
    are no sales teams), the sales teams, and whoever already has a quota in these periods."""
    periods = Q()
    for start, end in columns:
        periods |= Q(period_start=start, period_end=end)
    existing = Quota.objects.filter(periods, pipeline=pipeline)
    people = quotas.assignable_people(actor)
    in_sales_teams = people.filter(teams__kind=TeamKind.SALES)
    if in_sales_teams.exists():
        people = people.filter(Q(teams__kind=TeamKind.SALES) | Q(pk__in=existing.values("user_id")))
    teams = quotas.assignable_teams(actor).filter(
        Q(kind=TeamKind.SALES) | Q(pk__in=existing.values("team_id"))
    )
    people = people.distinct().order_by("first_name", "last_name", "username")
    return [GridRow(label=str(user), user=user) for user in people] + [
        GridRow(label=f"Team {team}", team=team) for team in teams.distinct().order_by("name")
    ]


def _cell_name(row: GridRow, start: dt.date, end: dt.date) -> str:
    who = f"u{row.user.pk}" if row.user is not None else f"t{row.team.pk}"
    return f"quota-{who}-{quota_periods.key_of(start, end)}"


def _fill_grid(actor, rows, columns, pipeline, *, posted=None, errors=None) -> None:
    if not rows:
        return
    amounts = {}
    for quota in Quota.objects.filter(
        Q(user__in=[r.user for r in rows if r.user]) | Q(team__in=[r.team for r in rows if r.team]),
        pipeline=pipeline,
        period_start__gte=columns[0][0],
        period_end__lte=columns[-1][1],
    ):
        amounts[(quota.user_id, quota.team_id, quota.period_start, quota.period_end)] = quota
    reached = {}
    for start, end in columns:
        for result in quotas.attainment(
            actor=actor, period_start=start, period_end=end, pipeline=pipeline
        ):
            reached[result.quota.pk] = result
    for row in rows:
        for start, end in columns:
            name = _cell_name(row, start, end)
            quota = amounts.get(
                (row.user.pk if row.user else None, row.team.pk if row.team else None, start, end)
            )
            if posted is not None:
                value = posted.get(name, "")
            else:
                value = f"{quota.amount.normalize():f}" if quota is not None else ""
            row.cells.append(
                GridCell(
                    name=name,
                    period_label=quota_periods.label(start, end),
                    value=value,
                    error=" ".join((errors or {}).get(name, [])),
                    attainment=reached.get(quota.pk) if quota is not None else None,
                )
            )


def _entries(rows, columns, posted) -> list[quotas.QuotaEntry]:
    entries = []
    for row in rows:
        for start, end in columns:
            name = _cell_name(row, start, end)
            if name not in posted:
                continue
            entries.append(
                quotas.QuotaEntry(
                    field=name,
                    period_start=start,
                    period_end=end,
                    amount=posted[name],
                    user=row.user,
                    team=row.team,
                )
            )
    return entries


def _save_one(request, form) -> bool:
    """Set the quota the single form describes; its errors go beside its fields."""
    kind, pk = form.cleaned_data["assignee"][:1], id_from_text(form.cleaned_data["assignee"][1:])
    user = User.objects.filter(pk=pk).first() if kind == "u" else None
    team = Team.objects.filter(pk=pk).first() if kind == "t" else None
    start, end = form.cleaned_data["period"]
    try:
        quotas.set_quota(
            actor=request.user,
            user=user,
            team=team,
            period_start=start,
            period_end=end,
            amount=form.cleaned_data["amount"],
            pipeline=_selected_pipeline(request),
        )
    except ValidationError as exc:
        add_service_errors(
            form,
            exc,
            aliases={
                "user": "assignee",
                "team": "assignee",
                "period_start": "period",
                "period_end": "period",
            },
        )
        return False
    return True


@login_required
def quota_page(request):
    actor = request.user
    today = timezone.localdate()
    start, end, period_problem = _selected_period(request, today)
    pipeline = _selected_pipeline(request)
    manager = quotas.may_manage_quotas(actor)
    currency = quotas.company_currency()
    columns = _columns(start)
    rows = _grid_rows(actor, columns, pipeline) if manager else []
    form = QuotaForm(
        actor=actor,
        today=today,
        currency=currency,
        initial={"period": quota_periods.key_of(start, end)},
    )
    grid_errors: dict = {}
    posted = None
    if request.method == "POST":
        if not manager:
            raise PermissionDenied(quotas.NOT_A_MANAGER)
        if request.POST.get("action") == "one":
            form = QuotaForm(request.POST, actor=actor, today=today, currency=currency)
            if form.is_valid() and _save_one(request, form):
                messages.success(request, "Quota saved.")
                return redirect(_page_url(start, end, pipeline))
        else:
            try:
                result = quotas.set_quotas(
                    actor=actor,
                    entries=_entries(rows, columns, request.POST),
                    pipeline=pipeline,
                )
            except ValidationError as exc:
                grid_errors = exc.message_dict
                posted = request.POST
            else:
                messages.success(
                    request,
                    f"Quotas saved: {result.saved} set, {result.removed} removed.",
                )
                return redirect(_page_url(start, end, pipeline))
    _fill_grid(actor, rows, columns, pipeline, posted=posted, errors=grid_errors)
    results = quotas.attainment(actor=actor, period_start=start, period_end=end, pipeline=pipeline)
    invalid = bool(grid_errors or form.errors)
    return render(
        request,
        "sales/quotas/page.html",
        {
            "period_label": quota_periods.label(start, end),
            "period_key": quota_periods.key_of(start, end),
            "period_problem": period_problem,
            "period_choices": period_choices(today),
            "pipeline": pipeline,
            "pipelines": Pipeline.objects.active(),
            "every_pipeline": EVERY_PIPELINE,
            "currency": currency,
            "results": results,
            "summed": quotas.total(results),
            "manager": manager,
            "columns": [
                {"label": quota_periods.label(*column), "key": quota_periods.key_of(*column)}
                for column in columns
            ],
            "quarter_label": quota_periods.label(*columns[-1]),
            "rows": rows,
            "grid_invalid": bool(grid_errors),
            "form": form,
        },
        status=422 if invalid else 200,
    )
