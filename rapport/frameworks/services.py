"""Every write of the CRM models: targets, objectives and their daily check, assessments and
their answers, the choice of model.

Each public service is keyword-only with an explicit `actor`, runs in one transaction, writes a
ChangeRecord and emits its event after commit. Bad input raises ValidationError keyed by field;
an actor without the right raises PermissionDenied (see `permissions`).
"""

from __future__ import annotations

import datetime as dt
import math

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.choices import Domain
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core import display, events
from rapport.frameworks import objectives as objective_maths
from rapport.frameworks import permissions, snapshots
from rapport.frameworks.catalog import MODELS
from rapport.frameworks.catalog.base import MATURITY_SCALE
from rapport.frameworks.choices import (
    AssessmentStatus,
    ObjectiveStatus,
    SnapshotSource,
    TargetKind,
    Track,
)
from rapport.frameworks.events import (
    AssessmentCompleted,
    ModelChosen,
    ObjectiveOffTrack,
    ObjectiveSet,
)
from rapport.frameworks.kpis import KPIS, Measurement, Unit
from rapport.frameworks.kpis.base import Direction
from rapport.frameworks.models import (
    Assessment,
    AssessmentResponse,
    ModelChoice,
    Objective,
    StageTarget,
)

MAX_DEADLINE_YEARS = 5
TREND_DAYS = 90
NOTIFICATION_KIND = "objective_off_track"


def _require_manager(actor) -> None:
    if not permissions.can_manage(actor):
        raise PermissionDenied("Only administrators and managers may change the CRM models' goals.")


def _actor_or_none(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _model_and_stage(model_key: str, stage_key: str | None, errors: dict):
    model = MODELS.get(model_key)
    if model is None:
        errors.setdefault("model", []).append(f"Choose one of: {', '.join(MODELS)}.")
        return None, None
    if stage_key is None:
        return model, None
    try:
        return model, model.stage(stage_key)
    except KeyError:
        errors.setdefault("stage", []).append(
            f"Choose a stage of {model.name}: {', '.join(s.key for s in model.stages)}."
        )
        return model, None


def clean_number(value, *, field: str, errors: dict, unit: str | None = None, required=True):
    """A finite number, within the range of `unit` (percentages 0–100, others not negative)."""
    if value is None or value == "":
        if required:
            errors.setdefault(field, []).append("Give a number.")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.setdefault(field, []).append("Give a number.")
        return None
    if not math.isfinite(number) or abs(number) > 1e12:
        errors.setdefault(field, []).append("Give a finite number.")
        return None
    if unit == Unit.PERCENT and not 0 <= number <= 100:
        errors.setdefault(field, []).append("A percentage is between 0 and 100.")
        return None
    if unit in (Unit.HOURS, Unit.DAYS, Unit.CURRENCY, Unit.COUNT, Unit.RATIO) and number < 0:
        errors.setdefault(field, []).append("Must not be negative.")
        return None
    return number


# --------------------------------------------------------------------------- targets


def set_stage_target(
    *, actor, model_key: str, stage_key: str, kpi: str, target, tolerance=None
) -> StageTarget:
    """Replace the catalogue's target of one KPI on one stage (None: no target, informational).

    Writes a ChangeRecord; the scorecard rates against the new target from its next view.
    """
    _require_manager(actor)
    errors: dict[str, list[str]] = {}
    _model, stage = _model_and_stage(model_key, stage_key, errors)
    if stage is not None and kpi not in {k.kpi for k in stage.kpis}:
        errors.setdefault("kpi", []).append("This KPI does not measure this stage.")
    unit = KPIS[kpi].unit if kpi in KPIS else None
    value = clean_number(target, field="target", errors=errors, unit=unit, required=False)
    band = clean_number(tolerance, field="tolerance", errors=errors, required=False)
    if band is not None and not 0 <= band <= 1:
        errors.setdefault("tolerance", []).append("Give a fraction between 0 and 1.")
    if errors:
        raise ValidationError(errors)
    default = next(k for k in stage.kpis if k.kpi == kpi)
    with transaction.atomic():
        row = StageTarget.objects.filter(model_key=model_key, stage_key=stage_key, kpi=kpi).first()
        before = snapshot(row) if row else {}
        if row is None:
            row = StageTarget(model_key=model_key, stage_key=stage_key, kpi=kpi)
        row.target = value
        if band is not None:
            row.tolerance = band
        elif not before:
            row.tolerance = default.tolerance
        row.set_by = _actor_or_none(actor)
        row.save()
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE if before else ChangeAction.CREATE,
            instance=row,
            before=before,
            after=snapshot(row),
        )
    return row


def reset_stage_target(*, actor, model_key: str, stage_key: str, kpi: str) -> None:
    """Go back to the catalogue's target for one KPI on one stage."""
    _require_manager(actor)
    with transaction.atomic():
        row = StageTarget.objects.filter(model_key=model_key, stage_key=stage_key, kpi=kpi).first()
        if row is None:
            return
        record_change(actor=actor, action=ChangeAction.DELETE, instance=row, before=snapshot(row))
        row.delete()


# --------------------------------------------------------------------------- objectives


def in_sentence(name: str) -> str:
    """A KPI name inside a sentence: "Win rate" → "win rate", but "CLV of …" and "P(alive) …"
    keep their capitals."""
    first, _, rest = name.partition(" ")
    if len(first) > 1 and first[0].isupper() and not first[1].islower():
        return name
    return f"{first[:1].lower()}{first[1:]}{' ' + rest if rest else ''}"


def _default_title(kpi, target: float, deadline: dt.date, baseline: float) -> str:
    verb = "Raise" if target > baseline else "Lower" if target < baseline else "Hold"
    by = display.day_text(deadline, "dated")  # kept as the title: the year always shows
    return f"{verb} {in_sentence(kpi.name)} to {format_value(target, kpi.unit)} by {by}"[:200]


def format_value(value: float | None, unit: str) -> str:
    """A KPI value in its unit, for titles and messages ("72.5 %", "3.0 days")."""
    if value is None:
        return "—"
    if unit == Unit.PERCENT:
        return display.percent_text(value / 100, 1)
    if unit in (Unit.HOURS, Unit.DAYS):
        return f"{display.number_text(value, 1)} {'h' if unit == Unit.HOURS else 'days'}"
    if unit == Unit.RATIO:
        return display.number_text(value, 2)
    if unit == Unit.COUNT:
        # At most one decimal, none for a whole count.
        return display.number_text(round(value, 1))
    return display.number_text(value, 2)


def _clean_deadline(value, errors: dict, today: dt.date) -> dt.date | None:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            errors.setdefault("deadline", []).append("Give a date as YYYY-MM-DD.")
            return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        errors.setdefault("deadline", []).append("Give a date.")
        return None
    if value <= today:
        errors.setdefault("deadline", []).append("Must be after today.")
        return None
    if value > today.replace(year=today.year + MAX_DEADLINE_YEARS):
        errors.setdefault("deadline", []).append(f"Must be within {MAX_DEADLINE_YEARS} years.")
        return None
    return value


def _clean_owner(owner, actor, errors: dict, current_owner_id: int | None = None):
    """The objective's owner (the actor when none is given). Who may be given an objective is
    the one rule of `access.owner_problem`, as for contacts and deals: someone who can work it
    (active, not read-only) and within the actor's reach; keeping the current owner is fine."""
    owner = owner if owner is not None else _actor_or_none(actor)
    if owner is None:
        errors.setdefault("owner", []).append("Choose an active user.")
        return None
    if owner.pk == current_owner_id:
        return owner
    problem = access.owner_problem(actor, owner, Domain.ANALYTICS)
    if problem is not None:
        errors.setdefault("owner", []).append(problem)
        return None
    return owner


def _check_target(kpi, kind: str, amount, baseline: float, errors: dict) -> float | None:
    if kind not in TargetKind.values:
        errors.setdefault("target_kind", []).append(
            f"Choose one of: {', '.join(TargetKind.values)}."
        )
        return None
    number = clean_number(
        amount, field="target_input", errors=errors, unit=kpi.unit if kind == "absolute" else None
    )
    if number is None:
        return None
    if kind == TargetKind.PERCENT and baseline == 0:
        errors.setdefault("target_kind", []).append(
            "The baseline is 0, so a percentage of it is 0 too; give an absolute target."
        )
        return None
    target = objective_maths.target_from(kind, number, baseline)
    probe: dict = {}
    clean_number(target, field="target_input", errors=probe, unit=kpi.unit)
    if probe:
        errors.setdefault("target_input", []).append(
            f"That makes the target {format_value(target, kpi.unit)}, outside what "
            f"{in_sentence(kpi.name)} can be."
        )
        return None
    if kpi.direction == Direction.HIGHER and target <= baseline:
        errors.setdefault("target_input", []).append(
            f"Higher is better for {in_sentence(kpi.name)}: the target must be above the baseline "
            f"({format_value(baseline, kpi.unit)})."
        )
        return None
    if kpi.direction == Direction.LOWER and target >= baseline:
        errors.setdefault("target_input", []).append(
            f"Lower is better for {in_sentence(kpi.name)}: the target must be below the baseline "
            f"({format_value(baseline, kpi.unit)})."
        )
        return None
    if kpi.direction == Direction.NEUTRAL and target == baseline:
        errors.setdefault("target_input", []).append("The target equals the baseline.")
        return None
    return target


def create_objective(
    *,
    actor,
    model_key: str,
    stage_key: str,
    kpi: str,
    target_kind: str,
    target_input,
    deadline,
    owner=None,
    segment=None,
    title: str = "",
    note: str = "",
) -> Objective:
    """Set an objective on a stage's KPI: the baseline is measured now (for the stage's
    population and the segment, if any) and kept as today's value of that series.

    Refuses a KPI that cannot be measured now, a target that is not an improvement, a deadline
    not in the future. Writes a ChangeRecord; sets off ObjectiveSet.
    """
    _require_manager(actor)
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    _model, stage = _model_and_stage(model_key, stage_key, errors)
    measure = KPIS.get(kpi)
    if measure is None:
        errors.setdefault("kpi", []).append("Unknown KPI.")
    elif stage is not None and kpi not in {k.kpi for k in stage.kpis}:
        errors.setdefault("kpi", []).append("This KPI does not measure this stage.")
    if segment is not None and getattr(segment, "is_archived", False):
        errors.setdefault("segment", []).append("This segment is archived.")
    if measure is not None and segment is not None and not measure.segmentable:
        errors.setdefault("segment", []).append(
            f"{measure.name} is measured over the whole database only."
        )
    title = (title or "").strip()
    if len(title) > 200:
        errors.setdefault("title", []).append("At most 200 characters.")
    note = (note or "").strip()
    if len(note) > 5000:
        errors.setdefault("note", []).append("At most 5,000 characters.")
    deadline = _clean_deadline(deadline, errors, today)
    owner = _clean_owner(owner, actor, errors)
    if errors:
        raise ValidationError(errors)
    population = snapshots.effective_population(measure, stage.population)
    series = snapshots.Series(kpi, population, segment.pk if segment is not None else None)
    baseline, seconds = snapshots.measure_live(series, segment=segment)
    if not isinstance(baseline, Measurement):
        raise ValidationError(
            {"kpi": [f"{measure.name} cannot be measured now: {baseline.reason}"]}
        )
    target = _check_target(measure, target_kind, target_input, baseline.value, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        snapshots.store(series, today, baseline, source=SnapshotSource.ON_DEMAND, seconds=seconds)
        objective = Objective.objects.create(
            model_key=model_key,
            stage_key=stage_key,
            kpi=kpi,
            population=population,
            segment=segment,
            title=title or _default_title(measure, target, deadline, baseline.value),
            note=note,
            baseline=baseline.value,
            baseline_day=today,
            target_kind=target_kind,
            target_input=float(target_input),
            target=target,
            deadline=deadline,
            owner=owner,
            created_by=_actor_or_none(actor),
            last_value=baseline.value,
        )
        record_change(
            actor=actor, action=ChangeAction.CREATE, instance=objective, after=snapshot(objective)
        )
        events.emit(
            ObjectiveSet(
                objective_id=objective.pk,
                model_key=model_key,
                stage_key=stage_key,
                kpi=kpi,
                owner_id=owner.pk,
            )
        )
    return objective


OBJECTIVE_CHANGES = {"title", "note", "deadline", "owner", "target_kind", "target_input"}


def update_objective(*, actor, objective: Objective, **changes) -> Objective:
    """Change an active objective's title, note, deadline, owner or target (the baseline stays).

    Writes a ChangeRecord.
    """
    _require_manager(actor)
    unknown = set(changes) - OBJECTIVE_CHANGES
    if unknown:
        raise ValidationError({name: ["Cannot be changed."] for name in sorted(unknown)})
    if objective.status == ObjectiveStatus.ARCHIVED:
        raise ValidationError({"status": ["An archived objective cannot be changed."]})
    errors: dict[str, list[str]] = {}
    before = snapshot(objective)
    if "title" in changes:
        title = (changes["title"] or "").strip()
        if not title or len(title) > 200:
            errors.setdefault("title", []).append("Give a title of at most 200 characters.")
        objective.title = title
    if "note" in changes:
        objective.note = (changes["note"] or "").strip()[:5000]
    if "deadline" in changes:
        objective.deadline = _clean_deadline(changes["deadline"], errors, timezone.localdate())
    if "owner" in changes:
        objective.owner = _clean_owner(
            changes["owner"], actor, errors, current_owner_id=objective.owner_id
        )
    if "target_kind" in changes or "target_input" in changes:
        kind = changes.get("target_kind", objective.target_kind)
        amount = changes.get("target_input", objective.target_input)
        target = _check_target(KPIS[objective.kpi], kind, amount, objective.baseline, errors)
        if target is not None:
            objective.target_kind, objective.target_input, objective.target = (
                kind,
                float(amount),
                target,
            )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        objective.save()
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=objective,
            before=before,
            after=snapshot(objective),
        )
    return objective


def archive_objective(*, actor, objective: Objective) -> Objective:
    """Stop following an objective (it leaves the scorecard; its history stays)."""
    _require_manager(actor)
    before = snapshot(objective)
    with transaction.atomic():
        objective.status = ObjectiveStatus.ARCHIVED
        objective.save(update_fields=["status", "updated_at"])
        record_change(
            actor=actor,
            action=ChangeAction.ARCHIVE,
            instance=objective,
            before=before,
            after=snapshot(objective),
        )
    return objective


def objective_series(objective: Objective) -> snapshots.Series:
    return snapshots.Series(objective.kpi, objective.population, objective.segment_id)


def objective_progress(objective: Objective, today: dt.date | None = None):
    """The objective's measured points, trend and assessment as of today (no writes)."""
    today = today or timezone.localdate()
    since = min(objective.baseline_day, today - dt.timedelta(days=TREND_DAYS))
    rows = [
        row
        for row in snapshots.history(objective_series(objective), since=since)
        if row.value is not None
    ]
    days = [row.day for row in rows]
    values = [row.value for row in rows]
    if objective.baseline_day not in days:
        days.append(objective.baseline_day)
        values.append(objective.baseline)
    trend = objective_maths.fit_trend(days, values)
    current = rows[-1].value if rows else objective.baseline
    unit = KPIS[objective.kpi].unit
    assessment = objective_maths.assess(
        lowest=0.0,  # no KPI of the catalogue goes below zero
        highest=100.0 if unit == Unit.PERCENT else None,
        baseline=objective.baseline,
        target=objective.target,
        direction=KPIS[objective.kpi].direction,
        current=current,
        trend=trend,
        today=today,
        deadline=objective.deadline,
    )
    return rows, trend, current, assessment


def check_objectives(*, today: dt.date | None = None) -> dict:
    """The daily check: re-assess every active objective from its stored values, close the ones
    past their deadline, and notify owners of objectives that fell off track (once per fall)
    or were missed. Safe to run twice the same day."""
    today = today or timezone.localdate()
    counts = {"checked": 0, "alerted": 0}
    for objective in Objective.objects.filter(status=ObjectiveStatus.ACTIVE).select_related(
        "owner"
    ):
        _rows, _trend, current, result = objective_progress(objective, today)
        previous = objective.track
        objective.track = result.track
        objective.last_value = current
        objective.projected = result.projected
        objective.checked_on = today
        if today > objective.deadline:
            objective.status = (
                ObjectiveStatus.ACHIEVED
                if result.track == Track.ACHIEVED
                else ObjectiveStatus.MISSED
            )
        fields = ["track", "last_value", "projected", "checked_on", "status", "updated_at"]
        alert = None
        if result.track == Track.OFF_TRACK and (
            previous != Track.OFF_TRACK or objective.alerted_on is None
        ):
            alert = ("off", f"Off track: {objective.title}", result.reason)
        elif objective.status == ObjectiveStatus.MISSED:
            alert = ("missed", f"Missed: {objective.title}", result.reason)
        with transaction.atomic():
            if alert is not None:
                objective.alerted_on = today
                fields.append("alerted_on")
            objective.save(update_fields=fields)
            if alert is not None:
                counts["alerted"] += _alert(objective, *alert, today=today)
        counts["checked"] += 1
    return counts


def _alert(objective: Objective, kind: str, title: str, body: str, *, today: dt.date) -> int:
    from rapport.sales.services.work import notify

    created = notify(
        recipient=objective.owner,
        kind=NOTIFICATION_KIND,
        title=title,
        body=body,
        url=objective.get_absolute_url(),
        dedupe_key=f"objective-{kind}:{objective.pk}:{today.isoformat()}",
    )
    if created is not None and kind == "off":
        events.emit(
            ObjectiveOffTrack(
                objective_id=objective.pk,
                kpi=objective.kpi,
                owner_id=objective.owner_id,
                projected=objective.projected,
            )
        )
    return int(created is not None)


# --------------------------------------------------------------------------- assessments


def create_assessment(*, actor, model_key: str, title: str = "", at=None) -> Assessment:
    """Open a maturity questionnaire on a model for everyone who may write to answer.

    `at` back-dates the opening (the demo's history); answers and completion are refused
    before it, so an assessment is never completed before it was opened.
    """
    _require_manager(actor)
    errors: dict[str, list[str]] = {}
    if at is not None and at > timezone.now():
        errors["at"] = ["An assessment cannot be opened in the future."]
    model, _stage = _model_and_stage(model_key, None, errors)
    if model is not None and not model.questions:
        errors.setdefault("model", []).append(f"{model.name} has no maturity questions.")
    title = (title or "").strip()
    if len(title) > 200:
        errors.setdefault("title", []).append("At most 200 characters.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        assessment = Assessment.objects.create(
            model_key=model_key,
            title=title or f"{model.name} maturity, {timezone.localtime(at):%B %Y}",
            created_by=_actor_or_none(actor),
        )
        if at is not None:
            # created_at is stamped on insert; the opening moment is what it records.
            Assessment.objects.filter(pk=assessment.pk).update(created_at=at)
            assessment.created_at = at
        record_change(
            actor=actor, action=ChangeAction.CREATE, instance=assessment, after=snapshot(assessment)
        )
    return assessment


def _refuse_before_opening(assessment: Assessment, moment, what: str) -> None:
    if moment < assessment.created_at:
        raise ValidationError({"at": [f"An assessment cannot be {what} before it was opened."]})


def answer_assessment(
    *, actor, assessment: Assessment, answers: dict, comments: dict | None = None, at=None
) -> int:
    """Record the actor's scores: `answers` maps "stage.question" to 1–5 (None or "" skips it);
    answering again replaces the earlier score. Returns how many scores were stored."""
    access.require_write(actor)
    if assessment.status != AssessmentStatus.OPEN:
        raise ValidationError(
            {"assessment": ["This assessment is completed; it takes no more answers."]}
        )
    model = MODELS[assessment.model_key]
    known = {f"{stage.key}.{question.key}" for stage, question in model.questions}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, int] = {}
    if not isinstance(answers, dict):
        raise ValidationError({"answers": ["Give an object of question → score."]})
    for key, raw in answers.items():
        if key not in known:
            errors.setdefault(f"answers.{key}", []).append("Unknown question.")
            continue
        if raw is None or raw == "":
            continue
        if isinstance(raw, bool):
            errors.setdefault(f"answers.{key}", []).append("Give a score from 1 to 5.")
            continue
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = 0
        if isinstance(raw, float) and raw != int(raw):
            value = 0
        if value not in MATURITY_SCALE:
            errors.setdefault(f"answers.{key}", []).append("Give a score from 1 to 5.")
            continue
        cleaned[key] = value
    comments = comments or {}
    for key, text in comments.items():
        if key not in known:
            errors.setdefault(f"comments.{key}", []).append("Unknown question.")
        elif text is not None and len(str(text)) > 500:
            errors.setdefault(f"comments.{key}", []).append("At most 500 characters.")
    if not cleaned and not errors:
        errors["answers"] = ["Score at least one question."]
    if errors:
        raise ValidationError(errors)
    moment = at or timezone.now()
    _refuse_before_opening(assessment, moment, "answered")
    with transaction.atomic():
        for key, value in cleaned.items():
            stage_key, question_key = key.split(".", 1)
            AssessmentResponse.objects.update_or_create(
                assessment=assessment,
                respondent=actor,
                stage_key=stage_key,
                question_key=question_key,
                defaults={
                    "score": value,
                    "comment": str(comments.get(key) or "").strip()[:500],
                    "answered_at": moment,
                },
            )
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=assessment,
            after={"answers": cleaned},
            message=f"{len(cleaned)} answer(s) recorded",
        )
    return len(cleaned)


def complete_assessment(*, actor, assessment: Assessment, at=None) -> Assessment:
    """Close an assessment: its scores now count on the scorecard and in the history.

    Needs at least one answer. Sets off AssessmentCompleted.
    """
    _require_manager(actor)
    if assessment.status != AssessmentStatus.OPEN:
        raise ValidationError({"assessment": ["This assessment is already completed."]})
    respondents = assessment.responses.values("respondent").distinct().count()
    if not respondents:
        raise ValidationError({"assessment": ["Nobody has answered yet."]})
    moment = at or timezone.now()
    _refuse_before_opening(assessment, moment, "completed")
    before = snapshot(assessment)
    with transaction.atomic():
        assessment.status = AssessmentStatus.COMPLETED
        assessment.completed_at = moment
        assessment.completed_by = _actor_or_none(actor)
        assessment.save()
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=assessment,
            before=before,
            after=snapshot(assessment),
            message="Assessment completed",
        )
        events.emit(
            AssessmentCompleted(
                assessment_id=assessment.pk,
                model_key=assessment.model_key,
                respondents=respondents,
            )
        )
    return assessment


# --------------------------------------------------------------------------- model choice


def choose_model(
    *,
    actor,
    model_key: str,
    answers: dict | None = None,
    facts: dict | None = None,
    recommended_key: str = "",
    scores: dict | None = None,
) -> ModelChoice:
    """Make `model_key` the model the business works by (its scorecard becomes the home
    dashboard), keeping the answers and data it was chosen on. Sets off ModelChosen."""
    _require_manager(actor)
    if model_key not in MODELS:
        raise ValidationError({"model": [f"Choose one of: {', '.join(MODELS)}."]})
    if recommended_key and recommended_key not in MODELS:
        raise ValidationError({"recommended": ["Unknown model."]})
    with transaction.atomic():
        choice = ModelChoice.objects.create(
            model_key=model_key,
            chosen_by=_actor_or_none(actor),
            answers=answers or {},
            facts=facts or {},
            recommended_key=recommended_key,
            scores=scores or {},
        )
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            instance=choice,
            after={"model_key": model_key, "recommended_key": recommended_key},
            message=f"Chose {MODELS[model_key].name}",
        )
        events.emit(
            ModelChosen(
                choice_id=choice.pk,
                model_key=model_key,
                actor_id=getattr(_actor_or_none(actor), "pk", None),
            )
        )
    return choice


def current_choice() -> ModelChoice | None:
    """The model the business works by now (the newest choice), or None before any."""
    return ModelChoice.objects.order_by("-chosen_at", "-id").first()
