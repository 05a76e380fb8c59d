"""`rapport restore FILE --yes`: put the database and media files back as a backup holds them."""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from rapport.core import backup


class Command(BaseCommand):
    help = (
        "Replace this installation's database and media files by a backup's. Stop the web "
        "server and the workers first; migrations newer than the backup are applied afterwards."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A backup written by `rapport backup`.")
        parser.add_argument(
            "--yes", action="store_true", help="Confirm that the current data is replaced."
        )
        parser.add_argument(
            "--no-migrate", action="store_true", help="Leave the schema as the backup has it."
        )

    def handle(self, *args, file, yes=False, no_migrate=False, **options):
        path = Path(file)
        try:
            manifest = backup.read_manifest(path)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        if not yes:
            raise CommandError(
                f"This replaces every record and file with the backup of {manifest['created_at']}. "
                "Run again with --yes to go ahead."
            )
        connections.close_all()
        try:
            backup.restore(path, settings.DATABASES["default"], Path(settings.MEDIA_ROOT))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        connections.close_all()
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"Restored the backup of {manifest['created_at']} from {path}")
