"""Fixtures for the sales tests: a pipeline, deals, leads, a read-only user."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.contacts.tests.factories import make_contact
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_lost_reason, create_pipeline
from rapport.sales.tests.quota_helpers import (  # noqa: F401 (the quota tests' fixtures)
    close_deal,
    other_sales_team,
    southerner,
    team_manager,
    usd_rates,
)


@pytest.fixture(autouse=True)
def fresh_cache():
    # Rate limits live in the cache; each test starts with none used.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def pipeline(admin_user):
    return create_pipeline(actor=admin_user, name="New business", currency="EUR")


@pytest.fixture
def stages(pipeline):
    return {stage.name: stage for stage in pipeline.stages.all()}


@pytest.fixture
def lost_reason(admin_user):
    return create_lost_reason(actor=admin_user, name="Price")


@pytest.fixture
def read_only_user(db, sales_team):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all", "sales": "all"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])


@pytest.fixture
def make_deal(pipeline):
    def make(*, owner, name="Big deal", amount="1000.00", stage=None, **fields):
        fields.setdefault("expected_close_date", timezone.localdate() + dt.timedelta(days=20))
        return create_deal(
            actor=owner,
            owner=owner,
            name=name,
            pipeline=pipeline,
            amount=amount,
            stage=stage,
            **fields,
        )

    return make


@pytest.fixture
def lead(owner):
    return make_contact(
        actor=owner,
        owner=owner,
        first_name="Lena",
        last_name="Lead",
        emails=["lena@acme.example"],
        lifecycle_stage="lead",
        job_title="Head of Operations",
        country="DE",
    )
