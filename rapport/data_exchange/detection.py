"""Duplicate detection as a recorded run: when it last ran, whether one is running, and whether
the suspected-duplicate figures can be computed at all.

A run is a full scan of one kind of record (`matching.scan`), recorded as a `DuplicateScan`.
It starts by itself after an import, after the demo is built and nightly (see `tasks`), and
by hand from the Duplicates page. Until the first run finishes, the absence of pairs means
nobody looked, so the figures built on the pairs say so instead of reporting 0 %.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from rapport.data_exchange import matching
from rapport.data_exchange.choices import DetectionTrigger, Entity
from rapport.data_exchange.models import DuplicateScan

NOT_RUN = "Not computed yet: duplicate detection has not run."
# A run not finished after this long was lost with its worker; it no longer counts as running.
LOST_AFTER = dt.timedelta(hours=6)


def run(entity: str, *, trigger: str = DetectionTrigger.MANUAL) -> DuplicateScan:
    """Scan every active record of `entity` for suspected pairs and record the run. A failing
    scan is recorded with its error (it does not count as run) and the error is raised."""
    scan = DuplicateScan.objects.create(entity=entity, trigger=trigger, started_at=timezone.now())
    try:
        result = matching.scan(entity)
    except Exception as exc:
        scan.finished_at = timezone.now()
        scan.failure = f"{type(exc).__name__}: {exc}"[:500]
        scan.save(update_fields=["finished_at", "failure"])
        raise
    scan.finished_at = timezone.now()
    scan.records = result.records
    scan.suspected = result.suspected
    scan.save(update_fields=["finished_at", "records", "suspected"])
    return scan


def run_all(*, trigger: str) -> list[DuplicateScan]:
    return [run(entity, trigger=trigger) for entity in Entity.values]


def _finished(entity: str):
    return DuplicateScan.objects.filter(entity=entity, finished_at__isnull=False, failure="")


def has_run(entity: str = Entity.CONTACT, *, before: dt.datetime | None = None) -> bool:
    """True once a run of `entity` has finished (before `before`, when given)."""
    runs = _finished(entity)
    if before is not None:
        runs = runs.filter(finished_at__lt=before)
    return runs.exists()


def ran_since(moment: dt.datetime) -> bool:
    """True when every kind of record was scanned by a run that started at `moment` or later."""
    return all(
        _finished(entity).filter(started_at__gte=moment).exists() for entity in Entity.values
    )


@dataclass(frozen=True)
class DetectionState:
    """What the Duplicates page says about detection of one kind of record."""

    last: DuplicateScan | None  # the last run that finished without error
    running: DuplicateScan | None
    failed: DuplicateScan | None  # the last run, when it failed after `last`
    queued: bool


def state(entity: str, *, queued: bool = False) -> DetectionState:
    recent = list(DuplicateScan.objects.filter(entity=entity)[:20])
    lost_before = timezone.now() - LOST_AFTER
    running = next(
        (s for s in recent if s.finished_at is None and s.started_at >= lost_before), None
    )
    last = _finished(entity).order_by("-finished_at", "-id").first()
    failed = next((s for s in recent if s.failure), None)
    if failed is not None and last is not None and failed.finished_at <= last.finished_at:
        failed = None
    return DetectionState(last=last, running=running, failed=failed, queued=queued)
