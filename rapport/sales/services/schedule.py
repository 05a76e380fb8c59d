"""The recurring sales jobs and when they are due: reminders, rescoring, retraining, and
re-queuing web-form submissions whose processing task was lost.

`run_due_jobs` claims each due job with a conditional update (so two schedulers never run the
same job twice) and enqueues its task. It is driven either by the self-re-enqueuing
`run_sales_schedule` task in the worker or by `rapport sales_schedule --loop` / cron.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.sales.models import PeriodicJob
from rapport.sales.services.settings import get_sales_settings


@dataclass(frozen=True)
class Job:
    name: str
    every: Callable[[], dt.timedelta]
    enqueue: Callable[[], object]


def _jobs() -> list[Job]:
    from rapport.sales import tasks
    from rapport.sales.services.webforms import requeue_unprocessed_submissions

    settings_row = get_sales_settings()
    return [
        Job("send_reminders", lambda: dt.timedelta(minutes=1), tasks.send_reminders.enqueue),
        Job(
            "rescore_leads",
            lambda: dt.timedelta(minutes=settings_row.rescore_every_minutes),
            tasks.score_all_leads.enqueue,
        ),
        Job(
            "retrain_model",
            lambda: dt.timedelta(days=settings_row.retrain_every_days),
            lambda: tasks.retrain_lead_model.enqueue(trigger="schedule"),
        ),
        # Cheap (an index of unprocessed rows), so it runs in the scheduler itself.
        Job(
            "requeue_web_form_submissions",
            lambda: dt.timedelta(minutes=5),
            requeue_unprocessed_submissions,
        ),
        # Also cheap (open quotes past their date), so in the scheduler too.
        Job("expire_quotes", lambda: dt.timedelta(hours=1), _expire_quotes),
    ]


def _expire_quotes() -> int:
    from rapport.sales.quotes.services import expire_due_quotes

    with transaction.atomic():
        return expire_due_quotes()


def claim(name: str, *, every: dt.timedelta, now: dt.datetime) -> bool:
    """True when this caller won the right to run `name` now (and pushed its next run out)."""
    try:
        with transaction.atomic():
            PeriodicJob.objects.get_or_create(name=name, defaults={"next_run_at": now})
    except IntegrityError:
        pass  # created concurrently by another scheduler
    return bool(
        PeriodicJob.objects.filter(name=name, next_run_at__lte=now).update(
            next_run_at=now + every, last_started_at=now
        )
    )


def run_due_jobs(*, now: dt.datetime | None = None) -> list[str]:
    """Enqueue every job that is due; returns their names."""
    now = now or timezone.now()
    started = []
    for job in _jobs():
        if not claim(job.name, every=job.every(), now=now):
            continue
        try:
            job.enqueue()
        except Exception as exc:
            PeriodicJob.objects.filter(name=job.name).update(
                last_error=f"{type(exc).__name__}: {exc}"[:500], next_run_at=now
            )
            raise
        PeriodicJob.objects.filter(name=job.name).update(
            last_finished_at=timezone.now(), last_error=""
        )
        started.append(job.name)
    return started
