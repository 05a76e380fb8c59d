"""Custom-field definitions over JSON. Key, entity and type are fixed once created."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictBool, StringConstraints

from rapport.customfields.choices import Entity, FieldType

EntityName = Literal[tuple(Entity.values)]  # type: ignore[valid-type]
TypeName = Literal[tuple(FieldType.values)]  # type: ignore[valid-type]
Choice = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Bound = Annotated[decimal.Decimal, Field(max_digits=20, decimal_places=6)]


class CustomFieldIn(Schema):
    model_config = ConfigDict(extra="forbid")

    entity: EntityName
    key: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    field_type: TypeName
    help_text: Annotated[str, StringConstraints(max_length=300)] = ""
    is_required: StrictBool = False
    is_unique: StrictBool = False
    default: Any = None
    choices: list[Choice] = Field(default_factory=list, max_length=200)
    max_length: int | None = Field(None, ge=1, le=10_000)
    min_value: Bound | None = None
    max_value: Bound | None = None
    position: int = Field(100, ge=0, le=100_000)
    is_active: StrictBool = True


class CustomFieldPatch(Schema):
    """Only the fields sent change; `key`, `entity` and `field_type` cannot."""

    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    help_text: Annotated[str, StringConstraints(max_length=300)] | None = None
    is_required: StrictBool | None = None
    is_unique: StrictBool | None = None
    default: Any = None
    choices: list[Choice] | None = Field(None, max_length=200)
    max_length: int | None = Field(None, ge=1, le=10_000)
    min_value: Bound | None = None
    max_value: Bound | None = None
    position: int | None = Field(None, ge=0, le=100_000)
    is_active: StrictBool | None = None


class CustomFieldParams(Schema):
    entity: EntityName | None = None
    is_active: bool | None = None


class CustomFieldOut(Schema):
    id: int
    entity: str
    key: str
    label: str
    field_type: str
    help_text: str
    is_required: bool
    is_unique: bool
    default: Any
    choices: list[str]
    max_length: int | None
    min_value: decimal.Decimal | None
    max_value: decimal.Decimal | None
    position: int
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomFieldList(Schema):
    items: list[CustomFieldOut]
