"""Webhooks out, end to end against a real receiver on 127.0.0.1 that verifies signatures.

Tasks run inline (the test settings' immediate backend), so an event committed inside
`django_capture_on_commit_callbacks(execute=True)` has been sent when the block ends.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from rapport.automation import catalogue, tasks, webhooks
from rapport.automation.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from rapport.contacts.tests.factories import make_contact
from rapport.core import display
from rapport.mail import secrets as stored_secrets
from rapport.sales.models import Notification

pytestmark = pytest.mark.django_db


def new_contact(owner, **fields):
    return make_contact(actor=owner, owner=owner, **fields)


# --- subscriptions ----------------------------------------------------------------------------


def test_the_secret_is_a_standard_webhooks_secret_kept_encrypted(admin_user, subscribe):
    subscription = subscribe()
    secret = stored_secrets.decrypt(subscription.secret_encrypted)
    assert secret.startswith("whsec_")
    assert subscription.secret_hint == secret[-4:]
    assert secret not in subscription.secret_encrypted
    assert subscription.owner == admin_user and subscription.created_by == admin_user


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/hook", "127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://localhost:8000/hook", "localhost resolves to"),
        ("ftp://example.com/hook", "Only http and https URLs are called"),
    ],
)
def test_a_url_on_a_private_address_is_refused_at_save_time(admin_user, url, words):
    with pytest.raises(ValidationError) as refused:
        webhooks.create_subscription(
            actor=admin_user, name="Hook", url=url, event_types=["contact.created"]
        )
    assert words in refused.value.message_dict["url"][0]
    assert not WebhookSubscription.objects.exists()


def test_unknown_or_missing_event_types_and_names_are_named(admin_user, webhook_settings):
    with pytest.raises(ValidationError) as refused:
        webhooks.create_subscription(
            actor=admin_user, name="", url="http://127.0.0.1:9/", event_types=["contact.exploded"]
        )
    errors = refused.value.message_dict
    assert "Unknown event type: contact.exploded" in errors["event_types"][0]
    assert errors["name"] == ["Give the subscription a name."]
    with pytest.raises(ValidationError) as empty:
        webhooks.create_subscription(
            actor=admin_user, name="Hook", url="http://127.0.0.1:9/", event_types=[]
        )
    assert empty.value.message_dict["event_types"] == ["Pick at least one event."]


def test_only_administrators_configure_webhooks(owner, webhook_settings):
    with pytest.raises(PermissionDenied):
        webhooks.create_subscription(
            actor=owner, name="Hook", url="http://127.0.0.1:9/", event_types=["contact.created"]
        )


def test_the_catalogue_names_every_event_class_once():
    assert len(catalogue.BY_NAME) == len(catalogue.CATALOGUE) == len(catalogue.BY_CLASS)
    for kind in catalogue.CATALOGUE:
        assert kind.name.count(".") == 1 and kind.name == kind.name.lower()
    assert {"contact.created", "contact.merged", "deal.created", "order.placed"} <= set(
        catalogue.BY_NAME
    )
    assert {"interaction.logged", "form.submitted"} <= set(catalogue.BY_NAME)


# --- the outbox -------------------------------------------------------------------------------


def test_a_committed_change_is_delivered_signed_once(
    owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        contact = new_contact(owner)
    delivery = WebhookDelivery.objects.get()
    assert delivery.subscription == subscription
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1 and delivery.response_status == 200
    (arrival,) = receiver.record.arrivals
    assert arrival.verified  # Webhook(secret).verify on the receiving side
    assert arrival.webhook_id == str(delivery.event_id)
    assert arrival.payload["type"] == "contact.created"
    assert arrival.payload["data"]["contact_id"] == contact.pk


def test_the_outbox_row_is_written_in_the_emitting_transaction(
    owner, subscribe, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        new_contact(owner)
        # Before commit: the row is already there, inside the same transaction.
        assert WebhookDelivery.objects.filter(event_type="contact.created").count() == 1
    assert callbacks  # sending waits for the commit


def test_a_change_that_rolled_back_leaves_no_delivery(
    owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        new_contact(owner)
        raise RuntimeError("something after the change failed")
    assert not WebhookDelivery.objects.exists()
    assert receiver.record.arrivals == []


def test_only_active_subscriptions_to_the_event_get_a_row(
    admin_user, owner, subscribe, django_capture_on_commit_callbacks
):
    wanted = subscribe(events=["contact.created"], name="Wanted")
    subscribe(events=["deal.created"], name="Deals only")
    switched_off = subscribe(events=["contact.created"], name="Off")
    webhooks.update_subscription(actor=admin_user, subscription=switched_off, is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    assert list(WebhookDelivery.objects.values_list("subscription", flat=True)) == [wanted.pk]


def test_running_the_delivery_twice_sends_once(
    owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks(execute=False):
        new_contact(owner)
    delivery = WebhookDelivery.objects.get()
    first = tasks.deliver_webhooks.enqueue(delivery_ids=[delivery.pk]).return_value
    second = tasks.deliver_webhooks.enqueue(delivery_ids=[delivery.pk]).return_value
    assert first["delivered"] == 1 and second["claimed"] == 0
    assert receiver.record.ids() == {str(delivery.event_id): 1}
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_a_claimed_row_is_not_taken_by_a_second_worker_until_its_lease_ends(
    owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks(execute=False):
        new_contact(owner)
    delivery = WebhookDelivery.objects.get()
    (held,) = webhooks.claim([delivery.pk])  # a worker that then dies mid-send
    assert webhooks.deliver([delivery.pk])["claimed"] == 0
    assert receiver.record.arrivals == []
    # Its lease runs out: the row is sent again, with the same webhook-id.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert webhooks.deliver([delivery.pk])["delivered"] == 1
    # The dead worker's late bookkeeping no longer counts: the lease is someone else's.
    assert webhooks.record_outcome(held, webhooks.Outcome(status=500)) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert receiver.record.ids() == {str(delivery.event_id): 1}


def test_a_500_is_retried_with_backoff_and_shown(
    owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe("/fail")
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.response_status == 500
    assert delivery.response_excerpt == "broken"
    assert delivery.error == "The receiver answered 500."
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 5 * 0.8 - 1 <= wait <= 5 * 1.2 + 1
    assert delivery.subscription.failing_since is not None
    # Not due yet: the sweep leaves it.
    assert webhooks.deliver()["claimed"] == 0


def test_the_backoff_grows_and_ends_in_dead(settings):
    delays = [webhooks.next_delay(n) for n in range(1, 13)]
    assert delays[0] < 10 and 240 < delays[1] < 360 and delays[-1] >= 36000 * 0.8
    assert sum(webhooks.RETRY_DELAYS) < 3 * 24 * 3600


def test_a_hanging_receiver_fails_by_timeout_without_holding_the_worker(
    owner, subscribe, django_capture_on_commit_callbacks
):
    subscribe("/hang")
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    assert time.monotonic() - started < 3
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "did not answer within 0.5 s" in delivery.error


def test_a_10_mb_answer_is_capped(owner, subscribe, django_capture_on_commit_callbacks):
    subscribe("/big")
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(delivery.response_excerpt) == webhooks.EXCERPT_CHARS + 1  # and "…"
    assert delivery.response_excerpt.endswith("…")


def exhaust(delivery):
    """Make the next attempt the last one and due now."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=len(webhooks.RETRY_DELAYS), next_attempt_at=timezone.now()
    )


def test_persistent_failure_goes_dead_and_switches_the_subscription_off(
    owner, admin_user, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe("/fail", owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(webhooks.DEAD_STREAK_LIMIT):
            new_contact(owner, first_name=f"Person {n}")
    for delivery in WebhookDelivery.objects.all():
        exhaust(delivery)
    counts = webhooks.deliver()
    assert counts["dead"] == webhooks.DEAD_STREAK_LIMIT
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert "deliveries in a row were given up" in subscription.disabled_reason
    notice = Notification.objects.get(recipient=owner)
    assert subscription.name in notice.title and notice.body == subscription.disabled_reason
    # Switched off: new events make no rows; switching on again clears the reason.
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner, first_name="After")
    assert WebhookDelivery.objects.count() == webhooks.DEAD_STREAK_LIMIT
    webhooks.update_subscription(actor=admin_user, subscription=subscription, is_active=True)
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.disabled_reason == ""


def test_three_days_of_failures_switch_the_subscription_off(
    owner, subscribe, django_capture_on_commit_callbacks
):
    subscription = subscribe("/fail")
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=timezone.now() - dt.timedelta(days=3, minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    subscription.refresh_from_db()
    assert not subscription.is_active
    with timezone.override(dt.UTC):
        since = display.moment_text(subscription.failing_since, "dated")
    assert f"failed since {since} UTC (three days)." in subscription.disabled_reason


def test_410_gone_switches_off_at_once(owner, subscribe, django_capture_on_commit_callbacks):
    subscription = subscribe("/gone")
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DEAD
    subscription.refresh_from_db()
    assert not subscription.is_active and "410 Gone" in subscription.disabled_reason


def test_a_success_clears_the_failure_count(
    owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe("/ok")
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failure_streak=3, failing_since=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    subscription.refresh_from_db()
    assert subscription.failure_streak == 0 and subscription.failing_since is None
    assert subscription.last_success_at is not None


def test_replay_sends_again_with_the_same_webhook_id(
    owner, admin_user, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.replay_delivery(actor=admin_user, delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.replayed_by == admin_user
    assert receiver.record.ids() == {str(delivery.event_id): 2}
    with pytest.raises(PermissionDenied):
        webhooks.replay_delivery(actor=owner, delivery=delivery)


def test_a_test_event_reaches_the_receiver(
    admin_user, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhooks.send_test_event(actor=admin_user, subscription=subscription)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    (arrival,) = receiver.record.arrivals
    assert arrival.verified and arrival.payload["type"] == "webhook.test"


def test_the_sweep_sends_what_is_due_and_a_lost_task_does_not_lose_the_row(
    owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe()
    # The queue lost the task: the commit callbacks never ran.
    with django_capture_on_commit_callbacks(execute=False):
        new_contact(owner)
    result = tasks.sweep_webhooks.enqueue().return_value
    assert result["delivered"] == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
    # The immediate backend cannot run the next sweep later, so none was queued.
    assert tasks.schedule_sweep() is False


def test_a_stale_secret_key_is_recorded_not_crashed(
    owner, subscribe, django_capture_on_commit_callbacks
):
    subscription = subscribe()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(secret_encrypted="garbage")
    with django_capture_on_commit_callbacks(execute=True):
        new_contact(owner)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "signing secret cannot be read" in delivery.error


def test_the_lease_covers_the_worst_case_of_a_batch(settings):
    settings.RAPPORT_WEBHOOKS_CONCURRENCY = 10
    settings.RAPPORT_WEBHOOKS_TOTAL_DEADLINE = 30
    assert webhooks.lease_for(10) == dt.timedelta(seconds=45)
    assert webhooks.lease_for(25) == dt.timedelta(seconds=105)
