"""The CRM-models pages: the models, each scorecard, targets, objectives, assessments, the guide
to choosing a model, the KPI catalogue and the records behind each figure. Thin: stored values
and scoped querysets for reads, services for writes."""

from __future__ import annotations

import datetime as dt
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.choices import Domain
from rapport.accounts.models import User
from rapport.core import display
from rapport.core.pagination import CursorError, keyset_page
from rapport.frameworks import facts as business_facts
from rapport.frameworks import permissions, recommendation, scorecards, services, snapshots, tasks
from rapport.frameworks.catalog import MODELS
from rapport.frameworks.catalog.base import MATURITY_SCALE
from rapport.frameworks.choices import AssessmentStatus
from rapport.frameworks.forms import (
    AnswerForm,
    GuideForm,
    ObjectiveEditForm,
    ObjectiveForm,
    TargetForm,
    apply_errors,
)
from rapport.frameworks.kpis import AREAS, KPIS, EvaluationContext, Unmeasurable
from rapport.frameworks.kpis.base import POPULATION_LABELS, Population
from rapport.frameworks.models import Assessment, AssessmentResponse, Objective

RECORDS_PAGE = 50
HISTORY_DAYS = 400


def _model_or_404(key: str):
    model = MODELS.get(key)
    if model is None:
        raise Http404("No such CRM model.")
    return model


def _require_manager(request) -> None:
    if not permissions.can_manage(request.user):
        raise PermissionDenied("Only administrators and managers may change this.")


def _common(request, **extra) -> dict:
    choice = services.current_choice()
    return {
        "models": list(MODELS.values()),
        "chosen_key": choice.model_key if choice else None,
        "can_manage": permissions.can_manage(request.user),
        "can_respond": permissions.can_respond(request.user),
        **extra,
    }


# --------------------------------------------------------------------------- models


@login_required
@require_GET
def index(request):
    """The five models, the chosen one first, each with its stages' current statuses."""
    cards = [(model, scorecards.build(model.key)) for model in MODELS.values()]
    context = _common(request, cards=cards, run=snapshots.latest_run())
    chosen = context["chosen_key"]
    if chosen:
        cards.sort(key=lambda pair: pair[0].key != chosen)
    return render(request, "frameworks/index.html", context)


@login_required
@require_GET
def scorecard(request, key: str):
    model = _model_or_404(key)
    card = scorecards.build(model.key)
    context = _common(
        request,
        model=model,
        scorecard=card,
        sparklines=scorecards.sparkline_data(card),
        run=snapshots.latest_run(),
        funnel_chart=_funnel_chart(card.funnel),
        status_labels=scorecards.rating.STATUS_LABELS,
    )
    return render(request, "frameworks/scorecard.html", context)


def _funnel_chart(funnel: list[dict]) -> dict | None:
    if not funnel:
        return None
    return {
        "labels": [step["name"] for step in funnel],
        "values": [step["count"] for step in funnel],
    }


@login_required
@require_POST
def measure_now(request):
    """Run the daily snapshot now (managers), e.g. after importing data."""
    _require_manager(request)
    tasks.take_kpi_snapshot.enqueue(source="on_demand")
    messages.info(request, "The KPIs are being measured; the values update when it finishes.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("frameworks:index")
    return redirect(target)


# --------------------------------------------------------------------------- targets


@login_required
@require_http_methods(["GET", "POST"])
def stage_targets(request, key: str, stage: str):
    _require_manager(request)
    model = _model_or_404(key)
    try:
        stage_obj = model.stage(stage)
    except KeyError as exc:
        raise Http404("No such stage.") from exc
    card = next(c for c in scorecards.build(model.key).stages if c.stage.key == stage)
    form = TargetForm(request.POST or None, rows=card.kpis)
    if request.method == "POST" and form.is_valid():
        name = ""
        try:
            # All the stage's targets or none: one refused value leaves every target as it was.
            with transaction.atomic():
                for row in card.kpis:
                    name = row.kpi.key
                    if form.cleaned_data.get(f"{name}__reset"):
                        services.reset_stage_target(
                            actor=request.user, model_key=key, stage_key=stage, kpi=name
                        )
                        continue
                    if f"{name}__target" not in request.POST:
                        continue
                    target = form.cleaned_data.get(f"{name}__target")
                    tolerance = form.cleaned_data.get(f"{name}__tolerance")
                    if target == row.target and (
                        tolerance is None or abs(tolerance / 100 - row.tolerance) < 1e-9
                    ):
                        continue
                    services.set_stage_target(
                        actor=request.user,
                        model_key=key,
                        stage_key=stage,
                        kpi=name,
                        target=target,
                        tolerance=None if tolerance is None else tolerance / 100,
                    )
        except ValidationError as exc:
            apply_errors(
                form, exc, aliases={"target": f"{name}__target", "tolerance": f"{name}__tolerance"}
            )
        else:
            messages.success(request, f"Targets of {stage_obj.name} saved.")
            return redirect(reverse("frameworks:scorecard", args=[key]) + f"#stage-{stage}")
    return render(
        request,
        "frameworks/targets.html",
        _common(request, model=model, stage=stage_obj, form=form),
        status=422 if form.errors else 200,
    )


# --------------------------------------------------------------------------- objectives


def _owners(actor, current_owner_id: int | None = None):
    """Whom `actor` may make an objective's owner (`access.assignable_users`, the rule the
    service applies), and the current owner, whom an edit may keep."""
    users = access.assignable_users(actor, Domain.ANALYTICS)
    if current_owner_id is not None:
        users = users | User.objects.filter(pk=current_owner_id)
    return users.order_by("first_name", "last_name", "username")


def _segments():
    from rapport.analytics.models import Segment

    return Segment.objects.filter(is_archived=False).order_by("name")


@login_required
@require_http_methods(["GET", "POST"])
def objective_create(request, key: str):
    _require_manager(request)
    model = _model_or_404(key)
    stage_key = request.GET.get("stage") or request.POST.get("stage") or model.stages[0].key
    try:
        stage = model.stage(stage_key)
    except KeyError as exc:
        raise Http404("No such stage.") from exc
    measurable = [KPIS[k.kpi] for k in stage.kpis if KPIS[k.kpi].is_measurable]
    segments = list(_segments())
    initial = {"kpi": request.GET.get("kpi", ""), "owner": request.user.pk}
    form = ObjectiveForm(
        request.POST or None,
        kpis=measurable,
        segments=segments,
        owners=_owners(request.user),
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        segment = next((s for s in segments if s.pk == data["segment"]), None)
        try:
            objective = services.create_objective(
                actor=request.user,
                model_key=key,
                stage_key=stage.key,
                kpi=data["kpi"],
                target_kind=data["target_kind"],
                target_input=data["target_input"],
                deadline=data["deadline"],
                owner=_owners(request.user).filter(pk=data["owner"]).first(),
                segment=segment,
                title=data["title"],
                note=data["note"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Objective set: {objective.title}")
            return redirect(reverse("frameworks:scorecard", args=[key]) + f"#stage-{stage.key}")
    return render(
        request,
        "frameworks/objective_form.html",
        _common(
            request,
            model=model,
            stage=stage,
            form=form,
            not_measurable=[KPIS[k.kpi] for k in stage.kpis if not KPIS[k.kpi].is_measurable],
        ),
        status=422 if form.errors else 200,
    )


def _objective_or_404(pk: int) -> Objective:
    return get_object_or_404(Objective.objects.select_related("owner", "segment"), pk=pk)


@login_required
@require_GET
def objective_detail(request, pk: int):
    objective = _objective_or_404(pk)
    model = _model_or_404(objective.model_key)
    kpi = KPIS[objective.kpi]
    rows, trend, current, result = services.objective_progress(objective)
    start = max(trend.origin, objective.baseline_day) if trend is not None else None
    chart = {
        "labels": [row.day.isoformat() for row in rows],
        "values": [row.value for row in rows],
        "target": objective.target,
        "baseline": objective.baseline,
        "baseline_day": objective.baseline_day.isoformat(),
        "deadline": objective.deadline.isoformat(),
        "projection": (
            [
                {"x": start.isoformat(), "y": trend.at(start)},
                {"x": objective.deadline.isoformat(), "y": result.projected},
            ]
            if trend is not None and result.track in ("on_track", "at_risk", "off_track")
            else []
        ),
        "unit": kpi.unit,
    }
    return render(
        request,
        "frameworks/objective_detail.html",
        _common(
            request,
            objective=objective,
            model=model,
            stage=model.stage(objective.stage_key),
            kpi=kpi,
            current=current,
            result=result,
            trend=trend,
            chart=chart,
            progress_percent=(
                max(0, min(100, round(100 * result.progress)))
                if result.progress is not None
                else None
            ),
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def objective_edit(request, pk: int):
    _require_manager(request)
    objective = _objective_or_404(pk)
    model = _model_or_404(objective.model_key)
    form = ObjectiveEditForm(
        request.POST or None,
        owners=_owners(request.user, objective.owner_id),
        initial={
            "title": objective.title,
            "target_kind": objective.target_kind,
            "target_input": objective.target_input,
            "deadline": objective.deadline,
            "owner": objective.owner_id,
            "note": objective.note,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["owner"] = _owners(request.user, objective.owner_id).filter(pk=data["owner"]).first()
        try:
            services.update_objective(actor=request.user, objective=objective, **data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Objective saved.")
            return redirect(objective.get_absolute_url())
    return render(
        request,
        "frameworks/objective_edit.html",
        _common(request, objective=objective, model=model, kpi=KPIS[objective.kpi], form=form),
        status=422 if form.errors else 200,
    )


@login_required
@require_POST
def objective_archive(request, pk: int):
    _require_manager(request)
    objective = _objective_or_404(pk)
    services.archive_objective(actor=request.user, objective=objective)
    messages.success(request, "Objective archived.")
    return redirect("frameworks:scorecard", key=objective.model_key)


# --------------------------------------------------------------------------- assessments


@login_required
@require_http_methods(["GET", "POST"])
def assessment_list(request, key: str):
    model = _model_or_404(key)
    if request.method == "POST":
        _require_manager(request)
        try:
            assessment = services.create_assessment(
                actor=request.user, model_key=key, title=request.POST.get("title", "")
            )
        except ValidationError as exc:
            for items in exc.message_dict.values():
                for message in items:
                    messages.error(request, message)
            return redirect("frameworks:assessment_list", key=key)
        messages.success(request, "Assessment opened: everyone who may write can answer it now.")
        return redirect(assessment.get_absolute_url())
    assessments = list(Assessment.objects.filter(model_key=key).order_by("-created_at", "-id"))
    completed = [a for a in assessments if a.status == AssessmentStatus.COMPLETED]
    completed.sort(key=lambda a: a.completed_at or a.created_at)
    history = []
    for assessment in completed:
        result = scorecards.assessment_result(model, assessment)
        history.append((assessment, result))
    radar = _radar(model, history[-2:])
    return render(
        request,
        "frameworks/assessment_list.html",
        _common(
            request,
            model=model,
            assessments=assessments,
            history=list(reversed(history)),
            stage_names=[stage.name for stage in model.stages if stage.questions],
            radar=radar,
        ),
    )


def _radar(model, history) -> dict | None:
    stages = [stage for stage in model.stages if stage.questions]
    if not history or len(stages) < 3:
        return None
    return {
        "labels": [stage.name for stage in stages],
        "datasets": [
            {
                "label": f"{assessment.title} ({display.day_text(assessment.completed_at)})",
                "values": [
                    round(result.stages[stage.key].mean, 2)
                    if result.stages.get(stage.key) and result.stages[stage.key].mean is not None
                    else None
                    for stage in stages
                ],
            }
            for assessment, result in history
        ],
    }


def _assessment_or_404(pk: int) -> Assessment:
    return get_object_or_404(Assessment, pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def assessment_detail(request, pk: int):
    """An open assessment: the questionnaire (the user's own answers). A completed one: scores
    per stage, the radar and the gaps turned into suggested actions."""
    assessment = _assessment_or_404(pk)
    model = _model_or_404(assessment.model_key)
    result = scorecards.assessment_result(model, assessment)
    form = None
    if assessment.status == AssessmentStatus.OPEN and permissions.can_respond(request.user):
        own = {
            f"{row.stage_key}.{row.question_key}": {"score": row.score, "comment": row.comment}
            for row in AssessmentResponse.objects.filter(
                assessment=assessment, respondent=request.user
            )
        }
        form = AnswerForm(request.POST or None, model=model, initial_scores=own)
        if request.method == "POST" and form.is_valid():
            scores, comments = form.answers()
            try:
                count = services.answer_assessment(
                    actor=request.user, assessment=assessment, answers=scores, comments=comments
                )
            except ValidationError as exc:
                aliases = {f"answers.{key}": f"score__{key}" for _s, _q, key in form.questions}
                aliases.update(
                    {f"comments.{key}": f"comment__{key}" for _s, _q, key in form.questions}
                )
                apply_errors(form, exc, aliases=aliases)
            else:
                messages.success(request, f"{count} answer{'s' if count != 1 else ''} saved.")
                return redirect(assessment.get_absolute_url())
    elif request.method == "POST":
        raise PermissionDenied("This assessment takes no answers from you.")
    radar = _radar(model, [(assessment, result)]) if result.respondents else None
    return render(
        request,
        "frameworks/assessment_detail.html",
        _common(
            request,
            assessment=assessment,
            model=model,
            result=result,
            form=form,
            radar=radar,
            scale=MATURITY_SCALE,
            stage_rows=[
                (stage, result.stages.get(stage.key)) for stage in model.stages if stage.questions
            ],
        ),
        status=422 if form is not None and form.errors else 200,
    )


@login_required
@require_POST
def assessment_complete(request, pk: int):
    _require_manager(request)
    assessment = _assessment_or_404(pk)
    try:
        services.complete_assessment(actor=request.user, assessment=assessment)
    except ValidationError as exc:
        for items in exc.message_dict.values():
            for message in items:
                messages.error(request, message)
    else:
        messages.success(request, "Assessment completed: its scores now show on the scorecard.")
    return redirect(assessment.get_absolute_url())


# --------------------------------------------------------------------------- choosing a model


@login_required
@require_http_methods(["GET", "POST"])
def guide(request):
    """Questions about the business plus what the data says → a recommended model, the reasons,
    the runner-up and what would change the answer."""
    form = GuideForm(request.POST or None)
    result = None
    facts = None
    if request.method == "POST" and form.is_valid():
        facts = business_facts.read_facts()
        result = recommendation.recommend(form.answers(), facts)
    context = _common(request, form=form, result=result, facts=facts)
    if result is not None:
        context.update(
            recommended=MODELS[result.recommended],
            runner_up=MODELS[result.runner_up],
            ranking=[
                (MODELS[key], result.scores[key], result.reasons[key]) for key in result.ranking
            ],
            answers_json=json.dumps(
                {key: form.cleaned_data[key] for key in form.cleaned_data}, sort_keys=True
            ),
        )
    return render(request, "frameworks/guide.html", context, status=422 if form.errors else 200)


@login_required
@require_POST
def choose(request):
    """Adopt a model (usually the recommended one) as the business's model and home dashboard."""
    _require_manager(request)
    key = request.POST.get("model", "")
    try:
        answers = json.loads(request.POST.get("answers") or "{}")
    except ValueError:
        answers = {}
    if not isinstance(answers, dict):
        answers = {}
    form = GuideForm(answers)
    facts = business_facts.read_facts()
    scores, recommended = {}, ""
    if form.is_valid():
        result = recommendation.recommend(form.answers(), facts)
        scores, recommended = result.scores, result.recommended
    try:
        services.choose_model(
            actor=request.user,
            model_key=key,
            answers=form.cleaned_data if form.is_valid() else {},
            facts=business_facts.as_dict(facts),
            recommended_key=recommended,
            scores=scores,
        )
    except ValidationError:
        messages.error(request, "Choose one of the five models.")
        return redirect("frameworks:guide")
    messages.success(
        request, f"{MODELS[key].name} is now your CRM model; its scorecard is on the home page."
    )
    return redirect("frameworks:scorecard", key=key)


# --------------------------------------------------------------------------- KPI catalogue


def _where_used() -> dict[str, list[tuple]]:
    used: dict[str, list[tuple]] = {}
    for model in MODELS.values():
        for stage in model.stages:
            for stage_kpi in stage.kpis:
                used.setdefault(stage_kpi.kpi, []).append((model, stage, stage_kpi))
    return used


@login_required
@require_GET
def kpi_list(request):
    series = [snapshots.Series(key) for key, kpi in KPIS.items() if kpi.is_measurable]
    latest = snapshots.latest(series)
    used = _where_used()
    groups = []
    for area, label in AREAS.items():
        rows = [
            (kpi, latest.get(snapshots.Series(kpi.key)), used.get(kpi.key, []))
            for kpi in KPIS.values()
            if kpi.area == area
        ]
        if rows:
            groups.append((label, rows))
    return render(
        request,
        "frameworks/kpi_list.html",
        _common(
            request,
            groups=groups,
            measured=sum(1 for kpi in KPIS.values() if kpi.is_measurable),
            total=len(KPIS),
            run=snapshots.latest_run(),
        ),
    )


def _kpi_or_404(key: str):
    kpi = KPIS.get(key)
    if kpi is None:
        raise Http404("No such KPI.")
    return kpi


def _population(request) -> str:
    population = request.GET.get("population", "")
    return population if population in POPULATION_LABELS else Population.EVERYONE


@login_required
@require_GET
def kpi_detail(request, key: str):
    kpi = _kpi_or_404(key)
    population = _population(request) if kpi.segmentable else Population.EVERYONE
    rows = snapshots.history(
        snapshots.Series(kpi.key, population),
        since=timezone.localdate() - dt.timedelta(days=HISTORY_DAYS),
    )
    latest = rows[-1] if rows else None
    chart = {
        "labels": [row.day.isoformat() for row in rows if row.value is not None],
        "values": [row.value for row in rows if row.value is not None],
        "unit": kpi.unit,
    }
    see_also = [
        (link.label, url)
        for link in kpi.see_also
        if (url := scorecards.safe_url(link.url_name, link.query)) is not None
    ]
    return render(
        request,
        "frameworks/kpi_detail.html",
        _common(
            request,
            kpi=kpi,
            population=population,
            population_label=POPULATION_LABELS.get(population, ""),
            rows=list(reversed(rows[-30:])),
            latest=latest,
            chart=chart,
            used=_where_used().get(kpi.key, []),
            see_also=see_also,
            area=AREAS.get(kpi.area, kpi.area),
        ),
    )


RECORD_KINDS = {
    "contacts": ("rapport.contacts.models", "Contact", ("owner",)),
    "organizations": ("rapport.contacts.models", "Organization", ("owner",)),
    "deals": ("rapport.sales.models", "Deal", ("owner", "stage", "contact")),
    "tasks": ("rapport.sales.models", "Task", ("assignee", "contact")),
    "interactions": ("rapport.interactions.models", "Interaction", ("contact", "organization")),
}


def _visible(kind: str, queryset, user):
    from importlib import import_module

    module, name, related = RECORD_KINDS[kind]
    model = getattr(import_module(module), name)
    return (
        model.objects.visible_to(user).filter(pk__in=queryset.values("pk")).select_related(*related)
    )


@login_required
@require_GET
def kpi_records(request, key: str):
    """The records behind a KPI's value, as far as the user may see them (each app's scope)."""
    kpi = _kpi_or_404(key)
    if kpi.records is None:
        raise Http404("This KPI has no records to list.")
    population = _population(request) if kpi.segmentable else Population.EVERYONE
    today = timezone.localdate()
    ctx = EvaluationContext(as_of=today, today=today, population=population)
    reason = ""
    page = None
    behind = None
    try:
        behind = kpi.records(ctx)
        rows = _visible(behind.kind, behind.queryset, request.user)
        page = keyset_page(
            rows, order_field="id", cursor=request.GET.get("cursor"), limit=RECORDS_PAGE
        )
    except Unmeasurable as exc:
        reason = exc.reason
    except CursorError as exc:
        reason = str(exc)
    see_also = [
        (link.label, url)
        for link in kpi.see_also
        if (url := scorecards.safe_url(link.url_name, link.query)) is not None
    ]
    return render(
        request,
        "frameworks/kpi_records.html",
        _common(
            request,
            kpi=kpi,
            behind=behind,
            page=page,
            reason=reason,
            population=population,
            population_label=POPULATION_LABELS.get(population, ""),
            see_also=see_also,
        ),
    )
