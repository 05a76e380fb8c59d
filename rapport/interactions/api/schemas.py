"""What the interactions API reads and writes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints

from rapport.core.api_types import Moment, RecordId
from rapport.interactions.choices import Channel, Direction, InteractionKind

KindName = Literal[tuple(InteractionKind.values)]  # type: ignore[valid-type]
ChannelName = Literal[("", *Channel.values)]  # type: ignore[valid-type]
DirectionName = Literal[("", *Direction.values)]  # type: ignore[valid-type]


class InteractionIn(Schema):
    """A note, call, meeting … for a contact and/or an organization (at least one).

    Without `organization_id`, an interaction with a contact is also filed under the contact's
    primary organization. Channel and direction default from the kind.
    """

    model_config = ConfigDict(extra="forbid")

    kind: KindName
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    occurred_at: Moment | None = Field(None, description="With a time zone; default now.")
    channel: ChannelName = ""
    direction: DirectionName = ""
    subject: Annotated[str, StringConstraints(max_length=200)] = ""
    body: Annotated[str, StringConstraints(max_length=50_000)] = ""
    outcome: Annotated[str, StringConstraints(max_length=30)] = ""
    duration_minutes: int | None = Field(None, ge=0, le=24 * 60, strict=True)


class InteractionParams(Schema):
    cursor: str | None = Field(None, description="`next_cursor` of the page before.")
    limit: int = Field(50, ge=1, le=200)
    kind: list[KindName] | None = None  # type: ignore[valid-type]
    channel: list[Literal[tuple(Channel.values)]] | None = None  # type: ignore[valid-type]
    direction: Literal[tuple(Direction.values)] | None = None  # type: ignore[valid-type]
    occurred_after: Moment | None = Field(None, description="Inclusive.")
    occurred_before: Moment | None = Field(None, description="Exclusive.")


class InteractionListParams(InteractionParams):
    contact: RecordId | None = None
    organization: RecordId | None = None


class Ref(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj) -> str:
        return str(obj)


class InteractionOut(Schema):
    id: int
    kind: str
    channel: str
    direction: str
    occurred_at: dt.datetime
    duration_minutes: int | None
    actor: Ref | None
    subject: str
    body: str
    outcome: str
    contact: Ref | None
    organization: Ref | None
    created_at: dt.datetime


class InteractionPage(Schema):
    items: list[InteractionOut]
    next_cursor: str | None
