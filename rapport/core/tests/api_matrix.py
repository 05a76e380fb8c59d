"""The API's permission matrix, shared by each app's API tests.

Six callers ask for every endpoint: the record's owner, a teammate (team scope), someone from
another team, an anonymous caller, a read-only teammate and an administrator. An app's test
lists its endpoints with the answer each caller must get; `assert_matrix` sends the request
and checks the status — and that nothing was written when the answer was a refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.test import Client

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeRecord

ACTORS = ("owner", "teammate", "outsider", "anonymous", "read_only", "admin")
REFUSALS = {401, 403, 404}


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    body: dict | None = field(default=None)


def send(client: Client, call: Call, **headers):
    method = getattr(client, call.method.lower())
    if call.body is None:
        return method(call.url, **headers)
    return method(call.url, data=json.dumps(call.body), content_type="application/json", **headers)


def record_read() -> dict:
    """A read of one record owned by `owner`: outside the scope it does not exist."""
    return {
        "owner": 200,
        "teammate": 200,
        "outsider": 404,
        "anonymous": 401,
        "read_only": 200,
        "admin": 200,
    }


def record_write(ok: int = 200) -> dict:
    """A write to one record owned by `owner`."""
    return {
        "owner": ok,
        "teammate": ok,
        "outsider": 404,
        "anonymous": 401,
        "read_only": 403,
        "admin": ok,
    }


def collection_read() -> dict:
    return {actor: 401 if actor == "anonymous" else 200 for actor in ACTORS}


def collection_write(ok: int = 201) -> dict:
    """A create that names no existing record: anyone who may write may do it."""
    return {
        "owner": ok,
        "teammate": ok,
        "outsider": ok,
        "anonymous": 401,
        "read_only": 403,
        "admin": ok,
    }


def admin_write(ok: int = 201) -> dict:
    answers = {actor: 403 for actor in ACTORS}
    answers.update(anonymous=401, admin=ok)
    return answers


@pytest.fixture
def read_only_user(sales_team):
    role = RoleFactory(name="Viewer (team scope)", is_read_only=True, scopes={"contacts": "team"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])


@pytest.fixture
def people(owner, teammate, outsider, read_only_user, admin_user):
    return {
        "owner": owner,
        "teammate": teammate,
        "outsider": outsider,
        "read_only": read_only_user,
        "admin": admin_user,
    }


@pytest.fixture
def client_as(people, api_client_for):
    """client_as("teammate") → a client with that person's API token; "anonymous" → none."""
    clients = {}

    def make(actor: str) -> Client:
        if actor == "anonymous":
            return Client()
        if actor not in clients:
            clients[actor] = api_client_for(people[actor])
        return clients[actor]

    return make


def assert_answer(client_as, actor: str, call: Call, expected: int):
    """Send `call` as `actor`; the status must be `expected`, and a refusal writes nothing."""
    client = client_as(actor)
    before = ChangeRecord.objects.count()
    response = send(client, call)
    assert response.status_code == expected, (actor, call, response.content[:500])
    if expected in REFUSALS:
        assert ChangeRecord.objects.count() == before, "a refused call wrote something"
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == expected
    return response
