"""Fixtures shared by every app's tests: the people of the access matrix and API clients."""

import os
import socket

import pytest
from django.test import Client
from hypothesis import settings as hypothesis_settings

from rapport.accounts.tests.factories import RoleFactory, TeamFactory, UserFactory

pytest_plugins = ["rapport.core.tests.browser"]

# Property tests draw the same examples on every run of `make test`, so a red CI run is
# reproducible and a green one stays green; `HYPOTHESIS_PROFILE=explore` draws new ones to hunt
# for failures (each found one is then pinned with @example).
hypothesis_settings.register_profile("repeatable", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def mail_sink_of_its_own(settings, tmp_path):
    """Whatever starts the local mail sink in a test (the demo's mail part does) gets a free
    port and its own Maildir: parallel tests never share one, and nothing lands in var/."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.RAPPORT_MAIL_SINK_PORT = port
    settings.RAPPORT_MAIL_SINK_DIR = tmp_path / "delivered"
    return settings.RAPPORT_MAIL_SINK_DIR


@pytest.fixture
def team_scope_role(db):
    return RoleFactory(name="Rep (team scope)", scopes={"contacts": "team", "sales": "team"})


@pytest.fixture
def own_scope_role(db):
    return RoleFactory(name="Rep (own scope)", scopes={"contacts": "own", "sales": "own"})


@pytest.fixture
def admin_role(db):
    return RoleFactory(name="Administrator", is_admin=True, scopes={})


@pytest.fixture
def sales_team(db):
    return TeamFactory(name="Sales North", kind="sales")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Service South", kind="service")


@pytest.fixture
def owner(team_scope_role, sales_team):
    return UserFactory(username="owner", role=team_scope_role, teams=[sales_team])


@pytest.fixture
def teammate(team_scope_role, sales_team):
    return UserFactory(username="teammate", role=team_scope_role, teams=[sales_team])


@pytest.fixture
def outsider(team_scope_role, other_team):
    return UserFactory(username="outsider", role=team_scope_role, teams=[other_team])


@pytest.fixture
def admin_user(admin_role):
    return UserFactory(username="admin", role=admin_role)


def token_client(user, name="tests") -> Client:
    from rapport.accounts.services import create_api_token

    _token, key = create_api_token(actor=user, user=user, name=name)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def api_client_for():
    """api_client_for(user) -> a Django test Client that authenticates with a fresh API token."""
    return token_client


@pytest.fixture
def web_client_for():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make
