"""Request and response shapes of the analytics and segments API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from rapport.core.api_types import RecordId


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class CustomerValueOut(Schema):
    """A contact's customer value. `available` is false (and the figures null) when the contact
    has no revenue order or no refresh has run; `reason` then says which."""

    contact_id: int
    available: bool
    reason: str = ""
    as_of: dt.date | None = None
    value_tier: str | None = None
    rfm_segment: str | None = None
    r_score: int | None = None
    f_score: int | None = None
    m_score: int | None = None
    predicted_clv: float | None = None
    p_alive: float | None = None
    expected_purchases: float | None = None
    expected_purchases_days: int | None = None
    clv_horizon_months: int | None = None
    is_at_risk: bool | None = None
    churn_reason: str | None = None
    revenue_total: float | None = None
    orders_count: int | None = None
    average_order_value: float | None = None
    first_order_date: dt.date | None = None
    last_order_date: dt.date | None = None
    recency_days: int | None = None
    currency: str | None = None
    model_notes: list[str] = Field(default_factory=list)


class CustomerRowOut(Schema):
    contact_id: int
    name: str
    email: str
    value_tier: str
    rfm_segment: str
    predicted_clv: float | None
    p_alive: float | None
    expected_purchases: float | None
    revenue_total: float
    orders_count: int
    last_order_date: dt.date
    recency_days: int
    is_at_risk: bool
    churn_reason: str


class CustomerPage(Schema):
    items: list[CustomerRowOut]
    next_cursor: str | None
    sort: str


class RunOut(Schema):
    id: int
    status: str
    trigger: str
    progress: int
    stage: str
    message: str
    as_of: dt.date | None
    currency: str
    n_customers: int
    n_orders: int
    tier_basis: str
    excluded: dict
    timings: dict
    settings: dict
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    scheduled_for: dt.datetime | None


class SummaryOut(Schema):
    run: RunOut
    whole_book: bool
    customers: int
    revenue: float
    orders: int
    at_risk: dict
    top_20_share: float | None
    gini: float | None


class FigureOut(Schema):
    """A chart's figures, as stored by the refresh (or computed for the user's part of the book)."""

    run_id: int
    as_of: dt.date | None
    whole_book: bool
    data: dict[str, Any]


class FitOut(Schema):
    model: str
    status: str
    reason: str
    parameters: dict
    log_likelihood: float | None
    n_customers: int
    seconds: float
    diagnostics: dict


class ModelFitOut(Schema):
    run_id: int
    as_of: dt.date | None
    fits: list[FitOut]
    reference_parameters: dict


class ConfigurationOut(Schema):
    rfm_window_days: int | None
    expected_purchases_days: int
    clv_horizon_months: int
    monthly_discount_rate: float
    platinum_share: float
    gold_share: float
    silver_share: float
    p_alive_threshold: float
    overdue_factor: float
    holdout_days: int
    keep_daily_snapshots_days: int
    nightly_hour: int
    reference_parameters: dict


class ConfigurationPatch(Strict):
    rfm_window_days: int | None = None
    expected_purchases_days: int | None = None
    clv_horizon_months: int | None = None
    monthly_discount_rate: float | None = None
    platinum_share: float | None = None
    gold_share: float | None = None
    silver_share: float | None = None
    p_alive_threshold: float | None = None
    overdue_factor: float | None = None
    holdout_days: int | None = None
    keep_daily_snapshots_days: int | None = None
    nightly_hour: int | None = None
    reference_parameters: dict | None = None


class SegmentIn(Strict):
    name: str = Field(max_length=120)
    description: str = Field("", max_length=500)
    kind: str = "dynamic"
    conditions: dict | None = None


class SegmentPatch(Strict):
    name: str | None = Field(None, max_length=120)
    description: str | None = Field(None, max_length=500)
    conditions: dict | None = None


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    conditions: dict
    created_by_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    count: int | None = None


class SegmentPreviewIn(Strict):
    conditions: dict


class CountOut(Schema):
    count: int


class SegmentMemberOut(Schema):
    id: int
    name: str
    email: str
    lifecycle_stage: str
    owner_id: int | None

    @staticmethod
    def resolve_name(contact) -> str:
        return contact.full_name

    @staticmethod
    def resolve_email(contact) -> str:
        return contact.primary_email


class SegmentMemberPage(Schema):
    items: list[SegmentMemberOut]
    next_cursor: str | None
    count: int


class MembersIn(Strict):
    contact_ids: list[RecordId] = Field(max_length=10_000)


class ChangedOut(Schema):
    changed: int


class SegmentFieldOut(Schema):
    name: str
    label: str
    kind: str
    group: str
    operators: list[str]
    choices: list[list[str]] | None
