"""Idempotency-Key on API creates: a retry returns the first answer and writes nothing new."""

import json

import pytest
from django.test import Client

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.models import IdempotencyRecord
from rapport.interactions.models import Interaction

pytestmark = pytest.mark.django_db


def post(client, url, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def api(owner, api_client_for):
    return api_client_for(owner)


def test_a_retry_returns_the_first_result_and_writes_nothing(api):
    first = post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="create-ada")
    assert first.status_code == 201
    writes = (Contact.objects.count(), ChangeRecord.objects.count())

    retry = post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="create-ada")
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert (Contact.objects.count(), ChangeRecord.objects.count()) == writes
    assert writes[0] == 1


def test_without_a_key_a_retry_creates_twice(api):
    post(api, "/api/v1/contacts/", {"first_name": "Ada"})
    post(api, "/api/v1/contacts/", {"first_name": "Ada"})
    assert Contact.objects.count() == 2
    assert not IdempotencyRecord.objects.exists()


def test_the_same_key_with_another_body_is_422(api):
    post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="k")
    other = post(api, "/api/v1/contacts/", {"first_name": "Grace"}, key="k")
    assert other.status_code == 422
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["errors"] == [
        {
            "field": "header.Idempotency-Key",
            "message": "Already used with another request body or path.",
        }
    ]
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Ada"]


def test_the_same_key_on_another_endpoint_is_422(api, owner):
    contact = make_contact(actor=owner, owner=owner)
    post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="k")
    other = post(api, "/api/v1/interactions/", {"kind": "note", "contact_id": contact.pk}, key="k")
    assert other.status_code == 422
    assert not Interaction.objects.exists()


def test_another_user_with_the_same_key_is_independent(api, teammate, api_client_for):
    mine = post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="shared-key")
    theirs = post(
        api_client_for(teammate), "/api/v1/contacts/", {"first_name": "Ada"}, key="shared-key"
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["owner"]["id"] == teammate.pk
    assert Contact.objects.count() == 2


def test_a_refused_request_is_not_kept(owner, api_client_for, read_only_user):
    viewer = api_client_for(read_only_user)
    refused = post(viewer, "/api/v1/contacts/", {"first_name": "A"}, key="k")
    assert refused.status_code == 403
    junk = Client(HTTP_AUTHORIZATION="Bearer rpt_junk")
    assert post(junk, "/api/v1/contacts/", {"first_name": "A"}, key="k").status_code == 401
    assert not IdempotencyRecord.objects.exists()


def test_a_validation_failure_is_replayed_as_it_was(api):
    first = post(api, "/api/v1/contacts/", {"emails": [{"email": "bad"}]}, key="bad")
    retry = post(api, "/api/v1/contacts/", {"emails": [{"email": "bad"}]}, key="bad")
    assert first.status_code == retry.status_code == 422
    assert retry["Content-Type"] == "application/problem+json"
    assert retry.json() == first.json()


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_key_length_is_checked(api, key):
    response = post(api, "/api/v1/contacts/", {"first_name": "A"}, key=key)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert not Contact.objects.exists()


def test_interaction_create_is_idempotent_too(api, owner):
    contact = make_contact(actor=owner, owner=owner)
    body = {"kind": "call", "contact_id": contact.pk, "outcome": "connected"}
    first = post(api, "/api/v1/interactions/", body, key="call-1")
    retry = post(api, "/api/v1/interactions/", body, key="call-1")
    assert first.json() == retry.json()
    assert Interaction.objects.count() == 1


@pytest.fixture
def read_only_user(sales_team):
    from rapport.accounts.tests.factories import RoleFactory, UserFactory

    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "team"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])
