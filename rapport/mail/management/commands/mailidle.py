"""`rapport mailidle`: hold IMAP IDLE on every receiving mailbox and queue its sync as mail
arrives. `rapport serve` starts it beside its task worker; run one per installation."""

import signal
import threading

from django.core.management.base import BaseCommand

from rapport.mail.idle import IdleListener, refresh_seconds


class Command(BaseCommand):
    help = (
        "Listen for new mail with IMAP IDLE on every receiving mailbox and queue its sync the "
        "moment the server announces mail; servers without IDLE are left to the poll. Ctrl-C "
        "stops it."
    )

    def handle(self, *args, **options):
        stop = threading.Event()

        def request_stop(signum, frame):
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        self.stdout.write(
            "Listening for new mail (IMAP IDLE); the mailboxes are re-read every "
            f"{refresh_seconds():.0f}s."
        )
        self.stdout.flush()
        IdleListener().run(stop)
        self.stdout.write("Mail listener stopped.")
