import decimal
import json
import time

import pytest
from django.db.models import Sum
from django.test import Client

from rapport.audit.models import ChangeRecord
from rapport.commerce import services
from rapport.commerce.models import Order, Product
from rapport.commerce.signing import SignatureError, sign, verify
from rapport.contacts.models import Contact, ExternalId
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/shops/{key}/orders"


@pytest.fixture
def shop(admin_user, owner):
    return services.create_shop(
        actor=admin_user, name="Web shop", key="web", default_currency="EUR", default_owner=owner
    )


def delivery(order_id="1001", status="paid", **order):
    body = {
        "event": "order.created",
        "order": {
            "id": order_id,
            "created_at": "2025-03-01T10:00:00+00:00",
            "status": status,
            "currency": "EUR",
            "total": "59.90",
            "customer": {"id": "c-77", "email": "Grace@Example.com", "first_name": "Grace"},
            "lines": [
                {
                    "sku": "MUG-1",
                    "name": "Mug",
                    "category": "Kitchen",
                    "quantity": 2,
                    "unit_price": "29.95",
                }
            ],
            **order,
        },
    }
    return json.dumps(body).encode()


def post(shop, body, *, secret=None, timestamp=None, key=None):
    header = sign(body, secret or shop.secret, timestamp)
    return Client().post(
        URL.format(key=key or shop.key),
        data=body,
        content_type="application/json",
        HTTP_X_RAPPORT_SIGNATURE=header,
    )


def test_signature_round_trip_and_tampering():
    body = b'{"a": 1}'
    header = sign(body, "s3cret", timestamp=1_700_000_000)
    assert verify(body, header, "s3cret", now=1_700_000_100) == 1_700_000_000
    with pytest.raises(SignatureError, match="does not match"):
        verify(b'{"a": 2}', header, "s3cret", now=1_700_000_100)
    with pytest.raises(SignatureError, match="does not match"):
        verify(body, header, "other", now=1_700_000_100)
    with pytest.raises(SignatureError, match="more than 300 seconds"):
        verify(body, header, "s3cret", now=1_700_000_301)
    with pytest.raises(SignatureError, match="missing"):
        verify(body, None, "s3cret")
    with pytest.raises(SignatureError, match="timestamp"):
        verify(body, "v1=abc", "s3cret")


def test_valid_delivery_records_order_contact_and_product(shop, owner):
    response = post(shop, delivery())
    assert response.status_code == 201, response.content
    result = response.json()
    assert result["created"] is True and result["status"] == "paid"
    order = Order.objects.get(pk=result["order_id"])
    assert (order.total, order.source, order.external_id, order.shop) == (
        decimal.Decimal("59.90"),
        "webhook",
        "1001",
        shop,
    )
    contact = order.contact
    assert contact.primary_email == "grace@example.com"
    assert contact.owner == owner
    assert ExternalId.objects.filter(contact=contact, system="shop:web", value="c-77").exists()
    product = Product.objects.get(sku="MUG-1")
    assert (product.name, product.category, product.price) == (
        "Mug",
        "Kitchen",
        decimal.Decimal("29.95"),
    )


def test_retried_delivery_never_doubles_revenue(shop):
    body = delivery()
    first = post(shop, body)
    second = post(shop, body)
    third = post(shop, delivery(), timestamp=int(time.time()) - 10)
    assert first.status_code == 201
    assert second.status_code == 200 and second.json()["created"] is False
    assert third.json()["order_id"] == first.json()["order_id"]
    assert Order.objects.count() == 1
    assert Order.objects.revenue().aggregate(total=Sum("total"))["total"] == decimal.Decimal(
        "59.90"
    )
    assert Contact.objects.count() == 1


def test_later_delivery_moves_status_but_stale_one_does_not(shop):
    post(shop, delivery(status="paid"))
    refunded = post(shop, delivery(status="refunded"))
    assert refunded.json() == {
        "order_id": refunded.json()["order_id"],
        "created": False,
        "status": "refunded",
    }
    stale = post(shop, delivery(status="shipped"))
    assert stale.json()["status"] == "refunded"
    assert Order.objects.revenue().count() == 0


def test_known_customer_is_matched_by_email(shop, owner):
    grace = make_contact(owner=owner, first_name="Grace", emails=["grace@example.com"])
    post(shop, delivery())
    assert Order.objects.get().contact == grace
    assert Contact.objects.count() == 1
    # The shop's customer id is linked through the contacts service, with an audit record.
    assert ExternalId.objects.filter(contact=grace, system="shop:web", value="c-77").exists()
    link = ChangeRecord.objects.filter(
        entity="contacts.contact", object_id=str(grace.pk), message="Linked to shop:web"
    )
    assert link.get().after == {"external_ids": ["shop:web: c-77"]}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda shop, body: post(shop, body, secret="whsec_wrong"),
        lambda shop, body: post(shop, body, timestamp=int(time.time()) - 3600),
        lambda shop, body: Client().post(
            URL.format(key=shop.key), data=body, content_type="application/json"
        ),
        lambda shop, body: Client().post(
            URL.format(key=shop.key),
            data=body.replace(b"59.90", b"5.90"),
            content_type="application/json",
            HTTP_X_RAPPORT_SIGNATURE=sign(body, shop.secret),
        ),
    ],
    ids=["wrong-secret", "replayed-old-timestamp", "unsigned", "body-changed"],
)
def test_untrusted_deliveries_are_refused_and_write_nothing(shop, tamper):
    response = tamper(shop, delivery())
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert Order.objects.count() == 0 and Contact.objects.count() == 0


def test_unknown_or_inactive_shop_is_404(shop, admin_user):
    assert post(shop, delivery(), key="nope").status_code == 404
    services.set_shop_active(actor=admin_user, shop=shop, is_active=False)
    assert post(shop, delivery()).status_code == 404


def test_rotated_secret_invalidates_the_old_one(shop, admin_user):
    old = shop.secret
    services.rotate_shop_secret(actor=admin_user, shop=shop)
    assert post(shop, delivery(), secret=old).status_code == 401
    assert post(shop, delivery()).status_code == 201


def test_bad_payload_is_422_with_field_paths_and_no_partial_write(shop):
    response = post(shop, delivery(total="10.00"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body.order.total", "message": "Does not equal the sum of the lines (59.90)."}
    ]
    # The product and contact the delivery would have created are rolled back with it.
    assert Product.objects.count() == 0 and Contact.objects.count() == 0
    response = post(shop, b"not json")
    assert response.status_code == 422
    response = post(shop, delivery(customer={"email": "not-an-email"}))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.order.customer.email"
    response = post(shop, json.dumps({"order": {"id": ""}}).encode())
    assert response.json()["errors"] == [
        {"field": "body.order.id", "message": "Give the shop's order id (at most 100 characters)."}
    ]


def test_customer_created_by_a_concurrent_delivery_is_taken_not_refused(shop, owner, monkeypatch):
    """Two deliveries for one new customer: the one that loses the race between its look-up and
    its insert takes the contact the other created (get-or-create), instead of a 422."""
    looked_up = services.find_customer
    rival = {}

    def find_then_lose_the_race(**kwargs):
        found = looked_up(**kwargs)
        if found is None and not rival:
            rival["contact"] = make_contact(owner=owner, first_name="Grace")
            ExternalId.objects.create(contact=rival["contact"], system="shop:web", value="c-77")
        return found

    monkeypatch.setattr(services, "find_customer", find_then_lose_the_race)
    response = post(shop, delivery())
    assert response.status_code == 201
    assert Order.objects.get().contact == rival["contact"]
    assert Contact.objects.count() == 1
