"""`rapport quality_snapshot`: record today's data-quality figures (for cron; the quality page
also queues one when today's is missing). Running it twice a day replaces the first."""

from django.core.management.base import BaseCommand

from rapport.data_exchange import quality


class Command(BaseCommand):
    help = "Record today's data-quality figures for the trend."

    def handle(self, *args, **options):
        snapshot = quality.take_snapshot()
        figure = snapshot.figures.get("identification_rate", {})
        self.stdout.write(
            f"Snapshot of {snapshot.taken_on}: {len(snapshot.figures)} figures; identification "
            f"rate {figure.get('percent')} %."
        )
