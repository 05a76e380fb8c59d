"""What the contacts API reads and writes. Inputs refuse unknown fields (422 naming the field).

Lengths and choices are checked here so a typo fails fast; identity rules (email syntax, phone
numbers), custom fields and every cross-record rule are checked by the services, exactly as for
the web UI.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictBool, StringConstraints

from rapport.contacts.choices import (
    ConsentChannel,
    ConsentStatus,
    ContactSource,
    LabelKind,
    LawfulBasis,
    LifecycleStage,
    OrganizationSize,
    RelationshipKind,
)
from rapport.core.api_types import RecordId


def text(max_length: int):
    return Annotated[str, StringConstraints(max_length=max_length)]


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


LabelName = Literal[tuple(LabelKind.values)]  # type: ignore[valid-type]
StageName = Literal[tuple(LifecycleStage.values)]  # type: ignore[valid-type]
SourceName = Literal[tuple(ContactSource.values)]  # type: ignore[valid-type]
SizeName = Literal[("", *OrganizationSize.values)]  # type: ignore[valid-type]
RelationshipName = Literal[tuple(RelationshipKind.values)]  # type: ignore[valid-type]
ChannelName = Literal[tuple(ConsentChannel.values)]  # type: ignore[valid-type]
ConsentName = Literal[tuple(ConsentStatus.values)]  # type: ignore[valid-type]
BasisName = Literal[("", *LawfulBasis.values)]  # type: ignore[valid-type]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=50)]


class EmailIn(InputSchema):
    email: text(254)
    label: LabelName = "work"
    is_primary: StrictBool = False


class PhoneIn(InputSchema):
    number: text(40)
    label: LabelName = "work"
    is_primary: StrictBool = False


class ExternalIdIn(InputSchema):
    system: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    value: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ContactIn(InputSchema):
    """A new contact. Needs a name, an email or a phone. Without `owner_id` you own it."""

    first_name: text(100) = ""
    last_name: text(100) = ""
    job_title: text(150) = ""
    emails: list[EmailIn] = Field(default_factory=list, max_length=10)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    street: text(200) = ""
    city: text(100) = ""
    postcode: text(20) = ""
    region: text(100) = ""
    country: text(2) = Field("", description="ISO 3166-1 alpha-2, e.g. DE")
    lifecycle_stage: StageName = "lead"
    owner_id: RecordId | None = None
    organization_id: RecordId | None = Field(None, description="Makes a primary membership.")
    organization_role: text(150) = ""
    tags: list[TagName] = Field(default_factory=list, max_length=50)
    source: SourceName = "api"
    source_detail: text(200) = ""
    about: text(20_000) = ""
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    external_ids: list[ExternalIdIn] = Field(default_factory=list, max_length=20)


class ContactPatch(InputSchema):
    """Only the fields sent change. Lists sent replace the old ones; `custom_fields` merges
    (a key set to null clears it); a text field set to null becomes empty."""

    first_name: text(100) | None = None
    last_name: text(100) | None = None
    job_title: text(150) | None = None
    emails: list[EmailIn] | None = Field(None, max_length=10)
    phones: list[PhoneIn] | None = Field(None, max_length=10)
    street: text(200) | None = None
    city: text(100) | None = None
    postcode: text(20) | None = None
    region: text(100) | None = None
    country: text(2) | None = None
    lifecycle_stage: StageName | None = None
    owner_id: RecordId | None = None
    tags: list[TagName] | None = Field(None, max_length=50)
    source: SourceName | None = None
    source_detail: text(200) | None = None
    about: text(20_000) | None = None
    custom_fields: dict[str, Any] | None = None
    external_ids: list[ExternalIdIn] | None = Field(None, max_length=20)


class LifecycleStageIn(InputSchema):
    stage: StageName
    reason: text(200) = ""


class ConsentIn(InputSchema):
    status: ConsentName
    lawful_basis: BasisName = ""
    source: text(200) = ""


class MembershipIn(InputSchema):
    organization_id: RecordId
    role: text(150) = ""
    is_primary: StrictBool = False


class OrganizationIn(InputSchema):
    """A new organization. Without `owner_id` you own it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    domain: text(253) = ""
    website: text(500) = ""
    industry: text(100) = ""
    size: SizeName = ""
    phone: text(40) = ""
    street: text(200) = ""
    city: text(100) = ""
    postcode: text(20) = ""
    region: text(100) = ""
    country: text(2) = ""
    description: text(20_000) = ""
    owner_id: RecordId | None = None
    tags: list[TagName] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class OrganizationPatch(InputSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    domain: text(253) | None = None
    website: text(500) | None = None
    industry: text(100) | None = None
    size: SizeName | None = None
    phone: text(40) | None = None
    street: text(200) | None = None
    city: text(100) | None = None
    postcode: text(20) | None = None
    region: text(100) | None = None
    country: text(2) | None = None
    description: text(20_000) | None = None
    owner_id: RecordId | None = None
    tags: list[TagName] | None = Field(None, max_length=50)
    custom_fields: dict[str, Any] | None = None


class RelationshipIn(InputSchema):
    """Reads as: this organization is the <kind> of `to_organization_id`."""

    to_organization_id: RecordId
    kind: RelationshipName
    note: text(300) = ""


class TagIn(InputSchema):
    name: TagName
    color: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")] = "#64748b"


# Query parameters --------------------------------------------------------------------------


class CursorParams(Schema):
    cursor: str | None = Field(None, description="`next_cursor` of the page before.")
    limit: int = Field(50, ge=1, le=200)


class PageParams(CursorParams):
    ordering: str = Field(
        "name",
        description="name, -name, created_at, -created_at; for contacts also lifecycle, "
        "-lifecycle, last_touched, -last_touched",
    )


class TagParams(CursorParams):
    q: str | None = Field(None, max_length=50)
    limit: int = Field(100, ge=1, le=200)


class ContactFilterParams(Schema):
    """Documented here; checked by `rapport.contacts.filters` exactly as in the web UI."""

    q: str | None = None
    owner: list[str] | None = None
    lifecycle_stage: list[str] | None = None
    tag: list[str] | None = None
    organization: list[str] | None = None
    source: list[str] | None = None
    country: list[str] | None = None
    archived: str | None = Field(None, description="false (default), true or all")
    created_after: str | None = None
    created_before: str | None = None


class OrganizationFilterParams(Schema):
    q: str | None = None
    owner: list[str] | None = None
    tag: list[str] | None = None
    industry: str | None = None
    size: list[str] | None = None
    country: list[str] | None = None
    archived: str | None = Field(None, description="false (default), true or all")
    created_after: str | None = None
    created_before: str | None = None


# Outputs ---------------------------------------------------------------------------------


class UserRef(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj) -> str:
        return str(obj)


class EmailOut(Schema):
    email: str
    label: str
    is_primary: bool


class PhoneOut(Schema):
    number: str
    label: str
    is_primary: bool


class ExternalIdOut(Schema):
    system: str
    value: str


class ContactMembershipOut(Schema):
    organization_id: int
    organization_name: str
    role: str
    is_primary: bool

    @staticmethod
    def resolve_organization_name(obj) -> str:
        return obj.organization.name


# Relation → the attribute the API's contact queryset prefetches it into (see
# `contacts.api.routes.contact_queryset`).
PREFETCHED = {
    name: f"api_{name}" for name in ("emails", "phones", "tags", "external_ids", "memberships")
}


def _related(contact, name: str) -> list:
    """The prefetched rows of a relation, or a read of them for a contact loaded without."""
    rows = getattr(contact, PREFETCHED[name], None)
    return rows if rows is not None else list(getattr(contact, name).all())


class ContactOut(Schema):
    id: int
    full_name: str
    first_name: str
    last_name: str
    job_title: str
    primary_email: str
    primary_phone: str
    emails: list[EmailOut]
    phones: list[PhoneOut]
    street: str
    city: str
    postcode: str
    region: str
    country: str
    lifecycle_stage: str
    lifecycle_changed_at: dt.datetime | None
    owner: UserRef | None
    memberships: list[ContactMembershipOut]
    tags: list[str]
    source: str
    source_detail: str
    about: str
    custom_fields: dict[str, Any]
    external_ids: list[ExternalIdOut]
    is_archived: bool
    archived_at: dt.datetime | None
    last_touched_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_emails(obj):
        return _related(obj, "emails")

    @staticmethod
    def resolve_phones(obj):
        return _related(obj, "phones")

    @staticmethod
    def resolve_memberships(obj):
        return _related(obj, "memberships")

    @staticmethod
    def resolve_tags(obj):
        return [tag.name for tag in _related(obj, "tags")]

    @staticmethod
    def resolve_external_ids(obj):
        return _related(obj, "external_ids")


class ConsentOut(Schema):
    channel: str
    status: str
    lawful_basis: str
    recorded_at: dt.datetime
    source: str


class LifecycleChangeOut(Schema):
    from_stage: str
    to_stage: str
    changed_at: dt.datetime
    actor_id: int | None
    reason: str


class ContactDetailOut(ContactOut):
    consents: list[ConsentOut]
    lifecycle_history: list[LifecycleChangeOut]

    @staticmethod
    def resolve_consents(obj):
        return list(obj.consents.all())

    @staticmethod
    def resolve_lifecycle_history(obj):
        return list(obj.lifecycle_changes.all())


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None


class ContactRef(Schema):
    id: int
    full_name: str
    primary_email: str
    lifecycle_stage: str


class MemberOut(Schema):
    contact: ContactRef
    role: str
    is_primary: bool


class MemberPage(Schema):
    items: list[MemberOut]
    next_cursor: str | None


class MembershipOut(Schema):
    contact_id: int
    organization_id: int
    organization_name: str
    role: str
    is_primary: bool

    @staticmethod
    def resolve_organization_name(obj) -> str:
        return obj.organization.name


class OrganizationOut(Schema):
    id: int
    name: str
    domain: str
    website: str
    industry: str
    size: str
    phone: str
    street: str
    city: str
    postcode: str
    region: str
    country: str
    description: str
    owner: UserRef | None
    tags: list[str]
    custom_fields: dict[str, Any]
    is_archived: bool
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_tags(obj):
        return [tag.name for tag in obj.tags.all()]


class OrganizationPage(Schema):
    items: list[OrganizationOut]
    next_cursor: str | None


class OrganizationRef(Schema):
    id: int
    name: str


class RelationshipOut(Schema):
    id: int
    from_organization: OrganizationRef
    to_organization: OrganizationRef
    kind: str
    kind_label: str
    note: str
    created_at: dt.datetime

    @staticmethod
    def resolve_kind_label(obj) -> str:
        return obj.get_kind_display()


class RelationshipList(Schema):
    items: list[RelationshipOut]


class TagOut(Schema):
    id: int
    name: str
    color: str


class TagPage(Schema):
    items: list[TagOut]
    next_cursor: str | None
