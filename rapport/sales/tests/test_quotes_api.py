"""The quotes API: /api/v1/deals/{deal_id}/quotes and /api/v1/quotes/{quote_id}[/…]."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from rapport.commerce.tests.factories import make_product
from rapport.sales.models import Quote
from rapport.sales.quotes.services import create_quote
from rapport.sales.services.deal_lines import add_deal_line

pytestmark = pytest.mark.django_db


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def deal(make_deal, owner, admin_user):
    deal = make_deal(owner=owner, name="Tea for Acme")
    tea = make_product(actor=admin_user, name="Tea", sku="TEA-1", price="12.50")
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=4, discount="10")
    return deal


def test_creating_listing_reading_and_versioning(api_client_for, owner, deal):
    client = api_client_for(owner)
    url = f"/api/v1/deals/{deal.pk}/quotes"
    created = post(client, url, {"notes": "Thanks!"})
    assert created.status_code == 201, created.content
    first = created.json()
    year = timezone.localdate().year
    assert (first["number"], first["version"], first["status"]) == (f"Q-{year}-0001", 1, "draft")
    assert (first["subtotal"], first["discount_total"], first["total"]) == (
        "50.00",
        "5.00",
        "45.00",
    )
    line = first["lines"][0]
    assert isinstance(line.pop("product_id"), int)
    assert line == {
        "position": 1,
        "name": "Tea",
        "sku": "TEA-1",
        "description": "",
        "quantity": 4,
        "unit_price": "12.50",
        "discount": "10.00",
        "net_unit_price": "11.25",
        "line_total": "45.00",
    }
    second = post(client, url).json()
    assert (second["number"], second["version"]) == (f"Q-{year}-0001", 2)
    listed = client.get(url).json()
    assert [(q["version"], q["status"]) for q in listed] == [(2, "draft"), (1, "superseded")]
    assert client.get(f"/api/v1/quotes/{first['id']}").json()["status"] == "superseded"


def test_bad_input_is_a_422_naming_the_field(api_client_for, owner, deal):
    client = api_client_for(owner)
    url = f"/api/v1/deals/{deal.pk}/quotes"
    past = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = post(client, url, {"valid_until": past})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body.valid_until", "message": "Must be today or later."}
    ]
    negative = post(
        client, url, {"lines": [{"name": "Returns", "quantity": -1, "unit_price": "5"}]}
    )
    assert negative.status_code == 422
    assert [e["field"] for e in negative.json()["errors"]] == ["body.lines[0].quantity"]
    unknown = post(client, url, {"discount": "5"})
    assert unknown.status_code == 422
    assert not Quote.objects.exists()


def test_given_lines(api_client_for, owner, deal):
    response = post(
        api_client_for(owner),
        f"/api/v1/deals/{deal.pk}/quotes",
        {"lines": [{"name": "Setup", "quantity": 2, "unit_price": "99.99", "discount": "50"}]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "100.00"


def test_accepting_declining_and_wrong_transitions(api_client_for, owner, deal):
    client = api_client_for(owner)
    first = create_quote(actor=owner, deal=deal)
    second = create_quote(actor=owner, deal=deal)

    superseded = post(client, f"/api/v1/quotes/{first.pk}/accept")
    assert superseded.status_code == 422
    assert "newer version" in superseded.json()["errors"][0]["message"]

    declined = post(client, f"/api/v1/quotes/{second.pk}/decline", {"reason": "Budget cut"})
    assert declined.status_code == 200, declined.content
    assert (declined.json()["status"], declined.json()["decline_reason"]) == (
        "declined",
        "Budget cut",
    )
    assert post(client, f"/api/v1/quotes/{second.pk}/accept").status_code == 422
    third = create_quote(actor=owner, deal=deal)
    accepted = post(client, f"/api/v1/quotes/{third.pk}/accept")
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["decided_by_id"] == owner.pk


def test_the_pdf(api_client_for, owner, read_only_user, deal):
    quote = create_quote(actor=owner, deal=deal)
    response = api_client_for(read_only_user).get(f"/api/v1/quotes/{quote.pk}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{quote.number}-v1.pdf"'
    assert response.content.startswith(b"%PDF-")
    assert quote.number.encode() in response.content


def test_another_teams_rep_finds_nothing_and_a_viewer_changes_nothing(
    api_client_for, owner, outsider, read_only_user, deal
):
    quote = create_quote(actor=owner, deal=deal)
    outside = api_client_for(outsider)
    for path in (
        f"/api/v1/deals/{deal.pk}/quotes",
        f"/api/v1/quotes/{quote.pk}",
        f"/api/v1/quotes/{quote.pk}/pdf",
    ):
        assert outside.get(path).status_code == 404, path
    assert post(outside, f"/api/v1/deals/{deal.pk}/quotes").status_code == 404
    assert post(outside, f"/api/v1/quotes/{quote.pk}/accept").status_code == 404

    viewer = api_client_for(read_only_user)
    assert viewer.get(f"/api/v1/deals/{deal.pk}/quotes").status_code == 200
    assert post(viewer, f"/api/v1/deals/{deal.pk}/quotes").status_code == 403
    assert post(viewer, f"/api/v1/quotes/{quote.pk}/accept").status_code == 403
    assert post(viewer, f"/api/v1/quotes/{quote.pk}/decline").status_code == 403
    sent = post(
        viewer,
        f"/api/v1/quotes/{quote.pk}/send",
        {"mailbox_id": 1, "to": ["a@example.com"], "subject": "Quote", "message": "Hi"},
    )
    assert sent.status_code == 403
    quote.refresh_from_db()
    assert (quote.status, Quote.objects.count()) == ("draft", 1)
