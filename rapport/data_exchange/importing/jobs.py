"""Import jobs: store the file, settle the mapping, run in batches, keep the history, undo.

The engine is the same for every importer. Each batch is one transaction that writes the
records, the per-row results and the job's progress together, so after a crash the job resumes
after its last committed batch: never half a row, never a row twice. A bad row is reported
(row number, column, reason) and the rest of the batch goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import can_administer
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.core import display
from rapport.core.context import work_context
from rapport.core.database import commit_asynchronously, refresh_statistics
from rapport.core.events import deliveries, emit
from rapport.core.importing import RowResult, SourceRow, auto_map, get_importer
from rapport.data_exchange import events
from rapport.data_exchange.choices import ImportPolicy, ImportStatus, RowAction
from rapport.data_exchange.importing.bulk import BulkWriter
from rapport.data_exchange.importing.reading import (
    MAX_CELL,
    FileShape,
    UnreadableFile,
    detect_shape,
    open_source,
)
from rapport.data_exchange.models import ImportJob, ImportRow, MappingPreset

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
DEFAULT_BATCH_SIZE = 2000
UNDO_CHUNK = 5000
STALLED_AFTER = dt.timedelta(minutes=10)


class ConcurrentRun(RuntimeError):
    """Two workers ran the same import; the later one stops without writing."""


def jobs_visible_to(user):
    """Imports a user may see: their own; an administrator sees all."""
    jobs = ImportJob.objects.select_related("created_by")
    if user is None or not user.is_authenticated:
        return jobs.none()
    if can_administer(user):
        return jobs
    return jobs.filter(created_by=user)


def fingerprint_of(entity: str, values: dict) -> str:
    """A short hash of a row's mapped values: the same row imported again has the same one."""
    # Unit and record separators cannot occur in a cleaned cell, so the joined text is
    # unambiguous without the cost of JSON.
    payload = "\x1e".join(f"{key}\x1f{values[key]}" for key in sorted(values))
    return hashlib.blake2b(f"{entity}\x1e{payload}".encode(), digest_size=16).hexdigest()


def _validate_mapping(importer, headers: list[str], mapping: dict) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    if not isinstance(mapping, dict):
        raise ValidationError({"mapping": ["Map column names to field names."]})
    cleaned, used = {}, {}
    for column, target in mapping.items():
        if not target:
            continue
        if column not in headers:
            errors[f"mapping.{column}"] = ["The file has no such column."]
        elif not isinstance(target, str) or not importer.knows_target(target):
            errors[f"mapping.{column}"] = [f"Unknown field {target!r}."]
        elif target in used:
            errors[f"mapping.{column}"] = [f"{target!r} is already mapped from {used[target]!r}."]
        else:
            cleaned[column] = target
            used[target] = column
    if errors:
        raise ValidationError(errors)
    if not cleaned:
        raise ValidationError({"mapping": ["Map at least one column to a field."]})
    return cleaned


def _store(upload, name: str) -> tuple[object, str, int]:
    digest = hashlib.sha256()
    size = 0
    chunks = (
        upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(1 << 20), b"")
    )
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    if hasattr(upload, "seek"):
        upload.seek(0)
    return upload, digest.hexdigest(), size


def create_import(
    *,
    actor,
    entity: str,
    upload: UploadedFile,
    mapping: dict | None = None,
    preset: MappingPreset | None = None,
    policy: str = ImportPolicy.SKIP,
    dry_run: bool = False,
    options: dict | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ImportJob:
    """Take in a file: store it, detect its encoding, delimiter and columns, and settle the
    mapping — the one given, else the preset's, else recognised headers. Nothing is imported
    until `start_import`. Raises ValidationError naming the problem (file, mapping, policy).
    """
    access.require_write(actor)
    errors: dict[str, list[str]] = {}
    try:
        importer = get_importer(entity)
    except KeyError:
        raise ValidationError(
            {"entity": ["Nothing can be imported as this kind of record."]}
        ) from None
    if policy not in ImportPolicy.values:
        errors["policy"] = [f"Choose one of: {', '.join(ImportPolicy.values)}."]
    if not isinstance(batch_size, int) or not 1 <= batch_size <= 10_000:
        errors["batch_size"] = ["Give a batch size between 1 and 10,000."]
    name = Path(getattr(upload, "name", "") or "upload.csv").name[:200]
    if not name.lower().endswith((".csv", ".txt", ".tsv", ".xlsx")):
        errors["file"] = ["Upload a CSV or an Excel (.xlsx) file."]
    upload, sha256, size = _store(upload, name)
    if size == 0:
        errors["file"] = ["The file is empty."]
    elif size > MAX_UPLOAD_BYTES:
        errors["file"] = [f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."]
    options = dict(options or {})
    if preset is not None:
        options = {**preset.options, **options}
    unknown = set(options) - set(importer.option_names)
    if unknown:
        errors["options"] = [f"Unknown options: {', '.join(sorted(unknown))}."]
    if errors:
        raise ValidationError(errors)
    job = ImportJob(
        entity=entity,
        file_name=name,
        file_size=size,
        file_sha256=sha256,
        policy=policy,
        is_dry_run=bool(dry_run),
        options=options,
        preset=preset,
        batch_size=batch_size,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    job.file.save(name, upload, save=False)
    try:
        shape = detect_shape(Path(job.file.path))
        with open_source(Path(job.file.path), shape) as source:
            headers = source.headers
        if mapping is None:
            mapping = (
                {k: v for k, v in preset.mapping.items() if k in headers}
                if preset is not None
                else auto_map(importer, headers)
            )
        job.mapping = _validate_mapping(importer, headers, mapping)
    except UnreadableFile as exc:
        job.file.delete(save=False)
        raise ValidationError({"file": [str(exc)]}) from exc
    except ValidationError:
        job.file.delete(save=False)
        raise
    job.headers = headers
    job.file_format = shape.file_format
    job.encoding = shape.encoding
    job.delimiter = shape.delimiter
    with transaction.atomic():
        job.save()
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            instance=job,
            after={
                "file": name,
                "entity": entity,
                "dry_run": job.is_dry_run,
                "policy": policy,
                "mapping": job.mapping,
            },
        )
    return job


def start_import(*, actor, job: ImportJob) -> ImportJob:
    """Queue the import; a task worker runs it once the current transaction commits."""
    _check_owner(actor, job)
    if job.status not in (ImportStatus.NEW, ImportStatus.FAILED):
        raise ValidationError({"status": ["This import has already been started."]})
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    job.status = ImportStatus.QUEUED
    _enqueue(job)
    return job


def _enqueue(job: ImportJob) -> None:
    from rapport.data_exchange.tasks import run_import_task

    transaction.on_commit(lambda: run_import_task.enqueue(job.pk))


@transaction.atomic
def update_import(
    *,
    actor,
    job: ImportJob,
    mapping: dict,
    policy: str,
    dry_run: bool,
    options: dict | None = None,
    save_as: str = "",
) -> ImportJob:
    """Change the mapping and settings of an import not started yet; with `save_as`, also keep
    the mapping as a preset of that name."""
    _check_owner(actor, job)
    if job.status != ImportStatus.NEW:
        raise ValidationError({"status": ["This import has already been started."]})
    importer = get_importer(job.entity)
    errors: dict[str, list[str]] = {}
    if policy not in ImportPolicy.values:
        errors["policy"] = [f"Choose one of: {', '.join(ImportPolicy.values)}."]
    options = {**(job.options or {}), **(options or {})}
    unknown = set(options) - set(importer.option_names)
    if unknown:
        errors["options"] = [f"Unknown options: {', '.join(sorted(unknown))}."]
    try:
        cleaned = _validate_mapping(importer, job.headers, mapping)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cleaned = {}
    if errors:
        raise ValidationError(errors)
    before = {"mapping": job.mapping, "policy": job.policy, "dry_run": job.is_dry_run}
    job.mapping, job.policy, job.is_dry_run, job.options = cleaned, policy, bool(dry_run), options
    if save_as:
        from rapport.data_exchange.services import save_mapping_preset

        job.preset = save_mapping_preset(
            actor=actor, entity=job.entity, name=save_as, mapping=cleaned, options=options
        )
    job.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=job,
        before=before,
        after={"mapping": job.mapping, "policy": job.policy, "dry_run": job.is_dry_run},
    )
    return job


def repeat_import(*, actor, job: ImportJob, dry_run: bool = False) -> ImportJob:
    """A new import of the same file with the same settings — after a dry run, the real one."""
    _check_owner(actor, job)
    with job.file.open("rb") as handle:
        copy = ImportJob(
            entity=job.entity,
            file_name=job.file_name,
            file_size=job.file_size,
            file_sha256=job.file_sha256,
            file_format=job.file_format,
            encoding=job.encoding,
            delimiter=job.delimiter,
            headers=job.headers,
            mapping=job.mapping,
            options=job.options,
            preset=job.preset,
            policy=job.policy,
            is_dry_run=dry_run,
            batch_size=job.batch_size,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        copy.file.save(job.file_name, handle, save=False)
    with transaction.atomic():
        copy.save()
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            instance=copy,
            after={"file": copy.file_name, "repeats": job.pk, "dry_run": dry_run},
        )
    return copy


def _columns(job: ImportJob) -> list[tuple[int, str]]:
    index = {header: i for i, header in enumerate(job.headers)}
    return [(index[column], target) for column, target in job.mapping.items() if column in index]


def _with_columns(job: ImportJob, errors: list[dict], values: dict) -> list[dict]:
    column_of = {target: column for column, target in job.mapping.items()}
    return [
        {
            "column": column_of.get(error.get("field", ""), ""),
            "field": error.get("field", ""),
            "message": error.get("message", ""),
            "value": values.get(error.get("field", ""), "")[:200],
        }
        for error in errors
    ]


def _too_long(job: ImportJob, too_long: dict[int, int]) -> list[dict]:
    """The row errors for cells longer than MAX_CELL in mapped columns (unmapped ones are not
    imported, so their length does no harm)."""
    return [
        {
            "field": target,
            "message": f"This cell has {display.number_text(too_long[i])} characters; at most "
            f"{display.number_text(MAX_CELL)} can be imported.",
        }
        for i, target in _columns(job)
        if i in too_long
    ]


def _run_batch(
    job: ImportJob,
    importer,
    run,
    batch: list[SourceRow],
    counts: Counter,
    refused: dict[int, list[dict]] | None = None,
) -> None:
    """Import one batch. `refused` rows (row number → errors) failed before any importer saw
    them (a cell too long): they are reported, and the importer gets the others."""
    refused = refused or {}
    values_of = {row.number: row.values for row in batch}
    with transaction.atomic():
        # The batch records its own progress (processed_rows) in this transaction: should the
        # database lose it in a crash, the job resumes before it and writes it again.
        commit_asynchronously()
        committed = (
            ImportJob.objects.select_for_update()
            .values_list("processed_rows", flat=True)
            .get(pk=job.pk)
        )
        if committed >= batch[0].number:
            # Another run of the same job (a retried task) got here first.
            raise ConcurrentRun(f"rows from {batch[0].number} are already imported")
        rows_to_import = [row for row in batch if row.number not in refused]
        results = (
            importer.process_batch(rows_to_import, run, dry_run=job.is_dry_run)
            if rows_to_import
            else []
        )
        results += [
            RowResult(
                number=row.number,
                action=RowAction.ERROR,
                entity=job.entity,
                errors=refused[row.number],
                fingerprint=row.fingerprint,
            )
            for row in batch
            if row.number in refused
        ]
        rows = []
        batch_counts: Counter = Counter()
        for result in results:
            if result.entity == job.entity:
                batch_counts[result.action] += 1
            if result.action == RowAction.UNCHANGED:
                continue
            errors = (
                _with_columns(job, result.errors, values_of.get(result.number, {}))
                if result.errors
                else []
            )
            keeps_fingerprint = result.entity == job.entity and result.action in (
                RowAction.CREATED,
                RowAction.UPDATED,
            )
            rows.append(
                {
                    "job_id": job.pk,
                    "row_number": result.number,
                    "action": result.action,
                    "entity": result.entity,
                    "object_id": result.object_id if isinstance(result.object_id, int) else None,
                    "before": result.before,
                    "after": result.after,
                    "errors": errors,
                    "fingerprint": result.fingerprint if keeps_fingerprint else "",
                }
            )
        BulkWriter(connection).insert(ImportRow, rows)
        ImportJob.objects.filter(pk=job.pk).update(
            processed_rows=batch[-1].number,
            created_count=F("created_count") + batch_counts[RowAction.CREATED],
            updated_count=F("updated_count") + batch_counts[RowAction.UPDATED],
            unchanged_count=F("unchanged_count") + batch_counts[RowAction.UNCHANGED],
            skipped_count=F("skipped_count") + batch_counts[RowAction.SKIPPED],
            error_count=F("error_count") + batch_counts[RowAction.ERROR],
            updated_at=timezone.now(),
        )
    counts.update(batch_counts)
    job.processed_rows = batch[-1].number
    _deliver_events(run)


def _deliver_events(run) -> None:
    """Hand a committed batch's events to their subscribers, as `core.events.emit_many` would
    after commit — a subscriber that takes many gets the whole batch in one call — but with all
    their writes in one transaction instead of one commit each.

    Should a subscriber fail, the batch's deliveries are rolled back and made again one
    subscriber call at a time, each in its own savepoint: the failing one is logged and skipped
    (as `emit` does), the others' work stands.
    """
    pending = getattr(run, "events", None)
    if not pending:
        return
    calls = deliveries(pending, skip=getattr(run, "skip_subscribers", ()))
    pending.clear()
    try:
        with transaction.atomic():
            for call in calls:
                call()
        return
    except Exception:
        logger.warning("an event subscriber failed; delivering this batch one by one")
    with transaction.atomic():
        for call in calls:
            try:
                with transaction.atomic():
                    call()
            except Exception:
                logger.exception("event subscriber %r failed for %r", call.handler, call.argument)


class _Statistics:
    """Refreshes the planner's statistics of the tables an import reads, as it grows them:
    after its first 5,000 rows, then each time its rows double."""

    FIRST = 5000

    def __init__(self, importer, job):
        self.models = (*importer.looked_up_models, ImportRow) if not job.is_dry_run else ()
        self.rows = 0
        self.next_at = self.FIRST

    def after_batch(self, rows: int) -> None:
        self.rows += rows
        if self.models and self.rows >= self.next_at:
            refresh_statistics(self.models)
            self.next_at = 2 * self.rows


def run_import(
    job_id: int,
    *,
    progress: Callable[[ImportJob], None] | None = None,
    task_id: str = "",
) -> ImportJob:
    """Run an import, or resume it after its last committed batch. Safe to call twice: a
    finished job is left as it is. Sets off ImportFinished when done (not for a dry run)."""
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if job.status in (ImportStatus.COMPLETED, ImportStatus.UNDONE, ImportStatus.UNDOING):
        return job
    importer = get_importer(job.entity)
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, started_at=job.started_at or now, failure="", finished_at=None
    )
    job.status = ImportStatus.RUNNING
    counts: Counter = Counter()
    try:
        with work_context(source="import", task_id=task_id or f"import-{job.pk}"):
            run = importer.begin(job)
            shape = FileShape(job.file_format, job.encoding, job.delimiter)
            columns = _columns(job)
            with open_source(Path(job.file.path), shape) as source:
                if job.total_rows is None:
                    job.total_rows = source.count_rows()
                    ImportJob.objects.filter(pk=job.pk).update(total_rows=job.total_rows)
                if progress:
                    progress(job)
                batch: list[SourceRow] = []
                refused: dict[int, list[dict]] = {}
                statistics = _Statistics(importer, job)
                for number, cells, too_long in source.records():
                    if number <= job.processed_rows:
                        continue  # committed before a crash: resume after it
                    values = {target: cells[i].strip() for i, target in columns if cells[i].strip()}
                    batch.append(SourceRow(number, values, fingerprint_of(job.entity, values)))
                    if too_long and (errors := _too_long(job, too_long)):
                        refused[number] = errors
                    if len(batch) >= job.batch_size:
                        _run_batch(job, importer, run, batch, counts, refused)
                        statistics.after_batch(len(batch))
                        batch, refused = [], {}
                        if progress:
                            progress(job)
                if batch:
                    _run_batch(job, importer, run, batch, counts, refused)
                    if progress:
                        progress(job)
            if not job.is_dry_run:
                importer.finish(job, run)
    except ConcurrentRun:
        logger.warning("import %s is already being run by another worker", job.pk)
        job.refresh_from_db()
        return job
    except Exception as exc:
        logger.exception("import %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED,
            failure=_failure_text(exc),
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        raise
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.COMPLETED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    with transaction.atomic():
        record_change(
            actor=job.created_by,
            action=ChangeAction.UPDATE,
            instance=job,
            before={"status": ImportStatus.RUNNING},
            after={
                "status": ImportStatus.COMPLETED,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "skipped": job.skipped_count,
                "errors": job.error_count,
            },
        )
        if not job.is_dry_run:
            emit(
                events.ImportFinished(
                    import_id=job.pk,
                    entity=job.entity,
                    created=job.created_count,
                    updated=job.updated_count,
                    errors=job.error_count,
                    actor_id=job.created_by_id,
                )
            )
    return job


def _failure_text(exc: Exception) -> str:
    """Why an import stopped, for the person: a file problem in its own words, anything else
    with the kind of error (for whoever looks into it)."""
    if isinstance(exc, UnreadableFile):
        return str(exc)[:2000]
    return f"{type(exc).__name__}: {exc}"[:2000]


def resume_import(*, actor, job: ImportJob) -> ImportJob:
    """Queue a failed import again (or one whose worker died: no progress for a while); it
    carries on after its last committed batch."""
    _check_owner(actor, job)
    stalled = job.status in (ImportStatus.RUNNING, ImportStatus.QUEUED) and (
        job.updated_at < timezone.now() - STALLED_AFTER
    )
    if job.status != ImportStatus.FAILED and not stalled:
        raise ValidationError({"status": ["Only a failed or stalled import can be resumed."]})
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    job.status = ImportStatus.QUEUED
    _enqueue(job)
    return job


def _check_owner(actor, job: ImportJob) -> None:
    if actor is None:
        return
    access.require_write(actor)
    if job.created_by_id != actor.pk and not can_administer(actor):
        raise PermissionDenied("Only the person who imported the file, or an administrator.")


def undo_import(*, actor, job: ImportJob) -> ImportJob:
    """Undo a completed import in the background: remove what it created, put back what it
    changed (where nobody changed it since). Sets off ImportUndone when done."""
    _check_owner(actor, job)
    errors = {}
    if job.is_dry_run:
        errors["status"] = ["A dry run wrote nothing; there is nothing to undo."]
    elif job.status != ImportStatus.COMPLETED:
        errors["status"] = ["Only a completed import can be undone."]
    if errors:
        raise ValidationError(errors)
    changed = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.COMPLETED).update(
        status=ImportStatus.UNDOING,
        undone_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if not changed:
        raise ValidationError({"status": ["This import is already being undone."]})
    job.status = ImportStatus.UNDOING
    from rapport.data_exchange.tasks import undo_import_task

    transaction.on_commit(lambda: undo_import_task.enqueue(job.pk))
    return job


def perform_undo(job_id: int, *, task_id: str = "") -> ImportJob:
    """The undo itself (run by the task). Each chunk of rows is its own transaction; a rerun
    after a crash finds already-removed records gone and restored values in place."""
    job = ImportJob.objects.select_related("created_by", "undone_by").get(pk=job_id)
    if job.status != ImportStatus.UNDOING:
        return job
    importer = get_importer(job.entity)
    actor = job.undone_by
    report: Counter = Counter()
    rows = job.rows.filter(Q(action=RowAction.CREATED) | Q(action=RowAction.UPDATED)).order_by(
        "row_number", "id"
    )
    last = 0
    with work_context(source="import", task_id=task_id or f"undo-{job.pk}"):
        while True:
            chunk = list(rows.filter(row_number__gt=last)[:UNDO_CHUNK])
            if not chunk:
                break
            # Keep every record of a row in the same chunk.
            last_number = chunk[-1].row_number
            chunk += list(rows.filter(row_number=last_number).exclude(pk__in=[r.pk for r in chunk]))
            with transaction.atomic():
                report.update(importer.undo(job, chunk, actor))
            last = last_number
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.UNDONE, undone_at=timezone.now(), undo_report=dict(report)
        )
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=job,
            before={"status": ImportStatus.COMPLETED},
            after={"status": ImportStatus.UNDONE, **dict(report)},
            message="import undone",
        )
        emit(
            events.ImportUndone(
                import_id=job.pk,
                entity=job.entity,
                actor_id=actor.pk if actor else None,
            )
        )
    job.refresh_from_db()
    return job


# How an undo's counts read to a person (importers' undo reports share these keys).
UNDO_WORDS = {
    "deleted": "{n} created by the import removed",
    "restored": "{n} put back as they were",
    "kept_changed_since": "{n} kept because someone changed them since",
    "already_gone": "{n} already deleted by someone else",
    "organizations_deleted": "{n} organizations it brought along removed",
}


def undo_summary(report: dict) -> str:
    """An undo report in words: "5 created by the import removed, 3 kept because someone
    changed them since." Counts of zero are left out."""
    report = report or {}
    # In this order whatever order the database kept the keys in (PostgreSQL's jsonb sorts them).
    keys = [*(key for key in UNDO_WORDS if key in report), *sorted(set(report) - set(UNDO_WORDS))]
    parts = [
        UNDO_WORDS.get(key, key.replace("_", " ") + ": {n}").format(
            n=display.number_text(report[key])
        )
        for key in keys
        if isinstance(report[key], int) and report[key]
    ]
    return (", ".join(parts) if parts else "nothing was left to undo") + "."


def error_rows(job: ImportJob):
    """Rows of the error report: (row, column, field, problem, value), in file order."""
    for row in (
        job.rows.filter(action=RowAction.ERROR)
        .order_by("row_number", "id")
        .iterator(chunk_size=2000)
    ):
        for error in row.errors or [{}]:
            yield (
                row.row_number,
                error.get("column", ""),
                error.get("field", ""),
                error.get("message", ""),
                error.get("value", ""),
            )
