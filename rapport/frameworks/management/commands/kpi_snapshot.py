"""`rapport kpi_snapshot`: measure every KPI now (for cron), backfill history, or start the
daily schedule in the task worker."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Measure every KPI of the CRM models now, backfill past days, or start the daily run."

    def add_arguments(self, parser):
        parser.add_argument(
            "--backfill",
            type=int,
            metavar="DAYS",
            help="Also fill the last DAYS days from history (KPIs whose data carries dates).",
        )
        parser.add_argument(
            "--every", type=int, default=7, help="Backfill one day in this many (default 7)."
        )
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Queue the self-renewing daily snapshot in the task worker instead of measuring.",
        )

    def handle(self, *args, backfill=None, every=7, schedule=False, **options):
        from rapport.frameworks import snapshots, tasks

        if schedule:
            if not tasks.schedule_next():
                raise CommandError("The task backend cannot run tasks later; use cron instead.")
            self.stdout.write("Daily KPI snapshot queued.")
            return
        if every < 1:
            raise CommandError("--every must be at least 1.")
        if backfill is not None:
            if backfill < 1:
                raise CommandError("--backfill must be at least 1 day.")
            run = snapshots.backfill(days=backfill, every=every)
            self.stdout.write(f"Backfill: {run.measured} values in {run.seconds:.1f} s.")
        result = tasks.run_snapshot("daily")
        self.stdout.write(
            f"Snapshot of {result['day']}: {result['measured']} measured, "
            f"{result['not_measurable']} not measurable, {len(result['failed'])} failed, "
            f"{result['seconds']:.1f} s; {result['checked']} objectives checked, "
            f"{result['alerted']} alert(s)."
        )
        if result["failed"]:
            raise CommandError("Some KPIs failed: " + ", ".join(result["failed"]))
