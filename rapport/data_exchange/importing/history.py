"""What earlier imports made of a row: re-importing the same row finds the same record."""

from __future__ import annotations

from django.db.models import Q

from rapport.data_exchange.choices import ImportStatus, RowAction
from rapport.data_exchange.models import ImportJob, ImportRow

KEPT_ACTIONS = (RowAction.CREATED, RowAction.UPDATED)


def imported_before(entity: str, fingerprints: set[str]) -> dict[str, int]:
    """Fingerprint → the record of `entity` an earlier import (not undone, not a dry run) made
    or updated from the same row; the latest import's when there are several.

    Read by fingerprint alone and sifted here: given the other conditions too, SQLite chose the
    (entity, object_id) index and read every row ever imported for the entity."""
    rows = sorted(
        (
            (job_id, fingerprint, object_id)
            for fingerprint, row_entity, action, object_id, job_id in ImportRow.objects.filter(
                fingerprint__any_of=fingerprints
            )
            .order_by()
            .values_list("fingerprint", "entity", "action", "object_id", "job_id")
            if row_entity == entity and action in KEPT_ACTIONS and object_id is not None
        ),
    )
    if not rows:
        return {}
    left_out = set(
        ImportJob.objects.filter(pk__in={job_id for job_id, _f, _o in rows})
        .filter(Q(status=ImportStatus.UNDONE) | Q(is_dry_run=True))
        .values_list("pk", flat=True)
    )
    return {f: object_id for job_id, f, object_id in rows if job_id not in left_out}
