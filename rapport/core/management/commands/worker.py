"""`rapport worker`: run background tasks with whichever backend is configured.

Before taking any task it queues again what dead workers left (`core.durability`), then starts
the periodic chains (`core.schedules`); a housekeeping thread repeats the recovery while it runs.
"""

import logging
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from rapport.core import durability, schedules

logger = logging.getLogger(__name__)

QUIET_LOGGERS = ("django_tasks", "django_tasks_db", "django.tasks", "rq.worker")


def _warnings_and_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


class Housekeeper(threading.Thread):
    """Beside the worker loop: renew this worker's heartbeat (database queue) and reclaim what
    dead workers left, every quarter lease; the reclaim itself runs once a lease."""

    def __init__(self, worker_id: str | None):
        super().__init__(name="rapport-worker-housekeeper", daemon=True)
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        lease = durability.lease_seconds()
        interval = max(1.0, lease / 4)
        rounds = 0
        while not self.stopped.wait(interval):
            rounds += 1
            try:
                if self.worker_id:
                    durability.beat(self.worker_id)
                if rounds * interval >= lease:
                    rounds = 0
                    durability.recover(since=4 * lease)
            except Exception:  # a database or Redis hiccup: try again next round
                logger.exception("worker housekeeping failed")
            finally:
                connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self.stopped.set()


class Command(BaseCommand):
    help = "Run the task worker (database backend by default; RQ when RAPPORT_TASKS_BACKEND=rq)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="store_true", help="Exit when no tasks are left.")

    def handle(self, *args, batch, verbosity=1, **options):
        if verbosity < 2:
            # A line per task start and finish drowns the server's console; failures are
            # logged as errors and still show. `-v 2` brings the lines back. A filter, not a
            # level: the database worker sets its loggers' levels itself when it starts.
            for name in QUIET_LOGGERS:
                logging.getLogger(name).addFilter(_warnings_and_worse)
        config = settings.TASKS["default"]
        backend = config["BACKEND"]
        queues = list(config.get("QUEUES") or ["default"])
        if "RQBackend" not in backend and "DatabaseBackend" not in backend:
            raise CommandError(
                f"The {backend.rsplit('.', 1)[-1]} runs tasks without a worker; "
                "set RAPPORT_TASKS_BACKEND=database or rq to queue them."
            )
        database = "DatabaseBackend" in backend
        worker_id = durability.new_worker_id() if database else None
        if worker_id:
            durability.beat(worker_id)
        # Delivery is at least once: jobs a killed worker left running, and (RQ) jobs a wiped
        # Redis lost, are queued again before this worker takes any.
        try:
            recovered = {k: v for k, v in durability.recover().items() if v}
        except Exception:  # the worker still starts; the housekeeper tries again in a lease
            logger.exception("could not recover the tasks dead workers left")
            recovered = {}
        if recovered:
            logger.warning("recovered tasks: %s", recovered)
            if verbosity >= 1:
                self.stdout.write(
                    "Recovered tasks: " + ", ".join(f"{k} {v}" for k, v in recovered.items())
                )
        if not batch:
            # Periodic jobs are chains of tasks that queue their next run; a new installation,
            # an emptied queue or a switched backend has none, so every start makes sure of them.
            started = schedules.start_all()
            if verbosity >= 1 and started:
                self.stdout.write(
                    "Periodic jobs: " + ", ".join(f"{k} {v}" for k, v in started.items())
                )
        housekeeper = Housekeeper(worker_id)
        housekeeper.start()
        try:
            if database:
                call_command(
                    "db_worker", queue_name=",".join(queues), batch=batch, worker_id=worker_id
                )
            else:
                # django-tasks-rq needs its own Job class: it carries the task result the
                # Tasks API reads back (status, return value, errors). The scheduler moves jobs
                # queued with `run_after` (the periodic chains) to the queue when due; without
                # it they would wait in the scheduled registry for ever. One worker at a time
                # runs it (a lock in Redis).
                call_command(
                    "rqworker",
                    *queues,
                    job_class="django_tasks_rq.Job",
                    burst=batch,
                    with_scheduler=True,
                )
        finally:
            housekeeper.stop()
            if worker_id:
                durability.forget(worker_id)
