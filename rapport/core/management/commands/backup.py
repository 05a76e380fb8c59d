"""`rapport backup [--output FILE]`: the database at one moment plus the media files, in one tar."""

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from rapport.core import backup


def applied_migrations() -> dict[str, str]:
    """The last applied migration of each app: what a restore's `migrate` starts from."""
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


class Command(BaseCommand):
    help = "Back up the database and the media files into one file (safe while Rapport runs)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="Where to write the backup (default: var/backups/rapport-<time>.tar).",
        )

    def handle(self, *args, output=None, **options):
        if output is None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            output = Path(settings.VAR_DIR) / "backups" / f"rapport-{stamp}.tar"
        try:
            manifest = backup.create(
                settings.DATABASES["default"],
                Path(settings.MEDIA_ROOT),
                Path(output),
                migrations=applied_migrations(),
            )
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Backed up the {manifest.engine} database and {manifest.media_files} media "
            f"files to {output}"
        )
