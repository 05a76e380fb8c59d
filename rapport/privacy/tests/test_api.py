import pytest

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.tests.api_matrix import ACTORS, Call, assert_answer, record_read
from rapport.privacy.models import Erasure, RetentionSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(owner):
    return make_contact(
        actor=owner,
        owner=owner,
        first_name="Mira",
        last_name="Okonkwo",
        emails=[{"email": "mira@okonkwo.example"}],
    )


def administrators_only(ok: int = 200) -> dict:
    """Administrators only; a rep outside the record's scope does not learn it exists."""
    return {
        "owner": 403,
        "teammate": 403,
        "outsider": 404,
        "anonymous": 401,
        "read_only": 403,
        "admin": ok,
    }


def settings_answers(ok: int = 200) -> dict:
    answers = {actor: 403 for actor in ACTORS}
    answers.update(anonymous=401, admin=ok)
    return answers


ENDPOINTS = {
    "erase": (
        lambda c: Call("POST", f"/api/v1/privacy/contacts/{c.pk}/erase", {"reason": "Request"}),
        administrators_only(),
    ),
    "export": (lambda c: Call("GET", f"/api/v1/privacy/contacts/{c.pk}/export"), record_read()),
    "retention_get": (lambda c: Call("GET", "/api/v1/privacy/retention"), settings_answers()),
    "retention_put": (
        lambda c: Call("PUT", "/api/v1/privacy/retention", {"interaction_months": 12}),
        settings_answers(),
    ),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_permission_matrix(contact, client_as, endpoint, actor):
    make_call, answers = ENDPOINTS[endpoint]
    assert_answer(client_as, actor, make_call(contact), answers[actor])


def test_erase_through_the_api(contact, client_as, admin_user):
    response = client_as("admin").post(
        f"/api/v1/privacy/contacts/{contact.pk}/erase",
        data={"reason": "Asked in writing"},
        content_type="application/json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["contact_id"], body["reason"], body["erased_by"]) == (
        contact.pk,
        "Asked in writing",
        str(admin_user),
    )
    assert body["counts"]["emails_deleted"] == 1
    assert str(Contact.objects.get(pk=contact.pk)) == "Erased contact"

    again = client_as("admin").post(
        f"/api/v1/privacy/contacts/{contact.pk}/erase",
        data={"reason": "Twice"},
        content_type="application/json",
    )
    assert again.status_code == 422
    assert again.json()["errors"] == [
        {"field": "body.contact", "message": "This contact has already been erased."}
    ]


def test_erase_needs_a_reason(contact, client_as):
    response = client_as("admin").post(
        f"/api/v1/privacy/contacts/{contact.pk}/erase",
        data={"reason": ""},
        content_type="application/json",
    )

    assert response.status_code == 422
    assert not Erasure.objects.exists()


def test_export_through_the_api(contact, client_as):
    response = client_as("owner").get(f"/api/v1/privacy/contacts/{contact.pk}/export")

    assert response.status_code == 200
    body = response.json()
    assert body["contact"]["first_name"] == "Mira"
    assert [e["email"] for e in body["emails"]] == ["mira@okonkwo.example"]


def test_retention_through_the_api(client_as):
    put = client_as("admin").put(
        "/api/v1/privacy/retention",
        data={"interaction_months": 36, "audit_months": None},
        content_type="application/json",
    )
    assert put.status_code == 200
    assert (put.json()["interaction_months"], put.json()["audit_months"]) == (36, None)
    assert client_as("admin").get("/api/v1/privacy/retention").json()["interaction_months"] == 36

    bad = client_as("admin").put(
        "/api/v1/privacy/retention",
        data={"interaction_months": 0},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert RetentionSettings.objects.get().interaction_months == 36


@pytest.mark.parametrize("body", ["5", "[]", '"keep"', "null"])
def test_a_body_that_is_not_an_object_is_refused_and_changes_nothing(client_as, body):
    client_as("admin").put(
        "/api/v1/privacy/retention",
        data={"interaction_months": 36},
        content_type="application/json",
    )
    # Read as an object without fields, `5` used to reset both settings to "keep forever".
    bad = client_as("admin").put(
        "/api/v1/privacy/retention", data=body, content_type="application/json"
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "body", "message": "The body must be a JSON object ({…})."}
    ]
    assert RetentionSettings.objects.get().interaction_months == 36
