"""The sync's schedule: one chain, due mailboxes claimed once, a failing mailbox never stopping
the others, against a real Dovecot.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from rapport.core import schedules
from rapport.mail import receiving, tasks
from rapport.mail.choices import MailboxState, MessageDirection
from rapport.mail.models import EmailMessage, Mailbox
from rapport.mail.tests.test_receiving import mail, make_mailbox

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture(autouse=True)
def fresh_tick():
    cache.delete(tasks.TICK_CLAIM_KEY)
    yield
    cache.delete(tasks.TICK_CLAIM_KEY)


def test_the_chain_is_registered_and_starting_twice_leaves_one_waiting_run(settings):
    settings.TASKS = DATABASE_TASKS
    assert tasks.CHAIN_NAME in schedules.registered()

    schedules.start_all()
    schedules.start_all()

    waiting = DBTaskResult.objects.filter(
        task_path=tasks.sync_due_mailboxes.module_path, status="READY"
    )
    assert waiting.count() == 1


def test_a_tick_syncs_the_due_mailboxes_and_a_failing_one_does_not_stop_the_others(
    dovecot, admin_user
):
    working_account, failing_account, paused_account = (dovecot.account() for _ in range(3))
    working = make_mailbox(working_account, actor=admin_user, name="Working")
    failing = make_mailbox(
        failing_account, actor=admin_user, name="Failing", email_address="f@rapport.test"
    )
    paused = make_mailbox(
        paused_account, actor=admin_user, name="Paused", email_address="p@rapport.test"
    )
    Mailbox.objects.filter(pk=paused.pk).update(is_active=False, state=MailboxState.PAUSED)
    for account in (working_account, failing_account, paused_account):
        account.append(mail())
    dovecot.set_password(failing_account.username, "not-the-stored-one")

    result = tasks.sync_due_mailboxes.enqueue()  # the tests' backend runs it inline

    assert sorted(result.return_value["mailboxes"]) == sorted([working.pk, failing.pk])
    states = dict(Mailbox.objects.values_list("name", "state"))
    assert states == {
        "Working": MailboxState.WORKING,
        "Failing": MailboxState.FAILING,
        "Paused": MailboxState.PAUSED,
    }
    inbound = EmailMessage.objects.filter(direction=MessageDirection.INBOUND)
    assert list(inbound.values_list("mailbox_id", flat=True)) == [working.pk]
    failing.refresh_from_db()
    assert "authentication failed" in failing.last_error
    assert failing.next_check_at > timezone.now() + dt.timedelta(seconds=50)


def test_a_second_chain_in_the_same_interval_ends_without_work(imap_account, admin_user):
    make_mailbox(imap_account, actor=admin_user)

    first = tasks.sync_due_mailboxes.enqueue()
    second = tasks.sync_due_mailboxes.enqueue()

    assert len(first.return_value["mailboxes"]) == 1
    assert second.return_value == {"skipped": True}


def test_a_mailbox_is_not_due_again_until_its_next_check(imap_account, admin_user):
    mailbox = make_mailbox(imap_account, actor=admin_user)
    tasks.sync_due_mailboxes.enqueue()
    cache.delete(tasks.TICK_CLAIM_KEY)

    assert not receiving.due_mailboxes(timezone.now()).filter(pk=mailbox.pk).exists()
    later = timezone.now() + dt.timedelta(seconds=receiving.poll_seconds() + 1)
    assert receiving.due_mailboxes(later).filter(pk=mailbox.pk).exists()


def test_a_mailbox_is_claimed_once(imap_account, admin_user):
    mailbox = make_mailbox(imap_account, actor=admin_user)
    first_view = Mailbox.objects.get(pk=mailbox.pk)
    second_view = Mailbox.objects.get(pk=mailbox.pk)

    assert receiving.claim_mailbox(first_view)
    assert not receiving.claim_mailbox(second_view)


def test_sync_one_mailbox_skips_a_removed_or_paused_mailbox(imap_account, admin_user):
    mailbox = make_mailbox(imap_account, actor=admin_user)
    Mailbox.objects.filter(pk=mailbox.pk).update(is_active=False)

    assert tasks.sync_one_mailbox.enqueue(mailbox_id=mailbox.pk).return_value == {"skipped": True}
    assert tasks.sync_one_mailbox.enqueue(mailbox_id=999_999).return_value == {"skipped": True}


def test_the_poll_interval_comes_from_the_settings(settings):
    assert receiving.poll_seconds() == 60
    settings.RAPPORT_MAIL_POLL_SECONDS = 300
    assert receiving.poll_seconds() == 300
