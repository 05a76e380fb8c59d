"""The mail sync's schedule: a chain that wakes every poll interval, hands each due mailbox to
its own task, and queues its next run. Thin and idempotent: a mailbox is claimed before it is
synced, one sync of a mailbox runs at a time, and the sync itself files nothing twice.

Mailboxes are polled every RAPPORT_MAIL_POLL_SECONDS (60 by default). A mailbox the IMAP IDLE
listener (`rapport.mail.idle`) is idling on has its sync queued as mail arrives; the poll then
checks it only as a safety net, when it went RAPPORT_MAIL_IDLE_POLL_SECONDS without a sync.
"""

from __future__ import annotations

import datetime as dt
import logging
from importlib import import_module
from importlib.util import find_spec

from django.core.cache import cache
from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context
from rapport.mail import idle

logger = logging.getLogger(__name__)

CHAIN_NAME = "mail sync"
# The chain's claim on its tick: of two chains (a restart that raced the check for a waiting
# run, a backend that cannot be asked), the one that loses a tick ends.
TICK_CLAIM_KEY = "rapport:mail:sync-tick"
# One sync of a mailbox at a time; a sync asked for meanwhile makes the running one read again.
SYNC_LOCK_KEY = "rapport:mail:syncing:{}"
SYNC_AGAIN_KEY = "rapport:mail:sync-again:{}"
SYNC_ROUNDS = 5


@task(takes_context=True)
def sync_due_mailboxes(context) -> dict:
    """Queue a sync of every mailbox due a check (each claimed first), ask the outbox to pick up
    what is due, then come back after the poll interval."""
    from rapport.mail import receiving

    now = timezone.now()
    interval = receiving.poll_seconds()
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        if not cache.add(TICK_CLAIM_KEY, now.isoformat(), timeout=max(interval - 5, 1)):
            return {"skipped": True}
        queued = []
        due = list(receiving.due_mailboxes(now))
        listened = idle.is_live(mailbox.pk for mailbox in due)
        safety_net = dt.timedelta(seconds=idle.safety_poll_seconds())
        for mailbox in due:
            if (
                mailbox.pk in listened
                and mailbox.last_checked_at is not None
                and now - mailbox.last_checked_at < safety_net
            ):
                continue  # IDLE brings its mail; the poll is only the safety net
            if receiving.claim_mailbox(mailbox, now):
                sync_one_mailbox.enqueue(mailbox_id=mailbox.pk)
                queued.append(mailbox.pk)
        requeued = _requeue_outbox()
    schedule_next(now + dt.timedelta(seconds=interval))
    return {"mailboxes": queued, "outbox": requeued}


@task(takes_context=True)
def sync_one_mailbox(context, mailbox_id: int) -> dict:
    """Sync one mailbox; its failure is its own state, never this task's exception."""
    from rapport.mail import receiving
    from rapport.mail.models import Mailbox

    mailbox = Mailbox.objects.filter(pk=mailbox_id, is_active=True).first()
    if mailbox is None or not mailbox.receives:
        return {"skipped": True}
    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        return _sync_alone(mailbox, receiving)


def _sync_alone(mailbox, receiving) -> dict:
    """Sync `mailbox` unless a sync of it is running; then ask that one to read the mailbox
    once more when it ends, so mail announced meanwhile (IDLE, a poll) is not left waiting."""
    lock, again = SYNC_LOCK_KEY.format(mailbox.pk), SYNC_AGAIN_KEY.format(mailbox.pk)
    lease = int(receiving.SYNC_LEASE.total_seconds())
    report = None
    for _round in range(SYNC_ROUNDS):
        if not cache.add(lock, 1, timeout=lease):
            cache.set(again, 1, timeout=lease)
            # The running sync may have ended between the two, without seeing the request.
            if not cache.add(lock, 1, timeout=lease):
                return report.as_dict() if report else {"skipped": True, "busy": True}
        try:
            cache.delete(again)
            report = receiving.sync_mailbox(mailbox=mailbox)
        finally:
            cache.delete(lock)
        if not report.ok or not cache.delete(again):
            break
    return report.as_dict()


def _requeue_outbox():
    """The sending side's sweep of messages due a (re)try, when that module offers one."""
    if find_spec("rapport.mail.sending") is None:
        return None
    requeue_due = getattr(import_module("rapport.mail.sending"), "requeue_due", None)
    if requeue_due is None:
        return None
    try:
        outcome = requeue_due()
    except Exception:  # the outbox's trouble must not stop the sync's chain
        logger.exception("the outbox sweep failed")
        return None
    return outcome if isinstance(outcome, int | dict | list) else str(outcome)


def schedule_next(run_after: dt.datetime | None = None) -> bool:
    """Queue the chain's next run (at once without `run_after`: the chain's start); False when
    the backend cannot run tasks later."""
    return schedules.queue_later(sync_due_mailboxes, run_after)


def connect() -> None:
    """Register the sync's chain with the worker, and the outbox's task module when it exists
    (importing it is what registers its task)."""
    if find_spec("rapport.mail.tasks_outbox") is not None:
        import_module("rapport.mail.tasks_outbox")
    schedules.register_chain(CHAIN_NAME, sync_due_mailboxes, schedule_next)
