"""The Kanban board, stage moves (with undo), pipeline analytics and pipeline settings."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.accounts.access import require_admin, require_write
from rapport.accounts.models import Team
from rapport.core import display
from rapport.core.exchange import load_rate_book
from rapport.core.ids import id_from_text
from rapport.core.pagination import CursorError
from rapport.sales import board as board_reads
from rapport.sales import reports
from rapport.sales.choices import StageKind
from rapport.sales.forms import MoveForm, PipelineForm, StageForm, active_users, add_service_errors
from rapport.sales.models import Deal, LostReason, Pipeline, Stage
from rapport.sales.services import deals as deal_services
from rapport.sales.services import pipelines as pipeline_services
from rapport.sales.templatetags.sales_tags import format_totals


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
def board_default(request):
    chosen = id_from_text(request.GET.get("pipeline"))
    if chosen is not None and Pipeline.objects.active().filter(pk=chosen).exists():
        return redirect("sales:board", chosen)
    pipeline = pipeline_services.default_pipeline()
    if pipeline is None:
        return render(request, "sales/board/empty.html", {})
    return redirect("sales:board", pipeline.pk)


@login_required
def board(request, pipeline_id: int):
    """One pipeline as columns of cards; filters by owner, team and expected-close month."""
    pipeline = get_object_or_404(Pipeline.objects.active(), pk=pipeline_id)
    filters, errors = board_reads.BoardFilters.from_params(request.GET)
    stages, columns = board_reads.build_board(
        pipeline, request.user, filters, per_column=board_reads.FIRST_CARDS_ON_PAGE
    )
    open_total = board_reads.open_total(
        board_reads.board_queryset(pipeline, request.user, filters), load_rate_book
    )
    card_context = _card_context(request)
    board_reads.card_texts(
        [deal for column in columns for deal in column.deals],
        deal_base=card_context["deal_base"],
        back=card_context["back"],
    )
    return render(
        request,
        "sales/board/board.html",
        {
            "pipeline": pipeline,
            "pipelines": Pipeline.objects.active(),
            "stages": stages,
            "columns": columns,
            "open_total": open_total,
            "filters": filters,
            "filter_query": filters.as_query(),
            "filter_errors": errors,
            "owners": active_users(),
            "teams": Team.objects.all(),
            "lost_reasons": LostReason.objects.filter(is_active=True),
            **card_context,
        },
    )


def _card_context(request) -> dict:
    can_move = not request.user.is_read_only
    return {
        "deal_base": _deal_base(),
        "can_move": can_move,
        "draggable": "true" if can_move else "false",
        "back": request.get_full_path(),
    }


def _deal_base() -> str:
    # One reverse() for all cards: "/sales/deals/" (cards append "<id>/" and "<id>/move/").
    return reverse("sales:deal_detail", args=[0])[: -len("0/")]


@login_required
def board_column(request, pipeline_id: int, stage_id: int):
    """The next cards of one column ("show more"), as a fragment."""
    pipeline = get_object_or_404(Pipeline.objects.active(), pk=pipeline_id)
    stage = get_object_or_404(Stage, pk=stage_id, pipeline=pipeline)
    filters, _errors = board_reads.BoardFilters.from_params(request.GET)
    queryset = board_reads.board_queryset(pipeline, request.user, filters)
    try:
        page = board_reads.column_page(queryset, stage, cursor=request.GET.get("cursor"))
    except CursorError as exc:
        raise Http404(str(exc)) from exc
    context = {
        "pipeline": pipeline,
        "stage": stage,
        "deals": page.items,
        "next_cursor": page.next_cursor,
        "filter_query": filters.as_query(),
        **_card_context(request),
    }
    # "Move to…" returns to the board, not to this fragment's address.
    board_url = reverse("sales:board", args=[pipeline.pk])
    context["back"] = (
        f"{board_url}?{context['filter_query']}" if context["filter_query"] else board_url
    )
    board_reads.card_texts(page.items, deal_base=context["deal_base"], back=context["back"])
    return render(request, "sales/board/_column_page.html", context)


def _column_json(deal: Deal, user, stage_ids) -> list[dict]:
    queryset = board_reads.board_queryset(deal.pipeline, user, board_reads.BoardFilters())
    stages = list(Stage.objects.filter(pk__in=stage_ids))
    columns = board_reads.column_summaries(queryset.filter(stage_id__in=stage_ids), stages)
    return [
        {
            "stage_id": stage.pk,
            "count": columns[stage.pk].count,
            "total": format_totals(columns[stage.pk].totals),
        }
        for stage in stages
    ]


@login_required
def deal_move(request, deal_id: int):
    """Move a deal (drag and drop, the card's "Move to" select, or this page for lost reasons).

    JSON for the board's script (with the undo address), a redirect for a plain form post.
    """
    deal = get_object_or_404(
        Deal.objects.visible_to(request.user).active().select_related("stage", "pipeline"),
        pk=deal_id,
    )
    form = MoveForm(request.POST or None, initial={"stage": deal.stage_id})
    form.fields["stage"].queryset = deal.pipeline.stages.all()
    if request.method == "POST":
        require_write(request.user)
        if form.is_valid():
            from_stage_id = deal.stage_id
            try:
                change = deal_services.move_deal(
                    actor=request.user,
                    deal=deal,
                    stage=form.cleaned_data["stage"],
                    lost_reason=form.cleaned_data["lost_reason"],
                    lost_note=form.cleaned_data["lost_note"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc, aliases={"stage_id": "stage"})
            else:
                stage = form.cleaned_data["stage"]
                if _wants_json(request):
                    return JsonResponse(
                        {
                            "ok": True,
                            "moved": change is not None,
                            "change_id": change.pk if change else None,
                            "undo_url": reverse("sales:deal_undo", args=[deal.pk]),
                            "stage_id": stage.pk,
                            "message": f"Moved “{deal.name}” to {stage.name}.",
                            "columns": _column_json(deal, request.user, {from_stage_id, stage.pk}),
                        }
                    )
                messages.success(request, f"Moved “{deal.name}” to {stage.name}.")
                return redirect(_back(request, deal))
        if _wants_json(request):
            return JsonResponse(
                {
                    "ok": False,
                    "message": " ".join(
                        str(error) for errors in form.errors.values() for error in errors
                    ),
                    "errors": form.errors,
                },
                status=422,
            )
    return render(
        request,
        "sales/deals/move.html",
        {"deal": deal, "form": form},
        status=422 if form.errors else 200,
    )


def _back(request, deal) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return target
    return reverse("sales:board", args=[deal.pipeline_id])


@login_required
@require_POST
def deal_undo(request, deal_id: int):
    """Undo the deal's latest move (the toast's Undo button)."""
    require_write(request.user)
    deal = get_object_or_404(Deal.objects.visible_to(request.user).active(), pk=deal_id)
    change = deal.stage_changes.filter(pk=request.POST.get("change_id") or 0).first()
    if change is None:
        return JsonResponse({"ok": False, "message": "Nothing to undo."}, status=404)
    moved_away_from = change.to_stage_id
    try:
        deal = deal_services.undo_stage_move(actor=request.user, change=change)
    except ValidationError as exc:
        return JsonResponse({"ok": False, "message": " ".join(exc.messages)}, status=422)
    except PermissionDenied as exc:
        return JsonResponse({"ok": False, "message": str(exc)}, status=403)
    deal.refresh_from_db()
    return JsonResponse(
        {
            "ok": True,
            "stage_id": deal.stage_id,
            "message": f"Moved “{deal.name}” back to {deal.stage.name}.",
            "columns": _column_json(deal, request.user, {moved_away_from, deal.stage_id}),
        }
    )


@login_required
def analytics(request, pipeline_id: int):
    """Conversion, time in stage, bottleneck, stalled deals, win rates and the forecast."""
    pipeline = get_object_or_404(Pipeline, pk=pipeline_id)
    report = reports.pipeline_report(pipeline, request.user)
    # The chart shows every deal in the company currency (those without a rate are named).
    forecast_main = report["forecast_company"]
    chart_data = {
        "currency": report["company_currency"],
        "conversion": {
            "labels": [f"{c.name} → {c.next_name}" for c in report["conversion"]],
            "rates": [
                round(c.rate * 100, 1) if c.rate is not None else None for c in report["conversion"]
            ],
        },
        "time": {
            "labels": [t.name for t in report["times"]],
            "median_days": [
                round(t.median_days, 2) if t.median_days is not None else None
                for t in report["times"]
            ],
        },
        "win_source": {
            "labels": [r["label"] for r in report["win_by_source"]],
            "rates": [
                round(r["rate"] * 100, 1) if r["rate"] is not None else None
                for r in report["win_by_source"]
            ],
        },
        "win_owner": {
            "labels": [r["label"] for r in report["win_by_owner"]],
            "rates": [
                round(r["rate"] * 100, 1) if r["rate"] is not None else None
                for r in report["win_by_owner"]
            ],
        },
        "forecast": {
            "labels": [display.month_text(row.month) for row in forecast_main],
            "won": [float(row.won) for row in forecast_main],
            "weighted": [float(row.weighted_open) for row in forecast_main],
        },
    }
    return render(
        request,
        "sales/board/analytics.html",
        {
            "pipeline": pipeline,
            "pipelines": Pipeline.objects.active(),
            "report": report,
            "chart_data": chart_data,
            "chart_json": json.dumps(chart_data),
        },
    )


@login_required
def pipeline_list(request):
    """The pipelines, a form for a new one, and the lost reasons deals are closed with."""
    require_admin(request.user)
    form = PipelineForm(request.POST if request.POST.get("action") == "pipeline" else None)
    reason_error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "pipeline" and form.is_valid():
                pipeline = pipeline_services.create_pipeline(
                    actor=request.user, **form.cleaned_data
                )
                messages.success(
                    request, f"Pipeline “{pipeline.name}” created with standard stages."
                )
                return redirect("sales:pipeline_settings", pipeline.pk)
            if action == "add_reason":
                pipeline_services.create_lost_reason(
                    actor=request.user, name=request.POST.get("name", "")
                )
                messages.success(request, "Lost reason added.")
                return redirect("sales:pipeline_list")
            if action == "toggle_reason":
                reason = get_object_or_404(LostReason, pk=request.POST.get("reason_id"))
                pipeline_services.update_lost_reason(
                    actor=request.user, reason=reason, is_active=not reason.is_active
                )
                return redirect("sales:pipeline_list")
        except ValidationError as exc:
            if action == "pipeline":
                add_service_errors(form, exc)
            else:
                reason_error = " ".join(exc.messages)
    return render(
        request,
        "sales/pipelines/list.html",
        {
            "pipelines": Pipeline.objects.prefetch_related("stages"),
            "form": form if form.is_bound else PipelineForm(),
            "reasons": LostReason.objects.all(),
            "reason_error": reason_error,
        },
        status=422 if form.errors or reason_error else 200,
    )


@login_required
def pipeline_settings(request, pipeline_id: int):
    """Edit a pipeline and its stages (names, probabilities, order, stall limits)."""
    require_admin(request.user)
    pipeline = get_object_or_404(Pipeline, pk=pipeline_id)
    form = PipelineForm(
        initial={
            "name": pipeline.name,
            "currency": pipeline.currency,
            "description": pipeline.description,
            "is_default": pipeline.is_default,
        }
    )
    new_stage = StageForm(prefix="new")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "pipeline":
                form = PipelineForm(request.POST)
                if form.is_valid():
                    pipeline_services.update_pipeline(
                        actor=request.user, pipeline=pipeline, **form.cleaned_data
                    )
                    messages.success(request, "Pipeline saved.")
                    return redirect("sales:pipeline_settings", pipeline.pk)
            elif action == "add_stage":
                new_stage = StageForm(request.POST, prefix="new")
                if new_stage.is_valid():
                    pipeline_services.add_stage(
                        actor=request.user,
                        pipeline=pipeline,
                        **{k: v for k, v in new_stage.cleaned_data.items() if v is not None},
                    )
                    messages.success(request, "Stage added.")
                    return redirect("sales:pipeline_settings", pipeline.pk)
            elif action == "update_stage":
                stage = get_object_or_404(Stage, pk=request.POST.get("stage_id"), pipeline=pipeline)
                stage_form = StageForm(request.POST, prefix=f"s{stage.pk}")
                if stage_form.is_valid():
                    pipeline_services.update_stage(
                        actor=request.user, stage=stage, **stage_form.cleaned_data
                    )
                    messages.success(request, f"Stage “{stage.name}” saved.")
                    return redirect("sales:pipeline_settings", pipeline.pk)
                messages.error(request, "Check the stage's values: " + stage_form.errors.as_text())
            elif action == "remove_stage":
                stage = get_object_or_404(Stage, pk=request.POST.get("stage_id"), pipeline=pipeline)
                pipeline_services.remove_stage(actor=request.user, stage=stage)
                messages.success(request, f"Stage “{stage.name}” removed.")
                return redirect("sales:pipeline_settings", pipeline.pk)
        except ValidationError as exc:
            target = new_stage if action == "add_stage" else form
            if action in {"update_stage", "remove_stage"}:
                messages.error(request, " ".join(exc.messages))
            else:
                add_service_errors(target, exc)
        status = 422
    stages = [
        {
            "stage": stage,
            "form": StageForm(
                prefix=f"s{stage.pk}",
                initial={
                    "name": stage.name,
                    "probability": stage.weight,
                    "position": stage.position,
                    "stall_days": stage.stall_days,
                },
            ),
        }
        for stage in pipeline.stages.all()
    ]
    return render(
        request,
        "sales/pipelines/settings.html",
        {
            "pipeline": pipeline,
            "form": form,
            "new_stage": new_stage,
            "stages": stages,
            "open_kind": StageKind.OPEN,
        },
        status=status,
    )
