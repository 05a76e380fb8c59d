"""The API of a deal's product lines: /api/v1/deals/{deal_id}/lines."""

import json

import pytest
from django.test import Client

from rapport.commerce.models import Order
from rapport.commerce.tests.factories import make_product
from rapport.sales.models import DealLine
from rapport.sales.services.deals import move_deal

pytestmark = pytest.mark.django_db


def as_json(client, method, url, body=None):
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data, content_type="application/json")


@pytest.fixture
def tea(admin_user):
    return make_product(actor=admin_user, name="Tea", sku="TEA-1", price="12.50")


@pytest.fixture
def deal(make_deal, owner, lead):
    return make_deal(owner=owner, name="Tea for Acme", amount="300.00", contact=lead)


def test_adding_changing_listing_and_removing_lines(api_client_for, owner, deal, tea):
    client = api_client_for(owner)
    url = f"/api/v1/deals/{deal.pk}/lines"
    added = as_json(client, "post", url, {"product_id": tea.pk, "quantity": 4, "discount": "10"})
    assert added.status_code == 201, added.content
    line = added.json()
    assert (line["product"], line["sku"], line["unit_price"], line["net_unit_price"]) == (
        "Tea",
        "TEA-1",
        "12.50",
        "11.25",
    )
    assert line["line_total"] == "45.00"
    changed = as_json(client, "patch", f"{url}/{line['id']}", {"quantity": 2})
    assert changed.json()["line_total"] == "22.50"
    listed = client.get(url).json()
    assert (listed["amount"], len(listed["lines"])) == ("22.50", 1)
    assert client.delete(f"{url}/{line['id']}").status_code == 204
    assert client.get(url).json()["lines"] == []


def test_replacing_the_lines_and_errors_name_the_field(api_client_for, owner, deal, tea):
    client = api_client_for(owner)
    url = f"/api/v1/deals/{deal.pk}/lines"
    replaced = as_json(client, "put", url, {"lines": [{"product_id": tea.pk, "quantity": 2}]})
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["amount"] == "25.00"
    unknown = as_json(client, "post", url, {"product_id": 999_999})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"field": "body.product_id", "message": "No product with this id."}
    ]
    faulty = as_json(
        client, "put", url, {"lines": [{"product_id": tea.pk}, {"product_id": 999_999}]}
    )
    assert faulty.status_code == 422
    assert [e["field"] for e in faulty.json()["errors"]] == ["body.lines[1].product_id"]
    too_many = as_json(client, "post", url, {"product_id": tea.pk, "quantity": 0})
    assert too_many.status_code == 422
    assert list(DealLine.objects.values_list("quantity", flat=True)) == [2]


def test_who_may_not_change_the_deal_may_not_change_its_lines(
    api_client_for, owner, deal, tea, read_only_user, outsider
):
    line = DealLine.objects.create(
        deal=deal, product=tea, quantity=1, unit_price=tea.price, line_total=tea.price
    )
    url = f"/api/v1/deals/{deal.pk}/lines"
    read_only = api_client_for(read_only_user)
    assert read_only.get(url).status_code == 200
    assert as_json(read_only, "post", url, {"product_id": tea.pk}).status_code == 403
    assert as_json(read_only, "patch", f"{url}/{line.pk}", {"quantity": 5}).status_code == 403
    assert read_only.delete(f"{url}/{line.pk}").status_code == 403
    stranger = api_client_for(outsider)
    assert stranger.get(url).status_code == 404
    assert as_json(stranger, "post", url, {"product_id": tea.pk}).status_code == 404
    assert stranger.delete(f"{url}/{line.pk}").status_code == 404
    assert Client().get(url).status_code == 401
    assert list(DealLine.objects.values_list("quantity", flat=True)) == [1]


def test_a_won_deal_shows_as_an_order_of_kind_deal(api_client_for, owner, deal, stages, tea):
    client = api_client_for(owner)
    as_json(client, "post", f"/api/v1/deals/{deal.pk}/lines", {"product_id": tea.pk})
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    order = Order.objects.get(deal_id=deal.pk)
    body = client.get(f"/api/v1/orders/{order.pk}").json()
    assert (body["kind"], body["deal_id"], body["total"]) == ("deal", deal.pk, "12.50")
