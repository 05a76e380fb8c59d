"""Idempotency-Key on API creates: a retry returns the first answer and writes nothing new."""

import datetime as dt
import hashlib
import json

import pytest
from django.test import Client

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core import idempotency, schedules, tasks
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


# -- expiry, leases and large bodies ------------------------------------------------------------


def _age(key: str, **delta):
    from django.utils import timezone

    IdempotencyRecord.objects.filter(key=key).update(
        created_at=timezone.now() - dt.timedelta(**delta)
    )


def test_a_key_older_than_the_retention_is_free_again(api):
    post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="daily")
    _age("daily", hours=25)

    again = post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="daily")

    assert again.status_code == 201
    assert not again.has_header("Idempotent-Replayed")
    assert Contact.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


def test_pruning_deletes_only_expired_records(api):
    post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="old")
    post(api, "/api/v1/contacts/", {"first_name": "Grace"}, key="new")
    _age("old", hours=24, seconds=1)
    _age("new", hours=23)

    assert idempotency.prune_expired() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_the_pruning_job_is_a_registered_chain_that_prunes(api):
    post(api, "/api/v1/contacts/", {"first_name": "Ada"}, key="old")
    _age("old", days=2)
    assert "idempotency pruning" in schedules.registered()

    # The tests' immediate backend runs it at once (and cannot queue the next run).
    result = tasks.prune_idempotency_records.enqueue()

    assert result.return_value == 1
    assert not IdempotencyRecord.objects.exists()


def _stuck(key: str, body: dict, path="/api/v1/contacts/", **lease):
    """A record left pending, as by a worker killed in the middle of the request."""
    from django.utils import timezone

    fingerprint = hashlib.sha256(path.encode() + b"\n" + json.dumps(body).encode()).hexdigest()
    # The api fixture's client sends one token; the principal is its hash.
    return fingerprint, lambda principal: IdempotencyRecord.objects.create(
        principal=principal,
        key=key,
        method="POST",
        path=path,
        request_fingerprint=fingerprint,
        status_code=idempotency.PENDING,
        response_body={},
        locked_until=timezone.now() + dt.timedelta(**lease),
    )


def _principal_of(client) -> str:
    return hashlib.sha256(client.defaults["HTTP_AUTHORIZATION"].encode()).hexdigest()


def test_a_key_whose_request_died_is_taken_over_after_the_lease(api):
    body = {"first_name": "Ada"}
    _fingerprint, make = _stuck("died", body, seconds=-1)
    make(_principal_of(api))

    retry = post(api, "/api/v1/contacts/", body, key="died")

    assert retry.status_code == 201
    assert Contact.objects.count() == 1
    record = IdempotencyRecord.objects.get(key="died")
    assert record.status_code == 201
    assert record.locked_until is None


def test_a_key_still_within_its_lease_answers_409_with_retry_after(api, monkeypatch):
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0)
    body = {"first_name": "Ada"}
    _fingerprint, make = _stuck("running", body, seconds=60)
    make(_principal_of(api))

    retry = post(api, "/api/v1/contacts/", body, key="running")

    assert retry.status_code == 409
    assert retry["Content-Type"] == "application/problem+json"
    assert retry["Retry-After"] == "1"
    assert not Contact.objects.exists()


def test_a_json_body_over_the_memory_limit_is_a_413_problem(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"first_name": "A", "notes": "x" * 2000}

    for key in ("big", None):
        response = post(api, "/api/v1/contacts/", body, key=key)
        assert response.status_code == 413, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["errors"] == [{"field": "body", "message": "Too large."}]
    assert not Contact.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_an_upload_over_the_memory_limit_with_a_key_is_accepted_and_replayed(
    admin_user, api_client_for
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api_client_for(admin_user)
    rows = "".join(f"Ada{n},Lovelace,ada{n}@example.com\n" for n in range(80_000))
    content = ("first_name,last_name,email\n" + rows).encode()
    assert len(content) > 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE

    def upload():
        return client.post(
            "/api/v1/imports/",
            {"file": SimpleUploadedFile("people.csv", content), "start": "false"},
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    first = upload()
    assert first.status_code == 202, first.content
    retry = upload()
    assert retry.status_code == 202
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()


def test_a_create_whose_answer_cannot_be_stored_is_not_written(api, monkeypatch):
    """The connection dies between the create and storing its answer: the client is told 503,
    and the create must not be there, or a retry with the same key would write it twice."""
    from django.db import OperationalError

    def connection_lost(response):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(idempotency, "_kept_body", connection_lost)
    response = post(api, "/api/v1/contacts/", {"first_name": "Once"}, key="lost-answer")

    assert response.status_code == 503
    assert not Contact.objects.filter(first_name="Once").exists()
    assert not ChangeRecord.objects.filter(entity="contacts.contact").exists()

    monkeypatch.undo()
    record = IdempotencyRecord.objects.get(key="lost-answer")
    IdempotencyRecord.objects.filter(pk=record.pk).update(locked_until=None)  # the lease ran out
    retry = post(api, "/api/v1/contacts/", {"first_name": "Once"}, key="lost-answer")
    assert retry.status_code == 201
    assert Contact.objects.filter(first_name="Once").count() == 1
