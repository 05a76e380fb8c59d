"""Request and response shapes of the CRM-models API."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import ConfigDict, Field

from rapport.core.api_types import RecordId


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class KpiOut(Schema):
    """A KPI with its latest stored value; `value` is null when it is not measurable (then
    `reason` says why and, for data Rapport does not hold yet, `capability` what will feed it)."""

    key: str
    name: str
    definition: str
    unit: str
    direction: str
    area: str
    history: str
    segmentable: bool
    measurable: bool
    population: str
    value: float | None
    numerator: float | None
    denominator: float | None
    measured_on: dt.date | None
    reason: str
    capability: str
    records_url: str | None
    used_by: list[dict]


class PointOut(Schema):
    day: dt.date
    value: float | None
    numerator: float | None
    denominator: float | None
    reason: str
    source: str


class KpiHistoryOut(Schema):
    kpi: str
    population: str
    segment_id: int | None
    points: list[PointOut]


class HistoryQuery(Schema):
    population: str = Field("", max_length=20)
    segment_id: RecordId | None = None
    days: int = Field(365, ge=1, le=3650)


class PopulationQuery(Schema):
    population: str = Field("", max_length=20)


class StageKpiOut(Schema):
    kpi: str
    default_target: float | None
    target: float | None
    tolerance: float
    overridden: bool


class QuestionOut(Schema):
    key: str
    text: str
    guidance: str
    action: str


class LinkOut(Schema):
    label: str
    url: str


class FrameworkStageOut(Schema):
    key: str
    name: str
    summary: str
    group: str
    assessed: bool
    population: str
    kpis: list[StageKpiOut]
    questions: list[QuestionOut]
    features: list[LinkOut]


class ModelOut(Schema):
    key: str
    name: str
    authors: str
    summary: str
    fits_when: str
    journey: list[str]
    chosen: bool
    stages: list[FrameworkStageOut]


class ScoreKpiOut(Schema):
    kpi: str
    name: str
    unit: str
    population: str
    value: float | None
    measured_on: dt.date | None
    reason: str
    target: float | None
    status: str
    trend: list[list]


class ObjectiveOut(Schema):
    id: int
    model_key: str
    stage_key: str
    kpi: str
    population: str
    segment_id: int | None
    title: str
    note: str
    baseline: float
    baseline_day: dt.date
    target_kind: str
    target_input: float
    target: float
    deadline: dt.date
    owner_id: int
    status: str
    track: str
    last_value: float | None
    projected: float | None
    checked_on: dt.date | None


class ScoreStageOut(Schema):
    key: str
    name: str
    group: str
    assessed: bool
    population: str
    status: str
    health: float | None
    on_track: int
    rated: int
    maturity: float | None
    kpis: list[ScoreKpiOut]
    objectives: list[ObjectiveOut]


class ScorecardOut(Schema):
    model: str
    name: str
    measured_on: dt.date | None
    assessment_id: int | None
    funnel: list[dict]
    stages: list[ScoreStageOut]


class TargetIn(Strict):
    target: float | None
    tolerance: float | None = Field(None, ge=0, le=1)


class TargetOut(Schema):
    model_key: str
    stage_key: str
    kpi: str
    target: float | None
    tolerance: float


class ObjectiveIn(Strict):
    model: str = Field(max_length=30)
    stage: str = Field(max_length=40)
    kpi: str = Field(max_length=60)
    target_kind: str = Field(max_length=10)
    target_input: float
    deadline: dt.date
    owner_id: RecordId | None = None
    segment_id: RecordId | None = None
    title: str = Field("", max_length=200)
    note: str = Field("", max_length=5000)


class ObjectivePatch(Strict):
    title: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=5000)
    deadline: dt.date | None = None
    owner_id: RecordId | None = None
    target_kind: str | None = Field(None, max_length=10)
    target_input: float | None = None


class ObjectiveQuery(Schema):
    model: str = Field("", max_length=30)
    status: str = Field("", max_length=10)


class AssessmentIn(Strict):
    title: str = Field("", max_length=200)


class AnswersIn(Strict):
    answers: dict[str, int | None]
    comments: dict[str, str] = Field(default_factory=dict)


class QuestionScoreOut(Schema):
    stage: str
    question: str
    text: str
    action: str
    mean: float | None
    answers: int
    spread: int


class StageScoreOut(Schema):
    stage: str
    mean: float | None


class AssessmentOut(Schema):
    id: int
    model_key: str
    title: str
    status: str
    created_at: dt.datetime
    completed_at: dt.datetime | None
    respondents: int
    overall: float | None
    stages: list[StageScoreOut]
    gaps: list[QuestionScoreOut]
    my_answers: dict[str, int]


class RecommendationIn(Strict):
    team_size: str = Field(max_length=10)
    product_complexity: str = Field(max_length=10)
    channels: list[str] = Field(default_factory=list, max_length=20)
    departments: list[str] = Field(default_factory=list, max_length=20)
    goals: list[str] = Field(default_factory=list, max_length=20)


class ReasonOut(Schema):
    model: str
    points: float
    text: str
    source: str


class ChangeOut(Schema):
    text: str
    model: str


class RecommendationOut(Schema):
    recommended: str
    runner_up: str
    scores: dict[str, float]
    reasons: dict[str, list[ReasonOut]]
    changes: list[ChangeOut]
    notes: list[str]
    facts: dict


class ChoiceIn(Strict):
    model: str = Field(max_length=30)
    answers: RecommendationIn | None = None


class ChoiceOut(Schema):
    id: int
    model_key: str
    chosen_by_id: int | None
    chosen_at: dt.datetime
    recommended_key: str
    answers: dict
    facts: dict
