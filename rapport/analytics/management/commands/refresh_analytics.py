"""`rapport refresh_analytics`: compute customer analytics now, queue it, or keep the nightly
refresh scheduled."""

from django.core.management.base import BaseCommand

from rapport.analytics import refresh


class Command(BaseCommand):
    help = (
        "Refresh customer analytics (RFM, CLV, P(alive), tiers, churn risk, cohorts). "
        "Runs here by default; --queue hands it to the worker; --schedule keeps the nightly run "
        "queued (idempotent, safe to call at every start)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="store_true", help="Queue for the task worker.")
        parser.add_argument(
            "--schedule", action="store_true", help="Only make sure the nightly run is queued."
        )

    def handle(self, *args, queue, schedule, **options):
        if schedule:
            run = refresh.schedule_nightly_refresh()
            if run is None:
                self.stdout.write("The task backend cannot run tasks later; nothing scheduled.")
            else:
                self.stdout.write(f"Nightly refresh #{run.pk} scheduled for {run.scheduled_for}.")
            return
        if queue:
            run = refresh.request_refresh(actor=None)
            self.stdout.write(f"Refresh #{run.pk} is {run.get_status_display().lower()}.")
            return
        run = refresh.refresh_now(actor=None)
        timings = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in run.timings.items())
        self.stdout.write(
            f"Refresh #{run.pk}: {run.get_status_display()} — {run.n_customers} customers, "
            f"{run.n_orders} orders ({timings})."
        )
        if run.message:
            self.stdout.write(run.message)
