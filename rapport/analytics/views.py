"""The analytics section: overview, customers, charts, model fit, segments. Thin: read scoped
querysets and stored figures, call services for writes."""

from __future__ import annotations

import csv
import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.access import Action, can_administer, can_write
from rapport.analytics import book, filters, refresh, segments, services
from rapport.analytics.choices import SEGMENT_ORDER, SegmentKind, ValueTier
from rapport.analytics.forms import (
    ConfigurationForm,
    SegmentForm,
    describe_conditions,
    parse_conditions,
)
from rapport.analytics.models import AnalyticsConfiguration, AnalyticsSnapshot, ModelFit, Segment
from rapport.contacts.models import Contact
from rapport.core.htmx import is_htmx, render_page_or_fragment
from rapport.core.pagination import CursorError, keyset_page

PAGE_SIZE = 50
EXPORT_LIMIT = 1_000_000


def _common(request, run, **extra) -> dict:
    return {
        "run": run,
        "attempt": refresh.latest_attempt(),
        "can_refresh": can_write(request.user),
        "whole_book": book.sees_whole_book(request.user),
        **extra,
    }


def _no_run(request, title: str):
    return render(request, "analytics/no_run.html", _common(request, None, title=title))


# --------------------------------------------------------------------------- overview & refresh


@login_required
@require_GET
def overview(request):
    """Headline figures of the user's book and the state of the last refresh."""
    run = refresh.latest_run()
    if run is None:
        return _no_run(request, "Analytics")
    summary = book.summary(request.user, run)
    fits = {fit.model: fit for fit in ModelFit.objects.filter(run=run)}
    return render(
        request,
        "analytics/overview.html",
        _common(request, run, summary=summary, fits=fits),
    )


@login_required
@require_POST
def refresh_now(request):
    access.require_write(request.user)
    run = refresh.request_refresh(actor=request.user)
    if is_htmx(request):
        return render(
            request, "analytics/_refresh_status.html", {"attempt": run, "can_refresh": True}
        )
    messages.info(request, "The refresh is queued; the figures update when it finishes.")
    return redirect("analytics:overview")


@login_required
@require_GET
def refresh_status(request):
    """The refresh progress fragment; it polls itself while a run is active."""
    return render(
        request,
        "analytics/_refresh_status.html",
        {"attempt": refresh.latest_attempt(), "can_refresh": can_write(request.user)},
    )


# --------------------------------------------------------------------------- customers


def _customer_page(request, *, preset: dict | None = None, template="analytics/customers.html"):
    run = refresh.latest_run()
    params = request.GET.copy()
    for key, value in (preset or {}).items():
        params.setdefault(key, value)
    rows, cleaned, errors = filters.apply_filters(filters.customer_rows(request.user), params)
    clv_available = run is not None and run.tier_basis == "clv"
    rows, sort, column, descending = filters.sort_rows(
        rows, params.get("sort", ""), clv_available=clv_available
    )
    try:
        page = keyset_page(
            rows,
            order_field=column,
            descending=descending,
            cursor=request.GET.get("after") or None,
            limit=PAGE_SIZE,
        )
    except CursorError:
        page = keyset_page(
            rows, order_field=column, descending=descending, cursor=None, limit=PAGE_SIZE
        )
        errors["after"] = ["That page link has expired; showing the first page."]
    context = _common(
        request,
        run,
        page=page,
        sort=sort,
        params=cleaned,
        filter_errors=errors,
        segments_choices=SEGMENT_ORDER,
        tiers=ValueTier.choices,
        clv_available=clv_available,
        is_filtered=bool(cleaned),
        # Only the lists this user may add to (their own, or any for an administrator).
        static_lists=[
            item
            for item in Segment.objects.static().filter(is_archived=False)[:100]
            if access.can(request.user, Action.CHANGE, item)
        ]
        if can_write(request.user)
        else [],
        headers=_headers(sort, clv_available),
        preset=preset or {},
    )
    return render_page_or_fragment(request, template, "analytics/_customer_results.html", context)


def _headers(sort: str, clv_available: bool) -> list[dict]:
    columns = [
        ("Customer", None),
        ("Segment", None),
        ("Tier", None),
        ("CLV", "clv" if clv_available else None),
        ("P(alive)", "p_alive" if clv_available else None),
        ("Exp. purchases", "expected" if clv_available else None),
        ("Revenue", "revenue"),
        ("Orders", "orders"),
        ("Last order", "recency"),
        ("Churn risk", None),
    ]
    headers = []
    for label, key in columns:
        entry = {
            "label": label,
            "sort_param": None,
            "aria_sort": "",
            "indicator": "",
            "numeric": label in {"CLV", "P(alive)", "Exp. purchases", "Revenue", "Orders"},
        }
        if key:
            # Money and probabilities read best from the top; recency from the freshest.
            first = key if key == "recency" else f"-{key}"
            other = first[1:] if first.startswith("-") else f"-{first}"
            if sort in (first, other):
                entry["sort_param"] = other if sort == first else first
                descending = sort.startswith("-")
                entry["aria_sort"] = "descending" if descending else "ascending"
                entry["indicator"] = "▼" if descending else "▲"
            else:
                entry["sort_param"] = first
        headers.append(entry)
    return headers


@login_required
@require_GET
def customers(request):
    """Every customer in the user's scope with their value; filter and sort on it."""
    return _customer_page(request)


@login_required
@require_GET
def at_risk(request):
    """Valuable customers (platinum, gold, silver) the models flag as slipping away."""
    return _customer_page(
        request, preset={"at_risk": "1", "tier": "valuable"}, template="analytics/at_risk.html"
    )


def _csv_safe(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula runs as one in spreadsheet programs: quote it as text.
    if text[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + text
    return text


class _Echo:
    def write(self, value):
        return value


def _stream_csv(filename: str, header: list[str], rows):
    writer = csv.writer(_Echo())

    def generate():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_csv_safe(value) for value in row])

    response = StreamingHttpResponse(generate(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def customers_export(request):
    """The filtered customers list as CSV (same filters and order as the page)."""
    run = refresh.latest_run()
    rows, _cleaned, _errors = filters.apply_filters(
        filters.customer_rows(request.user), request.GET
    )
    rows, _sort, column, descending = filters.sort_rows(
        rows, request.GET.get("sort", ""), clv_available=run is not None and run.tier_basis == "clv"
    )
    rows = rows.order_by(f"{'-' if descending else ''}{column}", "pk")[:EXPORT_LIMIT]
    values = rows.values_list(
        "contact_id",
        "contact__first_name",
        "contact__last_name",
        "contact__primary_email",
        "segment",
        "value_tier",
        "predicted_clv",
        "p_alive",
        "expected_purchases",
        "revenue_total",
        "orders_count",
        "last_order_date",
        "is_at_risk",
    )
    header = [
        "contact_id",
        "first_name",
        "last_name",
        "email",
        "rfm_segment",
        "value_tier",
        "predicted_clv",
        "p_alive",
        "expected_purchases",
        "revenue",
        "orders",
        "last_order",
        "at_risk",
    ]
    return _stream_csv("customers.csv", header, values.iterator(chunk_size=2000))


@login_required
@require_GET
def customer_history(request, contact_id):
    """One customer's snapshots over time: the trend behind today's value."""
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=contact_id)
    snapshots = list(
        AnalyticsSnapshot.objects.filter(contact=contact).order_by("-snapshot_date")[:400]
    )
    chart = {
        "labels": [s.snapshot_date.isoformat() for s in reversed(snapshots)],
        "clv": [
            None if s.predicted_clv is None else float(s.predicted_clv) for s in reversed(snapshots)
        ],
        "p_alive": [s.p_alive for s in reversed(snapshots)],
    }
    return render(
        request,
        "analytics/customer_history.html",
        {"contact": contact, "snapshots": snapshots, "chart": chart},
    )


# --------------------------------------------------------------------------- charts


def _customers_url(**params) -> str:
    from urllib.parse import urlencode

    return reverse("analytics:customers") + "?" + urlencode(params)


@login_required
@require_GET
def rfm_view(request):
    run = refresh.latest_run()
    if run is None:
        return _no_run(request, "RFM")
    figures = book.rfm(request.user, run)
    grid = figures["grid"]
    for row in grid["rows"]:
        for cell in row["cells"]:
            cell["url"] = _customers_url(r=row["r"], fm=cell["fm"])
            cell["level"] = (
                0
                if not grid["max_customers"]
                else min(9, math.ceil(9 * cell["customers"] / grid["max_customers"]))
            )
    for row in figures["segments"]:
        row["url"] = _customers_url(segment=row["segment"])
    chart = {
        "labels": [row["segment"] for row in figures["segments"]],
        "customers": [row["customers"] for row in figures["segments"]],
        "revenue": [row["revenue"] for row in figures["segments"]],
        "urls": [row["url"] for row in figures["segments"]],
    }
    return render(
        request,
        "analytics/rfm.html",
        _common(request, run, grid=grid, segment_rows=figures["segments"], chart=chart),
    )


@login_required
@require_GET
def pareto_view(request):
    run = refresh.latest_run()
    if run is None:
        return _no_run(request, "Pareto")
    figures = book.pareto(request.user, run)
    chart = {
        "customer_share": figures.get("customer_share", []),
        "revenue_share": figures.get("revenue_share", []),
        "url": reverse("analytics:customers") + "?sort=-revenue&top_percent=",
    }
    points = []
    shares = figures.get("revenue_share") or []
    for percent in (1, 5, 10, 20, 30, 50, 80):
        # The stored curve is sampled at every whole percent (101 points).
        share = shares[percent] if len(shares) == 101 else None
        points.append(
            {
                "percent": percent,
                "share": share,
                "url": _customers_url(sort="-revenue", top_percent=percent),
            }
        )
    return render(
        request,
        "analytics/pareto.html",
        _common(request, run, pareto=figures, chart=chart, table_points=points),
    )


@login_required
@require_GET
def clv_view(request):
    run = refresh.latest_run()
    if run is None:
        return _no_run(request, "CLV")
    figures = book.clv(request.user, run)
    histogram = figures["histogram"]
    for bin_ in histogram.get("bins", []):
        params = {"clv_min": bin_["min"], "sort": "-clv"}
        if bin_["max"] is not None:
            params["clv_max"] = bin_["max"]
        bin_["url"] = _customers_url(**params)
    for row in figures["tiers"]:
        row["url"] = _customers_url(tier=row["tier"])
    chart = {
        "labels": [
            f"{b['min']:g}–{b['max']:g}" if b["max"] is not None else f"≥ {b['min']:g}"
            for b in histogram.get("bins", [])
        ],
        "customers": [b["customers"] for b in histogram.get("bins", [])],
        "urls": [b["url"] for b in histogram.get("bins", [])],
    }
    migration = book.tier_migration(request.user)
    return render(
        request,
        "analytics/clv.html",
        _common(
            request,
            run,
            histogram=histogram,
            tiers=figures["tiers"],
            chart=chart,
            migration=migration,
            fit_reason=ModelFit.objects.filter(run=run).exclude(status="fitted").first(),
        ),
    )


@login_required
@require_GET
def cohorts_view(request):
    run = refresh.latest_run()
    if run is None:
        return _no_run(request, "Cohorts")
    metric = "revenue" if request.GET.get("metric") == "revenue" else "retention"
    figures = book.cohorts(request.user, run)
    rows = figures.get("cohorts", [])
    # Retention of month 0 is always 100 %: shade by the later months so they stay readable.
    later = [v for row in rows for v in row[metric][1:] if v is not None]
    top = max(later) if later else 1.0
    for row in rows:
        row["url"] = _customers_url(cohort=row["month"], sort="-revenue")
        row["cells"] = [
            {
                "value": value,
                "level": None
                if value is None
                else (9 if top <= 0 else min(9, max(0, math.ceil(9 * value / top)))),
            }
            for value in row[metric]
        ]
    return render(
        request,
        "analytics/cohorts.html",
        _common(
            request, run, figures=figures, metric=metric, columns=range(figures.get("columns", 0))
        ),
    )


@login_required
@require_GET
def model_view(request):
    """Fitted parameters, log-likelihood, convergence and the holdout check."""
    run = refresh.latest_run()
    if run is None:
        return _no_run(request, "Model fit")
    fits = {fit.model: fit for fit in ModelFit.objects.filter(run=run)}
    holdout = fits.get("bg_nbd_holdout")
    table = []
    chart = None
    if holdout is not None and holdout.diagnostics.get("holdout"):
        data = holdout.diagnostics["holdout"]
        last = len(data["calibration_frequency"]) - 1
        for index, x in enumerate(data["calibration_frequency"]):
            table.append(
                {
                    "label": f"{x}+" if index == last else str(x),
                    "customers": data["customers"][index],
                    "predicted": data["predicted_mean"][index],
                    "actual": data["actual_mean"][index],
                }
            )
        chart = {
            "labels": [row["label"] for row in table],
            "predicted": [row["predicted"] for row in table],
            "actual": [row["actual"] for row in table],
        }
    reference = AnalyticsConfiguration.current().reference_parameters or {}
    comparisons = {}
    for model, names in (
        ("bg_nbd", ("r", "alpha", "a", "b")),
        ("gamma_gamma", ("p", "q", "gamma")),
    ):
        fit = fits.get(model)
        truth = reference.get(model) or {}
        comparisons[model] = [
            {
                "name": name,
                "fitted": (fit.parameters or {}).get(name) if fit else None,
                "reference": truth.get(name),
            }
            for name in names
        ]
    return render(
        request,
        "analytics/model.html",
        _common(
            request,
            run,
            fits=fits,
            holdout=holdout,
            table=table,
            chart=chart,
            reference=reference,
            comparisons=comparisons,
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def configuration(request):
    if not can_administer(request.user):
        raise PermissionDenied("Only administrators change the analytics settings.")
    current = AnalyticsConfiguration.current()
    form = ConfigurationForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_configuration(
                actor=request.user,
                **{name: form.cleaned_data[name] for name in ConfigurationForm.Meta.fields},
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(request, "Settings saved; they apply from the next refresh.")
            return redirect("analytics:configuration")
    status = 422 if request.method == "POST" else 200
    return render(request, "analytics/configuration.html", {"form": form}, status=status)


# --------------------------------------------------------------------------- segments


def _segment_or_404(request, pk) -> Segment:
    return get_object_or_404(
        Segment.objects.visible_to(request.user).filter(is_archived=False), pk=pk
    )


def _can_edit_segment(user, segment: Segment) -> bool:
    # What to offer; the services make the same decision (`access`) when the change is sent.
    return access.can(user, Action.CHANGE, segment)


@login_required
@require_GET
def segment_list(request):
    items = list(
        Segment.objects.visible_to(request.user)
        .filter(is_archived=False)
        .select_related("created_by")
    )
    return render(
        request,
        "analytics/segment_list.html",
        {"segments": items, "can_write": can_write(request.user)},
    )


def _form_context(request, form, segment=None) -> dict:
    """The segment form with the live count of its conditions (dynamic segments)."""
    count, count_error = None, ""
    if "conditions" in form.fields:
        count, count_error = _preview(request, form["conditions"].value())
    return {"form": form, "segment": segment, "count": count, "count_error": count_error}


def _preview(request, text) -> tuple[int | None, str]:
    try:
        conditions = parse_conditions(text)
    except ValidationError as exc:
        problem = " ".join(exc.messages).rstrip(".")
        return None, f"{problem}. Fix the conditions to see who matches."
    return segments.count_matching(conditions, request.user), ""


@login_required
@require_POST
def segment_count(request):
    """HTMX: how many contacts the conditions being built match (the builder announces each
    change of its JSON, and the form posts it here)."""
    count, count_error = _preview(request, request.POST.get("conditions"))
    return render(
        request, "analytics/_segment_count.html", {"count": count, "count_error": count_error}
    )


@login_required
@require_http_methods(["GET", "POST"])
def segment_create(request):
    access.require_write(request.user)
    if request.method == "GET":
        initial = {}
        if request.GET.get("tier") in ValueTier.values:
            initial["conditions"] = {
                "all": [{"field": "analytics.value_tier", "op": "eq", "value": request.GET["tier"]}]
            }
        form = SegmentForm(initial=initial)
        return render(request, "analytics/segment_form.html", _form_context(request, form))
    form = SegmentForm(request.POST)
    if form.is_valid():
        dynamic = form.cleaned_data["kind"] == SegmentKind.DYNAMIC
        try:
            segment = services.create_segment(
                actor=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                kind=form.cleaned_data["kind"],
                conditions=form.cleaned_data["conditions"] if dynamic else None,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"Segment “{segment.name}” saved.")
            return redirect(segment)
    return render(request, "analytics/segment_form.html", _form_context(request, form), status=422)


def _errors_to_form(form, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        if name.startswith("conditions") and "conditions" in form.fields:
            form.add_error("conditions", errors)
        elif name in form.fields:
            form.add_error(name, errors)
        else:
            form.add_error(None, errors)


@login_required
@require_http_methods(["GET", "POST"])
def segment_edit(request, pk):
    segment = _segment_or_404(request, pk)
    if not _can_edit_segment(request.user, segment):
        raise PermissionDenied("Only the segment's creator or an administrator may change it.")
    if request.method == "GET":
        form = SegmentForm(
            initial={
                "name": segment.name,
                "description": segment.description,
                "kind": segment.kind,
                "conditions": segment.conditions or {"all": []},
            },
            segment=segment,
        )
        return render(request, "analytics/segment_form.html", _form_context(request, form, segment))
    data = request.POST.copy()
    data["kind"] = segment.kind
    form = SegmentForm(data, segment=segment)
    if form.is_valid():
        changes = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
        }
        if segment.kind == SegmentKind.DYNAMIC:
            changes["conditions"] = form.cleaned_data["conditions"]
        try:
            segment = services.update_segment(actor=request.user, segment=segment, **changes)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"Segment “{segment.name}” saved.")
            return redirect(segment)
    return render(
        request, "analytics/segment_form.html", _form_context(request, form, segment), status=422
    )


@login_required
@require_GET
def segment_detail(request, pk):
    """Who is in the segment (as far as the user may see), paged, with export and actions."""
    segment = _segment_or_404(request, pk)
    contacts = segments.members(segment, request.user).select_related("owner", "analytics")
    try:
        page = keyset_page(
            contacts, order_field="id", cursor=request.GET.get("after") or None, limit=PAGE_SIZE
        )
    except CursorError as exc:
        raise Http404(str(exc)) from exc
    conditions = (
        describe_conditions(segment.conditions) if segment.kind == SegmentKind.DYNAMIC else None
    )
    return render_page_or_fragment(
        request,
        "analytics/segment_detail.html",
        "analytics/_segment_members.html",
        {
            "segment": segment,
            "page": page,
            "count": contacts.count(),
            "conditions": conditions,
            "can_edit": _can_edit_segment(request.user, segment),
            "can_write": can_write(request.user),
        },
    )


@login_required
@require_GET
def segment_export(request, pk):
    segment = _segment_or_404(request, pk)
    rows = (
        segments.members(segment, request.user)
        .order_by("pk")
        .values_list(
            "pk",
            "first_name",
            "last_name",
            "primary_email",
            "primary_phone",
            "lifecycle_stage",
            "owner__username",
            "analytics__value_tier",
            "analytics__segment",
            "analytics__predicted_clv",
            "analytics__revenue_total",
        )[:EXPORT_LIMIT]
    )
    header = [
        "contact_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "lifecycle_stage",
        "owner",
        "value_tier",
        "rfm_segment",
        "predicted_clv",
        "revenue",
    ]
    stamp = timezone.localdate().isoformat()
    return _stream_csv(f"segment-{segment.pk}-{stamp}.csv", header, rows.iterator(chunk_size=2000))


@login_required
@require_POST
def segment_archive(request, pk):
    segment = _segment_or_404(request, pk)
    services.archive_segment(actor=request.user, segment=segment)
    messages.success(request, f"Segment “{segment.name}” archived.")
    return redirect("analytics:segment_list")


@login_required
@require_POST
def segment_freeze(request, pk):
    """Save the segment's current members as a new static list."""
    segment = _segment_or_404(request, pk)
    name = (request.POST.get("name") or "").strip() or f"{segment.name} ({timezone.localdate()})"
    try:
        target = services.save_members_as_list(actor=request.user, segment=segment, name=name[:120])
    except ValidationError as exc:
        messages.error(request, "; ".join(m for ms in exc.message_dict.values() for m in ms))
        return redirect(segment)
    messages.success(request, f"Saved the members as the list “{target.name}”.")
    return redirect(target)


@login_required
@require_POST
def segment_remove_member(request, pk, contact_id):
    segment = _segment_or_404(request, pk)
    services.remove_from_list(actor=request.user, segment=segment, contact_ids=[contact_id])
    messages.success(request, "Removed from the list.")
    return redirect(segment)


@login_required
@require_POST
def list_add_customers(request):
    """Put the customers matching the customers-list filters on a static list."""
    raw = request.POST.get("segment") or ""
    segment = _segment_or_404(request, int(raw) if raw.isdigit() else 0)
    rows, _cleaned, _errors = filters.apply_filters(
        filters.customer_rows(request.user), request.POST
    )
    ids = list(rows.values_list("contact_id", flat=True)[: services.MAX_LIST_CHANGE])
    try:
        added = services.add_to_list(actor=request.user, segment=segment, contact_ids=ids)
    except ValidationError as exc:
        messages.error(request, "; ".join(m for ms in exc.message_dict.values() for m in ms))
        return redirect("analytics:customers")
    messages.success(request, f"{added} customers added to “{segment.name}”.")
    return redirect(segment)
