"""Hostile numbers and dates answer 4xx naming the field: never a 500 from the database."""

import datetime as dt
import json

import pytest
from django.core.cache import cache

from rapport.contacts.tests.factories import make_contact
from rapport.core.pagination import encode_cursor
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline

pytestmark = pytest.mark.django_db

HUGE = 10**30
OUT_OF_RANGE = [HUGE, 2**63, -1, 0]


@pytest.fixture
def api(admin_user, api_client_for):
    cache.clear()
    return api_client_for(admin_user)


@pytest.fixture
def pipeline(admin_user):
    return create_pipeline(actor=admin_user, name="New business", currency="EUR")


def post(api, path, body, method="post"):
    return getattr(api, method)(path, data=json.dumps(body), content_type="application/json")


def fields_of(response) -> list[str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return [error["field"] for error in response.json().get("errors", [])]


def test_a_cursor_naming_a_primary_key_past_64_bits_is_a_400_on_the_cursor(api, admin_user):
    make_contact(actor=admin_user, owner=admin_user)
    cursor = encode_cursor(
        ["Lovelace", "Ada"], HUGE, fields=["last_name", "first_name"], descending=False
    )
    response = api.get(f"/api/v1/contacts/?cursor={cursor}")
    assert response.status_code == 400
    assert fields_of(response) == ["query.cursor"]


@pytest.mark.parametrize("cursor", ["%%%", "x" * 5000, "eyJvIjoxfQ"])
def test_a_damaged_or_oversized_cursor_is_a_400_on_the_cursor(api, cursor):
    response = api.get("/api/v1/contacts/", {"cursor": cursor})
    assert response.status_code == 400
    assert fields_of(response) == ["query.cursor"]


@pytest.mark.parametrize("start", ["0000-00", "2026-13", "2026-00", "0000-01"])
def test_a_forecast_from_a_month_that_does_not_exist_is_a_422_on_start(api, pipeline, start):
    response = api.get(f"/api/v1/pipelines/{pipeline.pk}/forecast", {"start": start})
    assert response.status_code == 422
    assert fields_of(response) == ["query.start"]


def test_a_forecast_from_a_real_month_still_answers(api, pipeline, admin_user):
    create_deal(
        actor=admin_user,
        owner=admin_user,
        name="Big deal",
        pipeline=pipeline,
        amount="1000.00",
        expected_close_date=dt.date(2026, 12, 15),
    )
    response = api.get(
        f"/api/v1/pipelines/{pipeline.pk}/forecast", {"start": "2026-12", "months": 1}
    )
    assert response.status_code == 200
    assert [row["month"] for row in response.json()] == ["2026-12"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_an_order_with_an_impossible_quantity_is_a_422_on_it(api, value):
    body = {"total": "10.00", "lines": [{"description": "Book", "quantity": value}]}
    response = post(api, "/api/v1/orders/", body)
    assert response.status_code == 422
    assert fields_of(response) == ["body.lines[0].quantity"]


@pytest.mark.parametrize("field", ["contact_id", "organization_id"])
@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_an_order_naming_an_impossible_record_is_a_422_on_it(api, field, value):
    response = post(api, "/api/v1/orders/", {"total": "10.00", field: value})
    assert response.status_code == 422
    assert fields_of(response) == [f"body.{field}"]


def test_an_order_line_naming_an_impossible_product_is_a_422_on_it(api):
    response = post(api, "/api/v1/orders/", {"lines": [{"product_id": HUGE, "quantity": 1}]})
    assert response.status_code == 422
    assert fields_of(response) == ["body.lines[0].product_id"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_path_id_out_of_range_is_a_422_on_it(api, value):
    response = api.get(f"/api/v1/orders/{value}")
    assert response.status_code == 422
    assert fields_of(response) == ["path.order_id"]


@pytest.mark.parametrize("field", ["pipeline_id", "stage_id", "owner_id", "contact_id"])
def test_a_deal_naming_an_impossible_record_is_a_422_on_it(api, pipeline, field):
    body = {"name": "Big", "pipeline_id": pipeline.pk, "expected_close_date": "2026-12-15"}
    body[field] = HUGE
    response = post(api, "/api/v1/deals/", body)
    assert response.status_code == 422
    assert fields_of(response) == [f"body.{field}"]


@pytest.mark.parametrize("amount", [str(HUGE), "1e30", "-1"])
def test_a_deal_with_an_impossible_amount_is_a_422_on_it(api, pipeline, amount):
    body = {"name": "Big", "pipeline_id": pipeline.pk, "expected_close_date": "2026-12-15"}
    body["amount"] = amount
    response = post(api, "/api/v1/deals/", body)
    assert response.status_code == 422
    assert fields_of(response) == ["body.amount"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_segment_members_naming_an_impossible_contact_is_a_422_on_it(api, value):
    segment = post(api, "/api/v1/segments/", {"name": "VIP", "kind": "static"})
    assert segment.status_code == 201, segment.content
    path = f"/api/v1/segments/{segment.json()['id']}/members"
    response = post(api, path, {"contact_ids": [value]})
    assert response.status_code == 422
    assert fields_of(response) == ["body.contact_ids[0]"]


def test_a_moment_with_an_offset_postgresql_refuses_is_read_in_utc(api):
    # ISO 8601 allows +21:35; PostgreSQL stops at ±15:59 and answered a 500.
    response = api.get("/api/v1/interactions/", {"occurred_after": "3486-01-11T06:04:16+21:35"})
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


def test_a_moment_with_no_utc_equivalent_is_a_422_on_it(api):
    response = api.get("/api/v1/interactions/", {"occurred_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 422
    assert fields_of(response) == ["query.occurred_after"]
    order = post(api, "/api/v1/orders/", {"total": "1.00", "ordered_at": "0001-01-01T00:00+05:00"})
    assert order.status_code == 422
    assert fields_of(order) == ["body.ordered_at"]
