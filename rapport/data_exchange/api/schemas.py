"""What the identity and data-exchange API reads and writes. Inputs refuse unknown fields."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictBool, StringConstraints

from rapport.core.api_types import RecordId
from rapport.data_exchange.choices import DuplicateStatus, Entity, ImportPolicy

EntityName = Literal[tuple(Entity.values)]  # type: ignore[valid-type]
PolicyName = Literal[tuple(ImportPolicy.values)]  # type: ignore[valid-type]
StatusName = Literal[tuple(DuplicateStatus.values)]  # type: ignore[valid-type]
Side = Literal["survivor", "loser"]


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


class CursorParams(Schema):
    cursor: str | None = Field(None, description="`next_cursor` of the page before.")
    limit: int = Field(50, ge=1, le=200)


# --- duplicates -------------------------------------------------------------------------------


class DuplicateParams(CursorParams):
    entity: EntityName = "contact"
    status: StatusName = "pending"


class RecordRef(Schema):
    id: int
    name: str
    detail: str = Field(
        description="Primary email or phone of a contact, domain of an organization."
    )
    url: str


class DuplicateOut(Schema):
    id: int
    entity: str
    score: float
    reasons: list[str]
    status: str
    records: list[RecordRef]
    detected_at: dt.datetime
    decided_at: dt.datetime | None


class DuplicatePage(Schema):
    items: list[DuplicateOut]
    next_cursor: str | None


class MergeIn(InputSchema):
    survivor_id: RecordId = Field(description="Which of the two records survives.")
    choices: dict[Annotated[str, StringConstraints(max_length=80)], Side] = Field(
        default_factory=dict,
        description='Per field, whose value stays: {"last_name": "loser", '
        '"custom_fields.tier": "survivor", "primary_email": "loser"}. Unnamed fields keep '
        "the survivor's value, or the loser's when the survivor's is empty.",
    )
    preview: StrictBool = Field(False, description="Only report what would happen.")


class FieldChoiceOut(Schema):
    name: str
    label: str
    survivor_value: object | None
    loser_value: object | None
    chosen: str


class MergePreviewOut(Schema):
    entity: str
    survivor_id: int
    loser_id: int
    fields: list[FieldChoiceOut]
    moves: list[str]
    other_records: dict[str, int]
    loser_will_be: str
    aliases: list[str]


class MergeOut(Schema):
    merge_id: int
    entity: str
    survivor_id: int
    loser_id: int
    loser_deleted: bool
    moved: dict[str, int]


class MarkIn(InputSchema):
    first_id: RecordId
    second_id: RecordId


class ScanIn(InputSchema):
    entity: EntityName = "contact"


class QueuedOut(Schema):
    status: str
    detail: str


class RuleIn(InputSchema):
    field: Annotated[str, StringConstraints(max_length=20)]
    method: Literal["exact", "fuzzy", "phonetic"]
    weight: float
    threshold: float = 0.0
    conflict: float = Field(
        0.0, description="Emails and phones: score × (1 − conflict) when both differ."
    )
    is_active: StrictBool = True


class RulesIn(InputSchema):
    rules: list[RuleIn] = Field(max_length=30)
    review_threshold: float
    import_match_threshold: float


class RuleOut(Schema):
    field: str
    method: str
    weight: float
    threshold: float
    conflict: float
    is_active: bool


class RulesOut(Schema):
    entity: str
    rules: list[RuleOut]
    review_threshold: float
    import_match_threshold: float


# --- imports ----------------------------------------------------------------------------------


class ImportOut(Schema):
    id: int
    entity: str
    file_name: str
    file_format: str
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str]
    options: dict
    policy: str
    dry_run: bool = Field(alias="is_dry_run")
    status: str
    total_rows: int | None
    processed_rows: int
    progress_percent: int | None
    created: int = Field(alias="created_count")
    updated: int = Field(alias="updated_count")
    unchanged: int = Field(alias="unchanged_count")
    skipped: int = Field(alias="skipped_count")
    errors: int = Field(alias="error_count")
    failure: str
    created_by_id: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    undone_at: dt.datetime | None
    undo_report: dict


class ImportPage(Schema):
    items: list[ImportOut]
    next_cursor: str | None


class RowErrorOut(Schema):
    column: str
    field: str
    message: str
    value: str = ""


class ImportRowOut(Schema):
    row: int = Field(alias="row_number")
    action: str
    entity: str
    object_id: int | None
    errors: list[RowErrorOut]
    before: dict
    after: dict


class ImportRowParams(CursorParams):
    action: Literal["created", "updated", "skipped", "error"] | None = None


class ImportRowPage(Schema):
    items: list[ImportRowOut]
    next_cursor: str | None


class ImportTargetOut(Schema):
    key: str
    label: str
    synonyms: list[str]


class ImporterOut(Schema):
    entity: str
    label: str
    options: list[str]
    targets: list[ImportTargetOut]


class PresetIn(InputSchema):
    entity: EntityName = "contact"
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    mapping: dict[
        Annotated[str, StringConstraints(max_length=200)],
        Annotated[str, StringConstraints(max_length=80)],
    ]
    options: dict[str, str] = Field(default_factory=dict)


class PresetOut(Schema):
    id: int
    entity: str
    name: str
    mapping: dict[str, str]
    options: dict


# --- exports and quality -----------------------------------------------------------------------


class ExportParams(Schema):
    format: Literal["csv", "xlsx"] = "csv"
    columns: str | None = Field(
        None, description="Comma-separated column keys; the default set when left out."
    )


class MeasurementOut(Schema):
    value: float | None
    percent: float | None
    numerator: int
    denominator: int
    reason: str
    records_url: str | None = Field(
        None, description="The page listing the records behind the figure."
    )


class QualityOut(Schema):
    contacts: int
    organizations: int
    figures: dict[str, MeasurementOut]


class TrendPoint(Schema):
    day: dt.date
    value: float | None


class TrendParams(Schema):
    figure: Annotated[str, StringConstraints(max_length=80)] = "identification_rate"
    days: int = Field(90, ge=1, le=730)
