"""Users, teams and the caller's own API tokens over JSON."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints

from rapport.core.api_types import Moment


class TeamRef(Schema):
    id: int
    name: str
    kind: str


class RoleOut(Schema):
    id: int
    name: str
    is_admin: bool
    is_read_only: bool
    scopes: dict[str, str]


class UserOut(Schema):
    id: int
    username: str
    full_name: str
    first_name: str
    last_name: str
    email: str
    role: RoleOut | None
    teams: list[TeamRef]
    time_zone: str
    locale: str = Field(
        description='How dates and numbers are written for this user ("de_DE"); empty: the '
        "company's."
    )
    is_away: bool
    is_active: bool

    @staticmethod
    def resolve_full_name(obj) -> str:
        return str(obj)

    @staticmethod
    def resolve_teams(obj):
        return list(obj.teams.all())


class MeOut(UserOut):
    is_administrator: bool
    is_read_only: bool
    scopes: dict[str, str] = Field(description="The scope you have in each domain.")

    @staticmethod
    def resolve_scopes(obj) -> dict[str, str]:
        from rapport.accounts.choices import Domain

        return {domain: str(obj.scope_for(domain)) for domain in Domain.values}


class UserPage(Schema):
    items: list[UserOut]
    next_cursor: str | None


class UserParams(Schema):
    cursor: str | None = None
    limit: int = Field(100, ge=1, le=200)
    team: int | None = Field(None, ge=1, le=2**63 - 1)
    is_active: bool | None = None
    q: str | None = Field(None, max_length=100)


class TeamOut(Schema):
    id: int
    name: str
    kind: str
    description: str
    member_ids: list[int]

    @staticmethod
    def resolve_member_ids(obj) -> list[int]:
        return [member.pk for member in obj.members.all()]


class TeamList(Schema):
    items: list[TeamOut]


class ApiTokenIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    expires_at: Moment | None = None


class ApiTokenOut(Schema):
    id: int
    name: str
    key_prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    is_active: bool


class ApiTokenCreated(ApiTokenOut):
    secret: str = Field(description="Shown this once; only a hash is kept.")


class ApiTokenList(Schema):
    items: list[ApiTokenOut]
