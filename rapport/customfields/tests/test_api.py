"""/api/v1/custom-fields: everyone reads the definitions; administrators write them."""

import json

import pytest

from rapport.core.tests import api_matrix
from rapport.core.tests.api_matrix import (
    ACTORS,
    Call,
    admin_write,
    assert_answer,
    collection_read,
)
from rapport.customfields.models import CustomFieldDefinition
from rapport.customfields.services import create_definition

pytestmark = pytest.mark.django_db
client_as, people, read_only_user = (
    api_matrix.client_as,
    api_matrix.people,
    api_matrix.read_only_user,
)


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def fields_of(response) -> dict:
    assert response.status_code == 422, response.content
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.fixture
def region(admin_user):
    return create_definition(
        actor=admin_user, entity="contact", key="region", label="Region", field_type="text"
    )


ENDPOINTS = {
    "list": (lambda d: Call("GET", "/api/v1/custom-fields/"), collection_read()),
    "get": (lambda d: Call("GET", f"/api/v1/custom-fields/{d.pk}"), collection_read()),
    "create": (
        lambda d: Call(
            "POST",
            "/api/v1/custom-fields/",
            {"entity": "organization", "key": "segment", "label": "Segment", "field_type": "text"},
        ),
        admin_write(201),
    ),
    "update": (
        lambda d: Call("PATCH", f"/api/v1/custom-fields/{d.pk}", {"label": "Sales region"}),
        admin_write(200),
    ),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_permission_matrix(region, client_as, endpoint, actor):
    make_call, answers = ENDPOINTS[endpoint]
    assert_answer(client_as, actor, make_call(region), answers[actor])
    region.refresh_from_db()
    assert region.label == (
        "Sales region" if (endpoint, actor) == ("update", "admin") else "Region"
    )


def test_create_a_choice_field_and_list_by_entity(client_as, region):
    api = client_as("admin")
    response = post(
        api,
        "/api/v1/custom-fields/",
        {
            "entity": "contact",
            "key": "tier",
            "label": "Tier",
            "field_type": "choice",
            "choices": ["Gold", "Silver"],
            "default": "silver",
            "is_required": True,
            "position": 5,
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["default"] == "Silver"
    listed = client_as("owner").get("/api/v1/custom-fields/?entity=contact").json()["items"]
    assert [d["key"] for d in listed] == ["tier", "region"]
    assert client_as("owner").get("/api/v1/custom-fields/?entity=organization").json() == {
        "items": []
    }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"key": "Region Code"},
            "body.key",
            "Use lowercase letters, digits and underscores, starting with a letter (at most 50).",
        ),
        ({"key": "region"}, "body.key", "A field with this key already exists."),
        ({"field_type": "colour"}, "body.field_type", None),
        ({"entity": "deal_stage"}, "body.entity", None),
        ({"field_type": "choice"}, "body.choices", "List at least one choice."),
        (
            {"field_type": "choice", "choices": ["A", "a"]},
            "body.choices",
            "Choices must differ from each other.",
        ),
        ({"field_type": "number", "default": "ten"}, "body.default", "Enter a whole number."),
        (
            {"field_type": "boolean", "is_unique": True},
            "body.is_unique",
            "This type of field cannot be unique.",
        ),
        ({"is_required": "yes"}, "body.is_required", "Input should be a valid boolean"),
        ({"formula": "1+1"}, "body.formula", "Extra inputs are not permitted"),
        ({"label": "x" * 101}, "body.label", "String should have at most 100 characters"),
    ],
)
def test_bad_definitions_are_refused(client_as, region, body, field, message):
    full = {"entity": "contact", "key": "code", "label": "Code", "field_type": "text", **body}
    errors = fields_of(post(client_as("admin"), "/api/v1/custom-fields/", full))
    assert field in errors, errors
    if message:
        assert errors[field] == message
    assert CustomFieldDefinition.objects.count() == 1


def test_key_entity_and_type_are_fixed(client_as, region):
    api = client_as("admin")
    url = f"/api/v1/custom-fields/{region.pk}"
    response = api.patch(url, data={"field_type": "number"}, content_type="application/json")
    assert fields_of(response) == {"body.field_type": "Extra inputs are not permitted"}
    response = api.patch(url, data={"is_active": False}, content_type="application/json")
    assert response.json()["is_active"] is False
    assert api.get("/api/v1/custom-fields/?is_active=true").json()["items"] == []


def test_list_query_budget(client_as, admin_user, django_assert_max_num_queries):
    for index in range(10):
        create_definition(
            actor=admin_user,
            entity="contact",
            key=f"f{index}",
            label=f"F{index}",
            field_type="text",
        )
    api = client_as("owner")
    api.get("/api/v1/custom-fields/")
    with django_assert_max_num_queries(2):
        assert len(api.get("/api/v1/custom-fields/").json()["items"]) == 10
