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


# --------------------------------------------------------------------------- dashboards


class DashboardIn(Strict):
    name: str = Field(max_length=120)
    shared_teams: list[RecordId] = Field(default_factory=list, max_length=200)
    shared_roles: list[RecordId] = Field(default_factory=list, max_length=200)


class DashboardPatch(Strict):
    name: str | None = Field(None, max_length=120)
    shared_teams: list[RecordId] | None = Field(None, max_length=200)
    shared_roles: list[RecordId] | None = Field(None, max_length=200)
    default_for_roles: list[RecordId] | None = Field(
        None, max_length=200, description="Roles whose Home shows it (administrators only)."
    )


class WidgetOut(Schema):
    id: int
    kind: str = Field(description="report, kpi or list")
    title: str
    report_id: int | None
    kpi: str
    list_key: str
    span: int = Field(description="Columns of the 12-column grid: 3, 4, 6, 8 or 12.")
    position: int


class DashboardOut(Schema):
    id: int
    name: str
    key: str = Field(description="Set on the built-in dashboards (manager, rep, …).")
    is_builtin: bool
    owner_id: int | None
    shared_teams: list[int]
    shared_roles: list[int]
    default_for_roles: list[int]
    may_change: bool = Field(description="Whether the caller may change it and its widgets.")
    created_at: dt.datetime
    updated_at: dt.datetime


class DashboardDetailOut(DashboardOut):
    widgets: list[WidgetOut]


class WidgetIn(Strict):
    kind: str = Field(max_length=10, description="report, kpi or list")
    report_id: RecordId | None = Field(None, description="For a report widget.")
    kpi: str = Field("", max_length=60, description="For a KPI tile: a key of the catalogue.")
    list_key: str = Field("", max_length=40, description="For a list.")
    span: int = Field(4, ge=1, le=12)


class WidgetPatch(Strict):
    span: int | None = Field(None, ge=1, le=12)
    position: int | None = Field(
        None, ge=0, le=1000, description="Its place in the dashboard's order, from 0."
    )


# --------------------------------------------------------------------------- scheduled email


class ScheduledEmailIn(Strict):
    recipients: list[RecordId] = Field(
        default_factory=list, max_length=100, description="Users; each must be able to open it."
    )
    recipient_teams: list[RecordId] = Field(default_factory=list, max_length=50)
    recipient_roles: list[RecordId] = Field(default_factory=list, max_length=50)
    frequency: str = Field(max_length=10, description="daily, weekly or monthly")
    weekday: int | None = Field(None, description="Weekly: 1 (Monday) to 7 (Sunday).")
    day_of_month: int | None = Field(
        None, description="Monthly: 1 to 31; past the month's end, its last day."
    )
    time_of_day: str = Field(max_length=8, description="HH:MM, 24-hour, in time_zone.")
    time_zone: str | None = Field(
        None, max_length=64, description="An IANA name; the caller's own time zone by default."
    )
    format: str = Field("pdf", max_length=10, description="pdf, pdf_csv or pdf_xlsx")
    mailbox_id: RecordId | None = Field(
        None, description="A shared mailbox the caller may send from; the first one by default."
    )
    is_active: bool = True


class ScheduledEmailPatch(Strict):
    recipients: list[RecordId] | None = Field(None, max_length=100)
    recipient_teams: list[RecordId] | None = Field(None, max_length=50)
    recipient_roles: list[RecordId] | None = Field(None, max_length=50)
    frequency: str | None = Field(None, max_length=10)
    weekday: int | None = None
    day_of_month: int | None = None
    time_of_day: str | None = Field(None, max_length=8)
    time_zone: str | None = Field(None, max_length=64)
    format: str | None = Field(None, max_length=10)
    mailbox_id: RecordId | None = None
    is_active: bool | None = None


class ScheduledEmailOut(Schema):
    id: int
    report_id: int | None
    dashboard_id: int | None
    owner_id: int | None
    mailbox_id: int | None
    recipients: list[int]
    recipient_teams: list[int]
    recipient_roles: list[int]
    frequency: str
    weekday: int | None
    day_of_month: int | None
    time_of_day: str
    time_zone: str
    format: str
    is_active: bool
    schedule: str = Field(description="The schedule in words.")
    next_run_at: dt.datetime | None
    last_sent_at: dt.datetime | None
    last_error: str
    created_at: dt.datetime
    updated_at: dt.datetime
