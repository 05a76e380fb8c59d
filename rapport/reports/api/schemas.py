import datetime as dt
from decimal import Decimal

from ninja import Schema
from pydantic import ConfigDict, Field

from rapport.core.api_types import MissingRateOut, RecordId


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class ReportIn(Strict):
    name: str = Field(max_length=120)
    description: str = Field("", max_length=500)
    source: str = Field(
        max_length=20,
        description="contacts, leads, organizations, deals, orders, tasks or interactions",
    )
    conditions: dict | None = None
    group_by: str = Field(max_length=100, description="a field from GET /reports/fields")
    group_period: str = Field("", max_length=10, description="day, week, month, quarter, year")
    then_by: str = Field("", max_length=100)
    then_period: str = Field("", max_length=10)
    measure: str = Field("count", max_length=10, description="count, sum, average, min, max")
    measure_field: str = Field("", max_length=100)
    chart: str = Field("bar", max_length=10)
    shared_teams: list[RecordId] = Field(default_factory=list, max_length=200)
    shared_roles: list[RecordId] = Field(default_factory=list, max_length=200)


class ReportPatch(Strict):
    name: str | None = Field(None, max_length=120)
    description: str | None = Field(None, max_length=500)
    conditions: dict | None = None
    group_by: str | None = Field(None, max_length=100)
    group_period: str | None = Field(None, max_length=10)
    then_by: str | None = Field(None, max_length=100)
    then_period: str | None = Field(None, max_length=10)
    measure: str | None = Field(None, max_length=10)
    measure_field: str | None = Field(None, max_length=100)
    chart: str | None = Field(None, max_length=10)
    shared_teams: list[RecordId] | None = Field(None, max_length=200)
    shared_roles: list[RecordId] | None = Field(None, max_length=200)


class ReportOut(Schema):
    id: int
    name: str
    description: str
    source: str
    conditions: dict
    group_by: str
    group_period: str
    then_by: str
    then_period: str
    measure: str
    measure_field: str
    chart: str
    owner_id: int | None
    shared_teams: list[int]
    shared_roles: list[int]
    created_at: dt.datetime
    updated_at: dt.datetime


class GroupingOut(Schema):
    field: str
    label: str
    period: str


class ReportFigureOut(Schema):
    group: str
    group_key: str
    then: str | None
    then_key: str | None
    value: Decimal | int | None
    records: int
    url: str


class ResultsOut(Schema):
    """A run over the caller's records: one figure per group (per pair of groups)."""

    report_id: int
    measure: str
    currency: str | None
    groupings: list[GroupingOut]
    figures: list[ReportFigureOut]
    total: Decimal | int | None
    missing_rates: list[MissingRateOut]
    truncated_groups: int


class FieldOut(Schema):
    name: str
    label: str
    kind: str


class SourceFieldsOut(Schema):
    source: str
    label: str
    group_fields: list[FieldOut]
    measure_fields: list[FieldOut]
