"""Request and response shapes of the sales API. Inputs refuse unknown fields."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from rapport.core.api_types import MAX_COUNT, MissingRateOut, Moment, RecordId


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


# -- pipelines ---------------------------------------------------------------------------------


class StageIn(StrictIn):
    name: str = Field(max_length=80)
    probability: int = Field(default=10, ge=0, le=100)
    kind: Literal["open", "won", "lost"] = "open"
    position: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    stall_days: int | None = Field(default=None, ge=1, le=3650)


class StagePatch(StrictIn):
    name: str | None = Field(default=None, max_length=80)
    probability: int | None = Field(default=None, ge=0, le=100)
    position: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    stall_days: int | None = Field(default=None, ge=1, le=3650)


class StageOut(Schema):
    id: int
    name: str
    position: int
    kind: str
    probability: int
    stall_days: int | None


class PipelineIn(StrictIn):
    name: str = Field(max_length=100)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    description: str = Field(default="", max_length=300)
    is_default: bool = False
    stages: list[StageIn] | None = None


class PipelinePatch(StrictIn):
    name: str | None = Field(default=None, max_length=100)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    description: str | None = Field(default=None, max_length=300)
    position: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    is_default: bool | None = None
    is_archived: bool | None = None


class PipelineOut(Schema):
    id: int
    name: str
    description: str
    currency: str
    is_default: bool
    is_archived: bool
    stages: list[StageOut]


class LostReasonIn(StrictIn):
    name: str = Field(max_length=100)
    position: int = Field(default=100, ge=0, le=MAX_COUNT)


class LostReasonOut(Schema):
    id: int
    name: str
    is_active: bool


# -- deals -------------------------------------------------------------------------------------


class Money(Schema):
    currency: str
    amount: Decimal


class DealIn(StrictIn):
    name: str = Field(max_length=200)
    pipeline_id: RecordId
    stage_id: RecordId | None = None
    amount: Decimal = Field(default=Decimal("0"), max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    expected_close_date: dt.date
    owner_id: RecordId | None = None
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    products: list[str] = Field(default_factory=list, max_length=50)
    source: str = "manual"
    source_detail: str = Field(default="", max_length=200)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field(default="", max_length=20_000)
    lost_reason_id: RecordId | None = None


class DealPatch(StrictIn):
    name: str | None = Field(default=None, max_length=200)
    amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    expected_close_date: dt.date | None = None
    owner_id: RecordId | None = None
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    products: list[str] | None = Field(default=None, max_length=50)
    source: str | None = None
    source_detail: str | None = Field(default=None, max_length=200)
    custom_fields: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=20_000)


class DealOut(Schema):
    id: int
    name: str
    pipeline_id: int
    stage_id: int
    stage: str
    status: str
    amount: Decimal
    currency: str
    weighted_amount: Decimal
    expected_close_date: dt.date
    owner_id: int | None
    owner: str | None
    contact_id: int | None
    contact: str | None
    organization_id: int | None
    organization: str | None
    products: list[str]
    source: str
    source_detail: str
    custom_fields: dict[str, Any]
    tags: list[str]
    description: str
    stage_entered_at: dt.datetime
    closed_at: dt.datetime | None
    lost_reason: str | None
    lost_note: str
    created_at: dt.datetime
    updated_at: dt.datetime


class DealPage(Schema):
    items: list[DealOut]
    next_cursor: str | None


class MoveIn(StrictIn):
    stage_id: RecordId
    lost_reason_id: RecordId | None = None
    lost_note: str = Field(default="", max_length=300)


class UndoIn(StrictIn):
    change_id: RecordId


class ColumnSummary(Schema):
    stage_id: int
    count: int
    totals: list[Money]
    weighted: list[Money]


class MoveOut(Schema):
    deal: DealOut
    change_id: int | None
    moved: bool
    columns: list[ColumnSummary]


class StageChangeOut(Schema):
    id: int
    from_stage_id: int | None
    from_stage: str | None
    to_stage_id: int
    to_stage: str
    changed_at: dt.datetime
    actor: str | None
    lost_reason: str | None


class CardOut(Schema):
    id: int
    name: str
    amount: Decimal
    currency: str
    expected_close_date: dt.date
    owner: str | None
    contact: str | None
    organization: str | None
    stage_entered_at: dt.datetime


class ColumnOut(Schema):
    stage: StageOut
    count: int
    totals: list[Money]
    weighted: list[Money]
    deals: list[CardOut]
    next_cursor: str | None


class BoardOut(Schema):
    pipeline: PipelineOut
    columns: list[ColumnOut]


class CardPage(Schema):
    items: list[CardOut]
    next_cursor: str | None


class ForecastRow(Schema):
    month: str
    currency: str
    won: Decimal
    weighted_open: Decimal
    forecast: Decimal
    open_total: Decimal
    lost: Decimal
    open_deals: int
    won_deals: int
    lost_deals: int


class CompanyForecastRow(Schema):
    month: str
    won: Decimal
    weighted_open: Decimal
    forecast: Decimal
    open_total: Decimal
    lost: Decimal
    open_deals: int
    won_deals: int
    lost_deals: int


class CompanyForecastOut(Schema):
    """The forecast in the company currency beside the per-currency rows it was made from."""

    currency: str = Field(description="The company currency every month is given in.")
    months: list[CompanyForecastRow] = Field(
        description="Every deal converted at the day it counts: expected close while open, "
        "the close date once won or lost. Deals without a rate are left out."
    )
    missing_rates: list[MissingRateOut] = Field(
        description="What could not be converted, per currency; empty when nothing was left out."
    )
    by_currency: list[ForecastRow] = Field(
        description="The same forecast per original currency, unconverted."
    )


class OriginalAmountOut(Schema):
    currency: str
    amount: Decimal


class StageValueOut(Schema):
    stage_id: int
    stage: str
    open_deals: int
    open_value: Decimal = Field(description="In the company currency; deals without a rate out.")
    originals: list[OriginalAmountOut]


class PipelineValueOut(Schema):
    """Deal value in the company currency, each deal converted at its own date (the close date
    once won, the expected close date while open)."""

    currency: str
    won_value: Decimal
    won_originals: list[OriginalAmountOut]
    won_deals: int = Field(description="Won deals that could be converted.")
    average_won: Decimal | None
    by_stage: list[StageValueOut]
    missing_rates: list[MissingRateOut]


class ConversionOut(Schema):
    stage_id: int
    stage: str
    next_stage: str
    reached: int
    advanced: int
    decided: int
    open_here: int
    rate: float | None


class StageTimeOut(Schema):
    stage_id: int
    stage: str
    completed_visits: int
    median_days: float | None
    mean_days: float | None
    open_deals: int
    oldest_open_days: float | None


class WinRateOut(Schema):
    key: str | int | None
    label: str
    won: int
    lost: int
    rate: float | None
    won_value: Decimal | None = Field(
        None, description="Won amount in the company currency (deals without a rate left out)."
    )


class BottleneckOut(Schema):
    stage_id: int
    stage: str
    rate: float
    median_days: float | None
    reason: str


class AnalyticsOut(Schema):
    deal_count: int
    open_count: int
    won: int
    lost: int
    win_rate: float | None
    conversion: list[ConversionOut]
    time_in_stage: list[StageTimeOut]
    bottleneck: BottleneckOut | None
    stalled_deal_ids: list[int]
    win_rate_by_source: list[WinRateOut]
    win_rate_by_owner: list[WinRateOut]
    value: PipelineValueOut


# -- leads -------------------------------------------------------------------------------------


class LeadIn(StrictIn):
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    emails: list[str] = Field(default_factory=list, max_length=10)
    phones: list[str] = Field(default_factory=list, max_length=10)
    job_title: str = Field(default="", max_length=150)
    city: str = Field(default="", max_length=100)
    postcode: str = Field(default="", max_length=20)
    region: str = Field(default="", max_length=100)
    country: str = Field(default="", max_length=2)
    lifecycle_stage: str = "lead"
    source: str = "api"
    source_detail: str = Field(default="", max_length=200)
    products_of_interest: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=50)
    owner_id: RecordId | None = None


class RuleHitOut(Schema):
    rule_id: int
    name: str
    points: int
    decayed: float
    age_days: float | None


class ModelReasonOut(Schema):
    feature: str
    label: str
    contribution: float


class ScoreOut(Schema):
    score: int
    basis: str
    rule_points: float
    probability: float | None
    rules: list[RuleHitOut]
    model: list[ModelReasonOut]
    model_other: float | None
    model_intercept: float | None
    model_logit: float | None
    model_id: int | None
    computed_at: dt.datetime


class ScoreHistoryOut(Schema):
    score: int
    basis: str
    rule_points: float
    probability: float | None
    computed_at: dt.datetime


class AssignmentOut(Schema):
    owner_id: int | None
    owner: str | None
    method: str
    rule_id: int | None
    rule_name: str
    reason: str
    assigned_at: dt.datetime


class LeadOut(Schema):
    id: int
    name: str
    email: str
    phone: str
    job_title: str
    country: str
    postcode: str
    lifecycle_stage: str
    source: str
    source_detail: str
    owner_id: int | None
    owner: str | None
    products_of_interest: list[str]
    score: int | None
    score_basis: str | None
    rule_points: float | None
    probability: float | None
    created_at: dt.datetime


class LeadDetailOut(LeadOut):
    explanation: ScoreOut | None
    assignments: list[AssignmentOut]


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None


class LeadScoreDetailOut(Schema):
    current: ScoreOut | None
    history: list[ScoreHistoryOut]


class ConvertIn(StrictIn):
    pipeline_id: RecordId | None = None
    stage_id: RecordId | None = None
    name: str = Field(default="", max_length=200)
    amount: Decimal = Field(default=Decimal("0"), max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    expected_close_date: dt.date
    owner_id: RecordId | None = None


class AssignIn(StrictIn):
    owner_id: RecordId | None = None
    note: str = Field(default="", max_length=300)


# -- forms, rules, model -----------------------------------------------------------------------


class FormFieldSpec(StrictIn):
    target: str = Field(max_length=80)
    label: str = Field(default="", max_length=100)
    required: bool = False


class WebFormIn(StrictIn):
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=300)
    fields: list[FormFieldSpec] = Field(max_length=40)
    source: str = "web_form"
    source_detail: str = Field(default="", max_length=150)
    campaign: str = Field(default="", max_length=100)
    lifecycle_stage: str = "lead"
    submit_label: str = Field(default="Send", max_length=40)
    thank_you_message: str = Field(default="Thank you — we will be in touch.", max_length=500)
    redirect_url: str = Field(default="", max_length=500)
    consent_enabled: bool = True
    consent_text: str = Field(
        default="I agree to be contacted by email about this request.", max_length=300
    )
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    max_submissions_per_minute: int = Field(default=60, ge=1, le=100_000)
    is_active: bool = True


class WebFormPatch(StrictIn):
    name: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=300)
    fields: list[FormFieldSpec] | None = Field(default=None, max_length=40)
    source: str | None = None
    source_detail: str | None = Field(default=None, max_length=150)
    campaign: str | None = Field(default=None, max_length=100)
    lifecycle_stage: str | None = None
    submit_label: str | None = Field(default=None, max_length=40)
    thank_you_message: str | None = Field(default=None, max_length=500)
    redirect_url: str | None = Field(default=None, max_length=500)
    consent_enabled: bool | None = None
    consent_text: str | None = Field(default=None, max_length=300)
    allowed_origins: list[str] | None = Field(default=None, max_length=50)
    max_submissions_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    is_active: bool | None = None


class WebFormOut(Schema):
    id: int
    public_id: str
    name: str
    description: str
    is_active: bool
    fields: list[dict[str, Any]]
    source: str
    source_detail: str
    campaign: str
    lifecycle_stage: str
    submit_label: str
    thank_you_message: str
    redirect_url: str
    consent_enabled: bool
    consent_text: str
    allowed_origins: list[str]
    max_submissions_per_minute: int
    submission_count: int
    spam_count: int
    submit_url: str
    embed_html: str


class SubmissionOut(Schema):
    id: int
    contact_id: int | None = Field(
        description="Empty until the worker has processed the submission (see processed_at)."
    )
    is_new_contact: bool
    campaign: str
    data: dict[str, Any]
    created_at: dt.datetime
    processed_at: dt.datetime | None = Field(
        description="When the worker matched it to a contact; empty while it waits in the queue."
    )


class ConditionRuleIn(StrictIn):
    name: str = Field(max_length=100)
    condition: dict[str, Any]
    position: int = Field(default=100, ge=0, le=MAX_COUNT)
    is_active: bool = True


class ScoringRuleIn(ConditionRuleIn):
    points: int = Field(ge=-1000, le=1000)
    half_life_days: int | None = Field(default=None, ge=1, le=3650)
    decay_anchor: str = "none"


class ScoringRulePatch(StrictIn):
    name: str | None = Field(default=None, max_length=100)
    condition: dict[str, Any] | None = None
    points: int | None = Field(default=None, ge=-1000, le=1000)
    half_life_days: int | None = Field(default=None, ge=1, le=3650)
    decay_anchor: str | None = None
    position: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    is_active: bool | None = None


class ScoringRuleOut(Schema):
    id: int
    name: str
    condition: dict[str, Any]
    description: str
    points: int
    half_life_days: int | None
    decay_anchor: str
    position: int
    is_active: bool


RuleKind = Literal["lead", "contact", "organization", "deal"]


class AssignmentRuleIn(ConditionRuleIn):
    kind: RuleKind = "lead"
    target_user_id: RecordId | None = None
    target_team_id: RecordId | None = None


class AssignmentRulePatch(StrictIn):
    name: str | None = Field(default=None, max_length=100)
    kind: RuleKind | None = None
    condition: dict[str, Any] | None = None
    target_user_id: RecordId | None = None
    target_team_id: RecordId | None = None
    position: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    is_active: bool | None = None


class AssignmentRuleOut(Schema):
    id: int
    name: str
    kind: str
    condition: dict[str, Any]
    description: str
    target_user_id: int | None
    target_team_id: int | None
    target: str
    position: int
    is_active: bool


class RerunIn(StrictIn):
    scope: Literal["unassigned", "all"] = "unassigned"


class CalibrationBin(Schema):
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


class ScoringModelOut(Schema):
    id: int
    status: str
    is_active: bool
    message: str
    algorithm: str
    window_days: int
    n_labelled: int
    n_positive: int
    n_negative: int
    n_train: int
    n_test: int
    roc_auc: float | None
    brier_score: float | None
    base_rate: float | None
    calibration: list[CalibrationBin]
    duration_seconds: float | None
    trigger: str
    created_at: dt.datetime


class ModelStateOut(Schema):
    active: ScoringModelOut | None
    latest: ScoringModelOut | None
    scores_by: str


class Enqueued(Schema):
    task_id: str
    status: str


# -- tasks and notifications -------------------------------------------------------------------


class TaskIn(StrictIn):
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=10_000)
    due_at: Moment
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    assignee_id: RecordId | None = None
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    deal_id: RecordId | None = None
    remind_at: Moment | None = None


class TaskPatch(StrictIn):
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    due_at: Moment | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    assignee_id: RecordId | None = None
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    deal_id: RecordId | None = None
    remind_at: Moment | None = None


class TaskOut(Schema):
    id: int
    title: str
    description: str
    due_at: dt.datetime
    priority: str
    status: str
    assignee_id: int
    assignee: str
    created_by_id: int | None
    contact_id: int | None
    organization_id: int | None
    deal_id: int | None
    remind_at: dt.datetime | None
    completed_at: dt.datetime | None
    is_overdue: bool


class TaskPage(Schema):
    items: list[TaskOut]
    next_cursor: str | None


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    url: str
    created_at: dt.datetime
    read_at: dt.datetime | None
