"""What the webhooks API reads and writes. The secret comes out once, in the create answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints

from rapport.automation import catalogue
from rapport.automation.models import DeliveryStatus
from rapport.core.api_types import RecordId

EventName = Literal[tuple(catalogue.names())]  # type: ignore[valid-type]
StatusName = Literal[tuple(DeliveryStatus.values)]  # type: ignore[valid-type]
Name = Annotated[str, StringConstraints(max_length=120)]
Url = Annotated[str, StringConstraints(max_length=2000)]
EventList = Annotated[list[EventName], Field(min_length=1, max_length=100)]


class SubscriptionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name
    url: Url = Field(description="http(s) on a public address; checked on what it resolves to.")
    event_types: EventList
    owner_id: RecordId | None = Field(None, description="Told if it is switched off (you).")


class SubscriptionPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    url: Url | None = None
    event_types: EventList | None = None
    owner_id: RecordId | None = None
    is_active: bool | None = None


class SubscriptionOut(Schema):
    id: int
    name: str
    url: str
    event_types: list[str]
    secret_hint: str = Field(description="The last 4 characters of the signing secret.")
    owner_id: int | None
    is_active: bool
    disabled_reason: str
    disabled_at: dt.datetime | None
    failure_streak: int
    failing_since: dt.datetime | None
    last_success_at: dt.datetime | None
    created_at: dt.datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="The Standard Webhooks secret: shown in this answer only.")


class DeliveryOut(Schema):
    id: int
    subscription_id: int
    event_id: uuid.UUID = Field(description="The webhook-id header; the same on every retry.")
    event_type: str
    payload: dict
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_attempt_at: dt.datetime | None
    response_status: int | None
    response_excerpt: str
    error: str
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    status: StatusName | None = None
