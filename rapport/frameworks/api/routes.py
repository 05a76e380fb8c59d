"""The CRM-models API: the KPI catalogue with values and history, the five models, scorecards,
targets, objectives, assessments and the model recommendation. Thin: stored values for reads,
services for writes (which answer 403 to users who may not make them).

KPI values are aggregate figures over the whole database: any signed-in user may read them.
The records behind a value are listed by each app's own API, scoped as usual.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from ninja import Query, Router
from ninja.responses import Status

from rapport.accounts.models import User
from rapport.core.api_types import PathId
from rapport.core.problems import also_answers, relocate
from rapport.frameworks import facts as business_facts
from rapport.frameworks import recommendation, scorecards, services, snapshots
from rapport.frameworks.api.schemas import (
    AnswersIn,
    AssessmentIn,
    AssessmentOut,
    ChoiceIn,
    ChoiceOut,
    HistoryQuery,
    KpiHistoryOut,
    KpiOut,
    ModelOut,
    ObjectiveIn,
    ObjectiveOut,
    ObjectivePatch,
    ObjectiveQuery,
    PopulationQuery,
    RecommendationIn,
    RecommendationOut,
    ScorecardOut,
    TargetIn,
    TargetOut,
)
from rapport.frameworks.catalog import MODELS
from rapport.frameworks.choices import ObjectiveStatus
from rapport.frameworks.kpis import KPIS
from rapport.frameworks.kpis.base import POPULATION_LABELS
from rapport.frameworks.models import Assessment, AssessmentResponse, Objective

router = Router(tags=["frameworks"])


def _population(value: str, field: str = "query.population") -> str:
    if value not in POPULATION_LABELS:
        raise ValidationError(
            {field: [f"Choose one of: {', '.join(repr(p) for p in POPULATION_LABELS)}."]}
        )
    return value


def _used_by() -> dict[str, list[dict]]:
    used: dict[str, list[dict]] = {}
    for model in MODELS.values():
        for stage in model.stages:
            for stage_kpi in stage.kpis:
                used.setdefault(stage_kpi.kpi, []).append({"model": model.key, "stage": stage.key})
    return used


def _kpi_out(kpi, latest, population: str, used: dict) -> dict:
    reason = kpi.not_measurable_reason if not kpi.is_measurable else ""
    if kpi.is_measurable and latest is None:
        reason = "Not measured yet."
    elif latest is not None and latest.value is None:
        reason = latest.reason
    records = None
    if kpi.records is not None:
        records = reverse("frameworks:kpi_records", args=[kpi.key])
        if population:
            records += f"?population={population}"
    return {
        "key": kpi.key,
        "name": kpi.name,
        "definition": kpi.definition,
        "unit": kpi.unit,
        "direction": kpi.direction,
        "area": kpi.area,
        "history": kpi.history,
        "segmentable": kpi.segmentable,
        "measurable": kpi.is_measurable,
        "population": population,
        "value": latest.value if latest is not None else None,
        "numerator": latest.numerator if latest is not None else None,
        "denominator": latest.denominator if latest is not None else None,
        "measured_on": latest.day if latest is not None else None,
        "reason": reason,
        "capability": kpi.capability,
        "records_url": records,
        "used_by": used.get(kpi.key, []),
    }


# --------------------------------------------------------------------------- KPIs


@router.get("/kpis/", response=list[KpiOut])
def list_kpis(request, query: Query[PopulationQuery]):
    """Every KPI of the catalogue with its latest value, or the reason it has none."""
    population = _population(query.population)
    series = {
        key: snapshots.Series(key, population if kpi.segmentable else "")
        for key, kpi in KPIS.items()
        if kpi.is_measurable
    }
    latest = snapshots.latest(list(series.values()))
    used = _used_by()
    return [
        _kpi_out(
            kpi, latest.get(series.get(key)), series[key].population if key in series else "", used
        )
        for key, kpi in KPIS.items()
    ]


def _kpi_or_404(key: str):
    kpi = KPIS.get(key)
    if kpi is None:
        raise Http404("No such KPI.")
    return kpi


@router.get("/kpis/{key}", response=KpiOut)
def get_kpi(request, key: str, query: Query[PopulationQuery]):
    kpi = _kpi_or_404(key)
    population = _population(query.population) if kpi.segmentable else ""
    latest = None
    if kpi.is_measurable:
        latest = snapshots.latest([snapshots.Series(key, population)]).get(
            snapshots.Series(key, population)
        )
    return _kpi_out(kpi, latest, population, _used_by())


@router.get("/kpis/{key}/history", response=KpiHistoryOut)
def kpi_history(request, key: str, query: Query[HistoryQuery]):
    """The stored daily values of a KPI (everyone, a population or a segment), oldest first."""
    kpi = _kpi_or_404(key)
    population = _population(query.population)
    if (population or query.segment_id) and not kpi.segmentable:
        raise ValidationError(
            {"query.population": [f"{kpi.name} is measured over the whole database only."]}
        )
    if query.segment_id is not None:
        from rapport.analytics.models import Segment

        get_object_or_404(Segment.objects.visible_to(request.auth), pk=query.segment_id)
    rows = snapshots.history(
        snapshots.Series(key, population, query.segment_id),
        since=timezone.localdate() - dt.timedelta(days=query.days),
    )
    return {
        "kpi": key,
        "population": population,
        "segment_id": query.segment_id,
        "points": [
            {
                "day": row.day,
                "value": row.value,
                "numerator": row.numerator,
                "denominator": row.denominator,
                "reason": row.reason,
                "source": row.source,
            }
            for row in rows
        ],
    }


# --------------------------------------------------------------------------- models


def _model_out(model, chosen_key: str | None, overrides: dict) -> dict:
    stages = []
    for stage in model.stages:
        kpis = []
        for stage_kpi in stage.kpis:
            target, tolerance, overridden = scorecards.resolve_target(
                stage_kpi, overrides.get((model.key, stage.key, stage_kpi.kpi))
            )
            kpis.append(
                {
                    "kpi": stage_kpi.kpi,
                    "default_target": stage_kpi.target,
                    "target": target,
                    "tolerance": tolerance,
                    "overridden": overridden,
                }
            )
        stages.append(
            {
                "key": stage.key,
                "name": stage.name,
                "summary": stage.summary,
                "group": stage.group,
                "assessed": stage.assessed,
                "population": stage.population,
                "kpis": kpis,
                "questions": [
                    {"key": q.key, "text": q.text, "guidance": q.guidance, "action": q.action}
                    for q in stage.questions
                ],
                "features": [
                    {"label": link.label, "url": url}
                    for link in stage.features
                    if (url := scorecards.safe_url(link.url_name)) is not None
                ],
            }
        )
    return {
        "key": model.key,
        "name": model.name,
        "authors": model.authors,
        "summary": model.summary,
        "fits_when": model.fits_when,
        "journey": list(model.journey),
        "chosen": model.key == chosen_key,
        "stages": stages,
    }


def _all_overrides() -> dict:
    from rapport.frameworks.models import StageTarget

    return {(row.model_key, row.stage_key, row.kpi): row for row in StageTarget.objects.all()}


def _chosen_key() -> str | None:
    choice = services.current_choice()
    return choice.model_key if choice else None


@router.get("/frameworks/", response=list[ModelOut])
def list_models(request):
    """The five CRM models with their stages, KPIs (with the targets in force) and questions."""
    overrides = _all_overrides()
    chosen = _chosen_key()
    return [_model_out(model, chosen, overrides) for model in MODELS.values()]


# Fixed paths come before /frameworks/{key} so that "objectives" is never read as a model key.


@router.get("/frameworks/choice", response=ChoiceOut, openapi_extra=also_answers(404))
def get_choice(request):
    choice = services.current_choice()
    if choice is None:
        raise Http404("No model chosen yet.")
    return choice


@router.put("/frameworks/choice", response=ChoiceOut)
def put_choice(request, payload: ChoiceIn):
    """Make a model the business's model (administrators and managers)."""
    facts = business_facts.read_facts()
    answers, scores, recommended = {}, {}, ""
    if payload.answers is not None:
        result = recommendation.recommend(_answers(payload.answers), facts)
        answers = payload.answers.model_dump()
        scores, recommended = result.scores, result.recommended
    return services.choose_model(
        actor=request.auth,
        model_key=payload.model,
        answers=answers,
        facts=business_facts.as_dict(facts),
        recommended_key=recommended,
        scores=scores,
    )


def _answers(payload: RecommendationIn) -> recommendation.Answers:
    errors: dict[str, list[str]] = {}
    if payload.team_size not in recommendation.TEAM_SIZES:
        errors["team_size"] = [f"Choose one of: {', '.join(recommendation.TEAM_SIZES)}."]
    if payload.product_complexity not in recommendation.COMPLEXITY:
        errors["product_complexity"] = [f"Choose one of: {', '.join(recommendation.COMPLEXITY)}."]
    for name, allowed in (
        ("channels", recommendation.CHANNELS),
        ("departments", recommendation.DEPARTMENTS),
        ("goals", recommendation.GOALS),
    ):
        for index, value in enumerate(getattr(payload, name)):
            if value not in allowed:
                errors[f"{name}[{index}]"] = [f"Choose from: {', '.join(allowed)}."]
    if errors:
        raise ValidationError(errors)
    return recommendation.Answers(
        team_size=payload.team_size,
        product_complexity=payload.product_complexity,
        channels=tuple(payload.channels),
        departments=tuple(payload.departments),
        goals=tuple(payload.goals),
    )


@router.post("/frameworks/recommendation", response=RecommendationOut)
def recommend(request, payload: RecommendationIn):
    """Recommend a model from the answers and the data, with reasons, the runner-up and what
    would change the answer. Changes nothing."""
    facts = business_facts.read_facts()
    result = recommendation.recommend(_answers(payload), facts)
    return {
        "recommended": result.recommended,
        "runner_up": result.runner_up,
        "scores": result.scores,
        "reasons": {
            key: [
                {"model": r.model, "points": r.points, "text": r.text, "source": r.source}
                for r in reasons
            ]
            for key, reasons in result.reasons.items()
        },
        "changes": [{"text": c.text, "model": c.model} for c in result.changes],
        "notes": result.notes,
        "facts": business_facts.as_dict(facts),
    }


# --------------------------------------------------------------------------- objectives


@router.get("/frameworks/objectives/", response=list[ObjectiveOut])
def list_objectives(request, query: Query[ObjectiveQuery]):
    rows = Objective.objects.all().order_by("deadline", "id")
    if query.model:
        if query.model not in MODELS:
            raise ValidationError({"query.model": [f"Choose one of: {', '.join(MODELS)}."]})
        rows = rows.filter(model_key=query.model)
    if query.status:
        if query.status not in ObjectiveStatus.values:
            raise ValidationError(
                {"query.status": [f"Choose one of: {', '.join(ObjectiveStatus.values)}."]}
            )
        rows = rows.filter(status=query.status)
    return list(rows[:500])


# The service names the model's fields; the API sends ids.
OBJECTIVE_FIELDS = {"owner": "owner_id", "segment": "segment_id"}


def _user(user_id: int | None, field: str):
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise ValidationError({field: ["No active user with this id."]})
    return user


@router.post("/frameworks/objectives/", response={201: ObjectiveOut})
def create_objective(request, payload: ObjectiveIn):
    segment = None
    if payload.segment_id is not None:
        from rapport.analytics.models import Segment

        segment = Segment.objects.visible_to(request.auth).filter(pk=payload.segment_id).first()
        if segment is None:
            raise ValidationError({"segment_id": ["No such segment."]})
    try:
        objective = services.create_objective(
            actor=request.auth,
            model_key=payload.model,
            stage_key=payload.stage,
            kpi=payload.kpi,
            target_kind=payload.target_kind,
            target_input=payload.target_input,
            deadline=payload.deadline,
            owner=_user(payload.owner_id, "owner_id"),
            segment=segment,
            title=payload.title,
            note=payload.note,
        )
    except ValidationError as exc:
        raise relocate(exc, rename=OBJECTIVE_FIELDS) from None
    return Status(201, objective)


@router.get("/frameworks/objectives/{objective_id}", response=ObjectiveOut)
def get_objective(request, objective_id: PathId):
    return get_object_or_404(Objective, pk=objective_id)


@router.patch("/frameworks/objectives/{objective_id}", response=ObjectiveOut)
def update_objective(request, objective_id: PathId, payload: ObjectivePatch):
    objective = get_object_or_404(Objective, pk=objective_id)
    changes = payload.model_dump(exclude_unset=True)
    if "owner_id" in changes:
        changes["owner"] = _user(changes.pop("owner_id"), "owner_id")
        if changes["owner"] is None:
            raise ValidationError({"owner_id": ["Give the id of an active user."]})
    for name in ("title", "deadline", "target_kind", "target_input"):
        if name in changes and changes[name] is None:
            raise ValidationError({name: ["Must not be null."]})
    try:
        return services.update_objective(actor=request.auth, objective=objective, **changes)
    except ValidationError as exc:
        raise relocate(exc, rename=OBJECTIVE_FIELDS) from None


@router.delete("/frameworks/objectives/{objective_id}", response={204: None})
def archive_objective(request, objective_id: PathId):
    """Archive (stop following) an objective; its history stays."""
    objective = get_object_or_404(Objective, pk=objective_id)
    services.archive_objective(actor=request.auth, objective=objective)
    return Status(204, None)


# --------------------------------------------------------------------------- assessments


def _assessment_out(assessment: Assessment, user) -> dict:
    result = scorecards.assessment_result(MODELS[assessment.model_key], assessment)
    mine = {
        f"{row.stage_key}.{row.question_key}": row.score
        for row in AssessmentResponse.objects.filter(assessment=assessment, respondent=user)
    }
    return {
        "id": assessment.pk,
        "model_key": assessment.model_key,
        "title": assessment.title,
        "status": assessment.status,
        "created_at": assessment.created_at,
        "completed_at": assessment.completed_at,
        "respondents": result.respondents,
        "overall": result.overall,
        "stages": [{"stage": s.stage, "mean": s.mean} for s in result.stages.values()],
        "gaps": [
            {
                "stage": g.stage,
                "question": g.question,
                "text": g.text,
                "action": g.action,
                "mean": g.mean,
                "answers": g.answers,
                "spread": g.spread,
            }
            for g in result.gaps
        ],
        "my_answers": mine,
    }


@router.get("/frameworks/assessments/{assessment_id}", response=AssessmentOut)
def get_assessment(request, assessment_id: PathId):
    """Scores per stage, overall, the gaps with their suggested actions, and your answers."""
    assessment = get_object_or_404(Assessment, pk=assessment_id)
    return _assessment_out(assessment, request.auth)


@router.post("/frameworks/assessments/{assessment_id}/responses", response=AssessmentOut)
def answer_assessment(request, assessment_id: PathId, payload: AnswersIn):
    """Record your scores ("stage.question": 1–5); answering again replaces them."""
    assessment = get_object_or_404(Assessment, pk=assessment_id)
    services.answer_assessment(
        actor=request.auth,
        assessment=assessment,
        answers=payload.answers,
        comments=payload.comments,
    )
    return _assessment_out(assessment, request.auth)


@router.post("/frameworks/assessments/{assessment_id}/complete", response=AssessmentOut)
def complete_assessment(request, assessment_id: PathId):
    assessment = get_object_or_404(Assessment, pk=assessment_id)
    services.complete_assessment(actor=request.auth, assessment=assessment)
    return _assessment_out(assessment, request.auth)


# --------------------------------------------------------------------------- one model


def _model_or_404(key: str):
    model = MODELS.get(key)
    if model is None:
        raise Http404("No such CRM model.")
    return model


@router.get("/frameworks/{key}", response=ModelOut)
def get_model(request, key: str):
    model = _model_or_404(key)
    return _model_out(model, _chosen_key(), _all_overrides())


@router.get("/frameworks/{key}/scorecard", response=ScorecardOut)
def get_scorecard(request, key: str):
    """Every stage with its KPIs (value, target, status, trend), health, maturity and objectives."""
    model = _model_or_404(key)
    card = scorecards.build(model.key)
    return {
        "model": model.key,
        "name": model.name,
        "measured_on": card.measured_on,
        "assessment_id": card.assessment.pk if card.assessment else None,
        "funnel": card.funnel,
        "stages": [
            {
                "key": stage_card.stage.key,
                "name": stage_card.stage.name,
                "group": stage_card.stage.group,
                "assessed": stage_card.stage.assessed,
                "population": stage_card.stage.population,
                "status": stage_card.status,
                "health": stage_card.health.share,
                "on_track": stage_card.health.on_track,
                "rated": stage_card.health.rated,
                "maturity": stage_card.maturity.mean if stage_card.maturity else None,
                "kpis": [
                    {
                        "kpi": row.kpi.key,
                        "name": row.kpi.name,
                        "unit": row.kpi.unit,
                        "population": row.population,
                        "value": row.value,
                        "measured_on": row.measured_on,
                        "reason": row.reason if row.value is None else "",
                        "target": row.target,
                        "status": row.status,
                        "trend": [[day.isoformat(), value] for day, value in row.trend],
                    }
                    for row in stage_card.kpis
                ],
                "objectives": stage_card.objectives,
            }
            for stage_card in card.stages
        ],
    }


@router.put("/frameworks/{key}/stages/{stage}/targets/{kpi}", response=TargetOut)
def put_target(request, key: str, stage: str, kpi: str, payload: TargetIn):
    """Set a stage's target for one KPI (null: no target); administrators and managers."""
    _model_or_404(key)
    return services.set_stage_target(
        actor=request.auth,
        model_key=key,
        stage_key=stage,
        kpi=kpi,
        target=payload.target,
        tolerance=payload.tolerance,
    )


@router.delete("/frameworks/{key}/stages/{stage}/targets/{kpi}", response={204: None})
def delete_target(request, key: str, stage: str, kpi: str):
    """Go back to the catalogue's target."""
    _model_or_404(key)
    services.reset_stage_target(actor=request.auth, model_key=key, stage_key=stage, kpi=kpi)
    return Status(204, None)


@router.get("/frameworks/{key}/assessments", response=list[AssessmentOut])
def list_assessments(request, key: str):
    _model_or_404(key)
    return [
        _assessment_out(assessment, request.auth)
        for assessment in Assessment.objects.filter(model_key=key).order_by("-created_at", "-id")[
            :50
        ]
    ]


@router.post("/frameworks/{key}/assessments", response={201: AssessmentOut})
def create_assessment(request, key: str, payload: AssessmentIn):
    _model_or_404(key)
    assessment = services.create_assessment(actor=request.auth, model_key=key, title=payload.title)
    return Status(201, _assessment_out(assessment, request.auth))
