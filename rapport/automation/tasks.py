"""Webhook delivery tasks: thin and idempotent (a claimed or finished row is never sent again
by a second run), so a task run twice or replayed after a crash sends nothing twice at once."""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context

SWEEP_SECONDS = 30


def sweep_seconds() -> float:
    return float(getattr(settings, "RAPPORT_WEBHOOKS_SWEEP_SECONDS", SWEEP_SECONDS))


@task(takes_context=True)
def deliver_webhooks(context, delivery_ids: list[int]) -> dict:
    """Send these deliveries if they are still due and nobody holds them."""
    from rapport.automation import webhooks

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        return webhooks.deliver(delivery_ids)


@task(takes_context=True)
def sweep_webhooks(context) -> dict:
    """Send every due delivery (retries, rows whose task was lost, rows a dead worker held
    past its lease) for up to one sweep interval, then queue the next sweep."""
    from rapport.automation import webhooks

    totals = {"claimed": 0, "delivered": 0, "failed": 0, "dead": 0}
    budget = time.monotonic() + sweep_seconds()
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        while time.monotonic() < budget:
            counts = webhooks.deliver(limit=webhooks.concurrency() * 16)
            for key, value in counts.items():
                totals[key] += value
            if not counts["claimed"]:
                break
    schedule_sweep()
    return totals


def schedule_sweep(now: dt.datetime | None = None) -> bool:
    """Queue the next sweep one interval from now; False when the backend cannot defer."""
    now = now or timezone.now()
    return schedules.queue_later(sweep_webhooks, now + dt.timedelta(seconds=sweep_seconds()))


# --- workflows -------------------------------------------------------------------------------

CLOCK_SECONDS = 60


def clock_seconds() -> float:
    return float(getattr(settings, "RAPPORT_WORKFLOW_CLOCK_SECONDS", CLOCK_SECONDS))


@task(takes_context=True)
def run_workflow(context, workflow_run_id: int) -> str | None:
    """Run (or resume) one workflow run; a second delivery finds it taken and does nothing."""
    from rapport.automation import runner

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        return runner.advance(workflow_run_id)


@task(takes_context=True)
def run_workflows(context, workflow_run_ids: list[int]) -> dict:
    """Run (or resume) several runs together: runs enrolled (or waiting) together are queued
    together, and each step is taken for all of them at once (`chunks`). Runs another worker
    or the clock holds are skipped."""
    from rapport.automation import chunks

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        taken = chunks.advance_many(workflow_run_ids)
    return {"runs": len(workflow_run_ids), "taken": taken}


@task(takes_context=True)
def workflow_clock(context) -> dict:
    """Resume due runs, fire due date and schedule triggers, then queue the next tick."""
    from rapport.automation import clock

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        try:
            return clock.tick()
        finally:
            schedule_clock()


def schedule_clock(now: dt.datetime | None = None) -> bool:
    """Queue the next clock tick; False when the backend cannot defer."""
    now = now or timezone.now()
    return schedules.queue_later(workflow_clock, now + dt.timedelta(seconds=clock_seconds()))
