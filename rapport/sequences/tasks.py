"""The sweep of due sequence steps: a chain that runs what is due, then queues itself again.
Thin and idempotent: `runner.run_enrollment` claims each enrollment and a step runs once per
enrollment (its StepRun is the key), so a sweep delivered twice sends nothing twice. The
database is the record of what is due: a lost queue loses no step, the next sweep finds it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context

CHAIN_NAME = "sequence steps"
SWEEP_SECONDS = 60


def sweep_seconds() -> float:
    return float(getattr(settings, "RAPPORT_SEQUENCES_SWEEP_SECONDS", SWEEP_SECONDS))


@task(takes_context=True)
def run_due_steps(context) -> dict:
    """Run every due step (in batches, until none is left), then queue the next sweep."""
    from rapport.sequences import runner

    totals: dict[str, int] = {}
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        while True:
            outcomes = runner.run_due()
            for key, value in outcomes.items():
                totals[key] = totals.get(key, 0) + value
            if sum(outcomes.values()) < runner.BATCH or outcomes.get("error"):
                break
    schedule_sweep()
    return totals


def schedule_sweep(now: dt.datetime | None = None) -> bool:
    """Queue the next sweep one interval from now; False when the backend cannot defer."""
    now = now or timezone.now()
    return schedules.queue_later(run_due_steps, now + dt.timedelta(seconds=sweep_seconds()))


def start_sweep() -> bool:
    return schedules.queue_later(run_due_steps, None)
