"""A read-only role is offered no form it could not send on a contact's, an organization's or
a deal's page, panels included (issue 15): the page asks the same `can` the services do."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline
from rapport.sales.services.work import create_task

# What would change something: a posting form, an htmx write, a link to an edit or new page.
WRITES = re.compile(
    r'<form[^>]*method="post"[^>]*>|hx-(?:post|put|patch|delete)="[^"]*"'
    r'|href="[^"]*/(?:edit|new|log)/[^"]*"'
)
PANELS = re.compile(r'hx-get="([^"]*/panels/[^"]*)"')


@pytest.fixture
def viewer(db, sales_team):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all", "sales": "all"})
    return UserFactory(username="viewer", role=role, teams=[sales_team])


@pytest.fixture
def pages(owner, admin_user):
    organization = make_organization(actor=owner, owner=owner, name="Acme")
    contact = make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", organization=organization
    )
    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    deal = create_deal(
        actor=owner,
        owner=owner,
        name="Big deal",
        pipeline=pipeline,
        amount="1000.00",
        contact=contact,
        organization=organization,
        expected_close_date=dt.date(2031, 1, 1),
    )
    create_task(
        actor=owner,
        title="Call back",
        due_at=dt.datetime(2031, 1, 1, 9, tzinfo=dt.UTC),
        contact=contact,
        deal=deal,
    )
    return [contact.get_absolute_url(), organization.get_absolute_url(), deal.get_absolute_url()]


def _writes_offered(client, url: str) -> list[str]:
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode().split("<main", 1)[1]
    # Panels arrive by htmx after the page; the reader sees them too.
    for panel in PANELS.findall(html):
        html += client.get(panel).content.decode()
    return WRITES.findall(html)


def test_a_read_only_role_is_offered_no_form_it_could_not_send(
    web_client_for, owner, viewer, pages
):
    writer, reader = web_client_for(owner), web_client_for(viewer)
    for url in pages:
        # The owner is offered edit buttons, the log and task forms: the check can see them.
        assert _writes_offered(writer, url), url
        assert _writes_offered(reader, url) == [], url
