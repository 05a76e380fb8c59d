"""A model's scorecard, assembled from stored values: per stage its KPIs (value, target, trend,
status), its health, its maturity score where assessed, its objectives and the pages that act
on it. Reads only; a handful of queries whatever the model's size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from rapport.frameworks import assessments as assessment_maths
from rapport.frameworks import rating, snapshots
from rapport.frameworks.catalog import MODELS, CrmModel, Stage
from rapport.frameworks.catalog.base import StageKpi
from rapport.frameworks.choices import AssessmentStatus, ObjectiveStatus
from rapport.frameworks.kpis import KPIS, Kpi
from rapport.frameworks.kpis.base import POPULATION_LABELS
from rapport.frameworks.models import (
    Assessment,
    AssessmentResponse,
    KpiSnapshot,
    Objective,
    StageTarget,
)

TREND_DAYS = 180


def safe_url(url_name: str, query: str = "", args=()) -> str | None:
    """The URL of a named page, or None when it does not exist (an app not installed yet)."""
    try:
        url = reverse(url_name, args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


@dataclass
class KpiRow:
    kpi: Kpi
    population: str
    target: float | None
    default_target: float | None
    tolerance: float
    overridden: bool
    latest: KpiSnapshot | None
    trend: list[tuple[dt.date, float]]
    status: str
    # Why the trend has fewer than two points, when the backfill recorded why.
    gap: str = ""

    @property
    def value(self) -> float | None:
        return self.latest.value if self.latest is not None else None

    @property
    def reason(self) -> str:
        if not self.kpi.is_measurable:
            return self.kpi.not_measurable_reason
        if self.latest is None:
            return "Not measured yet: the daily snapshot has not run since this KPI was added."
        return self.latest.reason

    @property
    def trend_note(self) -> str:
        """Why there is no trend line (shown instead of it)."""
        if not self.kpi.is_measurable:
            return ""
        if self.gap:
            return f"No past values: {self.gap}"
        return "Trend after two measurements."

    @property
    def measured_on(self) -> dt.date | None:
        return self.latest.day if self.latest is not None else None

    @property
    def records_url(self) -> str | None:
        if self.kpi.records is None:
            return None
        url = reverse("frameworks:kpi_records", args=[self.kpi.key])
        return f"{url}?population={self.population}" if self.population else url

    @property
    def population_label(self) -> str:
        return POPULATION_LABELS.get(self.population, "")

    @property
    def status_label(self) -> str:
        return rating.STATUS_LABELS[self.status]


@dataclass
class StageCard:
    stage: Stage
    kpis: list[KpiRow]
    health: rating.StageHealth
    maturity: assessment_maths.StageScore | None
    objectives: list[Objective]
    features: list[tuple[str, str]]

    @property
    def is_measured(self) -> bool:
        return bool(self.stage.kpis)

    @property
    def maturity_status(self) -> str:
        return rating.maturity_status(self.maturity.mean if self.maturity else None)

    @property
    def status(self) -> str:
        """The worse of the measured health and the assessed maturity (`rating.stage_status`)."""
        return rating.stage_status(self.health, self.maturity.mean if self.maturity else None)

    @property
    def status_basis(self) -> str:
        """What the stage's status was taken from, in the user's words."""
        measured = self.health.rated > 0
        assessed = self.maturity_status in rating.RATED
        if measured and assessed:
            return "Status: the worse of its measured health and its assessed maturity."
        if assessed:
            return "Status: from its assessed maturity."
        if measured:
            return "Status: from its measured health."
        return ""

    @property
    def status_label(self) -> str:
        if self.status == rating.NO_VALUE and self.stage.questions:
            return "Not rated yet" if self.stage.kpis else "Not assessed yet"
        return rating.STATUS_LABELS[self.status]

    @property
    def not_measurable_count(self) -> int:
        return sum(1 for row in self.kpis if row.value is None)


@dataclass
class Scorecard:
    model: CrmModel
    stages: list[StageCard]
    assessment: Assessment | None
    assessment_result: assessment_maths.Result | None
    measured_on: dt.date | None
    funnel: list[dict] = field(default_factory=list)

    @property
    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(rating.RATED, 0)
        for card in self.stages:
            if card.status in counts:
                counts[card.status] += 1
        return counts


def stage_targets(model_key: str) -> dict[tuple[str, str], StageTarget]:
    return {
        (row.stage_key, row.kpi): row for row in StageTarget.objects.filter(model_key=model_key)
    }


def resolve_target(
    stage_kpi: StageKpi, override: StageTarget | None
) -> tuple[float | None, float, bool]:
    if override is not None:
        return override.target, override.tolerance, True
    return stage_kpi.target, stage_kpi.tolerance, False


def latest_assessment(model_key: str) -> Assessment | None:
    return (
        Assessment.objects.filter(model_key=model_key, status=AssessmentStatus.COMPLETED)
        .order_by("-completed_at", "-id")
        .first()
    )


def assessment_result(model: CrmModel, assessment: Assessment) -> assessment_maths.Result:
    questions = [
        (stage.key, question.key, question.text, question.action)
        for stage, question in model.questions
    ]
    answers = [
        assessment_maths.Answer(
            respondent=row["respondent_id"],
            stage=row["stage_key"],
            question=row["question_key"],
            score=row["score"],
        )
        for row in AssessmentResponse.objects.filter(assessment=assessment).values(
            "respondent_id", "stage_key", "question_key", "score"
        )
    ]
    return assessment_maths.score(questions, answers)


def build(
    model_key: str, *, today: dt.date | None = None, trend_days: int = TREND_DAYS
) -> Scorecard:
    """The scorecard of one model from the stored KPI values, targets, objectives and the
    latest completed assessment."""
    model = MODELS[model_key]
    today = today or timezone.localdate()
    overrides = stage_targets(model_key)
    wanted = []
    for stage in model.stages:
        for stage_kpi in stage.kpis:
            kpi = KPIS[stage_kpi.kpi]
            wanted.append(
                snapshots.Series(kpi.key, snapshots.effective_population(kpi, stage.population))
            )
    trends = snapshots.trends(wanted, since=today - dt.timedelta(days=trend_days))
    missing = [series for series in wanted if not trends.get(series)]
    older = snapshots.latest(missing) if missing else {}
    objectives = list(
        Objective.objects.filter(model_key=model_key)
        .exclude(status=ObjectiveStatus.ARCHIVED)
        .select_related("owner", "segment")
        .order_by("deadline", "id")
    )
    assessment = latest_assessment(model_key)
    result = assessment_result(model, assessment) if assessment is not None else None
    gaps = snapshots.backfill_gaps()
    cards = []
    for stage in model.stages:
        rows = []
        for stage_kpi in stage.kpis:
            kpi = KPIS[stage_kpi.kpi]
            series = snapshots.Series(
                kpi.key, snapshots.effective_population(kpi, stage.population)
            )
            stored = trends.get(series) or []
            latest = stored[-1] if stored else older.get(series)
            target, tolerance, overridden = resolve_target(
                stage_kpi, overrides.get((stage.key, kpi.key))
            )
            value = latest.value if latest is not None else None
            rows.append(
                KpiRow(
                    kpi=kpi,
                    population=series.population,
                    target=target,
                    default_target=stage_kpi.target,
                    tolerance=tolerance,
                    overridden=overridden,
                    latest=latest,
                    trend=[(row.day, row.value) for row in stored if row.value is not None],
                    gap=gaps.get(snapshots.label(series), ""),
                    status=rating.kpi_status(
                        value, target, direction=kpi.direction, tolerance=tolerance
                    ),
                )
            )
        features = []
        for link in stage.features:
            url = safe_url(link.url_name)
            if url is not None:
                features.append((link.label, url))
        cards.append(
            StageCard(
                stage=stage,
                kpis=rows,
                health=rating.stage_health(row.status for row in rows),
                maturity=result.stages.get(stage.key) if result is not None else None,
                objectives=[o for o in objectives if o.stage_key == stage.key],
                features=features,
            )
        )
    run = snapshots.latest_run()
    funnel = run.funnel if (run is not None and model.journey) else []
    return Scorecard(
        model=model,
        stages=cards,
        assessment=assessment,
        assessment_result=result,
        measured_on=run.day if run is not None else None,
        funnel=funnel,
    )


def sparkline_data(scorecard: Scorecard) -> dict:
    """{element id: {"values": [...], "labels": [...], "target": t}} for the sparklines script."""
    data = {}
    for card in scorecard.stages:
        for row in card.kpis:
            if len(row.trend) < 2:
                continue
            data[f"spark-{card.stage.key}-{row.kpi.key}"] = {
                "labels": [day.isoformat() for day, _value in row.trend],
                "values": [round(value, 4) for _day, value in row.trend],
                "target": row.target,
                "lower_is_better": row.kpi.direction == "lower",
            }
    return data
