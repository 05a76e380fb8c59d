"""Core's own periodic job: pruning expired Idempotency-Key records every hour."""

from __future__ import annotations

import datetime as dt

from django.core.cache import cache
from django.utils import timezone
from django_tasks import task

from rapport.core import idempotency, schedules
from rapport.core.context import work_context

PRUNE_EVERY = dt.timedelta(hours=1)


@task(takes_context=True)
def prune_idempotency_records(context) -> int:
    """Delete the records past their retention, then come back in an hour.

    The claim is one cache entry per hour (the cache is shared by every process): a second
    chain, started by a second worker on a backend that cannot see what is queued, finds the
    hour taken and ends without queueing another run.
    """
    now = timezone.now()
    hour = now.strftime("%Y%m%d%H")
    if not cache.add(f"rapport:prune-idempotency:{hour}", True, PRUNE_EVERY.total_seconds()):
        return 0
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        try:
            return idempotency.prune_expired(now)
        finally:
            schedule_next_prune(now + PRUNE_EVERY)


def schedule_next_prune(run_after: dt.datetime | None = None) -> bool:
    """Queue the next pruning (at once without `run_after`: the chain's start); False when the
    backend cannot run tasks later."""
    return schedules.queue_later(prune_idempotency_records, run_after)
