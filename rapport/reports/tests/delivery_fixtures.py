"""People, a shared report and a real SMTP server for the scheduled-email tests.

Imported by the test modules that need them (`from … import *`-free: each names what it uses).
"""

import datetime as dt

import pytest

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.tests.servers import SmtpServer
from rapport.reports import services


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(admin_user, smtp_server):
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Reports",
        email_address="reports@rapport.example",
        from_name="Rapport reports",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        check=False,
    )


@pytest.fixture
def manager(sales_team):
    role = RoleFactory(
        name="Sales manager", scopes={"contacts": "all", "sales": "all", "analytics": "all"}
    )
    return UserFactory(
        username="manager", first_name="Mia", last_name="Manager", role=role, teams=[sales_team]
    )


@pytest.fixture
def rep(sales_team):
    role = RoleFactory(name="Sales rep", scopes={"contacts": "own", "sales": "own"})
    return UserFactory(
        username="rep", first_name="Ray", last_name="Rep", role=role, teams=[sales_team]
    )


@pytest.fixture
def stranger(other_team):
    role = RoleFactory(name="Service agent", scopes={"contacts": "own", "sales": "own"})
    return UserFactory(
        username="stranger", first_name="Sam", last_name="Stranger", role=role, teams=[other_team]
    )


@pytest.fixture
def pipeline_report(manager, sales_team):
    """Deal amounts by stage, the manager's, shared with the sales team."""
    return services.create_report(
        actor=manager,
        name="Pipeline by stage",
        source="deals",
        group_by="stage",
        measure="sum",
        measure_field="amount",
        shared_teams=[sales_team.pk],
    )


@pytest.fixture
def deals(make_deal, manager, rep):
    """The rep's deal of 100 and the manager's of 1,000, in the same stage."""
    return [
        make_deal(owner=rep, name="Rep's deal", amount="100.00"),
        make_deal(owner=manager, name="Manager's deal", amount="1000.00"),
    ]
