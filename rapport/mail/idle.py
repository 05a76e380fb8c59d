"""IMAP IDLE: new mail is read as it arrives instead of at the next poll.

One listener process (`rapport mailidle`, which `rapport serve` starts beside its task worker)
holds a thread per receiving mailbox. Each thread signs in, opens the mailbox's folder
read-only and waits in IDLE (RFC 2177); when the server announces mail (a message count above
the last one) it queues that mailbox's ordinary sync task, so the filing, its guarantees and its
bookkeeping stay those of `rapport.mail.tasks.sync_one_mailbox`. The listener itself writes no mail.

- IDLE is ended and started again at least every 29 minutes (`RAPPORT_MAIL_IDLE_RENEW_SECONDS`,
  25 by default): servers may drop a client idle for 30.
- A dropped connection is tried again after 2 seconds, doubling to 5 minutes; a refusal that
  waiting does not cure (a wrong password) after an hour, or at once when the mailbox's
  settings change. Each (re)connection first queues a sync, for what arrived while nobody
  listened.
- A server that does not offer IDLE is left to the poll, which checks it as before.
- The listener re-reads the mailboxes every `RAPPORT_MAIL_IDLE_REFRESH_SECONDS` (60): a mailbox
  added, paused, removed or given other server settings gets its thread started, stopped or
  restarted.
- While a mailbox's thread is idling it says so in the cache (`is_live`), and the poll then
  checks that mailbox only as a safety net, once every `RAPPORT_MAIL_IDLE_POLL_SECONDS` (900)
  without a sync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections

from rapport.mail.connections import MailServerError, imap_connection
from rapport.mail.models import Mailbox

logger = logging.getLogger(__name__)

LIVE_KEY = "rapport:mail:idle-live:{}"
# How long a mailbox counts as listened to after its thread last said so; the thread says it
# again every LIVE_RENEW_SECONDS while idling.
LIVE_SECONDS = 180
LIVE_RENEW_SECONDS = 60
RECONNECT_START = 2.0
RECONNECT_CAP = 300.0
# After a refusal that waiting does not cure (a wrong password, no TLS).
REFUSED_RETRY_SECONDS = 3600.0
# How often a waiting thread wakes to see whether it was asked to stop.
CHECK_SECONDS = 2.0
DROPPED_AFTER = 3


class WatcherState:
    CONNECTING = "connecting"
    IDLING = "idling"
    FAILING = "failing"
    NO_IDLE = "no idle"
    STOPPED = "stopped"


def renew_seconds() -> float:
    """How long one IDLE lasts before it is ended and started again: at most 29 minutes, and at
    least one, so a setting of 0 does not send the server IDLE, DONE and NOOP in a loop."""
    seconds = float(getattr(settings, "RAPPORT_MAIL_IDLE_RENEW_SECONDS", 25 * 60))
    return min(max(seconds, 60.0), 29 * 60.0)


def refresh_seconds() -> float:
    return max(1.0, float(getattr(settings, "RAPPORT_MAIL_IDLE_REFRESH_SECONDS", 60)))


def safety_poll_seconds() -> int:
    """How long a mailbox under IDLE may go without a sync before the poll checks it anyway."""
    return max(60, int(getattr(settings, "RAPPORT_MAIL_IDLE_POLL_SECONDS", 900)))


def reconnect_delay(failures: int) -> float:
    """The wait before connecting again after `failures` failures in a row."""
    return min(RECONNECT_START * 2 ** max(0, min(failures - 1, 16)), RECONNECT_CAP)


def is_live(mailbox_ids) -> set[int]:
    """Those of `mailbox_ids` a listener is idling on now."""
    ids = list(mailbox_ids)
    found = cache.get_many([LIVE_KEY.format(pk) for pk in ids])
    return {pk for pk in ids if LIVE_KEY.format(pk) in found}


def listened_mailboxes():
    """The mailboxes a listener holds IDLE on: active, receiving, not the local sink."""
    return (
        Mailbox.objects.filter(is_active=True, is_local_sink=False)
        .exclude(imap_host="")
        .exclude(imap_username="")
    )


def fingerprint(mailbox: Mailbox) -> tuple:
    """What a listening connection depends on: a change to any of it means a new connection."""
    return (
        mailbox.imap_host,
        mailbox.imap_port,
        mailbox.imap_security,
        mailbox.imap_username,
        mailbox.imap_password_encrypted,
        mailbox.imap_folder or "INBOX",
    )


def _done_with_database() -> None:
    """A watcher holds IDLE for minutes between two short database uses: it gives its
    connection back each time, or a hundred mailboxes would hold a hundred connections."""
    connections.close_all()


def request_sync(mailbox_id: int) -> None:
    """Queue the mailbox's ordinary sync task."""
    from rapport.mail.tasks import sync_one_mailbox

    close_old_connections()
    try:
        sync_one_mailbox.enqueue(mailbox_id=mailbox_id)
    finally:
        _done_with_database()


class MailboxWatcher(threading.Thread):
    """Holds IDLE on one mailbox's folder until stopped; see the module's docstring."""

    def __init__(
        self,
        mailbox: Mailbox,
        *,
        on_new_mail: Callable[[int], None] = request_sync,
        renew: float | None = None,
        check: float = CHECK_SECONDS,
    ):
        super().__init__(name=f"mail-idle-{mailbox.pk}", daemon=True)
        self.mailbox_id = mailbox.pk
        self.fingerprint = fingerprint(mailbox)
        self.on_new_mail = on_new_mail
        self.renew = renew if renew is not None else renew_seconds()
        self.check = check
        self.state = WatcherState.CONNECTING
        self.last_error = ""
        self.idle_rounds = 0  # IDLE commands sent: each renewal is one more
        self.retry_in = 0.0  # seconds until the next try, after a failure
        self._stopping = threading.Event()
        self._live_said_at = 0.0
        self._exists: int | None = None  # the folder's message count as the server last said

    def _news(self, responses) -> bool:
        """Whether `responses` announce new mail: a message count (EXISTS) above the last one.
        Servers may repeat an unchanged count, some on every NOOP, which must not queue a sync
        each time (nor loop NOOP, sync, NOOP without ever idling)."""
        news = False
        for response in responses or ():
            if not (isinstance(response, tuple) and len(response) >= 2):
                continue
            count, kind = response[0], response[1]
            if not isinstance(count, int):
                continue
            if kind == b"EXPUNGE" and self._exists:
                self._exists -= 1
            elif kind == b"EXISTS":
                news = news or self._exists is None or count > self._exists
                self._exists = count
        return news

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        failures = 0
        try:
            while not self.stopping:
                try:
                    # Inside the retry: the database away or locked for a moment must not end
                    # the thread (it would wait for the listener's next look to start again).
                    close_old_connections()
                    mailbox = listened_mailboxes().filter(pk=self.mailbox_id).first()
                    _done_with_database()
                    if mailbox is None:
                        return
                    self._listen(mailbox)
                except Exception as exc:  # the server, the network or a bug: try again later
                    # A drop after a connection that got as far as IDLE starts the backoff
                    # afresh: only failures in a row lengthen the wait.
                    failures = 1 if self.state == WatcherState.IDLING else failures + 1
                    self._not_live()
                    self.last_error = str(exc)[:500]
                    self.retry_in = reconnect_delay(failures)
                    if isinstance(exc, MailServerError) and not exc.temporary:
                        # A refused sign-in tried every few minutes can get the address
                        # locked out; new settings restart this thread at once anyway.
                        self.retry_in = max(self.retry_in, REFUSED_RETRY_SECONDS)
                    self.state = WatcherState.FAILING
                    logger.warning(
                        "IDLE on mailbox %s failed (%s); trying again in %.0fs",
                        self.mailbox_id,
                        exc,
                        self.retry_in,
                    )
                    self._stopping.wait(self.retry_in)
                    continue
                if self.state == WatcherState.NO_IDLE:
                    return
                failures = 0
        finally:
            self._not_live()
            if self.state != WatcherState.NO_IDLE:
                self.state = WatcherState.STOPPED
            close_old_connections()

    def _listen(self, mailbox: Mailbox) -> None:
        """One connection: IDLE until stopped or dropped."""
        self.state = WatcherState.CONNECTING
        with imap_connection(mailbox) as client:
            if not client.has_capability("IDLE"):
                self.state = WatcherState.NO_IDLE
                logger.info("mailbox %s: the server offers no IDLE; it is polled", mailbox.pk)
                return
            selected = client.select_folder(mailbox.imap_folder or "INBOX", readonly=True)
            self._exists = (selected or {}).get(b"EXISTS")
            self.state, self.last_error = WatcherState.IDLING, ""
            self._say_live(force=True)
            news = True  # whatever arrived while nobody listened
            while not self.stopping:
                if news:
                    self.on_new_mail(self.mailbox_id)
                # Mail that came between two IDLEs is announced to the next command.
                news = self._news(client.noop()[1])
                if news:
                    continue
                news = self._idle_once(client)

    def _idle_once(self, client) -> bool:
        """One IDLE, ended when mail is announced, when it is due for renewal or on stop;
        whether mail was announced."""
        client.idle()
        self.idle_rounds += 1
        started = time.monotonic()
        news = False
        hurried = 0
        try:
            while not self.stopping and time.monotonic() - started < self.renew:
                wait = min(self.check, max(0.05, self.renew - (time.monotonic() - started)))
                asked = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if self._news(responses):
                    news = True
                    break
                # imapclient answers a closed connection with no responses at once, where a
                # live one waits: a few of those in a row mean the server went away.
                hurried = (
                    hurried + 1 if not responses and time.monotonic() - asked < wait / 2 else 0
                )
                if hurried >= DROPPED_AFTER:
                    raise ConnectionError("The IMAP server closed the connection.")
                self._say_live()
        finally:
            _text, responses = client.idle_done()
        return self._news(responses) or news

    def _say_live(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._live_said_at >= LIVE_RENEW_SECONDS:
            close_old_connections()
            try:
                cache.set(LIVE_KEY.format(self.mailbox_id), 1, timeout=LIVE_SECONDS)
            finally:
                _done_with_database()
            self._live_said_at = now

    def _not_live(self) -> None:
        try:
            cache.delete(LIVE_KEY.format(self.mailbox_id))
        except Exception:  # the cache's database is down: the entry expires by itself
            logger.debug("could not clear the IDLE mark of mailbox %s", self.mailbox_id)
        finally:
            _done_with_database()


class IdleListener:
    """The threads of every listened mailbox, kept in step with the database."""

    def __init__(self, *, on_new_mail: Callable[[int], None] = request_sync, **watcher_options):
        self.on_new_mail = on_new_mail
        self.watcher_options = watcher_options
        self.watchers: dict[int, MailboxWatcher] = {}

    def refresh(self) -> None:
        """Start a thread for each new mailbox, restart those whose settings changed, stop
        those paused or removed. A mailbox whose server has no IDLE keeps its ended thread, so
        it is not asked again until its settings change."""
        close_old_connections()
        wanted = {mailbox.pk: mailbox for mailbox in listened_mailboxes()}
        for pk, watcher in list(self.watchers.items()):
            mailbox = wanted.get(pk)
            ended = not watcher.is_alive() and watcher.state != WatcherState.NO_IDLE
            if mailbox is None or fingerprint(mailbox) != watcher.fingerprint or ended:
                watcher.stop()
                del self.watchers[pk]
        for pk, mailbox in wanted.items():
            if pk not in self.watchers:
                watcher = MailboxWatcher(
                    mailbox, on_new_mail=self.on_new_mail, **self.watcher_options
                )
                self.watchers[pk] = watcher
                watcher.start()

    def run(self, stop: threading.Event, *, refresh: float | None = None) -> None:
        """Keep listening until `stop` is set; then end every thread."""
        interval = refresh if refresh is not None else refresh_seconds()
        try:
            while not stop.is_set():
                try:
                    self.refresh()
                except Exception:  # the database is away: keep what runs, look again later
                    logger.exception("could not re-read the mailboxes to listen to")
                stop.wait(interval)
        finally:
            self.stop_all()

    def stop_all(self, timeout: float = 10.0) -> None:
        watchers = list(self.watchers.values())
        for watcher in watchers:
            watcher.stop()
        deadline = time.monotonic() + timeout
        for watcher in watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        self.watchers.clear()
