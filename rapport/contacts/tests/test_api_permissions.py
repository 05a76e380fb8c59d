"""Every contacts, organizations and tags endpoint, asked by each of the six callers."""

import pytest

from rapport.contacts import services
from rapport.contacts.models import Contact, Membership, Organization
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.tests import api_matrix
from rapport.core.tests.api_matrix import (
    ACTORS,
    Call,
    assert_answer,
    collection_read,
    collection_write,
    record_read,
    record_write,
)

pytestmark = pytest.mark.django_db
client_as, people, read_only_user = (
    api_matrix.client_as,
    api_matrix.people,
    api_matrix.read_only_user,
)


@pytest.fixture
def world(owner):
    """One contact and two organizations owned by `owner`, tied together."""
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    bolt = make_organization(actor=owner, owner=owner, name="Bolt")
    contact = make_contact(actor=owner, owner=owner, emails=["ada@acme.example"], organization=acme)
    relationship = services.add_relationship(
        actor=owner, from_organization=acme, to_organization=bolt, kind="partner"
    )
    return {"contact": contact, "acme": acme, "bolt": bolt, "relationship": relationship}


ENDPOINTS = {
    "list contacts": (lambda w: Call("GET", "/api/v1/contacts/"), collection_read()),
    "create contact": (
        lambda w: Call("POST", "/api/v1/contacts/", {"first_name": "New"}),
        collection_write(201),
    ),
    "get contact": (lambda w: Call("GET", f"/api/v1/contacts/{w['contact'].pk}"), record_read()),
    "patch contact": (
        lambda w: Call("PATCH", f"/api/v1/contacts/{w['contact'].pk}", {"job_title": "CTO"}),
        record_write(200),
    ),
    "archive contact": (
        lambda w: Call("POST", f"/api/v1/contacts/{w['contact'].pk}/archive"),
        record_write(200),
    ),
    "restore contact": (
        lambda w: Call("POST", f"/api/v1/contacts/{w['contact'].pk}/restore"),
        record_write(200),
    ),
    "set lifecycle stage": (
        lambda w: Call(
            "POST", f"/api/v1/contacts/{w['contact'].pk}/lifecycle-stage", {"stage": "customer"}
        ),
        record_write(200),
    ),
    "set consent": (
        lambda w: Call(
            "PUT",
            f"/api/v1/contacts/{w['contact'].pk}/consents/email",
            {"status": "granted", "lawful_basis": "consent"},
        ),
        record_write(200),
    ),
    "add membership": (
        lambda w: Call(
            "POST",
            f"/api/v1/contacts/{w['contact'].pk}/memberships",
            {"organization_id": w["bolt"].pk, "role": "Advisor"},
        ),
        record_write(201),
    ),
    "remove membership": (
        lambda w: Call("DELETE", f"/api/v1/contacts/{w['contact'].pk}/memberships/{w['acme'].pk}"),
        record_write(204),
    ),
    "list organizations": (lambda w: Call("GET", "/api/v1/organizations/"), collection_read()),
    "create organization": (
        lambda w: Call("POST", "/api/v1/organizations/", {"name": "Cogs"}),
        collection_write(201),
    ),
    "get organization": (
        lambda w: Call("GET", f"/api/v1/organizations/{w['acme'].pk}"),
        record_read(),
    ),
    "patch organization": (
        lambda w: Call("PATCH", f"/api/v1/organizations/{w['acme'].pk}", {"industry": "Tools"}),
        record_write(200),
    ),
    "archive organization": (
        lambda w: Call("POST", f"/api/v1/organizations/{w['acme'].pk}/archive"),
        record_write(200),
    ),
    "restore organization": (
        lambda w: Call("POST", f"/api/v1/organizations/{w['acme'].pk}/restore"),
        record_write(200),
    ),
    "list members": (
        lambda w: Call("GET", f"/api/v1/organizations/{w['acme'].pk}/members"),
        record_read(),
    ),
    "list relationships": (
        lambda w: Call("GET", f"/api/v1/organizations/{w['acme'].pk}/relationships"),
        record_read(),
    ),
    "add relationship": (
        lambda w: Call(
            "POST",
            f"/api/v1/organizations/{w['acme'].pk}/relationships",
            {"to_organization_id": w["bolt"].pk, "kind": "supplier"},
        ),
        record_write(201),
    ),
    "remove relationship": (
        lambda w: Call(
            "DELETE",
            f"/api/v1/organizations/{w['acme'].pk}/relationships/{w['relationship'].pk}",
        ),
        record_write(204),
    ),
    "list tags": (lambda w: Call("GET", "/api/v1/tags/"), collection_read()),
    "create tag": (
        lambda w: Call("POST", "/api/v1/tags/", {"name": "Partner"}),
        collection_write(201),
    ),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_permission_matrix(world, client_as, endpoint, actor):
    make_call, answers = ENDPOINTS[endpoint]
    assert_answer(client_as, actor, make_call(world), answers[actor])


def test_denied_writes_leave_the_record_untouched(world, client_as):
    contact = world["contact"]
    for actor in ("outsider", "read_only", "anonymous"):
        for call in (
            Call("PATCH", f"/api/v1/contacts/{contact.pk}", {"first_name": "Hacked"}),
            Call("POST", f"/api/v1/contacts/{contact.pk}/archive"),
            Call("DELETE", f"/api/v1/contacts/{contact.pk}/memberships/{world['acme'].pk}"),
        ):
            assert_answer(client_as, actor, call, record_write()[actor])
    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert contact.is_archived is False
    assert Membership.objects.filter(contact=contact).count() == 1


def test_lists_show_only_what_the_caller_may_see(world, client_as, outsider):
    make_contact(actor=outsider, owner=outsider, first_name="Outsiders")
    make_organization(actor=outsider, owner=outsider, name="Outsiders Org")

    def ids(actor, url):
        return sorted(item["id"] for item in client_as(actor).get(url).json()["items"])

    theirs = Contact.objects.get(first_name="Outsiders").pk
    mine = world["contact"].pk
    assert ids("owner", "/api/v1/contacts/") == [mine]
    assert ids("teammate", "/api/v1/contacts/") == [mine]
    assert ids("read_only", "/api/v1/contacts/") == [mine]
    assert ids("outsider", "/api/v1/contacts/") == [theirs]
    assert ids("admin", "/api/v1/contacts/") == sorted([mine, theirs])
    other_org = Organization.objects.get(name="Outsiders Org").pk
    assert other_org not in ids("owner", "/api/v1/organizations/")
    assert ids("outsider", "/api/v1/organizations/") == [other_org]


def test_references_to_records_outside_the_scope_are_refused_by_name(world, client_as):
    # Naming someone else's organization in a body is a 422 on that field, never a link.
    response = client_as("outsider").post(
        "/api/v1/contacts/",
        data={"first_name": "Eve", "organization_id": world["acme"].pk},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body.organization_id", "message": "No such organization."}
    ]
    assert not Contact.objects.filter(first_name="Eve").exists()


def test_relationships_hide_organizations_outside_the_scope(world, client_as, outsider):
    hidden = make_organization(actor=outsider, owner=outsider, name="Hidden")
    services.add_relationship(
        actor=outsider, from_organization=hidden, to_organization=world["acme"], kind="customer"
    )
    items = (
        client_as("owner")
        .get(f"/api/v1/organizations/{world['acme'].pk}/relationships")
        .json()["items"]
    )
    assert [(i["from_organization"]["name"], i["to_organization"]["name"]) for i in items] == [
        ("Acme", "Bolt")
    ]
    admin_items = (
        client_as("admin")
        .get(f"/api/v1/organizations/{world['acme'].pk}/relationships")
        .json()["items"]
    )
    assert len(admin_items) == 2
