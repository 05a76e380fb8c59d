"""Settings → Webhooks pages (administrators only)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rapport.automation.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from rapport.contacts.tests.factories import make_contact
from rapport.mail import secrets as stored_secrets

pytestmark = pytest.mark.django_db


def test_only_administrators_see_the_pages(web_client_for, owner, admin_user, subscribe):
    subscription = subscribe()
    for name, args in [
        ("automation:webhook_list", []),
        ("automation:webhook_create", []),
        ("automation:webhook_detail", [subscription.pk]),
        ("automation:webhook_edit", [subscription.pk]),
    ]:
        assert web_client_for(owner).get(reverse(name, args=args)).status_code == 403
        assert web_client_for(admin_user).get(reverse(name, args=args)).status_code == 200


def test_adding_a_webhook_shows_the_secret_once(
    web_client_for, admin_user, receiver, webhook_settings
):
    client = web_client_for(admin_user)
    form = client.get(reverse("automation:webhook_create")).content.decode()
    assert "Contacts" in form and "A contact was created" in form and "Orders" in form
    response = client.post(
        reverse("automation:webhook_create"),
        {"name": "Sync", "url": receiver.url(), "event_types": ["contact.created", "deal.created"]},
    )
    assert response.status_code == 201
    subscription = WebhookSubscription.objects.get()
    secret = stored_secrets.decrypt(subscription.secret_encrypted)
    assert secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    again = client.get(subscription.get_absolute_url()).content.decode()
    assert secret not in again and f"whsec_…{subscription.secret_hint}" in again


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://localhost:8000/", "localhost resolves to"),
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ],
)
def test_a_private_url_is_refused_with_the_reason(web_client_for, admin_user, url, words):
    response = web_client_for(admin_user).post(
        reverse("automation:webhook_create"),
        {"name": "Sync", "url": url, "event_types": ["contact.created"]},
    )
    assert response.status_code == 422
    assert words in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_no_event_picked_is_refused(web_client_for, admin_user, receiver, webhook_settings):
    response = web_client_for(admin_user).post(
        reverse("automation:webhook_create"), {"name": "Sync", "url": receiver.url()}
    )
    assert response.status_code == 422
    assert "Pick at least one event." in response.content.decode()


def test_test_event_deliveries_and_replay(
    web_client_for, admin_user, owner, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe("/fail")
    client = web_client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        make_contact(actor=owner, owner=owner)
        client.post(reverse("automation:webhook_test", args=[subscription.pk]))
    page = client.get(subscription.get_absolute_url()).content.decode()
    assert "contact.created" in page and "webhook.test" in page
    assert "500" in page and "broken" in page and "The receiver answered 500." in page
    delivery = WebhookDelivery.objects.get(event_type="contact.created")
    receiver.record.arrivals.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("automation:delivery_replay", args=[delivery.pk]))
    assert response.status_code == 302
    assert receiver.record.ids() == {str(delivery.event_id): 1}
    filtered = client.get(subscription.get_absolute_url() + "?status=dead").content.decode()
    assert "webhook.test" in filtered  # a failed test event is not retried
    assert WebhookDelivery.objects.get(event_type="webhook.test").status == DeliveryStatus.DEAD


def test_switch_off_and_delete(web_client_for, admin_user, subscribe):
    subscription = subscribe()
    client = web_client_for(admin_user)
    client.post(
        reverse("automation:webhook_switch", args=[subscription.pk]), {"is_active": "false"}
    )
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert (
        "Switched off by an administrator."
        in client.get(reverse("automation:webhook_list")).content.decode()
    )
    client.post(reverse("automation:webhook_delete", args=[subscription.pk]))
    assert not WebhookSubscription.objects.exists()
