"""Fixtures shared by the contacts tests."""

import pytest

from rapport.accounts.tests.factories import RoleFactory, UserFactory


@pytest.fixture
def viewer(sales_team):
    """A read-only member of the sales team who sees the team's contacts."""
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "team"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])
