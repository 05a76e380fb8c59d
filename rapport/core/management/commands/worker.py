"""`rapport worker`: run background tasks with whichever backend is configured."""

import logging

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from rapport.core import schedules

QUIET_LOGGERS = ("django_tasks", "django_tasks_db", "django.tasks", "rq.worker")


def _warnings_and_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


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
        if not batch:
            # Periodic jobs are chains of tasks that queue their next run; a new installation,
            # an emptied queue or a switched backend has none, so every start makes sure of them.
            started = schedules.start_all()
            if verbosity >= 1 and started:
                self.stdout.write(
                    "Periodic jobs: " + ", ".join(f"{k} {v}" for k, v in started.items())
                )
        config = settings.TASKS["default"]
        backend = config["BACKEND"]
        queues = list(config.get("QUEUES") or ["default"])
        if "RQBackend" in backend:
            # django-tasks-rq needs its own Job class: it carries the task result the
            # Tasks API reads back (status, return value, errors).
            call_command(
                "rqworker",
                *queues,
                job_class="django_tasks_rq.Job",
                burst=batch,
                with_scheduler=False,
            )
        elif "DatabaseBackend" in backend:
            call_command("db_worker", queue_name=",".join(queues), batch=batch)
        else:
            raise CommandError(
                f"The {backend.rsplit('.', 1)[-1]} runs tasks without a worker; "
                "set RAPPORT_TASKS_BACKEND=database or rq to queue them."
            )
