"""Bulk actions in a real browser: pick rows on the contact list, act, follow, undo; "select
all that match"; the progress page polling while the worker runs. No inline script or style
(the `browser_page` fixture fails the test on any CSP violation or JavaScript error)."""

from __future__ import annotations

import os
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core import bulk
from rapport.core.models import BulkOperation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots for a person to look at after a run.
SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())


def test_pick_rows_assign_an_owner_and_undo(signed_in_page, owner, teammate):
    ada = make_contact(actor=owner, owner=owner, first_name="Ada", last_name="Abel")
    make_contact(actor=owner, owner=owner, first_name="Ben", last_name="Brook")
    page = signed_in_page(owner)
    page.goto("/contacts/?view=all")

    bar = page.locator("[data-bulk-bar]")
    expect(bar).to_be_hidden()
    expect(page.locator("#results tbody input[type=checkbox]")).to_have_count(2)
    page.get_by_label("Select Ada Abel").check()
    expect(bar).to_be_visible()
    expect(bar.locator("[data-bulk-summary]")).to_have_text("1 contact selected")

    bar.get_by_label("Action").select_option("assign_owner")
    owner_select = bar.locator("select[name=params-owner]")
    expect(owner_select).to_be_visible()
    owner_select.select_option(str(teammate.pk))
    page.screenshot(path=os.path.join(SCREENSHOTS, "bulk-selection-bar.png"), full_page=True)
    with page.expect_navigation():
        bar.get_by_role("button", name="Apply to selection").click()

    expect(page.locator("#bulk-progress")).to_contain_text("Done")
    expect(page.locator("[data-bulk-changed]")).to_have_text("1")
    assert Contact.objects.get(pk=ada.pk).owner_id == teammate.pk
    page.screenshot(path=os.path.join(SCREENSHOTS, "bulk-operation-result.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Undo").click()
    expect(page.locator("#bulk-progress")).to_contain_text("Undone")
    assert Contact.objects.get(pk=ada.pk).owner_id == owner.pk


def test_select_all_that_match_sends_the_filter(signed_in_page, owner):
    for name in ("Vera", "Vito"):
        make_contact(actor=owner, owner=owner, first_name=name, tags=["vip"])
    plain = make_contact(actor=owner, owner=owner, first_name="Paul")
    page = signed_in_page(owner)
    page.goto("/contacts/?view=all")

    page.select_option("#id_tag", "vip")
    expect(page.locator(".list-count")).to_have_text("2 contacts")
    page.locator("#results thead input[type=checkbox]").check()
    bar = page.locator("[data-bulk-bar]")
    bar.get_by_role("button", name="Select all 2 contacts that match").click()
    expect(bar.locator("[data-bulk-summary]")).to_have_text(
        "All 2 contacts that match are selected"
    )
    bar.get_by_label("Action").select_option("add_tag")
    bar.locator("input[name=params-tag]").fill("Spring push")
    with page.expect_navigation():
        bar.get_by_role("button", name="Apply to selection").click()

    expect(page.locator("[data-bulk-changed]")).to_have_text("2")
    operation = BulkOperation.objects.get()
    assert operation.selection["list"] == "contacts"
    assert operation.selection["params"]["tag"] == ["vip"]
    assert not Contact.objects.get(pk=plain.pk).tags.exists()


def test_the_progress_page_polls_until_the_worker_is_done(signed_in_page, owner, teammate):
    contacts = [make_contact(actor=owner, owner=owner, first_name=f"W{i}") for i in range(3)]
    # Queued as a large selection would be, before any worker took it.
    operation = BulkOperation.objects.create(
        actor=owner,
        actor_label=str(owner),
        entity="contacts",
        action="assign_owner",
        action_label="Assign owner",
        params={"owner": teammate.pk},
        member_ids=[c.pk for c in contacts],
        total=3,
        request_id="bulk-browser-test",
    )
    page = signed_in_page(owner)
    page.goto(f"/bulk/operations/{operation.pk}/")
    expect(page.locator("#bulk-progress")).to_contain_text("Queued")

    bulk.execute(operation.pk)  # the worker

    expect(page.locator("#bulk-progress")).to_contain_text("Done", timeout=5000)
    expect(page.locator("[data-bulk-changed]")).to_have_text("3")


def test_a_read_only_seat_gets_no_selection(signed_in_page, owner, sales_team):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "all"})
    viewer = UserFactory(username="viewer", role=role, teams=[sales_team])
    make_contact(actor=owner, owner=owner, first_name="Rhea")
    page = signed_in_page(viewer)
    page.goto("/contacts/?view=all")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("[data-bulk-bar]")).to_have_count(0)
    expect(page.locator("#results table input[type=checkbox]")).to_have_count(0)
