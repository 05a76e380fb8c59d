import datetime as dt

import pytest
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline


@pytest.fixture
def read_only_user(db, sales_team):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all", "sales": "all"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])


@pytest.fixture
def pipeline(admin_user):
    return create_pipeline(actor=admin_user, name="New business", currency="EUR")


@pytest.fixture
def make_deal(pipeline):
    def make(*, owner, name="Big deal", amount="1000.00", **fields):
        fields.setdefault("expected_close_date", timezone.localdate() + dt.timedelta(days=20))
        return create_deal(
            actor=owner, owner=owner, name=name, pipeline=pipeline, amount=amount, **fields
        )

    return make


# The scheduled-email tests' people, shared report, deals, mailbox and SMTP server.
from rapport.reports.tests.delivery_fixtures import (  # noqa: E402, F401
    deals,
    mailbox,
    manager,
    pipeline_report,
    rep,
    smtp_server,
    stranger,
)
