"""What the contacts app tells other apps. Fields are plain values (they double as webhook payloads)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContactCreated:
    contact_id: int
    actor_id: int | None
    source: str


@dataclass(frozen=True)
class ContactUpdated:
    contact_id: int
    actor_id: int | None
    changed_fields: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ContactArchived:
    contact_id: int
    actor_id: int | None


@dataclass(frozen=True)
class LifecycleStageChanged:
    contact_id: int
    actor_id: int | None
    from_stage: str
    to_stage: str


@dataclass(frozen=True)
class OrganizationCreated:
    organization_id: int
    actor_id: int | None


@dataclass(frozen=True)
class OrganizationUpdated:
    organization_id: int
    actor_id: int | None
    changed_fields: tuple[str, ...] = field(default_factory=tuple)
