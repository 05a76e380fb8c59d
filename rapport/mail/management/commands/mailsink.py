"""`rapport mailsink`: keep every message sent to 127.0.0.1:8025 in var/mail/delivered and send
nothing on. `rapport serve` starts it when RAPPORT_SMTP_URL is empty.
"""

import errno
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rapport.mail.sink import run_sink


class Command(BaseCommand):
    help = (
        "Run the local mail sink: an SMTP server on this machine that keeps each message in a "
        "Maildir (Mail → Delivered here) and delivers nothing to the internet. Ctrl-C stops it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.RAPPORT_MAIL_SINK_PORT)
        parser.add_argument(
            "--directory",
            type=Path,
            default=Path(settings.RAPPORT_MAIL_SINK_DIR),
            help="The Maildir to keep messages in (default: RAPPORT_MAIL_SINK_DIR).",
        )

    def handle(self, *args, host, port, directory, **options):
        if not 0 < port < 65536:
            raise CommandError(f"--port {port} is not a port number from 1 to 65535.")
        self.stdout.write(
            f"Mail sink listening on {host}:{port}; messages are kept in {directory} and "
            "nothing is sent to the internet."
        )
        self.stdout.flush()
        try:
            run_sink(host, port, directory)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"Port {port} on {host} is already in use; pick another with --port."
                ) from None
            raise CommandError(f"The mail sink could not start: {error}") from None
        self.stdout.write("Mail sink stopped.")
