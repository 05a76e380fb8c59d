"""Periodic jobs: each app registers how to start its own chain, the worker starts them all.

A periodic job in Rapport is a task that, when it runs, queues its next run (the Tasks API has no
cron). Such a chain must be started once on a new installation and again whenever it was lost
(a queue emptied, a backend switched), so `rapport worker` calls `start_all()` each time it starts.
Every registered starter must therefore be idempotent, or its chain must end itself when it
finds another chain already did the work (a claim on the period).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

_starters: dict[str, Callable[[], object]] = {}


def register(name: str, start: Callable[[], object]) -> None:
    """Register `start` (no arguments) as the way to start the periodic job `name`."""
    _starters[name] = start


def register_chain(name: str, task, start: Callable[[], object]) -> None:
    """Register a chain of `task` whose `start` queues its next run; starting it is skipped
    while a run of `task` already waits in the queue, so restarting the worker adds none."""
    register(name, lambda: None if is_waiting(task) else start())


def queue_later(task, run_after: dt.datetime | None = None, **kwargs) -> bool:
    """Queue `task` to run at `run_after` (at once when None); False, queuing nothing, when its
    backend cannot run tasks later: the immediate one would run a chain's every link at once."""
    from django_tasks import task_backends

    if not task_backends[task.backend].supports_defer:
        return False
    task.using(run_after=run_after).enqueue(**kwargs)
    return True


def is_waiting(task) -> bool:
    """True when a run of `task` waits in the database queue, or (RQ) in the task outbox, not
    done yet. Other backends cannot be asked cheaply, so they answer False and rely on the
    chain's own claim to end a second chain."""
    from django_tasks import task_backends
    from django_tasks.base import TaskResultStatus
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    from rapport.core.durability import DurableRQBackend
    from rapport.core.models import TaskOutbox

    backend = task_backends[task.backend]
    if isinstance(backend, DurableRQBackend):
        # The worker replays outbox rows Redis lost before it starts the chains.
        return TaskOutbox.objects.filter(task_path=task.module_path, done_at=None).exists()
    if not isinstance(backend, DatabaseBackend):
        return False

    return DBTaskResult.objects.filter(
        task_path=task.module_path, status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
    ).exists()


def registered() -> list[str]:
    return sorted(_starters)


def start_all() -> dict[str, str]:
    """Start every registered chain; one that fails is logged and does not stop the others."""
    outcome = {}
    for name in registered():
        try:
            _starters[name]()
        except Exception as exc:  # a broken schedule must not keep the worker from starting
            logger.exception("could not start the periodic job %s", name)
            outcome[name] = f"failed: {exc}"
        else:
            outcome[name] = "started"
    return outcome


def next_daily_time(now: dt.datetime, hour: int) -> dt.datetime:
    """The next `hour` o'clock, local time, strictly after `now`."""
    local = timezone.localtime(now)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate += dt.timedelta(days=1)
    return candidate


def claim_daily(schedule_model, now: dt.datetime, hour: int) -> bool:
    """True when this caller won the due run of a daily chain and pushed the next to tomorrow.

    `schedule_model` is the chain's one-row table (pk 1, `next_run_at`, `last_run_at`); the
    conditional UPDATE is the claim, so of two chains due at once exactly one wins.
    """
    try:
        with transaction.atomic():
            schedule_model.objects.get_or_create(pk=1, defaults={"next_run_at": now})
    except IntegrityError:
        pass  # created by a concurrent chain
    return bool(
        schedule_model.objects.filter(pk=1, next_run_at__lte=now).update(
            next_run_at=next_daily_time(now, hour), last_run_at=now
        )
    )
