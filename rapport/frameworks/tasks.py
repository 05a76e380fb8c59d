"""Background work of the CRM models: the daily KPI snapshot (with the objectives' check and
their alerts) and the backfill from history. Thin and idempotent: a second run of the same day
replaces its values, a second backfill only adds what is missing.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context

SNAPSHOT_HOUR = 3  # after the nightly analytics refresh (02:00 by default)


def next_run_time(now: dt.datetime, hour: int = SNAPSHOT_HOUR) -> dt.datetime:
    return schedules.next_daily_time(now, hour)


def run_snapshot(source: str = "daily") -> dict:
    from rapport.frameworks import services, snapshots

    run = snapshots.take_snapshot(source=source)
    checked = services.check_objectives()
    return {
        "run_id": run.pk,
        "day": run.day.isoformat(),
        "measured": run.measured,
        "not_measurable": run.not_measurable,
        "failed": sorted(run.failed),
        "seconds": run.seconds,
        **checked,
    }


@task(takes_context=True)
def take_kpi_snapshot(context, source: str = "on_demand") -> dict:
    """Measure every KPI now and check the objectives (on demand; safe to run twice)."""
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        return run_snapshot(source)


@task(takes_context=True)
def daily_kpi_snapshot(context) -> dict:
    """The scheduled daily snapshot: runs when it wins the day's claim, then queues tomorrow's
    (when the backend can run tasks later). A chain that loses the claim ends."""
    from rapport.frameworks.models import SnapshotSchedule

    now = timezone.now()
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        if not schedules.claim_daily(SnapshotSchedule, now, SNAPSHOT_HOUR):
            return {"skipped": True}
        result = run_snapshot("daily")
    schedule_next(now)
    return result


def schedule_next(now: dt.datetime | None = None) -> bool:
    """Queue the next daily snapshot for tomorrow's hour; False when the backend cannot defer."""
    return schedules.queue_later(daily_kpi_snapshot, next_run_time(now or timezone.now()))


@task(takes_context=True)
def backfill_kpis(context, days: int = 365, every: int = 7) -> dict:
    """Fill past days of the KPIs whose data carries dates."""
    from rapport.frameworks import snapshots

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        run = snapshots.backfill(days=days, every=every)
    return {"run_id": run.pk, "measured": run.measured, "seconds": run.seconds}
