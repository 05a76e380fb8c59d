"""The daily retention job: a chain that claims its day, prunes, and queues tomorrow's run.
Thin and idempotent: a second run the same day finds nothing older than the cut-off left."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context

RETENTION_HOUR = 4  # after the nightly analytics refresh and the KPI snapshot


@task(takes_context=True)
def daily_retention(context) -> dict:
    """Apply the retention settings when this chain wins the day's claim, then queue tomorrow's
    run (when the backend can run tasks later). A chain that loses the claim ends."""
    from rapport.privacy import services
    from rapport.privacy.models import RetentionSchedule

    now = timezone.now()
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        if not schedules.claim_daily(RetentionSchedule, now, RETENTION_HOUR):
            return {"skipped": True}
        counts = services.apply_retention(now=now)
    schedule_next(now)
    return counts or {"configured": False}


def schedule_next(now: dt.datetime | None = None) -> bool:
    """Queue the next retention run for tomorrow's hour; False when the backend cannot defer."""
    now = now or timezone.now()
    return schedules.queue_later(daily_retention, schedules.next_daily_time(now, RETENTION_HOUR))
