"""/api/v1/organizations and /api/v1/tags."""

import json

import pytest

from rapport.contacts import services
from rapport.contacts.models import Organization, OrganizationRelationship, Tag
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.customfields.services import create_definition

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def fields_of(response) -> dict:
    assert response.status_code == 422, response.content
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.fixture
def api(owner, api_client_for):
    return api_client_for(owner)


def test_create_and_patch_an_organization(api, owner, admin_user):
    create_definition(
        actor=admin_user,
        entity="organization",
        key="employees",
        label="Employees",
        field_type="number",
        min_value=1,
    )
    response = post(
        api,
        "/api/v1/organizations/",
        {
            "name": "Acme GmbH",
            "domain": "https://www.Acme.de/about",
            "phone": "030 1234567",
            "country": "DE",
            "size": "51-200",
            "tags": ["Partner"],
            "custom_fields": {"employees": "120"},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["domain"], body["phone"], body["size"]) == ("acme.de", "+49301234567", "51-200")
    assert body["custom_fields"] == {"employees": 120}
    assert body["owner"]["id"] == owner.pk
    assert body["tags"] == ["Partner"]

    changed = patch(api, f"/api/v1/organizations/{body['id']}", {"industry": "Tools", "tags": None})
    assert changed.status_code == 200
    assert (changed.json()["industry"], changed.json()["tags"]) == ("Tools", [])
    assert changed.json()["name"] == "Acme GmbH"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "body.name", "Field required"),
        ({"name": ""}, "body.name", "String should have at least 1 character"),
        (
            {"name": "A", "domain": "not a domain"},
            "body.domain",
            "Enter a domain such as example.com.",
        ),
        ({"name": "A", "website": "javascript:alert(1)"}, "body.website", "Enter a valid URL."),
        (
            {"name": "A", "phone": "123"},
            "body.phone",
            "Enter a valid phone number, e.g. +1 415 555 0100.",
        ),
        (
            {"name": "A", "size": "huge"},
            "body.size",
            "Input should be '', '1-10', '11-50', '51-200', '201-1000' or '1001+'",
        ),
        ({"name": "A", "employees": 4}, "body.employees", "Extra inputs are not permitted"),
        (
            {"name": "A", "custom_fields": {"employees": 0}},
            "body.custom_fields.employees",
            "Must be at least 1.",
        ),
        (
            {"name": "A", "owner_id": "me"},
            "body.owner_id",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
    ],
)
def test_bad_organization_input(api, admin_user, body, field, message):
    create_definition(
        actor=admin_user,
        entity="organization",
        key="employees",
        label="Employees",
        field_type="number",
        min_value=1,
    )
    before = Organization.objects.count()
    assert fields_of(post(api, "/api/v1/organizations/", body))[field] == message
    assert Organization.objects.count() == before


def test_patch_cannot_blank_the_name(api, owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    assert fields_of(patch(api, f"/api/v1/organizations/{acme.pk}", {"name": None})) == {
        "body.name": "An organization needs a name."
    }
    acme.refresh_from_db()
    assert acme.name == "Acme"


def test_members_page_by_name_and_hide_contacts_outside_the_scope(api, owner, outsider):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    for last_name in ["Young", "Adams", "Miller"]:
        make_contact(actor=owner, owner=owner, last_name=last_name, organization=acme)
    hidden = make_contact(actor=outsider, owner=outsider, last_name="Hidden")
    services.add_membership(actor=outsider, contact=hidden, organization=acme, role="Spy")

    first = api.get(f"/api/v1/organizations/{acme.pk}/members?limit=2").json()
    assert [m["contact"]["full_name"] for m in first["items"]] == ["Ada Adams", "Ada Miller"]
    assert first["items"][0]["is_primary"] is True
    second = api.get(
        f"/api/v1/organizations/{acme.pk}/members?limit=2&cursor={first['next_cursor']}"
    ).json()
    assert [m["contact"]["full_name"] for m in second["items"]] == ["Ada Young"]
    assert second["next_cursor"] is None


def test_relationships_add_list_and_remove(api, owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    bolt = make_organization(actor=owner, owner=owner, name="Bolt")
    url = f"/api/v1/organizations/{acme.pk}/relationships"
    added = post(api, url, {"to_organization_id": bolt.pk, "kind": "supplier", "note": "Bolts"})
    assert added.status_code == 201
    assert added.json()["kind_label"] == "Supplier to"
    assert added.json()["to_organization"] == {"id": bolt.pk, "name": "Bolt"}
    # Bolt sees the same tie from the other side.
    items = api.get(f"/api/v1/organizations/{bolt.pk}/relationships").json()["items"]
    assert [(i["from_organization"]["name"], i["kind"]) for i in items] == [("Acme", "supplier")]

    assert fields_of(post(api, url, {"to_organization_id": acme.pk, "kind": "partner"})) == {
        "body.to_organization_id": "An organization cannot be related to itself."
    }
    assert "body.kind" in fields_of(post(api, url, {"to_organization_id": bolt.pk, "kind": "x"}))
    relationship_id = added.json()["id"]
    assert api.delete(f"{url}/{relationship_id}").status_code == 204
    assert api.delete(f"{url}/{relationship_id}").status_code == 404
    assert not OrganizationRelationship.objects.exists()


def test_organization_list_filters_and_pages(api, owner):
    for index, name in enumerate(["Delta", "Alpha", "Charlie", "Bravo"]):
        make_organization(
            actor=owner, owner=owner, name=name, industry="Retail" if index % 2 else "Tools"
        )
    page = api.get("/api/v1/organizations/?limit=3").json()
    assert [o["name"] for o in page["items"]] == ["Alpha", "Bravo", "Charlie"]
    rest = api.get(f"/api/v1/organizations/?limit=3&cursor={page['next_cursor']}").json()
    assert [o["name"] for o in rest["items"]] == ["Delta"]
    tools = api.get("/api/v1/organizations/?industry=tool&ordering=-name").json()["items"]
    assert [o["name"] for o in tools] == ["Delta", "Charlie"]
    assert fields_of(api.get("/api/v1/organizations/?lifecycle_stage=lead")) == {
        "query.lifecycle_stage": "Unknown query parameter."
    }


@pytest.mark.parametrize("count", [2, 20])
def test_organization_list_query_budget(api, owner, count, django_assert_max_num_queries):
    for index in range(count):
        make_organization(actor=owner, owner=owner, name=f"Org {index}", tags=["A", "B"])
    api.get("/api/v1/organizations/?limit=1")
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/organizations/?limit=200").json()["items"]) == count


@pytest.mark.parametrize("count", [2, 20])
def test_members_query_budget(api, owner, count, django_assert_max_num_queries):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    for index in range(count):
        make_contact(actor=owner, owner=owner, first_name=f"M{index}", organization=acme)
    url = f"/api/v1/organizations/{acme.pk}/members?limit=200"
    api.get(url)
    with django_assert_max_num_queries(4):
        assert len(api.get(url).json()["items"]) == count


def test_tags_list_and_create(api, owner, django_assert_max_num_queries):
    make_contact(actor=owner, owner=owner, tags=["VIP", "Press"])
    created = post(api, "/api/v1/tags/", {"name": "  Key   account ", "color": "#AA0000"})
    assert created.status_code == 201
    assert created.json()["name"] == "Key account"
    assert created.json()["color"] == "#aa0000"
    assert fields_of(post(api, "/api/v1/tags/", {"name": "vip"})) == {
        "body.name": "A tag with this name already exists."
    }
    assert "body.color" in fields_of(post(api, "/api/v1/tags/", {"name": "X", "color": "red"}))
    api.get("/api/v1/tags/")
    with django_assert_max_num_queries(2):
        names = [t["name"] for t in api.get("/api/v1/tags/").json()["items"]]
    assert names == ["Key account", "Press", "VIP"]
    assert [t["name"] for t in api.get("/api/v1/tags/?q=ke").json()["items"]] == ["Key account"]
    assert Tag.objects.count() == 3


@pytest.mark.parametrize("count", [2, 12])
def test_relationships_query_budget(api, owner, count, django_assert_max_num_queries):
    hub = make_organization(actor=owner, owner=owner, name="Hub")
    for index in range(count):
        other = make_organization(actor=owner, owner=owner, name=f"Spoke {index}")
        services.add_relationship(
            actor=owner, from_organization=hub, to_organization=other, kind="partner"
        )
    url = f"/api/v1/organizations/{hub.pk}/relationships"
    api.get(url)
    with django_assert_max_num_queries(4):
        assert len(api.get(url).json()["items"]) == count
