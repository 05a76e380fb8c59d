"""Deployment hardening: the refused production settings, no second password form, 401 for
API writes without valid credentials, and no-store on what signed-in users see."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from rapport import settings as project_settings
from rapport.accounts.models import ApiToken
from rapport.accounts.services import create_api_token, revoke_api_token

ROOT = Path(__file__).resolve().parents[3]


# Production settings ------------------------------------------------------------------------


def test_production_is_https_or_a_host_name_other_than_this_machine():
    local = ["127.0.0.1", "localhost", "testserver"]
    assert not project_settings.is_production(allowed_hosts=local, https=False, explicit=None)
    assert project_settings.is_production(allowed_hosts=local, https=True, explicit=None)
    assert project_settings.is_production(
        allowed_hosts=["crm.example.com"], https=False, explicit=None
    )
    assert project_settings.is_production(allowed_hosts=local, https=False, explicit="1")
    assert not project_settings.is_production(
        allowed_hosts=["crm.example.com"], https=True, explicit="0"
    )


def test_production_refuses_the_development_key():
    with pytest.raises(ImproperlyConfigured, match="RAPPORT_SECRET_KEY is the public"):
        project_settings.check_production_settings(
            production=True, debug=False, secret_key=project_settings.DEVELOPMENT_SECRET_KEY
        )


def test_production_refuses_debug():
    with pytest.raises(ImproperlyConfigured, match="RAPPORT_DEBUG is on"):
        project_settings.check_production_settings(
            production=True, debug=True, secret_key="a-real-key-" * 6
        )


def test_local_mode_accepts_the_development_key_and_debug():
    project_settings.check_production_settings(
        production=False, debug=True, secret_key=project_settings.DEVELOPMENT_SECRET_KEY
    )


def _import_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAPPORT_", "DJANGO_"))}
    # Only these variables: the caller's RAPPORT_* must not decide the outcome (a checkout's
    # .env is still read, but never overrides what is set here).
    clean.update(env, RAPPORT_VAR_DIR=str(ROOT / "var" / "test-settings"))
    return subprocess.run(
        [sys.executable, "-c", "import rapport.settings"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_deployment_with_the_default_key_does_not_start():
    result = _import_settings(RAPPORT_ALLOWED_HOSTS="crm.example.com", RAPPORT_HTTPS="1")

    assert result.returncode != 0
    assert "refuses to start in production mode" in result.stderr
    assert "RAPPORT_SECRET_KEY" in result.stderr


def test_make_runs_local_mode_starts_with_the_defaults():
    result = _import_settings()

    assert result.returncode == 0, result.stderr


# No Django admin ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/django-admin/", "/django-admin/login/"])
def test_the_django_admin_is_not_mounted(path):
    assert Client().get(path).status_code == 404


# API writes without valid credentials -------------------------------------------------------


def _post_token(client, **headers):
    return client.post(
        "/api/v1/tokens/",
        data=json.dumps({"name": "ci"}),
        content_type="application/json",
        **headers,
    )


def _assert_401_problem(response):
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 401


@pytest.mark.django_db
def test_a_write_without_credentials_is_401_not_a_csrf_failure():
    # A real browser-like client: Django's test client skips CSRF unless told not to.
    response = _post_token(Client(enforce_csrf_checks=True))

    _assert_401_problem(response)
    assert not ApiToken.objects.filter(name="ci").exists()


@pytest.mark.django_db
def test_a_write_with_a_revoked_token_is_401(owner):
    token, secret = create_api_token(actor=owner, user=owner, name="old laptop")
    revoke_api_token(actor=owner, token=token)

    response = _post_token(Client(enforce_csrf_checks=True), HTTP_AUTHORIZATION=f"Bearer {secret}")

    _assert_401_problem(response)
    assert not ApiToken.objects.filter(name="ci").exists()


@pytest.mark.django_db
def test_a_write_with_an_expired_token_is_401(owner):
    token, secret = create_api_token(actor=owner, user=owner, name="short")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))

    response = _post_token(Client(enforce_csrf_checks=True), HTTP_AUTHORIZATION=f"Bearer {secret}")

    _assert_401_problem(response)


@pytest.mark.django_db
def test_a_signed_in_session_still_needs_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = _post_token(client)

    assert response.status_code == 403
    assert not ApiToken.objects.filter(name="ci").exists()


# Cache-Control --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/me/", "/", "/api/v1/me"])
def test_signed_in_pages_and_api_answers_are_not_stored(owner, web_client_for, path):
    response = web_client_for(owner).get(path)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_token_api_answers_are_not_stored(owner, api_client_for):
    response = api_client_for(owner).get("/api/v1/me")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_anonymous_pages_and_static_files_keep_their_caching(owner, web_client_for):
    assert "no-store" not in Client().get("/accounts/login/").get("Cache-Control", "")
    static = web_client_for(owner).get("/static/css/admin.css")
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")
