"""/api/v1/contacts: what it stores, what it refuses, and how its lists page and filter."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact, LifecycleChange
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.customfields.services import create_definition

pytestmark = pytest.mark.django_db


def post(client, url, body, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def patch(client, url, body):
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def fields_of(response) -> dict:
    assert response["Content-Type"] == "application/problem+json", response.content
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.fixture
def api(owner, api_client_for):
    return api_client_for(owner)


@pytest.fixture
def tier(admin_user):
    return create_definition(
        actor=admin_user,
        entity="contact",
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["Gold", "Silver"],
    )


def test_create_contact_with_everything(api, owner, tier):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    response = post(
        api,
        "/api/v1/contacts/",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "emails": [
                {"email": " Ada@Example.COM ", "label": "work"},
                {"email": "ada@home.example", "label": "home", "is_primary": True},
            ],
            "phones": [{"number": "+49 30 1234567"}],
            "country": "de",
            "organization_id": acme.pk,
            "organization_role": "Engineer",
            "tags": ["VIP", "vip", "Press"],
            "custom_fields": {"tier": "gold"},
            "lifecycle_stage": "sales_qualified",
            "external_ids": [{"system": "shop", "value": "42"}],
        },
        HTTP_X_REQUEST_ID="req-create-1",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["full_name"] == "Ada Lovelace"
    assert body["primary_email"] == "ada@home.example"
    assert [e["email"] for e in body["emails"]] == ["ada@home.example", "ada@example.com"]
    assert body["primary_phone"] == "+49301234567"
    assert body["country"] == "DE"
    assert body["owner"] == {"id": owner.pk, "name": str(owner)}
    assert body["memberships"] == [
        {
            "organization_id": acme.pk,
            "organization_name": "Acme",
            "role": "Engineer",
            "is_primary": True,
        }
    ]
    assert sorted(body["tags"]) == ["Press", "VIP"]
    assert body["custom_fields"] == {"tier": "Gold"}
    assert body["source"] == "api"
    assert body["external_ids"] == [{"system": "shop", "value": "42"}]
    assert [(c["from_stage"], c["to_stage"]) for c in body["lifecycle_history"]] == [
        ("", "sales_qualified")
    ]
    record = ChangeRecord.objects.get(entity="contacts.contact", object_id=str(body["id"]))
    assert (record.actor, record.source, record.request_id) == (owner, "api", "req-create-1")


def test_owner_defaults_to_the_caller_and_may_be_cleared(api, teammate):
    mine = post(api, "/api/v1/contacts/", {"first_name": "Mine"}).json()
    theirs = post(api, "/api/v1/contacts/", {"first_name": "T", "owner_id": teammate.pk}).json()
    nobody = post(api, "/api/v1/contacts/", {"first_name": "N", "owner_id": None}).json()
    assert mine["owner"]["id"] != teammate.pk
    assert theirs["owner"]["id"] == teammate.pk
    assert nobody["owner"] is None
    missing = post(api, "/api/v1/contacts/", {"first_name": "X", "owner_id": 999_999})
    assert fields_of(missing) == {"body.owner_id": "No such user."}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"first_name": 5}, "body.first_name", "Input should be a valid string"),
        ({"first_name": "A", "nickname": "x"}, "body.nickname", "Extra inputs are not permitted"),
        (
            {"first_name": "x" * 101},
            "body.first_name",
            "String should have at most 100 characters",
        ),
        (
            {"emails": [{"email": "ok@example.com"}, {"email": "not-an-email"}]},
            "body.emails[1].email",
            "Enter a valid email address.",
        ),
        (
            {"emails": [{"email": "a@example.com", "colour": "red"}]},
            "body.emails[0].colour",
            "Extra inputs are not permitted",
        ),
        (
            {"phones": [{"number": "12"}]},
            "body.phones[0].number",
            "Enter a valid phone number, e.g. +1 415 555 0100.",
        ),
        (
            {"first_name": "A", "lifecycle_stage": "prospect"},
            "body.lifecycle_stage",
            "Input should be 'subscriber', 'lead', 'marketing_qualified', 'sales_qualified', "
            "'opportunity', 'customer', 'loyal', 'advocate' or 'churned'",
        ),
        (
            {"first_name": "A", "emails": [{"email": "a@b.example", "is_primary": "yes"}]},
            "body.emails[0].is_primary",
            "Input should be a valid boolean",
        ),
        (
            {"first_name": "A", "country": "Germany"},
            "body.country",
            "String should have at most 2 characters",
        ),
        (
            {"first_name": "A", "country": "1x"},
            "body.country",
            "Use a two-letter ISO country code, e.g. DE.",
        ),
        (
            {"first_name": "A", "tags": ["x" * 51]},
            "body.tags[0]",
            "String should have at most 50 characters",
        ),
        (
            {"first_name": "A", "custom_fields": {"tier": "Bronze"}},
            "body.custom_fields.tier",
            "Choose one of: Gold, Silver.",
        ),
        (
            {"first_name": "A", "custom_fields": {"shoe_size": 44}},
            "body.custom_fields.shoe_size",
            "Unknown custom field.",
        ),
        (
            {"first_name": "A", "custom_fields": ["Gold"]},
            "body.custom_fields",
            "Input should be a valid dictionary",
        ),
        (
            {"first_name": "A\x00"},
            "body.first_name",
            "Contains a null character.",
        ),
        ({}, "body.first_name", "Give at least a name, an email address or a phone number."),
        (
            {"first_name": "A", "organization_id": 0},
            "body.organization_id",
            "Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(api, tier, body, field, message):
    before = (Contact.objects.count(), ChangeRecord.objects.count())
    response = post(api, "/api/v1/contacts/", body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Validation failed"
    assert problem["status"] == 422
    assert fields_of(response)[field] == message
    assert (Contact.objects.count(), ChangeRecord.objects.count()) == before


def test_several_bad_fields_are_reported_together(api):
    response = post(
        api,
        "/api/v1/contacts/",
        {"emails": [{"email": "bad"}], "phones": [{"number": "nope"}], "country": "9"},
    )
    assert set(fields_of(response)) == {
        "body.emails[0].email",
        "body.phones[0].number",
        "body.country",
    }


def test_custom_field_rules_match_the_ui(api, admin_user):
    create_definition(
        actor=admin_user,
        entity="contact",
        key="badge",
        label="Badge",
        field_type="text",
        is_required=True,
        is_unique=True,
    )
    missing = post(api, "/api/v1/contacts/", {"first_name": "A"})
    assert fields_of(missing) == {"body.custom_fields.badge": "This field is required."}
    first = post(api, "/api/v1/contacts/", {"first_name": "A", "custom_fields": {"badge": "B7"}})
    assert first.status_code == 201
    clash = post(api, "/api/v1/contacts/", {"first_name": "B", "custom_fields": {"badge": "B7"}})
    assert fields_of(clash) == {
        "body.custom_fields.badge": "Another record already has this value."
    }


def test_html_is_stored_as_text_and_returned_as_json(api):
    script = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    response = post(api, "/api/v1/contacts/", {"first_name": script, "about": script})
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    contact = Contact.objects.get()
    assert contact.first_name == script
    fetched = api.get(f"/api/v1/contacts/{contact.pk}")
    assert fetched.json()["about"] == script
    # JSON text, parsed by the client as a string: no markup context to execute it in.
    assert json.dumps(script)[1:-1].encode() in fetched.content


def test_patch_changes_only_what_is_sent(api, owner, teammate, tier):
    contact = make_contact(
        actor=owner,
        owner=owner,
        emails=["ada@example.com"],
        tags=["VIP"],
        job_title="Engineer",
        custom_fields={"tier": "Gold"},
    )
    response = patch(
        api,
        f"/api/v1/contacts/{contact.pk}",
        {"last_name": "Byron", "owner_id": teammate.pk, "custom_fields": {"tier": None}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["last_name"] == "Byron"
    assert body["job_title"] == "Engineer"
    assert body["emails"][0]["email"] == "ada@example.com"
    assert body["tags"] == ["VIP"]
    assert body["custom_fields"] == {}
    assert body["owner"]["id"] == teammate.pk

    response = patch(
        api,
        f"/api/v1/contacts/{contact.pk}",
        {"emails": [{"email": "new@example.com"}], "tags": None, "lifecycle_stage": "customer"},
    )
    body = response.json()
    assert [e["email"] for e in body["emails"]] == ["new@example.com"]
    assert body["primary_email"] == "new@example.com"
    assert body["tags"] == []
    assert body["lifecycle_stage"] == "customer"
    assert LifecycleChange.objects.filter(contact=contact, to_stage="customer").count() == 1


def test_patch_refuses_bad_values_without_writing(api, owner):
    contact = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    response = patch(
        api,
        f"/api/v1/contacts/{contact.pk}",
        {"first_name": "Changed", "emails": [{"email": "broken"}]},
    )
    assert fields_of(response) == {"body.emails[0].email": "Enter a valid email address."}
    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert contact.primary_email == "ada@example.com"
    unknown = patch(api, f"/api/v1/contacts/{contact.pk}", {"is_archived": True})
    assert fields_of(unknown) == {"body.is_archived": "Extra inputs are not permitted"}


def test_lifecycle_stage_archive_restore_and_consent(api, owner):
    contact = make_contact(actor=owner, owner=owner)
    url = f"/api/v1/contacts/{contact.pk}"
    moved = post(api, f"{url}/lifecycle-stage", {"stage": "opportunity", "reason": "Demo booked"})
    assert moved.json()["lifecycle_history"][0]["reason"] == "Demo booked"
    assert fields_of(post(api, f"{url}/lifecycle-stage", {"stage": "won"})) == {
        "body.stage": "Input should be 'subscriber', 'lead', 'marketing_qualified', "
        "'sales_qualified', 'opportunity', 'customer', 'loyal', 'advocate' or 'churned'"
    }

    assert post(api, f"{url}/archive", {}).json()["is_archived"] is True
    assert api.get("/api/v1/contacts/").json()["items"] == []
    assert [c["id"] for c in api.get("/api/v1/contacts/?archived=true").json()["items"]] == [
        contact.pk
    ]
    assert post(api, f"{url}/restore", {}).json()["is_archived"] is False

    no_basis = api.put(
        f"{url}/consents/email", data={"status": "granted"}, content_type="application/json"
    )
    assert fields_of(no_basis) == {"body.lawful_basis": "Give the lawful basis for processing."}
    granted = api.put(
        f"{url}/consents/email",
        data={"status": "granted", "lawful_basis": "consent", "source": "web form"},
        content_type="application/json",
    )
    assert granted.status_code == 200
    assert granted.json()["lawful_basis"] == "consent"
    consents = api.get(url).json()["consents"]
    assert [(c["channel"], c["status"]) for c in consents] == [("email", "granted")]


def test_memberships_add_and_remove(api, owner):
    contact = make_contact(actor=owner, owner=owner)
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    url = f"/api/v1/contacts/{contact.pk}/memberships"
    added = post(api, url, {"organization_id": acme.pk, "role": "Buyer"})
    assert added.status_code == 201
    assert added.json() == {
        "contact_id": contact.pk,
        "organization_id": acme.pk,
        "organization_name": "Acme",
        "role": "Buyer",
        "is_primary": True,
    }
    assert Contact.objects.search("acme").get() == contact
    assert api.delete(f"{url}/{acme.pk}").status_code == 204
    assert api.delete(f"{url}/{acme.pk}").status_code == 404
    assert not Contact.objects.search("acme").exists()


def test_missing_and_malformed_ids(api):
    missing = api.get("/api/v1/contacts/424242")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not Found"
    assert fields_of(api.get("/api/v1/contacts/abc")) == {
        "path.contact_id": "Input should be a valid integer, unable to parse string as an integer"
    }
    assert api.get("/api/v1/contacts/99999999999999999999999").status_code == 422
    assert api.get("/api/v1/contacts/0").status_code == 422


# Lists -------------------------------------------------------------------------------------


def test_list_pages_with_a_cursor_in_every_ordering(api, owner):
    for index in range(7):
        make_contact(
            actor=owner, owner=owner, first_name=f"F{index}", last_name=["B", "A"][index % 2]
        )
    orderings = ("name", "-name", "created_at", "-created_at")
    for ordering in (*orderings, "lifecycle", "-lifecycle", "last_touched", "-last_touched"):
        seen, cursor = [], ""
        while True:
            response = api.get(
                "/api/v1/contacts/", {"limit": 3, "ordering": ordering, "cursor": cursor}
            )
            assert response.status_code == 200, response.content
            page = response.json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 7, ordering
    names = [c["last_name"] for c in api.get("/api/v1/contacts/?ordering=-name").json()["items"]]
    assert names == ["B"] * 4 + ["A"] * 3


def test_the_api_sorts_by_funnel_stage_and_last_touch_like_the_list(api, owner):
    from rapport.contacts.services import touch_contact

    customer = make_contact(actor=owner, owner=owner, last_name="Cust", lifecycle_stage="customer")
    lead = make_contact(actor=owner, owner=owner, last_name="Lead", lifecycle_stage="lead")
    subscriber = make_contact(
        actor=owner, owner=owner, last_name="Sub", lifecycle_stage="subscriber"
    )
    touch_contact(contact_id=customer.pk, at=timezone.now() - dt.timedelta(days=3))
    touch_contact(contact_id=lead.pk, at=timezone.now() - dt.timedelta(days=1))

    def ids(ordering):
        response = api.get("/api/v1/contacts/", {"ordering": ordering})
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids("lifecycle") == [subscriber.pk, lead.pk, customer.pk]
    assert ids("-lifecycle") == [customer.pk, lead.pk, subscriber.pk]
    # Never touched sorts as the oldest touch.
    assert ids("last_touched") == [subscriber.pk, customer.pk, lead.pk]
    assert ids("-last_touched") == [lead.pk, customer.pk, subscriber.pk]


def test_list_query_errors_name_the_parameter(api, owner):
    make_contact(actor=owner, owner=owner)
    make_contact(actor=owner, owner=owner)
    first = api.get("/api/v1/contacts/?limit=1").json()
    cases = {
        "limit=201": {"query.limit": "Input should be less than or equal to 200"},
        "limit=0": {"query.limit": "Input should be greater than or equal to 1"},
        "ordering=email": {
            "query.ordering": "Choose one of: name, -name, created_at, -created_at, lifecycle, "
            "-lifecycle, last_touched, -last_touched."
        },
        "cursor=not-a-cursor": {
            "query.cursor": "cursor is not valid; start again from the first page"
        },
        f"ordering=-created_at&cursor={first['next_cursor']}": {
            "query.cursor": "cursor belongs to another ordering; start again from the first page"
        },
        "lifecycle_stage=won": {
            "query.lifecycle_stage": "'won' is not one of: subscriber, lead, marketing_qualified, "
            "sales_qualified, opportunity, customer, loyal, advocate, churned."
        },
        "lifecyle_stage=lead": {"query.lifecyle_stage": "Unknown query parameter."},
        "cf_missing=1": {"query.cf_missing": "Unknown custom field."},
        "owner=someone": {"query.owner": 'Give a user id, "me" or "none".'},
    }
    for query, expected in cases.items():
        response = api.get(f"/api/v1/contacts/?{query}")
        # A damaged cursor is a bad request (400); the rest are invalid values (422).
        assert response.status_code == (400 if "cursor=" in query else 422), query
        assert fields_of(response) == expected, query


def test_list_filters_are_those_of_the_ui(api, owner, teammate, tier):
    make_contact(
        actor=owner, owner=owner, first_name="Gold", custom_fields={"tier": "Gold"}, tags=["VIP"]
    )
    make_contact(actor=owner, owner=teammate, first_name="Silver", lifecycle_stage="customer")

    def names(query):
        response = api.get(f"/api/v1/contacts/?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["first_name"] for item in response.json()["items"])

    assert names("cf_tier=gold") == ["Gold"]
    assert names("tag=vip") == ["Gold"]
    assert names("owner=me") == ["Gold"]
    assert names(f"owner={teammate.pk}") == ["Silver"]
    assert names("lifecycle_stage=customer&lifecycle_stage=lead") == ["Gold", "Silver"]
    assert names("q=silv") == ["Silver"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_query_count_does_not_grow_with_the_page(
    api, owner, count, django_assert_max_num_queries
):
    acme = make_organization(actor=owner, owner=owner, name="Acme")
    for index in range(count):
        make_contact(
            actor=owner,
            owner=owner,
            first_name=f"C{index}",
            emails=[f"c{index}@example.com", f"c{index}@home.example"],
            phones=["+49 30 1234567"],
            tags=["VIP", "Press"],
            organization=acme,
            external_ids=[{"system": "shop", "value": str(index)}],
        )
    api.get("/api/v1/contacts/?limit=1")  # the token's last-use write happens once a minute
    # token, teammates, contacts, then emails, phones, tags, external ids, memberships.
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/contacts/?limit=200")
    assert len(response.json()["items"]) == count


def test_detail_query_budget(api, owner, django_assert_max_num_queries):
    contact = make_contact(actor=owner, owner=owner, emails=["a@example.com"], tags=["VIP"])
    api.get(f"/api/v1/contacts/{contact.pk}")
    with django_assert_max_num_queries(10):
        assert api.get(f"/api/v1/contacts/{contact.pk}").status_code == 200
