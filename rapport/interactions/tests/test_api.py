"""/api/v1/interactions and the contact's and organization's timelines."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.tests import api_matrix
from rapport.core.tests.api_matrix import (
    ACTORS,
    Call,
    assert_answer,
    collection_read,
    record_read,
    record_write,
)
from rapport.interactions.models import Interaction
from rapport.interactions.services import log_interaction

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
def world(owner):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    contact = make_contact(actor=owner, owner=owner, organization=acme)
    call = log_interaction(actor=owner, kind="call", contact=contact, subject="Intro call")
    return {"contact": contact, "acme": acme, "call": call}


def logged_for_contact_answers() -> dict:
    # Naming a contact outside the scope in the body is a 422 on `contact_id`, not a 404.
    answers = record_write(201)
    answers["outsider"] = 422
    return answers


ENDPOINTS = {
    "list interactions": (lambda w: Call("GET", "/api/v1/interactions/"), collection_read()),
    "get interaction": (
        lambda w: Call("GET", f"/api/v1/interactions/{w['call'].pk}"),
        record_read(),
    ),
    "contact timeline": (
        lambda w: Call("GET", f"/api/v1/contacts/{w['contact'].pk}/interactions"),
        record_read(),
    ),
    "organization timeline": (
        lambda w: Call("GET", f"/api/v1/organizations/{w['acme'].pk}/interactions"),
        record_read(),
    ),
    "log interaction": (
        lambda w: Call(
            "POST",
            "/api/v1/interactions/",
            {"kind": "note", "contact_id": w["contact"].pk, "body": "Met at the fair"},
        ),
        logged_for_contact_answers(),
    ),
    "delete interaction": (
        lambda w: Call("DELETE", f"/api/v1/interactions/{w['call'].pk}"),
        # Whoever logged it, the record's owner or an administrator: the rule the page uses too.
        {**record_write(204), "teammate": 403},
    ),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_permission_matrix(world, client_as, endpoint, actor):
    make_call, answers = ENDPOINTS[endpoint]
    response = assert_answer(client_as, actor, make_call(world), answers[actor])
    if endpoint == "list interactions" and actor == "outsider":
        assert response.json()["items"] == []
    if endpoint == "delete interaction" and answers[actor] != 204:
        assert Interaction.objects.filter(pk=world["call"].pk).exists()


def test_log_a_call_and_see_it_on_the_timeline(world, client_as, owner):
    contact = world["contact"]
    api = client_as("owner")
    # Tomorrow, written with an offset: the contact's last touch moves forward to it.
    occurred = (
        (timezone.now() + dt.timedelta(days=1))
        .astimezone(dt.timezone(dt.timedelta(hours=1)))
        .isoformat()
    )
    response = post(
        api,
        "/api/v1/interactions/",
        {
            "kind": "call",
            "contact_id": contact.pk,
            "occurred_at": occurred,
            "subject": "<b>Pricing</b>",
            "outcome": "connected",
            "duration_minutes": 25,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "phone"
    assert body["direction"] == "outbound"
    assert body["organization"] == {"id": world["acme"].pk, "name": "Acme"}
    assert body["actor"]["id"] == owner.pk
    assert body["subject"] == "<b>Pricing</b>"
    contact.refresh_from_db()
    assert contact.last_touched_at == dt.datetime.fromisoformat(occurred)

    timeline = api.get(f"/api/v1/contacts/{contact.pk}/interactions").json()["items"]
    assert [i["subject"] for i in timeline] == ["<b>Pricing</b>", "Intro call"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "fax", "contact_id": 1}, "body.kind", None),
        (
            {"kind": "note"},
            "body.contact_id",
            "Link the interaction to a contact or an organization.",
        ),
        ({"kind": "note", "contact_id": 424242}, "body.contact_id", "No such contact."),
        ({"kind": "call", "outcome": "won"}, "body.outcome", None),
        (
            {"kind": "note", "subject": "x" * 201},
            "body.subject",
            "String should have at most 200 characters",
        ),
        (
            {"kind": "note", "duration_minutes": 2000},
            "body.duration_minutes",
            "Input should be less than or equal to 1440",
        ),
        (
            {"kind": "note", "duration_minutes": "5"},
            "body.duration_minutes",
            "Input should be a valid integer",
        ),
        ({"kind": "note", "occurred_at": "yesterday"}, "body.occurred_at", None),
        (
            {"kind": "note", "occurred_at": "2025-01-01T10:00:00"},
            "body.occurred_at",
            "Give a time zone with the time.",
        ),
        ({"kind": "note", "mood": "happy"}, "body.mood", "Extra inputs are not permitted"),
        ({"kind": "note"}, "body.body", "Write the note: it is empty."),
        ({"kind": "note", "body": " \n "}, "body.body", "Write the note: it is empty."),
    ],
)
def test_bad_interactions_are_refused(world, client_as, body, field, message):
    if "contact_id" not in body and field != "body.contact_id":
        body = {**body, "contact_id": world["contact"].pk}
    before = Interaction.objects.count()
    errors = fields_of(post(client_as("owner"), "/api/v1/interactions/", body))
    assert field in errors, errors
    if message:
        assert errors[field] == message
    assert Interaction.objects.count() == before


def test_list_filters_and_pages_newest_first(world, client_as, owner):
    contact = world["contact"]
    start = timezone.now() - dt.timedelta(days=30)
    for day in range(6):
        log_interaction(
            actor=owner,
            kind="email" if day % 2 else "meeting",
            contact=contact,
            occurred_at=start + dt.timedelta(days=day),
            subject=f"day {day}",
        )
    api = client_as("owner")
    page = api.get("/api/v1/interactions/?kind=email&limit=2").json()
    assert [i["subject"] for i in page["items"]] == ["day 5", "day 3"]
    rest = api.get(f"/api/v1/interactions/?kind=email&limit=2&cursor={page['next_cursor']}")
    assert [i["subject"] for i in rest.json()["items"]] == ["day 1"]
    after = (start + dt.timedelta(days=3, hours=-1)).isoformat()
    windowed = api.get("/api/v1/interactions/", {"channel": "in_person", "occurred_after": after})
    assert [i["subject"] for i in windowed.json()["items"]] == ["day 4"]
    assert api.get(f"/api/v1/interactions/?contact={contact.pk}&limit=200").json()["items"]
    assert fields_of(api.get("/api/v1/interactions/?kind=fax"))  # names query.kind.0
    assert fields_of(api.get("/api/v1/interactions/?subject=x")) == {
        "query.subject": "Unknown query parameter."
    }


def test_timeline_of_an_organization_includes_its_contacts_calls(world, client_as):
    items = (
        client_as("teammate")
        .get(f"/api/v1/organizations/{world['acme'].pk}/interactions")
        .json()["items"]
    )
    assert [i["subject"] for i in items] == ["Intro call"]


@pytest.mark.parametrize("count", [2, 20])
def test_list_query_budget(world, client_as, owner, count, django_assert_max_num_queries):
    for index in range(count):
        other = make_contact(actor=owner, owner=owner, first_name=f"C{index}")
        log_interaction(actor=owner, kind="note", contact=other, subject=str(index))
    api = client_as("owner")
    api.get("/api/v1/interactions/?limit=1")
    with django_assert_max_num_queries(3):
        assert len(api.get("/api/v1/interactions/?limit=200").json()["items"]) == count + 1


def test_deleting_keeps_the_audit_record(world, client_as):
    from rapport.audit.models import ChangeRecord

    call = world["call"]
    assert client_as("owner").delete(f"/api/v1/interactions/{call.pk}").status_code == 204
    record = ChangeRecord.objects.get(entity="interactions.interaction", action="delete")
    assert record.before["subject"] == "Intro call"
    assert Contact.objects.filter(pk=world["contact"].pk).exists()
