"""Webhooks out: 10,000 deliveries to a receiver that fails 30 % and hangs on 5 % of requests,
with the task worker killed once mid-run.

1. A fresh database of its own (var/bench/webhooks.sqlite3, or DATABASE_URL when set), one
   subscription to a real receiver on 127.0.0.1 (rapport.automation.tests.receiver) that
   verifies every signature with `standardwebhooks` and records each request by webhook-id.
   Each request is, at random: a 500 (30 %), no answer at all (5 %, the client's read timeout
   ends it), or a 200.
2. N events go through the in-transaction observer (`webhooks.record_deliveries`, the one
   `core.events.emit_many` calls) in transactions of 1,000: N outbox rows, and after each
   commit its delivery tasks are queued — exactly what a committed change does.
3. `rapport worker` (the database queue, or RQ when RAPPORT_TASKS_BACKEND=rq) sends them. When
   `--kill-at` of them are delivered the worker and everything under it get SIGKILL mid-send,
   and a new worker is started; the rows the dead one held are sent again once their lease ends.
4. Waits until no delivery is waiting, then prints: delivered (by the database), dead, lost
   (event ids the receiver never accepted with a 2xx), ids accepted exactly once, duplicates
   (ids the receiver accepted more than once — the kill's at-least-once resends, which a
   receiver drops by webhook-id), requests the receiver saw, and the time.

The retry schedule and timeouts are compressed for the run (printed): retries after 1, 2, 4,
8 s …, a read timeout of 1 s, so three days of backoff fit in minutes; the code path is the
production one. Settings come from a small module the bench writes into var/bench/.

    python benchmarks/run.py webhooks                     # 10,000 deliveries
    python benchmarks/run.py webhooks --deliveries 1000   # a quick run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
BENCH_DIR = REPO_ROOT / "var" / "bench"
DATABASE = BENCH_DIR / "webhooks.sqlite3"
SETTINGS_MODULE = "bench_webhooks_settings"

SETTINGS_TEXT = '''"""Written by benchmarks/bench_webhooks.py: the benchmark settings, webhooks compressed."""
from django_settings import *  # noqa: F403
from django_settings import INSTALLED_APPS

if "rapport.automation" not in INSTALLED_APPS:  # until settings.py lists the app
    INSTALLED_APPS = [*INSTALLED_APPS]
    INSTALLED_APPS.insert(INSTALLED_APPS.index("rapport.demo"), "rapport.automation")
RAPPORT_WEBHOOKS_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
RAPPORT_WEBHOOKS_RETRY_DELAYS = {delays!r}
RAPPORT_WEBHOOKS_CONNECT_TIMEOUT = 1
RAPPORT_WEBHOOKS_READ_TIMEOUT = {read_timeout!r}
RAPPORT_WEBHOOKS_TOTAL_DEADLINE = {total!r}
RAPPORT_WEBHOOKS_CONCURRENCY = {concurrency!r}
RAPPORT_WEBHOOKS_SWEEP_SECONDS = 2
'''


def configure(args) -> str:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / f"{SETTINGS_MODULE}.py").write_text(
        SETTINGS_TEXT.format(
            delays=(1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8),
            read_timeout=args.read_timeout,
            total=args.read_timeout + 2,
            concurrency=args.concurrency,
        )
    )
    url = os.environ.get("DATABASE_URL")
    if not url:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{DATABASE}"
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        RAPPORT_VAR_DIR=str(BENCH_DIR),
        RAPPORT_LOG_LEVEL=os.environ.get("RAPPORT_LOG_LEVEL", "WARNING"),
    )
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH_DIR), str(HERE), str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
    )
    for path in (str(REPO_ROOT), str(HERE), str(BENCH_DIR)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return url


def start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rapport.cli", "worker", "-v", "0"],
        cwd=REPO_ROOT,
        env={**os.environ, "RAPPORT_DEBUG": "0"},
        start_new_session=True,
    )


def kill_tree(process: subprocess.Popen) -> None:
    from bench_load import descendants

    for pid in descendants(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill_tree(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--fail-rate", type=float, default=0.30)
    parser.add_argument("--hang-rate", type=float, default=0.05)
    parser.add_argument("--kill-at", type=float, default=0.3, help="Share delivered at the kill.")
    parser.add_argument("--read-timeout", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=1800, help="Give up after (s).")
    args, _others = parser.parse_known_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    url = configure(args)
    from django.db import connection, transaction
    from rich.console import Console

    from rapport.accounts.models import User
    from rapport.automation import webhooks
    from rapport.automation.models import SENDABLE, DeliveryStatus, WebhookDelivery
    from rapport.automation.tests.receiver import Receiver
    from rapport.contacts.events import ContactCreated

    console = Console()
    receiver = Receiver(fail_rate=args.fail_rate, hang_rate=args.hang_rate)
    worker = None
    try:
        admin = User.objects.filter(username="webhook-bench").first() or User.objects.create(
            username="webhook-bench", is_superuser=True, is_staff=True
        )
        subscription, secret = webhooks.create_subscription(
            actor=None,
            name="Benchmark receiver",
            url=receiver.url("/random"),
            event_types=["contact.created"],
            owner=admin,
        )
        receiver.record.secret = secret
        console.print(
            f"{args.deliveries:,} deliveries to a receiver failing {args.fail_rate:.0%} and "
            f"hanging on {args.hang_rate:.0%}; database {connection.vendor}; "
            f"{args.concurrency} requests at once per worker; read timeout "
            f"{args.read_timeout:g} s; retries after 1, 2, 4, 8, 8 … s"
        )
        started = time.monotonic()
        for start in range(0, args.deliveries, 1000):
            events = [
                ContactCreated(contact_id=n + 1, actor_id=None, source="benchmark")
                for n in range(start, min(start + 1000, args.deliveries))
            ]
            with transaction.atomic():
                webhooks.record_deliveries(events)
        written = time.monotonic() - started
        total = WebhookDelivery.objects.filter(subscription=subscription).count()
        console.print(f"outbox: {total:,} rows written in {written:.1f} s")
        connection.close()

        worker = start_worker()
        killed_at = None
        deadline = time.monotonic() + args.timeout
        waiting = total
        while time.monotonic() < deadline:
            time.sleep(0.5)
            rows = WebhookDelivery.objects.filter(subscription=subscription)
            delivered = rows.filter(status=DeliveryStatus.DELIVERED).count()
            waiting = rows.filter(status__in=SENDABLE).count()
            connection.close()
            if killed_at is None and delivered >= args.kill_at * total:
                kill_tree(worker)
                killed_at = time.monotonic() - started
                console.print(
                    f"worker killed (SIGKILL) at {killed_at:.1f} s with {delivered:,} delivered; "
                    "a new one started"
                )
                worker = start_worker()
            if waiting == 0:
                break
        elapsed = time.monotonic() - started
        stop(worker)
        worker = None

        rows = WebhookDelivery.objects.filter(subscription=subscription)
        delivered = rows.filter(status=DeliveryStatus.DELIVERED).count()
        dead = rows.filter(status=DeliveryStatus.DEAD).count()
        event_ids = {str(value) for value in rows.values_list("event_id", flat=True)}
        accepted = receiver.record.delivered_ids()
        requests = sum(receiver.record.ids().values())
        lost = len(event_ids - set(accepted))
        once = sum(1 for event_id in event_ids if accepted.get(event_id) == 1)
        duplicates = sum(1 for event_id in event_ids if accepted.get(event_id, 0) > 1)
        unverified = sum(1 for arrival in receiver.record.arrivals if not arrival.verified)
        console.print(
            f"database: {delivered:,} delivered, {dead:,} dead, {waiting:,} still waiting"
        )
        console.print(
            f"receiver: {len(event_ids) - lost:,} of {len(event_ids):,} accepted; "
            f"exactly once {once:,}; duplicates {duplicates:,}; lost {lost:,}; "
            f"{requests:,} requests seen; {unverified:,} failed the signature check"
        )
        console.print(
            f"time: {elapsed:.1f} s from the first outbox row to the last delivery "
            f"({delivered / max(elapsed - written, 0.001):.0f} delivered/s while sending); "
            f"worker killed at {killed_at:.1f} s"
            if killed_at
            else f"time: {elapsed:.1f} s"
        )
        ok = lost == 0 and waiting == 0 and unverified == 0 and killed_at is not None
        console.print("[green]OK[/green]" if ok else "[red]NOT OK[/red]")
        return 0 if ok else 1
    finally:
        stop(worker)
        receiver.stop()
        if url.startswith("postgres"):
            from rapport.automation.models import WebhookSubscription

            WebhookSubscription.objects.filter(name="Benchmark receiver").delete()
