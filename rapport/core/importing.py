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

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

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


@dataclass(frozen=True)
class OptionField:
    """An option of an importer a person picks on the mapping page (the pipeline deals go
    into): its choices come from the importer, so the page needs no import of its app."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...]
    help: str = ""


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

    def option_fields(self) -> list[OptionField]:
        """Options offered on the mapping page as a choice (beside the common ones)."""
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
    """Header → target for the headers recognised by name or synonym; each target once.

    Words run together also match ("MailingPostalCode", Salesforce's API names, is "Mailing
    postal code"), after every spelling with spaces has had its chance."""
    lookup: dict[str, str] = {}
    joined: dict[str, str] = {}
    for target in importer.all_targets():
        for name in (target.key, target.label, *target.synonyms):
            lookup.setdefault(header_key(name), target.key)
            joined.setdefault(header_key(name).replace(" ", ""), target.key)
    mapping, used = {}, set()
    for header in headers:
        key = header_key(header)
        target = lookup.get(key) or joined.get(key.replace(" ", ""))
        if target and target not in used:
            mapping[header] = target
            used.add(target)
    return mapping


def fold(text: str) -> str:
    """How names compare across systems: case, accents, punctuation and spacing set aside
    ("Closed – Won" is "closed won", "Négociation" is "negociation")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


# Dates as the CRMs' exports write them besides ISO 8601.
_EXPORT_DATE_FORMATS = ("%b %d, %Y", "%d %b %Y", "%B %d, %Y", "%d %B %Y", "%b %d, %Y %I:%M %p")


# The example a problem with an exported date gives.
MOMENT_EXAMPLE = "2024-03-31 or 2024-03-31 14:05"


def parse_export_moment(raw: str, *, example: str = MOMENT_EXAMPLE):
    """A moment from an exported date: ISO 8601 as the CRMs write it ("2023-04-05",
    "2023-04-05 10:20:30", Salesforce's "2023-04-05T10:20:30.000+0000") or a month spelled out
    ("Apr 5, 2023"). A time without a zone is taken in the current time zone; a date alone is
    the start of that day. Raises ValidationError in the user's words."""
    text = " ".join(raw.split())
    problem = f"Give a date such as {example}."
    if len(text) > 40:
        raise ValidationError(problem)
    if len(text) > 19 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # "+0000" → "+00:00"
    try:
        moment = parse_datetime(text.replace(" ", "T", 1))
        day = None if moment else parse_date(text)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        for pattern in _EXPORT_DATE_FORMATS:
            try:
                moment = dt.datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if moment is None and day is not None:
        moment = dt.datetime.combine(day, dt.time())
    if moment is None:
        raise ValidationError(problem)
    if moment.year < 1900 or moment.year > 2200:
        raise ValidationError("Give a date between 1900 and 2200.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def source_fingerprint(entity: str, source_id: str) -> str:
    """The fingerprint of a row known by the source system's own id (a Salesforce Id, a
    HubSpot Record ID): the same record exported again, with other values, is the same row."""
    payload = f"{entity}\x1eid\x1e{source_id.strip()}"
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def imported_before(job, entity: str, fingerprints) -> dict[str, int]:
    """Fingerprint → the record of `entity` an import (this one's earlier batches or an earlier
    import; not undone, not a dry run) created or updated from the same row. Read through the
    job's own relations, so an importer outside data_exchange needs no import of it."""
    fingerprints = [f for f in fingerprints if f]
    if not fingerprints:
        return {}
    rows = sorted(
        job.rows.model.objects.filter(
            fingerprint__in=fingerprints,
            entity=entity,
            action__in=(RowAction.CREATED, RowAction.UPDATED),
            object_id__isnull=False,
        )
        .order_by()
        .values_list("job_id", "fingerprint", "object_id")
    )
    if not rows:
        return {}
    left_out = set(
        type(job)
        .objects.filter(pk__in={job_id for job_id, _f, _o in rows})
        .filter(Q(status="undone") | Q(is_dry_run=True))
        .values_list("pk", flat=True)
    )
    return {f: object_id for job_id, f, object_id in rows if job_id not in left_out}


# --- the plumbing of a row importer: each row creates one record through a service ---------------


class DryRun(Exception):
    """Rolls back a dry run's writes once the services have checked them."""


def fail_row(result: RowResult, column: str, message: str) -> None:
    """The row is left out with one problem."""
    result.action = RowAction.ERROR
    result.errors = [{"field": column, "message": message}]


def visible(queryset, actor):
    """The records `actor` may see; the system (a CLI run without --as) sees everything."""
    return queryset if actor is None else queryset.visible_to(actor)


def start_results(rows: list[SourceRow], entity: str) -> list[RowResult]:
    """A result per row, each a creation until found otherwise. A row with the source's own id
    takes the fingerprint of that id, so the same record exported again is the same row."""
    results = []
    for row in rows:
        source_id = row.values.get("source_id", "").strip()
        if source_id:
            row.fingerprint = source_fingerprint(entity, source_id[:200])
        results.append(
            RowResult(
                number=row.number,
                action=RowAction.CREATED,
                entity=entity,
                fingerprint=row.fingerprint,
            )
        )
    return results


def settle_known(
    result: RowResult,
    *,
    seen: dict,
    key: str,
    record,
    policy: str,
    may_change: Callable[[object], bool],
    column: str,
    not_yours: str,
) -> bool:
    """Whether the row needs no write: its record came earlier in this run (`seen`: key → id,
    or "row:N" in a dry run), or an earlier import brought `record` in. One the importer may
    not change is left out with the `not_yours` problem on `column`."""
    if key in seen:
        earlier = seen[key]
        result.action = RowAction.UNCHANGED
        result.object_id = earlier if isinstance(earlier, int) else None
        return True
    if record is None:
        return False
    if not may_change(record):
        fail_row(result, column, not_yours)
        return True
    seen[key] = record.pk
    result.object_id = record.pk
    result.action = RowAction.SKIPPED if policy == ImportPolicy.SKIP else RowAction.UNCHANGED
    return True


def attempt(
    result: RowResult,
    step: Callable[[], object],
    *,
    fields: dict[str, str] | None = None,
    permission_field: str = "",
) -> bool:
    """Run one row's cleaning and writing; a row's problems (RowErrors), the services'
    ValidationError (its fields named as the columns, through `fields`) and PermissionDenied
    (on `permission_field`) become the row's errors. True when the row went through."""
    fields = fields or {}
    try:
        step()
    except RowErrors as exc:
        result.action, result.errors = RowAction.ERROR, exc.errors
    except ValidationError as exc:
        result.action, result.object_id, result.after = RowAction.ERROR, None, {}
        result.errors = [
            {"field": fields.get(key, key), "message": message}
            for key, messages in exc.message_dict.items()
            for message in messages
        ]
    except PermissionDenied as exc:
        result.action, result.object_id, result.after = RowAction.ERROR, None, {}
        result.errors = [{"field": permission_field, "message": str(exc)}]
    else:
        return True
    return False


def write_row(result: RowResult, write: Callable[[], int], *, dry_run: bool) -> None:
    """Run `write()` (which fills `result.after` and returns the new record's id) in a
    savepoint; a dry run's writes are rolled back once the services have checked them."""
    try:
        with transaction.atomic():
            object_id = write()
            if dry_run:
                raise DryRun
            result.object_id = object_id
    except DryRun:
        result.object_id = None


def cell_moment(
    values: dict, column: str, fail, *, example: str = MOMENT_EXAMPLE, missing: str = ""
) -> dt.datetime | None:
    """The moment in `column` (see `parse_export_moment`), or None when the cell is empty (a
    problem then if `missing` says one)."""
    raw = values.get(column, "").strip()
    if not raw:
        if missing:
            fail(column, missing)
        return None
    try:
        return parse_export_moment(raw, example=example)
    except ValidationError as exc:
        fail(column, exc.messages[0])
        return None


@dataclass
class Owners:
    """The active users by folded email, username and full name, and the job's `owner_map`
    (a source owner → a user's email or username; an empty one maps to the importer, None)."""

    users: dict = field(default_factory=dict)
    owner_map: dict = field(default_factory=dict)

    @classmethod
    def load(cls, options: dict) -> Owners:
        """Users are few: one query for all, then every owner cell is matched in memory."""
        owners = cls()
        for user in get_user_model().objects.filter(is_active=True).order_by("pk"):
            for key in (user.email, user.username, f"{user.first_name} {user.last_name}"):
                if key and fold(key):
                    owners.users.setdefault(key.casefold().strip(), user)
                    owners.users.setdefault(fold(key), user)
        owner_map = options.get("owner_map") or {}
        if not isinstance(owner_map, dict):
            owner_map = {}
        for source, target in owner_map.items():
            target = str(target or "").strip()
            owners.owner_map[fold(str(source))] = owners.user(target) if target else None
        return owners

    def user(self, text: str):
        return self.users.get(text.casefold()) or self.users.get(fold(text))

    def find(self, raw: str, column: str, fail):
        """The user an owner cell names; None when empty, mapped to the importer or unknown
        (a problem on `column` then)."""
        text = " ".join(raw.split())
        if not text:
            return None
        if fold(text) in self.owner_map:
            return self.owner_map[fold(text)]
        user = self.user(text)
        if user is None:
            fail(
                column,
                f"No Rapport user {text[:80]!r}: give a user's email address, or map this owner "
                "to a user in the import's owner mapping.",
            )
        return user


def created_ids(rows, entity: str) -> list[int]:
    """The ids of the records of `entity` an import's rows created, in order."""
    return sorted(
        {
            row.object_id
            for row in rows
            if row.entity == entity and row.action == RowAction.CREATED and row.object_id
        }
    )


def undo_created(
    job,
    rows,
    model,
    entity: str,
    may_delete: Callable[[object], bool],
    changed_since: Callable[[str, list[int], dt.datetime], set],
    record_deletions: Callable[..., object],
) -> dict:
    """Delete the records of `entity` the import created, unless someone changed them since
    the import (`changed_since(model label, ids, moment)`) or `may_delete(record)` says no;
    the deletions are recorded in one write (`record_deletions(instances=…, message=…)`)."""
    report = {"deleted": 0, "kept_changed_since": 0, "already_gone": 0}
    finished = job.finished_at or job.created_at
    ids = created_ids(rows, entity)
    records = model.objects.in_bulk(ids)
    changed = changed_since(model._meta.label_lower, ids, finished)
    deletable = []
    for pk in ids:
        record = records.get(pk)
        if record is None:
            report["already_gone"] += 1
        elif pk in changed or not may_delete(record):
            report["kept_changed_since"] += 1
        else:
            deletable.append(record)
    record_deletions(instances=deletable, message=f"import #{job.pk} undone")
    model.objects.filter(pk__in=[record.pk for record in deletable]).delete()
    report["deleted"] += len(deletable)
    return report
