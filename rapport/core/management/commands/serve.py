"""`rapport serve`: the web server (gunicorn + WhiteNoise) and a task worker, together, plus the
mail listener (IMAP IDLE) beside the worker and the local mail sink when no outgoing mail server
is configured."""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError

READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
MAIL_SINK = "mail sink"
MAIL_LISTENER = "mail listener"
# Helpers whose exit leaves the CRM up (only mail suffers), said on the console instead.
OPTIONAL = {
    MAIL_SINK: "mail cannot be sent until Rapport is restarted",
    MAIL_LISTENER: "new mail is read at the next poll instead of as it arrives",
}


def _port_is_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _demo_login() -> tuple[str, str] | None:
    """The demo login when that account exists and still has the demo password."""
    from django.contrib.auth import get_user_model

    username = os.environ.get("RAPPORT_DEMO_USER", "demo")
    password = os.environ.get("RAPPORT_DEMO_PASSWORD", "rapport-demo")
    try:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
    except Exception:  # the schema may not exist yet; the server says so itself
        return None
    if user is None or not user.check_password(password):
        return None
    return username, password


class Command(BaseCommand):
    help = "Serve Rapport with gunicorn and run a task worker beside it; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("RAPPORT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2"))
        )
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument("--no-worker", action="store_true", help="Do not start a task worker.")

    def handle(self, *args, host, port, workers, threads, no_worker, **options):
        if _port_is_open("127.0.0.1" if host in ("0.0.0.0", "") else host, port):  # noqa: S104
            raise CommandError(
                f"Port {port} is already in use; pick another with --port (make run PORT=8001)."
            )
        self._collect_static_if_missing()
        env = {**os.environ}
        env.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "rapport.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "10",
            "--timeout",
            "60",
        ]
        backend = settings.TASKS["default"]["BACKEND"]
        # The immediate backend runs tasks inside the request: there is nothing to work off.
        run_worker = not no_worker and "Immediate" not in backend
        processes = {"web server": subprocess.Popen(web, env=env)}
        if run_worker:
            processes["task worker"] = subprocess.Popen(
                [sys.executable, "-m", "rapport.cli", "worker"], env=env
            )
            # The listener only queues syncs: it needs a worker to run them.
            if "mailidle" in get_commands():
                processes[MAIL_LISTENER] = subprocess.Popen(
                    [sys.executable, "-m", "rapport.cli", "mailidle"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
        mail_line = self._start_mail_sink(processes, env)

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        failed = None
        try:
            failed = self._wait_until_ready(processes, host, port, lambda: stopping)
            if failed is None and not stopping and MAIL_SINK in processes:
                mail_line = self._wait_for_mail_sink(processes, lambda: stopping) or mail_line
            if failed is None and not stopping:
                self._announce(host, port, backend, run_worker, mail_line)
            while failed is None and not stopping:
                failed = next((n for n, p in processes.items() if p.poll() is not None), None)
                if failed in OPTIONAL:
                    # Without it only mail suffers; the CRM stays up and says so.
                    self.stderr.write(
                        f"The {failed} exited (code {processes[failed].returncode}); "
                        f"{OPTIONAL[failed]}."
                    )
                    processes.pop(failed)
                    failed = None
                time.sleep(0.3)
        finally:
            self._stop_all(processes)
        if failed is not None:
            raise CommandError(f"The {failed} exited (code {processes[failed].returncode}).")
        self.stdout.write("Rapport stopped.")

    def _start_mail_sink(self, processes, env) -> str | None:
        """Start `rapport mailsink` beside the server when RAPPORT_SMTP_URL is empty, so mail
        (invitations, password resets, Rapport's own email) works on a fresh install without
        reaching anyone. The line to announce, or None when a mail server is configured."""
        if settings.RAPPORT_SMTP_URL:
            return None
        sink_port = settings.RAPPORT_MAIL_SINK_PORT
        if "mailsink" not in get_commands():
            return "Mail: no RAPPORT_SMTP_URL set and the mail app is not installed; no mail sink."
        if _port_is_open("127.0.0.1", sink_port):
            return (
                f"Mail: no RAPPORT_SMTP_URL set, and port {sink_port} (the local mail sink) is "
                "already in use, so the sink is not started; mail goes to whatever listens there. "
                "Set RAPPORT_MAIL_SINK_PORT to another port or RAPPORT_SMTP_URL to a mail server."
            )
        processes[MAIL_SINK] = subprocess.Popen(
            [sys.executable, "-m", "rapport.cli", "mailsink", "--port", str(sink_port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        return (
            f"Mail: no RAPPORT_SMTP_URL set, so mail is delivered to a local sink at "
            f"127.0.0.1:{sink_port} (see Mail → Delivered here); nothing is sent to the internet."
        )

    def _wait_for_mail_sink(self, processes, stopping) -> str | None:
        """Wait for the sink to accept mail, so the announced address works when it is read; a
        line saying so instead when the sink did not start (the CRM runs on without it)."""
        sink, sink_port = processes[MAIL_SINK], settings.RAPPORT_MAIL_SINK_PORT
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not stopping() and time.monotonic() < deadline:
            if sink.poll() is not None:
                processes.pop(MAIL_SINK)
                return (
                    f"Mail: the local mail sink did not start (code {sink.returncode}); mail "
                    "cannot be sent. Set RAPPORT_SMTP_URL or free port "
                    f"{sink_port} (RAPPORT_MAIL_SINK_PORT) and restart."
                )
            if _port_is_open("127.0.0.1", sink_port):
                return None
            time.sleep(0.2)
        return None

    def _collect_static_if_missing(self) -> None:
        """Collect the static files when they never were: with the manifest storage every page
        would otherwise fail on its first stylesheet (`make run` collects them each time)."""
        from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

        if not isinstance(staticfiles_storage, ManifestFilesMixin):
            return
        if staticfiles_storage.exists(staticfiles_storage.manifest_name):
            return
        self.stdout.write("Collecting static files (first start)…")
        call_command("collectstatic", interactive=False, verbosity=0)

    def _wait_until_ready(self, processes, host, port, stopping) -> str | None:
        """Wait for the web server to accept connections; the name of a process that died."""
        probe = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not stopping() and time.monotonic() < deadline:
            for name, process in processes.items():
                if name not in OPTIONAL and process.poll() is not None:
                    return name
            if _port_is_open(probe, port):
                return None
            time.sleep(0.2)
        return None

    def _announce(self, host, port, backend, run_worker, mail_line) -> None:
        database = settings.DATABASES["default"]
        where = (
            str(database["NAME"])
            if "sqlite" in database["ENGINE"]
            else f"PostgreSQL {database.get('NAME')} on {database.get('HOST') or 'localhost'}"
        )
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        self.stdout.write(
            self.style.SUCCESS(f"\nRapport is running at http://{shown_host}:{port}/")
        )
        self.stdout.write(f"  database: {where}")
        worker = "worker running" if run_worker else "no worker"
        self.stdout.write(f"  tasks: {backend.rsplit('.', 1)[-1]} ({worker})")
        if run_worker and "mailidle" in get_commands():
            self.stdout.write("  incoming mail: read as it arrives (IMAP IDLE), polled as well")
        login = _demo_login()
        if login:
            self.stdout.write(f"  demo login: {login[0]} / {login[1]}")
        if mail_line:
            self.stdout.write(f"  {mail_line}")
        self.stdout.write("  API docs: /api/v1/docs   Ctrl-C stops everything started here.\n")
        self.stdout.flush()

    def _stop_all(self, processes) -> None:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
