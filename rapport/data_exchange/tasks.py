"""Background work: imports and their undo, duplicate scans (by hand, after an import and
nightly), the daily quality snapshot.

Thin and idempotent: each loads by id and calls a service; running one twice does no harm.
"""

import datetime as dt

from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context
from rapport.data_exchange import detection, matching, quality
from rapport.data_exchange.choices import DetectionTrigger, Entity
from rapport.data_exchange.importing import jobs


@task(takes_context=True)
def run_import_task(context, job_id: int) -> dict:
    job = jobs.run_import(job_id, task_id=str(context.task_result.id))
    return {"status": job.status, "created": job.created_count, "errors": job.error_count}


@task(takes_context=True)
def undo_import_task(context, job_id: int) -> dict:
    job = jobs.perform_undo(job_id, task_id=str(context.task_result.id))
    return {"status": job.status, **job.undo_report}


@task(takes_context=True)
def scan_duplicates(context, entity: str = Entity.CONTACT, trigger: str = "manual") -> dict:
    """Bring the review queue of `entity` up to date with a full scan, recorded as a run."""
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        scan = detection.run(entity, trigger=trigger)
    return {
        "entity": scan.entity,
        "records": scan.records,
        "suspected": scan.suspected,
        "seconds": round((scan.finished_at - scan.started_at).total_seconds(), 2),
    }


@task(takes_context=True)
def detect_duplicates(context, trigger: str) -> dict:
    """Scan contacts and organizations (after an import or the demo): an import of contacts
    brings organizations along, and a scan is cheap beside the import it follows."""
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        scans = detection.run_all(trigger=trigger)
    return {scan.entity: scan.suspected for scan in scans}


def queue_detection(*, trigger: str) -> bool:
    """Queue a scan of everything unless one already waits or runs (a waiting one reads the
    whole tables when it starts, so it sees the records of whoever asks now; what a running one
    misses, the importer's own check of its new records and the nightly run cover). True when
    one was queued."""
    if schedules.is_waiting(detect_duplicates):
        return False
    detect_duplicates.enqueue(trigger)
    return True


# Local hour of the nightly duplicate detection: before the quality snapshot (01:00) and the
# KPI snapshot (03:00), whose suspected-duplicate figures are read from its pairs.
DETECTION_HOUR = 0


def _claim_detection_night(now: dt.datetime) -> bool:
    from rapport.data_exchange.models import DetectionSchedule

    return schedules.claim_daily(DetectionSchedule, now, DETECTION_HOUR)


@task(takes_context=True)
def nightly_duplicate_detection(context) -> dict:
    """The scheduled nightly scan of contacts and organizations.

    Runs when it wins the night's claim, then queues the next night's run, even when this one
    failed (one bad night must not end the chain); a chain that loses the claim ends.
    """
    now = timezone.now()
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        if not _claim_detection_night(now):
            return {"skipped": True}
        try:
            scans = detection.run_all(trigger=DetectionTrigger.NIGHTLY)
        finally:
            schedule_next_detection(now)
    return {scan.entity: scan.suspected for scan in scans}


def schedule_next_detection(now: dt.datetime | None = None) -> bool:
    """Queue the next nightly detection; False when the task backend cannot run tasks later."""
    at = schedules.next_daily_time(now or timezone.now(), DETECTION_HOUR)
    return schedules.queue_later(nightly_duplicate_detection, at)


def start_detection_chain() -> bool:
    """Start the nightly chain: its first run at once where detection has never run (so the
    figures built on it do not wait for the first night), else at the next night's hour."""
    if detection.has_run(Entity.CONTACT):
        return schedule_next_detection()
    return schedules.queue_later(nightly_duplicate_detection, None)


@task()
def find_duplicates_of(entity: str, ids: list[int]) -> int:
    """Compare a few records (new, edited or merged) with the database; record the pairs."""
    if entity == Entity.CONTACT:
        return matching.record_suspects_for_contacts(list(ids))
    return matching.record_suspects_for_organizations(list(ids))


# Local hour of the daily quality snapshot: before the KPI snapshot (03:00), whose identity
# figures for past days are read from these.
QUALITY_SNAPSHOT_HOUR = 1


@task()
def take_quality_snapshot() -> str:
    """Today's quality figures now (on demand; replaces today's snapshot if there is one)."""
    return str(quality.take_snapshot().taken_on)


def next_snapshot_time(now: dt.datetime, hour: int = QUALITY_SNAPSHOT_HOUR) -> dt.datetime:
    return schedules.next_daily_time(now, hour)


def _claim_day(now: dt.datetime) -> bool:
    """True when this caller won the due scheduled run (and pushed the next one to tomorrow)."""
    from rapport.data_exchange.models import QualitySchedule

    return schedules.claim_daily(QualitySchedule, now, QUALITY_SNAPSHOT_HOUR)


@task(takes_context=True)
def daily_quality_snapshot(context) -> dict:
    """The scheduled daily snapshot of the data-quality figures (the trend on the quality page).

    Runs when it wins the day's claim, then queues tomorrow's run; a chain that loses the claim
    (a second one started by mistake) ends without measuring. Tomorrow's run is queued even when
    today's snapshot failed: one bad day must not end the chain until the worker restarts.
    """
    now = timezone.now()
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        if not _claim_day(now):
            return {"skipped": True}
        try:
            snapshot = quality.take_snapshot()
        finally:
            schedule_next_quality_snapshot(now)
    return {"taken_on": snapshot.taken_on.isoformat(), "figures": len(snapshot.figures)}


def schedule_next_quality_snapshot(now: dt.datetime | None = None) -> bool:
    """Queue the next daily quality snapshot at tomorrow's hour (or today's, if still ahead);
    False when the task backend cannot run tasks later."""
    return schedules.queue_later(daily_quality_snapshot, next_snapshot_time(now or timezone.now()))
