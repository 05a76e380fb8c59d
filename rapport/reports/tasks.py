"""Scheduled email of reports and dashboards: a sweep that sends what is due and queues itself
again, and the "send now" task. Thin and idempotent: `deliveries.send_delivery` sends a slot and
moves to the next in one transaction, so a sweep or a task delivered twice sends once. The
database is the record of what is due: a lost queue loses no slot, the next sweep finds it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context

CHAIN_NAME = "scheduled report emails"
SWEEP_SECONDS = 60


def sweep_seconds() -> float:
    return float(getattr(settings, "RAPPORT_REPORT_EMAILS_SWEEP_SECONDS", SWEEP_SECONDS))


@task(takes_context=True)
def send_due_deliveries(context) -> dict:
    """Send every scheduled email whose time has come, then queue the next sweep."""
    from rapport.reports import deliveries

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        outcome = deliveries.send_due()
    schedule_sweep()
    return outcome


@task(takes_context=True)
def send_delivery(context, delivery_id: int) -> str:
    """Send one scheduled email someone asked to send now (nothing when already sent)."""
    from rapport.reports import deliveries

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        return deliveries.send_delivery(delivery_id)


def schedule_sweep(now: dt.datetime | None = None) -> bool:
    """Queue the next sweep one interval from now; False when the backend cannot defer."""
    now = now or timezone.now()
    return schedules.queue_later(send_due_deliveries, now + dt.timedelta(seconds=sweep_seconds()))


def start_sweep() -> bool:
    return schedules.queue_later(send_due_deliveries, None)
