"""Every API error has one shape (RFC 9457 problem details), and a lost database is a 503."""

import json
from contextlib import contextmanager

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import Client

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.problems import errors_from_django, errors_from_pydantic, relocate

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def api(owner, api_client_for):
    return api_client_for(owner)


def assert_problem(response, status: int, title: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] == title
    assert body["type"].startswith("https://rapport.invalid/problems/")
    assert body["detail"]
    return body


def test_anonymous_is_401_with_a_challenge():
    response = Client().get("/api/v1/contacts/")
    assert_problem(response, 401, "Unauthorized")
    assert response["WWW-Authenticate"] == 'Bearer realm="rapport"'


@pytest.mark.parametrize(
    "header", ["Bearer rpt_not-a-real-token", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "]
)
def test_bad_credentials_are_401(header):
    assert_problem(Client(HTTP_AUTHORIZATION=header).get("/api/v1/me"), 401, "Unauthorized")


def test_unknown_endpoint_is_a_404_problem(api):
    assert_problem(api.get("/api/v1/no-such-thing/"), 404, "Not Found")


def test_out_of_scope_record_is_404_like_a_missing_one(api, outsider):
    theirs = make_contact(actor=outsider, owner=outsider)
    hidden = assert_problem(api.get(f"/api/v1/contacts/{theirs.pk}"), 404, "Not Found")
    missing = assert_problem(api.get("/api/v1/contacts/987654"), 404, "Not Found")
    assert hidden == missing


def test_wrong_method_is_a_405_problem_with_allow(api):
    response = api.put("/api/v1/contacts/", data="{}", content_type="application/json")
    assert_problem(response, 405, "Method Not Allowed")
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_read_only_write_is_403(read_only_client):
    response = read_only_client.post(
        "/api/v1/contacts/", data={"first_name": "X"}, content_type="application/json"
    )
    assert assert_problem(response, 403, "Forbidden")["detail"] == "Your role is read-only."
    assert not Contact.objects.exists()


@pytest.fixture
def read_only_client(sales_team, api_client_for):
    from rapport.accounts.tests.factories import RoleFactory, UserFactory

    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "team"})
    return api_client_for(UserFactory(username="viewer", role=role, teams=[sales_team]))


def test_malformed_json_is_400(api):
    response = api.post("/api/v1/contacts/", data="{not json", content_type="application/json")
    assert_problem(response, 400, "Bad Request")
    assert not Contact.objects.exists()


def test_validation_errors_list_fields_and_messages(api):
    response = api.post(
        "/api/v1/contacts/",
        data=json.dumps({"first_name": ["A"], "emails": [{"email": 3}], "extra": True}),
        content_type="application/json",
    )
    body = assert_problem(response, 422, "Validation failed")
    assert body["errors"] == [
        {"field": "body.first_name", "message": "Input should be a valid string"},
        {"field": "body.emails[0].email", "message": "Input should be a valid string"},
        {"field": "body.extra", "message": "Extra inputs are not permitted"},
    ]


def test_a_body_that_is_not_an_object_is_422(api):
    response = api.post("/api/v1/contacts/", data="[1, 2]", content_type="application/json")
    body = assert_problem(response, 422, "Validation failed")
    assert body["errors"][0]["field"] == "body"


def test_bad_cursor_is_400_on_the_cursor(api):
    body = assert_problem(api.get("/api/v1/contacts/?cursor=%%%"), 400, "Bad Request")
    assert body["errors"] == [
        {"field": "query.cursor", "message": "cursor is not valid; start again from the first page"}
    ]


def test_every_response_has_a_request_id(api):
    response = api.get("/api/v1/contacts/987654", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = api.get("/api/v1/contacts/", HTTP_X_REQUEST_ID="<script>")
    assert generated["X-Request-ID"] != "<script>"
    assert generated["X-Request-ID"]


def test_errors_from_django_places_fields():
    exc = ValidationError({"emails[1].email": ["Bad."], "__all__": ["Whole."], "query.q": ["Q."]})
    assert errors_from_django(exc) == [
        {"field": "body.emails[1].email", "message": "Bad."},
        {"field": "body", "message": "Whole."},
        {"field": "query.q", "message": "Q."},
    ]
    assert errors_from_django(ValidationError("Plain.")) == [{"field": "body", "message": "Plain."}]


def test_relocate_renames_the_head_of_each_path():
    exc = relocate(
        ValidationError({"owner": ["No."], "emails[0].email": ["Bad."], "body": ["Text."]}),
        "body",
        {"owner": "owner_id"},
    )
    assert exc.message_dict == {
        "body.owner_id": ["No."],
        "body.emails[0].email": ["Bad."],
        "body.body": ["Text."],
    }


def test_errors_from_pydantic_drops_the_parameter_name():
    details = [
        {"loc": ("body", "payload", "emails", 2, "email"), "msg": "Value error, Bad"},
        {"loc": ("query", "limit"), "msg": "Too big"},
    ]
    assert errors_from_pydantic(details) == [
        {"field": "body.emails[2].email", "message": "Bad"},
        {"field": "query.limit", "message": "Too big"},
    ]


# The database going away ---------------------------------------------------------------------


@contextmanager
def unreachable_database():
    """Point the default connection at a database that cannot be reached, for real.

    The open connection is set aside and the settings swapped, so the driver's next connect
    fails the way it does in production (refused port, missing file); everything is put back
    afterwards, transaction state included.
    """
    wrapper = connections["default"]
    saved = dict(vars(wrapper))
    if wrapper.vendor == "sqlite":
        broken = {**wrapper.settings_dict, "NAME": "/nonexistent-rapport-dir/rapport.sqlite3"}
    else:
        broken = {**wrapper.settings_dict, "HOST": "127.0.0.1", "PORT": "1"}
    wrapper.connection = None
    wrapper.settings_dict = broken
    try:
        yield
    finally:
        wrapper.__dict__.update(saved)


@pytest.mark.parametrize(
    ("method", "url", "body", "headers"),
    [
        ("get", "/api/v1/contacts/", None, {}),
        ("get", "/api/v1/me", None, {}),
        ("post", "/api/v1/contacts/", {"first_name": "A"}, {}),
        ("post", "/api/v1/contacts/", {"first_name": "A"}, {"HTTP_IDEMPOTENCY_KEY": "k-1"}),
    ],
)
def test_unreachable_database_is_503_with_retry_after(api, method, url, body, headers):
    with unreachable_database():
        if body is None:
            response = getattr(api, method)(url, **headers)
        else:
            response = getattr(api, method)(
                url, data=json.dumps(body), content_type="application/json", **headers
            )
    body = assert_problem(response, 503, "Service Unavailable")
    assert response["Retry-After"] == "30"
    assert "database" in body["detail"]
    # And once it is back, the same call works.
    assert api.get("/api/v1/me").status_code == 200


# Errors raised outside the API's own handlers ---------------------------------------------------


def test_a_session_write_without_its_csrf_token_is_a_403_problem(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(
        "/api/v1/contacts/", data=json.dumps({"first_name": "A"}), content_type="application/json"
    )
    body = assert_problem(response, 403, "Forbidden")
    assert "CSRF" in body["detail"]
    assert not Contact.objects.exists()


def test_an_unexpected_exception_is_a_500_problem_that_tells_nothing_of_it(api, monkeypatch):
    from rapport.contacts.api import routes

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/rapport")

    monkeypatch.setattr(routes, "_page", broken)
    api.raise_request_exception = False
    response = api.get("/api/v1/contacts/")
    assert_problem(response, 500, "Internal Server Error")
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_an_exception_before_the_api_is_reached_is_a_500_problem_too(api, monkeypatch):
    from rapport.core import middleware

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(middleware.UserTimeZoneMiddleware, "__call__", broken)
    api.raise_request_exception = False
    response = api.get("/api/v1/me")
    assert_problem(response, 500, "Internal Server Error")
    assert b"secret internals" not in response.content


def test_a_request_for_a_host_not_served_is_a_400_problem(api):
    assert_problem(api.get("/api/v1/me", HTTP_HOST="evil.example"), 400, "Bad Request")


def test_a_json_body_over_the_upload_limit_is_a_413_problem(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api.post(
        "/api/v1/contacts/",
        data=json.dumps({"first_name": "A" * 200}),
        content_type="application/json",
    )
    body = assert_problem(response, 413, "Content Too Large")
    assert body["errors"] == [{"field": "body", "message": "Too large."}]
    assert not Contact.objects.exists()
