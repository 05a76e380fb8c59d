import decimal

import pytest
from django.test import Client

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.commerce.models import Order, Product
from rapport.commerce.tests.factories import make_order, make_product
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(db):
    role = RoleFactory(name="Read only", is_read_only=True, scopes={"contacts": "all"})
    return UserFactory(username="reader", role=role)


@pytest.fixture
def contact(owner):
    return make_contact(owner=owner, first_name="Grace", last_name="Hopper")


@pytest.fixture
def order(contact):
    book = make_product(sku="BK-1", price="12.00")
    return make_order(contact=contact, lines=[{"product": book, "quantity": 2}])


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("teammate", 200), ("outsider", 404), ("admin_user", 200)]
)
def test_order_detail_access_matrix(request, api_client_for, order, who, status):
    client = api_client_for(request.getfixturevalue(who))
    response = client.get(f"/api/v1/orders/{order.pk}")
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["total"] == "24.00"
        assert body["lines"][0]["sku"] == "BK-1"
        assert body["is_revenue"] is True


def test_anonymous_gets_401(order):
    response = Client().get(f"/api/v1/orders/{order.pk}")
    assert response.status_code == 401
    assert Client().get("/api/v1/orders/").status_code == 401


def test_list_shows_only_visible_orders_within_query_budget(
    api_client_for, owner, outsider, order, django_assert_max_num_queries
):
    other = make_contact(owner=outsider, first_name="Other")
    for _ in range(5):
        make_order(contact=other)
    client = api_client_for(owner)
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/orders/")
    assert [item["id"] for item in response.json()["items"]] == [order.pk]
    outsider_ids = [
        i["id"] for i in api_client_for(outsider).get("/api/v1/orders/").json()["items"]
    ]
    assert len(outsider_ids) == 5 and order.pk not in outsider_ids


def test_pagination_walks_every_order_once(api_client_for, owner, contact):
    ids = {make_order(contact=contact, days_ago=day).pk for day in range(7)}
    client = api_client_for(owner)
    seen, cursor = [], None
    while True:
        url = "/api/v1/orders/?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)


def test_create_order_through_api(api_client_for, owner, contact):
    make_product(sku="PEN", price="2.50")
    client = api_client_for(owner)
    response = client.post(
        "/api/v1/orders/",
        {
            "contact_id": contact.pk,
            "ordered_at": "2025-04-01T09:00:00Z",
            "status": "shipped",
            "lines": [{"sku": "PEN", "quantity": 4}],
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "10.00"
    assert Order.objects.get().contact == contact


def test_create_order_bad_input_names_fields(api_client_for, owner, contact, outsider):
    client = api_client_for(owner)
    cases = [
        ({"contact_id": contact.pk, "total": "abc"}, "body.total"),
        ({"contact_id": contact.pk, "total": "5", "status": "lost"}, "body.status"),
        ({"contact_id": contact.pk, "lines": [{"quantity": 2}]}, "body.lines[0].product_id"),
        ({"contact_id": contact.pk, "total": "5", "surprise": 1}, "body.surprise"),
        ({"contact_id": contact.pk, "total": "5", "note": "x" * 501}, "body.note"),
        ({"contact_id": 999999, "total": "5"}, "body.contact_id"),
    ]
    for payload, field in cases:
        response = client.post("/api/v1/orders/", payload, content_type="application/json")
        assert response.status_code == 422, (payload, response.content)
        fields = [error["field"] for error in response.json()["errors"]]
        assert field in fields, (payload, fields)
    hidden = make_contact(owner=outsider, first_name="Hidden")
    response = client.post(
        "/api/v1/orders/", {"contact_id": hidden.pk, "total": "5"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert Order.objects.count() == 0


def test_read_only_role_cannot_write(api_client_for, reader, order):
    client = api_client_for(reader)
    assert client.get(f"/api/v1/orders/{order.pk}").status_code == 200
    response = client.patch(
        f"/api/v1/orders/{order.pk}", {"status": "refunded"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert client.delete(f"/api/v1/orders/{order.pk}").status_code == 403
    response = client.post(
        "/api/v1/products/",
        {"name": "X", "sku": "X", "price": "1"},
        content_type="application/json",
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "paid"


def test_patch_status_and_delete(api_client_for, owner, teammate, outsider, order):
    response = api_client_for(outsider).patch(
        f"/api/v1/orders/{order.pk}", {"status": "refunded"}, content_type="application/json"
    )
    assert response.status_code == 404
    client = api_client_for(teammate)
    response = client.patch(
        f"/api/v1/orders/{order.pk}", {"status": "refunded"}, content_type="application/json"
    )
    assert response.json()["status"] == "refunded"
    response = client.patch(
        f"/api/v1/orders/{order.pk}", {"status": "paid"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.status"
    assert api_client_for(outsider).delete(f"/api/v1/orders/{order.pk}").status_code == 404
    assert client.delete(f"/api/v1/orders/{order.pk}").status_code == 204
    assert not Order.objects.exists()


def test_contact_orders_endpoint_is_scoped(api_client_for, owner, outsider, order, contact):
    assert api_client_for(outsider).get(f"/api/v1/contacts/{contact.pk}/orders").status_code == 404
    body = api_client_for(owner).get(f"/api/v1/contacts/{contact.pk}/orders").json()
    assert [item["id"] for item in body["items"]] == [order.pk]


def test_products_crud(api_client_for, owner):
    client = api_client_for(owner)
    response = client.post(
        "/api/v1/products/",
        {"name": "Lamp", "sku": "LMP-1", "price": "49.00", "category": "Home"},
        content_type="application/json",
    )
    assert response.status_code == 201
    product_id = response.json()["id"]
    duplicate = client.post(
        "/api/v1/products/",
        {"name": "Lamp 2", "sku": "lmp-1", "price": "49.00"},
        content_type="application/json",
    )
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"] == [
        {"field": "body.sku", "message": "Another product already has this SKU."}
    ]
    response = client.patch(
        f"/api/v1/products/{product_id}", {"price": "39.90"}, content_type="application/json"
    )
    assert response.json()["price"] == "39.90"
    assert Product.objects.get().price == decimal.Decimal("39.90")
    listing = client.get("/api/v1/products/?q=lamp").json()
    assert [item["sku"] for item in listing["items"]] == ["LMP-1"]


def test_shops_are_for_administrators(api_client_for, owner, admin_user):
    payload = {"name": "Shop", "key": "shop-1"}
    assert (
        api_client_for(owner)
        .post("/api/v1/shops/", payload, content_type="application/json")
        .status_code
        == 403
    )
    response = api_client_for(admin_user).post(
        "/api/v1/shops/", payload, content_type="application/json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["webhook_path"] == "/api/v1/webhooks/shops/shop-1/orders"
    listed = api_client_for(admin_user).get("/api/v1/shops/").json()
    assert "secret" not in listed[0]
