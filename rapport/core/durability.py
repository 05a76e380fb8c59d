"""At-least-once tasks: what a killed worker or a wiped Redis leaves behind is run again.

Rapport's tasks are idempotent (load by id, safe to run twice), so a job whose worker died is
queued again rather than lost. `rapport worker` calls `recover()` when it starts and every
`lease` seconds while it runs:

- database queue: every worker records a heartbeat (`WorkerHeartbeat`); a job left RUNNING by a
  worker whose heartbeat is older than the lease, or whose process is gone on this host, goes
  back to READY. Its `worker_ids` count the attempts: after `RAPPORT_TASK_MAX_ATTEMPTS` it is
  marked FAILED with `AbandonedTask` instead.
- RQ: a job in a started registry whose worker is dead is handed to RQ's own
  `StartedJobRegistry.cleanup()` (which fails it with AbandonedJobError), and jobs failed that
  way are requeued from the failed registry, up to the same number of attempts.
- RQ with Redis wiped: `DurableRQBackend` writes each enqueue to `TaskOutbox` in the enqueuing
  transaction; rows not done whose job Redis no longer holds are queued again with the same id.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.module_loading import import_string
from django_tasks.signals import task_finished
from django_tasks_rq import RQBackend

logger = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()
ABANDONED = "rapport.core.durability.AbandonedTask"
OUTBOX_RETENTION = dt.timedelta(days=7)


class AbandonedTask(Exception):
    """A task whose worker died while running it, as many times as it may be tried."""


def lease_seconds() -> float:
    """How long a worker may go unseen before its running jobs count as abandoned."""
    return float(getattr(settings, "RAPPORT_TASK_LEASE_SECONDS", 60))


def max_attempts() -> int:
    """Runs a job gets when its worker keeps dying under it (the first run included)."""
    return int(getattr(settings, "RAPPORT_TASK_MAX_ATTEMPTS", 3))


def new_worker_id() -> str:
    return f"{HOSTNAME[:40]}-{os.getpid()}-{get_random_string(8)}"


def _process_gone(hostname: str | None, pid: int | None) -> bool:
    """True when `pid` is known not to run on this host (a worker elsewhere cannot be asked)."""
    if not pid or hostname != HOSTNAME or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover(backend=None, *, since: float | None = None) -> dict[str, int]:
    """Reclaim what dead workers left, for the configured backend; a summary of what was done.
    `since` (seconds): on RQ, look only at jobs failed that recently (the periodic rounds)."""
    from django_tasks import task_backends
    from django_tasks_db import DatabaseBackend

    backend = backend or task_backends["default"]
    if isinstance(backend, DatabaseBackend):
        return reclaim_database()
    if isinstance(backend, RQBackend):
        outcome = recover_rq(backend, since=since)
        if isinstance(backend, DurableRQBackend):
            outcome.update(replay_outbox(backend))
        return outcome
    return {}


# -- database queue ---------------------------------------------------------------------------


def beat(worker_id: str) -> None:
    """Record that `worker_id` (this process) is alive."""
    from rapport.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": HOSTNAME, "pid": os.getpid(), "seen_at": timezone.now()},
    )


def forget(worker_id: str) -> None:
    from rapport.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def reclaim_database(now: dt.datetime | None = None) -> dict[str, int]:
    """Put jobs left RUNNING by gone workers back to READY (or FAILED after too many tries).

    A worker is gone when its heartbeat is older than the lease, or its process no longer runs
    on this host; a worker with no heartbeat at all (a bare `db_worker`) when the job started
    longer ago than the lease. The update is conditional on the row being unchanged, so two
    workers reclaiming at once requeue a job once.
    """
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from rapport.core.models import WorkerHeartbeat

    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=lease_seconds())
    workers = {w.worker_id: w for w in WorkerHeartbeat.objects.all()}
    dead = {
        worker_id
        for worker_id, w in workers.items()
        if w.seen_at < stale or _process_gone(w.hostname, w.pid)
    }
    running = list(
        DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).values(
            "id", "worker_ids", "started_at", "task_path"
        )
    )
    requeued = failed = 0
    for row in running:
        worker_id = row["worker_ids"][-1] if row["worker_ids"] else None
        if worker_id in workers:
            gone = worker_id in dead
        else:
            gone = row["started_at"] is None or row["started_at"] < stale
        if not gone:
            continue
        attempts = len(row["worker_ids"])
        unchanged = DBTaskResult.objects.filter(
            pk=row["id"], status=TaskResultStatus.RUNNING, started_at=row["started_at"]
        )
        if attempts >= max_attempts():
            changed = unchanged.update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=ABANDONED,
                traceback=f"{ABANDONED}: its worker died during each of {attempts} attempts "
                f"({', '.join(row['worker_ids'])})\n",
            )
            failed += changed
            if changed:
                logger.error(
                    "task %s (%s) abandoned %d times; marked failed",
                    row["id"],
                    row["task_path"],
                    attempts,
                )
        else:
            changed = unchanged.update(status=TaskResultStatus.READY)
            requeued += changed
            if changed:
                logger.warning(
                    "task %s (%s) was left running by gone worker %s; queued again "
                    "(attempt %d of %d)",
                    row["id"],
                    row["task_path"],
                    worker_id,
                    attempts + 1,
                    max_attempts(),
                )
    # Their jobs are reclaimed: the dead workers' heartbeats have told all they could.
    WorkerHeartbeat.objects.filter(worker_id__in=dead).delete()
    return {"requeued": requeued, "failed": failed}


# -- RQ ---------------------------------------------------------------------------------------

ATTEMPTS_META = "rapport_abandoned"
# How RQ words a failure that was the worker's death, not the task's: its cleanup of a dead
# worker's job, and a live worker whose work horse was killed (out of memory, a signal).
WORKER_DEATHS = ("AbandonedJobError", "Work-horse terminated unexpectedly")


def _rq_queues(backend: RQBackend):
    return backend._get_queues()


def _rq_worker_gone(connection, worker_name: str | None, cache: dict) -> bool:
    from rq.worker import Worker

    if not worker_name:
        return True
    if worker_name not in cache:
        worker = Worker.find_by_key(
            Worker.redis_worker_namespace_prefix + worker_name, connection=connection
        )
        cache[worker_name] = worker is None or _process_gone(worker.hostname, worker.pid)
    return cache[worker_name]


def recover_rq(backend: RQBackend, *, since: float | None = None) -> dict[str, int]:
    """Requeue jobs whose RQ worker died: those still in a started registry, and those RQ moved
    to the failed registry for a worker's or work horse's death (`WORKER_DEATHS`). Up to
    `max_attempts()` runs each. With `since`, only jobs failed in the last `since` seconds are
    read (a failed job's score is when it failed plus the failure TTL, which Rapport leaves at
    RQ's default), so the periodic rounds stay cheap however long the failed registry is."""
    from django_tasks_rq.backend import Job
    from rq.defaults import DEFAULT_FAILURE_TTL
    from rq.exceptions import NoSuchJobError
    from rq.job import JobStatus

    requeued = failed = 0
    for queue in _rq_queues(backend):
        connection = queue.connection
        started = queue.started_job_registry
        gone_workers: dict = {}
        marked = 0
        for entry in connection.zrange(started.key, 0, -1):
            job_id = started.parse_job_id(entry)
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            if job.get_status(refresh=False) != JobStatus.STARTED:
                continue
            if _rq_worker_gone(connection, job.worker_name, gone_workers):
                # Expire the entry now: cleanup() then fails it the way RQ fails any job whose
                # worker stopped renewing it, callbacks included.
                connection.zadd(started.key, {entry: 0}, xx=True)
                marked += 1
        if marked:
            started.cleanup(timestamp=0)
        registry = queue.failed_job_registry
        if since is None:
            failed_ids = registry.get_job_ids(cleanup=False)
        else:
            floor = time.time() + DEFAULT_FAILURE_TTL - since
            failed_ids = [
                registry.parse_job_id(e)
                for e in connection.zrangebyscore(registry.key, floor, "+inf")
            ]
        for job_id in failed_ids:
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            if not any(mark in (job.exc_info or "") for mark in WORKER_DEATHS):
                continue
            attempts = int(job.meta.get(ATTEMPTS_META, 0)) + 1
            if attempts < max_attempts():
                job.meta[ATTEMPTS_META] = attempts
                job.save_meta()
                registry.requeue(job)
                requeued += 1
                logger.warning(
                    "RQ job %s (%s) lost its worker; queued again (attempt %d of %d)",
                    job.id,
                    job.func_name,
                    attempts + 1,
                    max_attempts(),
                )
            elif job.meta.get(ATTEMPTS_META) != attempts:
                job.meta[ATTEMPTS_META] = attempts
                job.save_meta()
                failed += 1
                _mark_done(job.id, "ABANDONED")
                logger.error("RQ job %s abandoned %d times; left failed", job.id, attempts)
    return {"requeued": requeued, "failed": failed}


class DurableRQBackend(RQBackend):
    """django-tasks-rq's backend, with every enqueue also written to `TaskOutbox`.

    The row is written in the caller's transaction (a savepoint when there is one), and the job
    keeps the row's id, so the outbox can tell whether Redis still holds it.
    """

    def enqueue(self, task, args, kwargs):
        from django_tasks.utils import get_random_id

        from rapport.core.models import TaskOutbox

        self.validate_task(task)
        job_id = get_random_id()
        with transaction.atomic():
            TaskOutbox.objects.create(
                id=job_id,
                task_path=task.module_path,
                arguments={"args": list(args), "kwargs": dict(kwargs)},
                queue_name=task.queue_name,
                priority=task.priority,
                run_after=task.run_after,
            )
            return self.enqueue_with_id(task, args, kwargs, job_id)

    def enqueue_with_id(self, task, args, kwargs, job_id: str):
        """RQBackend.enqueue with a chosen job id (django-tasks-rq 0.12 draws its own)."""
        import django_rq
        from django_tasks.base import TASK_MAX_PRIORITY, TaskResult, TaskResultStatus
        from django_tasks.signals import task_enqueued
        from django_tasks_rq.backend import Job, failed_callback, success_callback
        from rq.job import Callback, JobStatus

        result = TaskResult(
            task=task,
            id=job_id,
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        queue = django_rq.get_queue(task.queue_name, job_class=Job)
        job = queue.create_job(
            task.module_path,
            args=args,
            kwargs=kwargs,
            job_id=job_id,
            status=JobStatus.SCHEDULED if task.run_after else JobStatus.QUEUED,
            on_failure=Callback(failed_callback),
            on_success=Callback(success_callback),
            meta={"backend_name": self.alias},
        )
        if task.run_after is None:
            job = queue.enqueue_job(job, at_front=task.priority == TASK_MAX_PRIORITY)
        else:
            job = queue.schedule_job(job, task.run_after)
        object.__setattr__(result, "enqueued_at", job.enqueued_at)
        task_enqueued.send(type(self), task_result=result)
        return result


def replay_outbox(backend: DurableRQBackend, batch: int = 500) -> dict[str, int]:
    """Queue again every outbox row not done whose job Redis no longer holds; prune old rows."""
    import django_rq
    from django_tasks_rq.backend import Job

    from rapport.core.models import TaskOutbox

    connection = django_rq.get_connection()
    now = timezone.now()
    replayed = 0
    pending = TaskOutbox.objects.filter(done_at__isnull=True).order_by("enqueued_at")
    ids = list(pending.values_list("id", flat=True))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        with connection.pipeline() as pipe:
            for job_id in chunk:
                pipe.exists(Job.key_for(job_id))
            present = pipe.execute()
        for row in TaskOutbox.objects.filter(
            pk__in=[i for i, p in zip(chunk, present, strict=True) if not p]
        ):
            try:
                task = import_string(row.task_path)
            except ImportError:
                logger.exception("outbox row %s: task %s is gone", row.pk, row.task_path)
                TaskOutbox.objects.filter(pk=row.pk).update(done_at=now, outcome="FAILED")
                continue
            run_after = row.run_after if row.run_after and row.run_after > now else None
            task = task.using(
                queue_name=row.queue_name,
                priority=row.priority,
                run_after=run_after,
                backend=backend.alias,
            )
            backend.enqueue_with_id(
                task, row.arguments.get("args", []), row.arguments.get("kwargs", {}), row.pk
            )
            TaskOutbox.objects.filter(pk=row.pk).update(attempts=row.attempts + 1)
            replayed += 1
            logger.warning("task %s (%s) was lost by Redis; queued again", row.pk, row.task_path)
    TaskOutbox.objects.filter(done_at__lt=now - OUTBOX_RETENTION).delete()
    return {"replayed": replayed}


def _mark_done(job_id: str, outcome: str) -> None:
    from rapport.core.models import TaskOutbox

    TaskOutbox.objects.filter(pk=job_id, done_at__isnull=True).update(
        done_at=timezone.now(), outcome=outcome
    )


def _on_task_finished(sender, task_result, **kwargs: Any) -> None:
    """Mark a finished RQ job done in the outbox; a job failed because its worker died is left
    for `recover_rq()` to requeue."""
    if not (isinstance(sender, type) and issubclass(sender, DurableRQBackend)):
        return
    successful = str(task_result.status).endswith("SUCCESSFUL")
    try:
        if not successful:
            # django-tasks-rq's failure callback records each exception class in the job's meta
            # before sending the signal; RQ's cleanup of a dead worker's job calls it too.
            from django_tasks import task_backends

            job = task_backends[task_result.backend]._get_job(str(task_result.id))
            raised = (job.meta.get("_django_tasks_rq_exceptions") or [""])[-1] if job else ""
            if raised.endswith("AbandonedJobError"):
                return
        _mark_done(str(task_result.id), "SUCCESSFUL" if successful else "FAILED")
    except Exception:  # the job ran; a replay on the next start is the worst that follows
        logger.exception("could not mark task %s done in the outbox", task_result.id)


task_finished.connect(_on_task_finished, dispatch_uid="rapport.core.durability.outbox")
