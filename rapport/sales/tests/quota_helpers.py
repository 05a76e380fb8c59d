"""Shared by the quota tests: deals closed on a given day, a manager, rates, another team."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, TeamFactory, UserFactory
from rapport.commerce import rates

MARCH = (dt.date(2025, 3, 1), dt.date(2025, 3, 31))
Q1 = (dt.date(2025, 1, 1), dt.date(2025, 3, 31))


def noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


@pytest.fixture
def close_deal(make_deal, stages):
    """close_deal(owner, amount, on=date, currency="EUR", stage="Won") → a deal that entered
    that stage (won or lost) on that day."""

    def make(owner, amount, *, on: dt.date, currency="EUR", stage="Won", **fields):
        return make_deal(
            owner=owner,
            amount=amount,
            currency=currency,
            stage=stages[stage],
            at=noon(on),
            expected_close_date=on,
            **fields,
        )

    return make


@pytest.fixture
def usd_rates(admin_user):
    """USD 0.9 from 1 January 2025, 0.8 from 15 March 2025; no GBP rate at all."""
    rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on=dt.date(2025, 1, 1))
    rates.add_rate(actor=admin_user, currency="USD", rate="0.8", valid_on=dt.date(2025, 3, 15))


@pytest.fixture
def other_sales_team(db):
    return TeamFactory(name="Sales South", kind="sales")


@pytest.fixture
def southerner(team_scope_role, other_sales_team):
    return UserFactory(
        username="southerner",
        first_name="Sam",
        last_name="South",
        role=team_scope_role,
        teams=[other_sales_team],
    )


@pytest.fixture
def team_manager(sales_team):
    """A writer with the team scope who sits in a management team and in Sales North."""
    role = RoleFactory(name="Team lead", scopes={"contacts": "team", "sales": "team"})
    management = TeamFactory(name="Management", kind="management")
    return UserFactory(
        username="lead",
        first_name="Mia",
        last_name="Lead",
        role=role,
        teams=[sales_team, management],
    )
