"""The webhooks API: administrators only, the secret once, URLs checked at save time."""

from __future__ import annotations

import pytest

from rapport.automation import webhooks
from rapport.automation.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from rapport.contacts.tests.factories import make_contact
from rapport.core.tests.api_matrix import ACTORS, Call, admin_write, assert_answer, send
from rapport.mail import secrets as stored_secrets

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhooks"


def administrators(ok: int = 200) -> dict:
    return admin_write(ok)


@pytest.fixture
def delivered(owner, subscribe, django_capture_on_commit_callbacks):
    subscription = subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        make_contact(actor=owner, owner=owner)
    return subscription, WebhookDelivery.objects.get()


def endpoints(subscription, delivery, receiver):
    sid, did = subscription.pk, delivery.pk
    body = {"name": "CRM sync", "url": receiver.url("/ok"), "event_types": ["deal.created"]}
    return {
        "list": (Call("GET", f"{BASE}/subscriptions"), administrators()),
        "create": (Call("POST", f"{BASE}/subscriptions", body), administrators(201)),
        "get": (Call("GET", f"{BASE}/subscriptions/{sid}"), administrators()),
        "patch": (Call("PATCH", f"{BASE}/subscriptions/{sid}", {"name": "R"}), administrators()),
        "deliveries": (Call("GET", f"{BASE}/subscriptions/{sid}/deliveries"), administrators()),
        "replay": (Call("POST", f"{BASE}/deliveries/{did}/replay"), administrators(202)),
        "delete": (Call("DELETE", f"{BASE}/subscriptions/{sid}"), administrators(204)),
    }


ENDPOINT_NAMES = ["list", "create", "get", "patch", "deliveries", "replay", "delete"]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_permission_matrix(delivered, receiver, client_as, endpoint, actor):
    subscription, delivery = delivered
    call, answers = endpoints(subscription, delivery, receiver)[endpoint]
    assert_answer(client_as, actor, call, answers[actor])


def test_create_answers_the_secret_once(client_as, receiver, webhook_settings):
    client = client_as("admin")
    response = send(
        client,
        Call(
            "POST",
            f"{BASE}/subscriptions",
            {"name": "Sync", "url": receiver.url(), "event_types": ["order.placed"]},
        ),
    )
    assert response.status_code == 201, response.content
    created = response.json()
    subscription = WebhookSubscription.objects.get(pk=created["id"])
    assert created["secret"] == stored_secrets.decrypt(subscription.secret_encrypted)
    assert created["secret_hint"] == created["secret"][-4:]
    again = send(client, Call("GET", f"{BASE}/subscriptions/{subscription.pk}")).json()
    assert "secret" not in again and again["secret_hint"] == created["secret_hint"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://localhost/hook", "localhost resolves to"),
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
    ],
)
def test_a_private_url_is_a_422_naming_the_field(client_as, url, words):
    response = send(
        client_as("admin"),
        Call(
            "POST",
            f"{BASE}/subscriptions",
            {"name": "Sync", "url": url, "event_types": ["order.placed"]},
        ),
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "body.url" and words in error["message"]
    assert not WebhookSubscription.objects.exists()


def test_an_unknown_event_type_is_a_422(client_as, receiver, webhook_settings):
    response = send(
        client_as("admin"),
        Call(
            "POST",
            f"{BASE}/subscriptions",
            {"name": "Sync", "url": receiver.url(), "event_types": ["contact.exploded"]},
        ),
    )
    assert response.status_code == 422
    assert "event_types" in response.json()["errors"][0]["field"]


def test_deliveries_show_the_answer_and_replay_requeues(
    delivered, client_as, receiver, django_capture_on_commit_callbacks
):
    subscription, delivery = delivered
    client = client_as("admin")
    page = send(client, Call("GET", f"{BASE}/subscriptions/{subscription.pk}/deliveries")).json()
    (item,) = page["items"]
    assert item["event_id"] == str(delivery.event_id)
    assert item["status"] == "delivered" and item["response_status"] == 200
    assert item["payload"]["type"] == "contact.created"
    failed = send(
        client, Call("GET", f"{BASE}/subscriptions/{subscription.pk}/deliveries?status=failed")
    ).json()
    assert failed["items"] == []
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, Call("POST", f"{BASE}/deliveries/{delivery.pk}/replay"))
    assert response.status_code == 202
    assert receiver.record.ids()[str(delivery.event_id)] == 2
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_patch_switches_a_subscription_back_on(delivered, client_as, admin_user):
    subscription, _delivery = delivered
    webhooks.disable_subscription(subscription=subscription, reason="Failing for three days.")
    response = send(
        client_as("admin"),
        Call("PATCH", f"{BASE}/subscriptions/{subscription.pk}", {"is_active": True}),
    )
    assert response.status_code == 200
    assert response.json()["is_active"] is True and response.json()["disabled_reason"] == ""


def test_the_inbound_shop_webhook_path_is_untouched(client_as):
    response = send(client_as("anonymous"), Call("POST", f"{BASE}/shops/nope/orders", {}))
    assert response.status_code != 401  # still the public inbound endpoint
