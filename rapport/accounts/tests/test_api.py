"""/api/v1/me, users, teams and the caller's own API tokens."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from rapport.accounts.models import ApiToken
from rapport.accounts.services import create_api_token
from rapport.audit.models import ChangeRecord
from rapport.core.models import IdempotencyRecord
from rapport.core.tests import api_matrix
from rapport.core.tests.api_matrix import ACTORS, Call, assert_answer, collection_read

pytestmark = pytest.mark.django_db
client_as, people, read_only_user = (
    api_matrix.client_as,
    api_matrix.people,
    api_matrix.read_only_user,
)


def post(client, url, body, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def owners_token(owner):
    token, _secret = create_api_token(actor=owner, user=owner, name="laptop")
    return token


def everyone(answer: int) -> dict:
    return {actor: 401 if actor == "anonymous" else answer for actor in ACTORS}


def only_owner(answer: int) -> dict:
    answers = {actor: 404 for actor in ACTORS}
    answers.update(owner=answer, anonymous=401)
    return answers


ENDPOINTS = {
    "me": (lambda p, t: Call("GET", "/api/v1/me"), collection_read()),
    "list users": (lambda p, t: Call("GET", "/api/v1/users/"), collection_read()),
    "get user": (lambda p, t: Call("GET", f"/api/v1/users/{p['owner'].pk}"), collection_read()),
    "list teams": (lambda p, t: Call("GET", "/api/v1/teams/"), collection_read()),
    "get team": (
        lambda p, t: Call("GET", f"/api/v1/teams/{p['owner'].teams.get().pk}"),
        collection_read(),
    ),
    "list tokens": (lambda p, t: Call("GET", "/api/v1/tokens/"), collection_read()),
    # Read-only roles may make their own tokens: reading through the API needs one.
    "create token": (lambda p, t: Call("POST", "/api/v1/tokens/", {"name": "ci"}), everyone(201)),
    "revoke token": (lambda p, t: Call("DELETE", f"/api/v1/tokens/{t.pk}"), only_owner(204)),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_permission_matrix(people, owners_token, client_as, endpoint, actor):
    make_call, answers = ENDPOINTS[endpoint]
    assert_answer(client_as, actor, make_call(people, owners_token), answers[actor])
    owners_token.refresh_from_db()
    revoked = (endpoint, actor) == ("revoke token", "owner")
    assert (owners_token.revoked_at is not None) == revoked


def test_me_says_what_the_caller_may_do(client_as, people):
    me = client_as("read_only").get("/api/v1/me").json()
    assert me["username"] == "viewer"
    assert me["is_read_only"] is True
    assert me["is_administrator"] is False
    assert me["scopes"]["contacts"] == "team"
    assert me["scopes"]["sales"] == "own"
    assert [t["name"] for t in me["teams"]] == ["Sales North"]
    admin = client_as("admin").get("/api/v1/me").json()
    assert admin["is_administrator"] is True
    assert admin["scopes"] == {domain: "all" for domain in admin["scopes"]}


def test_users_filter_and_page(client_as, people, sales_team, django_assert_max_num_queries):
    api = client_as("owner")
    in_team = api.get(f"/api/v1/users/?team={sales_team.pk}").json()["items"]
    assert sorted(u["username"] for u in in_team) == ["owner", "teammate", "viewer"]
    assert [u["username"] for u in api.get("/api/v1/users/?q=outsid").json()["items"]] == [
        "outsider"
    ]
    seen, cursor = [], ""
    for _ in range(5):
        page = api.get("/api/v1/users/", {"limit": 2, "cursor": cursor}).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    everyone = type(people["owner"]).objects.order_by("first_name", "last_name", "username")
    assert seen == list(everyone.values_list("username", flat=True))
    assert len(seen) == 5
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/users/?limit=200").json()["items"]) == 5
    assert api.get("/api/v1/users/424242").status_code == 404
    assert api.get("/api/v1/users/?role=admin").status_code == 422


def test_token_secret_is_shown_once_and_works(client_as, people):
    api = client_as("owner")
    created = post(api, "/api/v1/tokens/", {"name": "ci"})
    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    secret = created.json()["secret"]
    assert secret.startswith("rpt_")
    token = ApiToken.objects.get(pk=created.json()["id"])
    assert token.key_hash == ApiToken.hash_key(secret)
    assert secret not in json.dumps(list(ChangeRecord.objects.values("before", "after")))
    listed = api.get("/api/v1/tokens/").json()["items"]
    assert "secret" not in listed[0]
    assert {t["name"] for t in listed} == {"ci", "tests"}

    new_client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert new_client.get("/api/v1/me").json()["username"] == "owner"
    assert new_client.delete(f"/api/v1/tokens/{token.pk}").status_code == 204
    assert new_client.get("/api/v1/me").status_code == 401


def test_a_retried_token_create_does_not_replay_the_secret(client_as, people):
    api = client_as("owner")
    first = post(api, "/api/v1/tokens/", {"name": "ci"}, HTTP_IDEMPOTENCY_KEY="tok-1")
    assert first.status_code == 201
    again = post(api, "/api/v1/tokens/", {"name": "ci"}, HTTP_IDEMPOTENCY_KEY="tok-1")
    assert again.status_code == 409
    assert "shown only once" in again.json()["detail"]
    assert ApiToken.objects.filter(name="ci").count() == 1
    secret = first.json()["secret"]
    stored = json.dumps(list(IdempotencyRecord.objects.values("response_body")))
    assert secret not in stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "body.name"),
        ({"name": "x" * 81}, "body.name"),
        ({"name": "ci", "scopes": ["all"]}, "body.scopes"),
        ({"name": "ci", "expires_at": "2020-01-01T00:00:00Z"}, "body.expires_at"),
        ({"name": "ci", "expires_at": "2099-01-01T00:00:00"}, "body.expires_at"),
    ],
)
def test_bad_token_requests(client_as, people, body, field):
    response = post(client_as("owner"), "/api/v1/tokens/", body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not ApiToken.objects.filter(name="ci").exists()


def test_expired_and_revoked_tokens_are_401(owner):
    token, secret = create_api_token(
        actor=owner, user=owner, name="soon", expires_at=timezone.now() + dt.timedelta(seconds=60)
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="rapport"'


def test_deactivated_user_token_is_401(owner):
    _token, secret = create_api_token(actor=owner, user=owner, name="x")
    type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/me").status_code == 401


def test_session_auth_works_for_the_ui(web_client_for, owner):
    client = web_client_for(owner)
    assert client.get("/api/v1/me").json()["username"] == "owner"


def test_team_and_token_lists_query_budget(client_as, people, owner, django_assert_max_num_queries):
    from rapport.accounts.tests.factories import TeamFactory

    for index in range(5):
        TeamFactory(name=f"Team {index}").members.set([people["admin"], people["outsider"]])
        create_api_token(actor=owner, user=owner, name=f"t{index}")
    api = client_as("owner")
    api.get("/api/v1/teams/")
    with django_assert_max_num_queries(3):
        teams = api.get("/api/v1/teams/").json()["items"]
    assert len(teams) == 7
    assert sorted(next(t for t in teams if t["name"] == "Team 0")["member_ids"]) == sorted(
        [people["admin"].pk, people["outsider"].pk]
    )
    with django_assert_max_num_queries(2):
        assert len(api.get("/api/v1/tokens/").json()["items"]) == 6
