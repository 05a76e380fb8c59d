"""Background work: imports and their undo, duplicate scans, the daily quality snapshot.

Thin and idempotent: each loads by id and calls a service; running one twice does no harm.
"""

from django_tasks import task

from rapport.data_exchange import matching, quality
from rapport.data_exchange.choices import Entity
from rapport.data_exchange.importing import jobs


@task(takes_context=True)
def run_import_task(context, job_id: int) -> dict:
    job = jobs.run_import(job_id, task_id=str(context.task_result.id))
    return {"status": job.status, "created": job.created_count, "errors": job.error_count}


@task(takes_context=True)
def undo_import_task(context, job_id: int) -> dict:
    job = jobs.perform_undo(job_id, task_id=str(context.task_result.id))
    return {"status": job.status, **job.undo_report}


@task()
def scan_duplicates(entity: str = Entity.CONTACT) -> dict:
    """Bring the review queue of `entity` up to date with a full scan."""
    result = matching.scan(entity)
    return {
        "entity": result.entity,
        "records": result.records,
        "suspected": result.suspected,
        "seconds": round(result.seconds, 2),
    }


@task()
def find_duplicates_of(entity: str, ids: list[int]) -> int:
    """Compare a few records (new, edited or merged) with the database; record the pairs."""
    if entity == Entity.CONTACT:
        return matching.record_suspects_for_contacts(list(ids))
    return matching.record_suspects_for_organizations(list(ids))


@task()
def take_quality_snapshot() -> str:
    return str(quality.take_snapshot().taken_on)
