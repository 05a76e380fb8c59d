"""What the sequences API reads and writes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints

from rapport.core.api_types import RecordId
from rapport.sequences.choices import DelayUnit, EnrollmentStatus, StepKind

KindName = Literal[tuple(StepKind.values)]  # type: ignore[valid-type]
UnitName = Literal[tuple(DelayUnit.values)]  # type: ignore[valid-type]
StatusName = Literal[tuple(EnrollmentStatus.values)]  # type: ignore[valid-type]
Hour = Annotated[int, Field(ge=0, le=24, strict=True)]


class StepIn(Schema):
    model_config = ConfigDict(extra="forbid")

    id: RecordId | None = Field(None, description="Keep this existing step (its figures stay).")
    kind: KindName
    delay_amount: Annotated[int, Field(ge=0, le=365, strict=True)] = 0
    delay_unit: UnitName = DelayUnit.BUSINESS_DAYS
    window_start_hour: Hour = 9
    window_end_hour: Hour = 17
    template_id: RecordId | None = None
    reply_in_thread: bool = True
    task_title: Annotated[str, StringConstraints(max_length=200)] = ""
    task_note: Annotated[str, StringConstraints(max_length=5000)] = ""


class StepOut(Schema):
    id: int
    position: int
    kind: str
    delay_amount: int
    delay_unit: str
    window_start_hour: int
    window_end_hour: int
    template_id: int | None
    reply_in_thread: bool
    task_title: str
    task_note: str


Limit = Annotated[int, Field(ge=1, le=100_000, strict=True)]


class SequenceIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=150)]
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    mailbox_id: RecordId | None = None
    owner_id: RecordId | None = None
    is_active: bool = True
    stop_on_meeting: bool = True
    stop_on_deal_stage_change: bool = False
    daily_email_limit: Limit | None = None
    steps: Annotated[list[StepIn], Field(max_length=30)] = []


class SequencePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=150)] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    mailbox_id: RecordId | None = None
    is_active: bool | None = None
    stop_on_meeting: bool | None = None
    stop_on_deal_stage_change: bool | None = None
    daily_email_limit: Limit | None = None
    steps: Annotated[list[StepIn], Field(max_length=30)] | None = None


class SequenceOut(Schema):
    id: int
    name: str
    description: str
    owner_id: int
    mailbox_id: int | None
    is_active: bool
    stop_on_meeting: bool
    stop_on_deal_stage_change: bool
    daily_email_limit: int | None
    steps: list[StepOut]
    created_at: dt.datetime

    @staticmethod
    def resolve_steps(obj):
        return list(obj.steps.all())


class StepFiguresOut(Schema):
    position: int
    sent: int
    opened: int
    clicked: int
    replied: int
    reply_rate: float | None
    tasks: int
    skipped: int
    waiting_for_limit: int


class FiguresOut(Schema):
    enrolled: int
    active: int
    paused: int
    finished: int
    stopped: int
    stopped_by_reason: dict[str, int]
    sent: int
    opened: int
    clicked: int
    replied: int
    reply_rate: float | None
    steps: list[StepFiguresOut]


class EnrollmentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    sequence_id: RecordId
    contact_id: RecordId
    mailbox_id: RecordId | None = None


class StepRunOut(Schema):
    position: int
    kind: str
    outcome: str
    detail: str
    message_id: int | None
    task_id: int | None
    deferrals: int
    occurred_at: dt.datetime


class EnrollmentOut(Schema):
    id: int
    sequence_id: int
    contact_id: int
    enrolled_by_id: int | None
    mailbox_id: int | None
    status: str
    stop_reason: str
    status_detail: str
    current_position: int
    next_due_at: dt.datetime | None
    time_zone: str
    time_zone_source: str
    created_at: dt.datetime
    ended_at: dt.datetime | None
    runs: list[StepRunOut]

    @staticmethod
    def resolve_runs(obj):
        return list(obj.runs.all())


class EnrollmentPage(Schema):
    items: list[EnrollmentOut]
    next_cursor: str | None


class EnrollmentParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    sequence_id: RecordId | None = None
    contact_id: RecordId | None = None
    status: StatusName | None = None
