"""`rapport sales_schedule`: run the periodic sales jobs (reminders, rescoring, retraining).

    rapport sales_schedule            enqueue the jobs that are due now, once (for cron)
    rapport sales_schedule --loop 60  keep doing that every 60 seconds (a sidecar process)
    rapport sales_schedule --enqueue  start the self-re-enqueuing chain inside the task worker

Each job is claimed in the database before it runs, so several schedulers never double up.
"""

import time

from django.core.management.base import BaseCommand

from rapport.core.context import work_context


class Command(BaseCommand):
    help = "Enqueue the periodic sales jobs that are due (reminders, rescoring, retraining)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", type=int, metavar="SECONDS", help="Repeat every N seconds.")
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Start the scheduler as a task that re-enqueues itself every minute.",
        )

    def handle(self, *args, loop=None, enqueue=False, **options):
        from rapport.sales import tasks
        from rapport.sales.services.schedule import run_due_jobs

        if enqueue:
            result = tasks.run_sales_schedule.enqueue()
            self.stdout.write(f"scheduler task enqueued ({result.id})")
            return
        while True:
            with work_context(source="cli"):
                started = run_due_jobs()
            self.stdout.write(f"enqueued: {', '.join(started) or 'nothing due'}")
            if not loop:
                return
            time.sleep(max(loop, 5))
