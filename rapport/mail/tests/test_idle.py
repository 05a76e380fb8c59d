"""IMAP IDLE against the real Dovecot: mail filed as it arrives, IDLE renewed, reconnection after
the server drops, servers without IDLE left to the poll, and the listener following the
mailboxes as they are added, changed and removed.

The listener's threads use the database themselves, so these tests commit (transaction=True).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact
from rapport.mail import connections, idle, tasks
from rapport.mail.choices import MessageDirection
from rapport.mail.models import EmailMessage, Mailbox
from rapport.mail.tests.servers import DOVECOT_BINARY, Dovecot
from rapport.mail.tests.test_receiving import mail, make_mailbox

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 15.0
NO_IDLE = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE\n"


class Syncs:
    """Runs the real request (the tests' backend syncs inline) and tells the test each time."""

    def __init__(self):
        self.done = threading.Semaphore(0)
        self.mailbox_ids: list[int] = []

    def __call__(self, mailbox_id: int) -> None:
        try:
            idle.request_sync(mailbox_id)
        finally:
            self.mailbox_ids.append(mailbox_id)
            self.done.release()

    def wait(self, timeout: float = WAIT) -> None:
        assert self.done.acquire(timeout=timeout), "no sync was requested in time"


def wait_until(condition, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def slow_poll(settings):
    # The poll would take an hour: whatever is filed here came through IDLE.
    settings.RAPPORT_MAIL_POLL_SECONDS = 3600
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def watchers():
    started: list[idle.MailboxWatcher] = []

    def start(mailbox, **options) -> idle.MailboxWatcher:
        watcher = idle.MailboxWatcher(mailbox, **options)
        started.append(watcher)
        watcher.start()
        return watcher

    yield start
    for watcher in started:
        watcher.stop()
    for watcher in started:
        watcher.join(10)


def inbound():
    return EmailMessage.objects.filter(direction=MessageDirection.INBOUND)


def test_new_mail_is_filed_as_it_arrives_without_waiting_for_the_poll(
    imap_account, admin_user, owner, watchers
):
    ada = make_contact(owner=owner, emails=["ada@example.com"])
    mailbox = make_mailbox(imap_account, actor=admin_user)
    syncs = Syncs()
    watcher = watchers(mailbox, on_new_mail=syncs, check=0.2)
    syncs.wait()  # the catch-up sync on connecting: nothing there yet
    assert watcher.state == idle.WatcherState.IDLING
    assert idle.is_live([mailbox.pk]) == {mailbox.pk}
    assert not inbound().exists()

    imap_account.append(mail(subject="Arrived just now"))
    syncs.wait()

    message = inbound().get()
    assert (message.subject, message.contact) == ("Arrived just now", ada)
    mailbox.refresh_from_db()
    # Not the poll's doing: the mailbox is not due a poll for an hour.
    assert mailbox.next_check_at > timezone.now() + dt.timedelta(minutes=50)


def test_idle_is_renewed_and_still_hears_new_mail(imap_account, admin_user, watchers):
    mailbox = make_mailbox(imap_account, actor=admin_user)
    syncs = Syncs()
    watcher = watchers(mailbox, on_new_mail=syncs, renew=0.5, check=0.2)
    syncs.wait()

    wait_until(lambda: watcher.idle_rounds >= 3)
    imap_account.append(mail(sender="grace@navy.test", subject="After renewals"))
    syncs.wait()

    assert inbound().get().subject == "After renewals"
    assert len(syncs.mailbox_ids) == 2  # renewing IDLE queues no sync of its own


def test_renewal_is_capped_at_29_minutes(settings):
    settings.RAPPORT_MAIL_IDLE_RENEW_SECONDS = 3600
    assert idle.renew_seconds() == 29 * 60
    settings.RAPPORT_MAIL_IDLE_RENEW_SECONDS = 600
    assert idle.renew_seconds() == 600


def test_the_listener_reconnects_when_the_server_drops(
    private_dovecot, admin_user, watchers, monkeypatch
):
    monkeypatch.setattr(idle, "RECONNECT_START", 0.2)
    monkeypatch.setattr(idle, "RECONNECT_CAP", 0.5)
    account = private_dovecot.account()
    mailbox = make_mailbox(account, actor=admin_user)
    syncs = Syncs()
    watcher = watchers(mailbox, on_new_mail=syncs, check=0.2)
    syncs.wait()

    private_dovecot.stop()
    # The error stays until the next IDLE; the state may already be "connecting" again.
    wait_until(lambda: watcher.last_error != "")
    assert watcher.state in (idle.WatcherState.FAILING, idle.WatcherState.CONNECTING)
    assert idle.is_live([mailbox.pk]) == set()
    private_dovecot.start()
    # A try begun while the server went down may wait out its connection timeout first.
    syncs.wait(timeout=WAIT + connections.TIMEOUT_SECONDS)  # connected again: catches up first
    wait_until(lambda: watcher.state == idle.WatcherState.IDLING)
    account.append(mail(subject="After the restart"))
    syncs.wait()

    assert inbound().get().subject == "After the restart"


def test_a_refused_sign_in_is_not_tried_again_for_an_hour(imap_account, admin_user, watchers):
    mailbox = make_mailbox(imap_account, actor=admin_user)
    imap_account.server.set_password(imap_account.username, "changed-on-the-server")
    syncs = Syncs()
    watcher = watchers(mailbox, on_new_mail=syncs, check=0.2)

    wait_until(lambda: watcher.state == idle.WatcherState.FAILING)
    assert "authentication failed" in watcher.last_error
    assert watcher.retry_in == idle.REFUSED_RETRY_SECONDS
    assert syncs.mailbox_ids == []


def test_reconnecting_backs_off_to_five_minutes():
    delays = [idle.reconnect_delay(failures) for failures in (1, 2, 3, 10, 50)]
    assert delays == [2.0, 4.0, 8.0, 300.0, 300.0]


def test_a_server_without_idle_is_left_to_the_poll(admin_user, watchers):
    if not os.access(DOVECOT_BINARY, os.X_OK):
        pytest.skip("dovecot-imapd is missing")
    with Dovecot(extra_config=NO_IDLE) as server:
        mailbox = make_mailbox(server.account(), actor=admin_user)
        syncs = Syncs()
        watcher = watchers(mailbox, on_new_mail=syncs, check=0.2)
        watcher.join(WAIT)

        assert watcher.state == idle.WatcherState.NO_IDLE
        assert syncs.mailbox_ids == []
        assert idle.is_live([mailbox.pk]) == set()
        result = tasks.sync_due_mailboxes.enqueue()
        assert result.return_value["mailboxes"] == [mailbox.pk]


def test_the_poll_checks_a_listened_mailbox_only_as_a_safety_net(imap_account, admin_user):
    mailbox = make_mailbox(imap_account, actor=admin_user)
    recently = timezone.now() - dt.timedelta(minutes=5)
    Mailbox.objects.filter(pk=mailbox.pk).update(last_checked_at=recently, next_check_at=None)
    cache.set(idle.LIVE_KEY.format(mailbox.pk), 1, timeout=60)

    assert tasks.sync_due_mailboxes.enqueue().return_value["mailboxes"] == []

    long_ago = timezone.now() - dt.timedelta(seconds=idle.safety_poll_seconds() + 1)
    Mailbox.objects.filter(pk=mailbox.pk).update(last_checked_at=long_ago)
    cache.delete(tasks.TICK_CLAIM_KEY)
    assert tasks.sync_due_mailboxes.enqueue().return_value["mailboxes"] == [mailbox.pk]


def test_a_sync_asked_for_while_one_runs_makes_that_one_read_again(imap_account, admin_user):
    mailbox = make_mailbox(imap_account, actor=admin_user)
    imap_account.append(mail(subject="Waiting"))
    cache.add(tasks.SYNC_LOCK_KEY.format(mailbox.pk), 1)

    busy = tasks.sync_one_mailbox.enqueue(mailbox_id=mailbox.pk).return_value

    assert busy == {"skipped": True, "busy": True}
    assert cache.get(tasks.SYNC_AGAIN_KEY.format(mailbox.pk)) == 1
    assert not inbound().exists()
    cache.delete(tasks.SYNC_LOCK_KEY.format(mailbox.pk))
    done = tasks.sync_one_mailbox.enqueue(mailbox_id=mailbox.pk).return_value
    assert done["filed"] == 1
    assert cache.get(tasks.SYNC_AGAIN_KEY.format(mailbox.pk)) is None
    assert cache.get(tasks.SYNC_LOCK_KEY.format(mailbox.pk)) is None


def _while_watchers_read(write):
    """Do `write` while watcher threads read the same tables: SQLite's shared in-memory test
    database answers "table is locked" at once instead of waiting as a file database does."""
    from django.db import OperationalError

    deadline = time.monotonic() + WAIT
    while True:
        try:
            return write()
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_listener_follows_mailboxes_added_changed_and_removed(dovecot, admin_user):
    first = make_mailbox(dovecot.account(), actor=admin_user, name="First")
    listener = idle.IdleListener(on_new_mail=lambda pk: None, check=0.2)
    try:
        listener.refresh()
        assert set(listener.watchers) == {first.pk}
        original = listener.watchers[first.pk]

        second = _while_watchers_read(
            lambda: make_mailbox(
                dovecot.account(), actor=admin_user, name="Second", email_address="s@rapport.test"
            )
        )
        listener.refresh()
        assert set(listener.watchers) == {first.pk, second.pk}
        assert listener.watchers[first.pk] is original  # unchanged: left alone

        _while_watchers_read(lambda: Mailbox.objects.filter(pk=first.pk).update(imap_folder="Sent"))
        _while_watchers_read(lambda: Mailbox.objects.filter(pk=second.pk).update(is_active=False))
        listener.refresh()
        assert set(listener.watchers) == {first.pk}
        assert listener.watchers[first.pk] is not original
        original.join(WAIT)
        assert not original.is_alive()
        wait_until(lambda: listener.watchers[first.pk].state == idle.WatcherState.IDLING)
    finally:
        listener.stop_all()
    assert listener.watchers == {}


def test_the_mailidle_command_listens_until_it_is_asked_to_stop(tmp_path):
    repo = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if k not in ("RAPPORT_TESTING", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="rapport.settings",
        RAPPORT_VAR_DIR=str(tmp_path),
        RAPPORT_LOG_LEVEL="CRITICAL",
        PYTHONPATH=str(repo),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "rapport.cli", "mailidle"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert "Listening for new mail (IMAP IDLE)" in process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Mail listener stopped." in out


class RepeatingServer:
    """A server that repeats its unchanged message count on every command (some do): only a
    count that grows is news."""

    def __init__(self, watcher, *, rounds: int):
        self.watcher, self.rounds, self.noops = watcher, rounds, 0

    def has_capability(self, name):
        return True

    def select_folder(self, folder, readonly=False):
        return {b"EXISTS": 5}

    def noop(self):
        self.noops += 1
        if self.noops >= self.rounds:
            self.watcher.stop()
        return b"NOOP completed", [(5, b"EXISTS"), (0, b"RECENT")]

    def idle(self):
        pass

    def idle_check(self, timeout=None):
        time.sleep(timeout)
        return [(5, b"EXISTS")] if self.noops == 3 else []

    def idle_done(self):
        return b"IDLE terminated", [(6, b"EXISTS")] if self.noops == 5 else []


def test_a_repeated_unchanged_message_count_queues_no_sync(monkeypatch):
    import contextlib

    syncs: list[int] = []
    watcher = idle.MailboxWatcher(
        Mailbox(pk=4242), on_new_mail=syncs.append, renew=0.05, check=0.02
    )
    server = RepeatingServer(watcher, rounds=8)
    monkeypatch.setattr(idle, "imap_connection", lambda mailbox: contextlib.nullcontext(server))
    monkeypatch.setattr(idle, "close_old_connections", lambda: None)

    watcher._listen(Mailbox(pk=4242, imap_folder="INBOX"))

    assert server.noops == 8
    # The catch-up sync on connecting and the sixth message announced as an IDLE ended: the
    # count repeated in each NOOP and IDLE is not news.
    assert syncs == [4242, 4242]


def test_renewal_is_at_least_a_minute(settings):
    settings.RAPPORT_MAIL_IDLE_RENEW_SECONDS = 0
    assert idle.renew_seconds() == 60


def test_a_sync_asked_for_as_the_running_one_ends_still_reads_the_mailbox(monkeypatch):
    """The running sync releases its lock and finds nobody asked it to read again, and only then
    the next one, turned away by that lock, asks: that next one must read the mailbox itself."""
    import types

    lock, again = tasks.SYNC_LOCK_KEY.format(77), tasks.SYNC_AGAIN_KEY.format(77)
    cache.add(lock, 1)
    real_set = cache.set

    def set_after_the_running_one_ended(key, *args, **kwargs):
        if key == again:
            cache.delete(lock)
            cache.delete(again)
        return real_set(key, *args, **kwargs)

    monkeypatch.setattr(cache, "set", set_after_the_running_one_ended)
    synced = []
    report = types.SimpleNamespace(ok=True, as_dict=lambda: {"filed": 1})
    receiving = types.SimpleNamespace(
        SYNC_LEASE=dt.timedelta(minutes=15),
        sync_mailbox=lambda mailbox: synced.append(mailbox.pk) or report,
    )

    assert tasks._sync_alone(types.SimpleNamespace(pk=77), receiving) == {"filed": 1}
    assert synced == [77]
    assert cache.get(lock) is None


def test_the_database_away_for_a_moment_is_retried_not_the_end(monkeypatch):
    from django.db import OperationalError

    calls = []

    class Mailboxes:
        def filter(self, **kwargs):
            return self

        def first(self):
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError("database table is locked: mail_mailbox")
            return None  # then the mailbox is gone: the thread ends as it should

    monkeypatch.setattr(idle, "listened_mailboxes", Mailboxes)
    monkeypatch.setattr(idle, "close_old_connections", lambda: None)
    monkeypatch.setattr(idle, "_done_with_database", lambda: None)
    monkeypatch.setattr(idle, "RECONNECT_START", 0.01)
    watcher = idle.MailboxWatcher(Mailbox(pk=4243))

    watcher.run()

    assert len(calls) == 2
    assert "database table is locked" in watcher.last_error
    assert watcher.state == idle.WatcherState.STOPPED
