import decimal
import re

import pytest

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.commerce import panels
from rapport.commerce.models import Order, Product, Shop
from rapport.commerce.tests.factories import make_order, make_product
from rapport.contacts.tests.factories import make_contact, make_organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(owner):
    return make_contact(owner=owner, first_name="Grace", last_name="Hopper")


@pytest.fixture
def order(contact):
    return make_order(contact=contact, lines=[{"product": make_product(sku="BK-1", price="12.00")}])


def test_order_list_is_scoped_and_within_budget(
    web_client_for, owner, outsider, order, django_assert_max_num_queries
):
    for _ in range(5):
        make_order(contact=make_contact(owner=outsider, first_name="Other"))
    client = web_client_for(owner)
    client.get("/commerce/orders/")
    with django_assert_max_num_queries(10):
        response = client.get("/commerce/orders/")
    body = response.content.decode()
    assert order.get_absolute_url() in body
    assert len(re.findall(r'href="/commerce/orders/\d+/"', body)) == 1


def test_order_detail_matrix(web_client_for, owner, teammate, outsider, order):
    assert web_client_for(owner).get(order.get_absolute_url()).status_code == 200
    assert web_client_for(teammate).get(order.get_absolute_url()).status_code == 200
    assert web_client_for(outsider).get(order.get_absolute_url()).status_code == 404


def test_order_form_records_lines(web_client_for, owner, contact):
    make_product(sku="PEN", price="2.50")
    client = web_client_for(owner)
    assert client.get(f"/commerce/orders/new/?contact={contact.pk}").status_code == 200
    response = client.post(
        "/commerce/orders/new/",
        {
            "contact": contact.pk,
            "status": "paid",
            "lines-a1-sku": "pen",
            "lines-a1-quantity": "4",
            "lines-a1-unit_price": "",
            "lines-b2-sku": "",
            "lines-b2-quantity": "1",
            "lines-b2-unit_price": "",
        },
    )
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.total == decimal.Decimal("10.00") and order.contact == contact


def test_order_form_shows_errors_beside_the_line(web_client_for, owner, contact):
    response = web_client_for(owner).post(
        "/commerce/orders/new/",
        {"contact": contact.pk, "status": "paid", "lines-x-sku": "NOPE", "lines-x-quantity": "1"},
    )
    assert response.status_code == 422
    assert "Line 1, SKU: No product has this SKU." in response.content.decode()
    assert not Order.objects.exists()


def test_order_form_for_someone_elses_contact_is_404(web_client_for, outsider, contact):
    assert (
        web_client_for(outsider).get(f"/commerce/orders/new/?contact={contact.pk}").status_code
        == 404
    )


def test_status_change_and_read_only(web_client_for, owner, order):
    reader = UserFactory(
        username="reader",
        role=RoleFactory(name="RO", is_read_only=True, scopes={"contacts": "all"}),
    )
    assert (
        web_client_for(reader)
        .post(f"/commerce/orders/{order.pk}/status/", {"status": "refunded"})
        .status_code
        == 403
    )
    web_client_for(owner).post(f"/commerce/orders/{order.pk}/status/", {"status": "refunded"})
    order.refresh_from_db()
    assert order.status == "refunded"


def test_orders_panel_and_timeline_on_the_360_page(web_client_for, owner, contact, order):
    body = web_client_for(owner).get(contact.get_absolute_url()).content.decode()
    assert 'id="panel-orders"' in body
    assert order.get_absolute_url() in body
    assert "12.00 EUR" in body
    entries = panels.timeline_entries([contact.pk], [], 10)
    assert [(e.kind, e.title) for e in entries] == [("order", f"Order #{order.pk} · 12.00 EUR")]


def test_orders_panel_on_the_organization_page(web_client_for, owner):
    organization = make_organization(owner=owner)
    make_order(organization=organization, total="99.00")
    body = web_client_for(owner).get(organization.get_absolute_url()).content.decode()
    assert 'id="panel-orders"' in body and "99.00 EUR" in body


def test_products_pages(web_client_for, owner):
    client = web_client_for(owner)
    response = client.post(
        "/commerce/products/new/",
        {
            "name": "Lamp",
            "sku": "LMP",
            "category": "Home",
            "price": "49.00",
            "currency": "EUR",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    product = Product.objects.get()
    response = client.post(
        "/commerce/products/new/",
        {"name": "Lamp 2", "sku": "lmp", "price": "1", "currency": "EUR"},
    )
    assert response.status_code == 422
    assert "Another product already has this SKU." in response.content.decode()
    assert client.get("/commerce/products/?q=lamp").status_code == 200
    assert client.get(product.get_absolute_url()).status_code == 200


def test_shops_page_is_for_administrators(web_client_for, owner, admin_user):
    assert web_client_for(owner).get("/commerce/shops/").status_code == 403
    client = web_client_for(admin_user)
    response = client.post(
        "/commerce/shops/", {"name": "Web", "key": "web", "default_currency": "EUR"}
    )
    assert response.status_code == 200
    shop = Shop.objects.get()
    assert shop.secret in response.content.decode()
    assert shop.secret not in client.get("/commerce/shops/").content.decode()
