"""Privacy API shapes. Names carry the app's prefix-free nouns but are unique across the API
(`Erasure…`, `Retention…`, `SubjectAccess…`), so OpenAPI components never collide."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from ninja import Schema
from pydantic import Field

from rapport.privacy.services import MAX_RETENTION_MONTHS

Months = Annotated[int, Field(ge=1, le=MAX_RETENTION_MONTHS)]


class ErasureIn(Schema):
    reason: str = Field(
        min_length=1,
        max_length=300,
        description="Why the person is erased; kept in the audit log (no personal data).",
    )


class ErasureOut(Schema):
    contact_id: int
    erased_at: dt.datetime
    erased_by: str | None
    reason: str
    counts: dict[str, int]


class RetentionSettingsIn(Schema):
    interaction_months: Months | None = Field(
        default=None, description="Delete interactions older than this; null keeps them forever."
    )
    audit_months: Months | None = Field(
        default=None, description="Delete audit records older than this; null keeps them forever."
    )


class RetentionSettingsOut(Schema):
    interaction_months: int | None
    audit_months: int | None
    updated_at: dt.datetime
