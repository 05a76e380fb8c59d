"""The importer contract: one small class per kind of record a file can bring in.

Imports themselves are run by `data_exchange` (reading the file, batches and their transactions,
resuming, progress, the error report, dry runs, history and undo). The contract lives here, in
core, so that any app can add an importer for its own records without depending on
`data_exchange` (the layers point one way; see docs/architecture.md): contacts and
organizations are registered by data_exchange, orders by commerce, each from its
AppConfig.ready() with `register_importer(...)`. An importer only says how to clean, match,
write and undo rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import models

# The external-id system of an import that does not name one.
DEFAULT_SYSTEM = "import"


class ImportPolicy(models.TextChoices):
    SKIP = "skip", "Skip rows that match an existing record"
    UPDATE_EMPTY = "update_empty", "Fill in empty fields of the existing record"
    OVERWRITE = "overwrite", "Overwrite the existing record with the file's values"


class RowAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    SKIPPED = "skipped", "Skipped"
    ERROR = "error", "Error"


@dataclass(frozen=True)
class Target:
    """A field a column can be mapped to, with the headers other tools export it under."""

    key: str
    label: str
    synonyms: tuple[str, ...] = ()
    help: str = ""


@dataclass
class SourceRow:
    """One data row, already mapped: target key → cell text, and target key → column name."""

    number: int
    values: dict[str, str]
    fingerprint: str


@dataclass
class RowResult:
    """What happened to one row, or to a record a row brought along (a new organization)."""

    number: int
    action: str
    entity: str
    object_id: int | None = None
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    fingerprint: str = ""
    # A stand-in for the id of a record created in this batch, filled in once it exists.
    pending: object = None


class RowErrors(Exception):
    """Problems with a row: [{"field": target, "message": ...}]."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


class Importer:
    """Base class. Subclasses set `entity`, `label`, `targets` and implement the hooks."""

    entity: str = ""
    label: str = ""
    targets: tuple[Target, ...] = ()
    option_names: tuple[str, ...] = ()
    # The models a batch reads to match its rows. A long import refreshes their statistics as
    # it grows them, so the lookups keep using their indexes.
    looked_up_models: tuple = ()

    def dynamic_targets(self) -> list[Target]:
        """Targets that depend on configuration, e.g. custom fields."""
        return []

    def all_targets(self) -> list[Target]:
        return [*self.targets, *self.dynamic_targets()]

    def knows_target(self, key: str) -> bool:
        return any(t.key == key for t in self.all_targets())

    def begin(self, job) -> object:
        """A context for one run (caches, the matching rules); passed to every batch.

        A context with an `events` list gets them delivered by the engine after each batch
        commits (all of a batch's subscribers' writes in one transaction), instead of one
        `core.events.emit` — and one commit — per record."""
        return None

    def process_batch(self, rows: list[SourceRow], context, *, dry_run: bool) -> list[RowResult]:
        """Clean, match and (unless `dry_run`) write `rows`, inside the batch transaction."""
        raise NotImplementedError

    def finish(self, job, context) -> None:
        """After the last batch (not after a dry run): follow-up work such as duplicate checks."""

    def undo(self, job, rows, actor) -> dict:
        """Remove what `rows` created and restore what they changed; returns counts."""
        raise NotImplementedError


_importers: dict[str, Importer] = {}


def register_importer(importer: Importer) -> None:
    _importers[importer.entity] = importer


def get_importer(entity: str) -> Importer:
    return _importers[entity]


def importers() -> list[Importer]:
    return list(_importers.values())


def header_key(header: str) -> str:
    """How headers compare: 'E-mail 1 - Value' → 'e mail 1 value'."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.casefold()).split())


def auto_map(importer: Importer, headers: list[str]) -> dict[str, str]:
    """Header → target for the headers recognised by name or synonym; each target once."""
    lookup: dict[str, str] = {}
    for target in importer.all_targets():
        for name in (target.key, target.label, *target.synonyms):
            lookup.setdefault(header_key(name), target.key)
    mapping, used = {}, set()
    for header in headers:
        target = lookup.get(header_key(header))
        if target and target not in used:
            mapping[header] = target
            used.add(target)
    return mapping
