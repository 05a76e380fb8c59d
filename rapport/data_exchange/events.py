"""What the data-exchange app tells other apps. Fields are plain values (webhook payloads)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ContactsMerged:
    """`loser_id` no longer exists (or is archived); everything it held is on `survivor_id`."""

    survivor_id: int
    loser_id: int
    actor_id: int | None
    merge_id: int


@dataclass(frozen=True)
class OrganizationsMerged:
    survivor_id: int
    loser_id: int
    actor_id: int | None
    merge_id: int


@dataclass(frozen=True)
class ImportFinished:
    import_id: int
    entity: str
    created: int
    updated: int
    errors: int
    actor_id: int | None


@dataclass(frozen=True)
class ImportUndone:
    import_id: int
    entity: str
    actor_id: int | None
