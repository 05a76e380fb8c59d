"""Saving a view of the contact list in a real browser and applying it with one click."""

import os
import re
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.contacts.models import SavedView
from rapport.contacts.tests.factories import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots for a person to look at after a run.
SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())
SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_choose_columns_save_a_view_and_apply_it(signed_in_page, owner):
    make_contact(
        actor=owner, owner=owner, first_name="Lena", last_name="Lead", lifecycle_stage="lead"
    )
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Carl",
        last_name="Customer",
        lifecycle_stage="customer",
    )
    page = signed_in_page(owner)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/contacts/")
    expect(page.locator(".list-count")).to_have_text("2 contacts")

    # Filter to leads (HTMX swaps the results), then keep only Name and Stage.
    page.select_option("#id_lifecycle_stage", "lead")
    expect(page.locator(".list-count")).to_have_text("1 contact")
    expect(page.locator("#results")).not_to_contain_text("Carl Customer")
    page.click(".column-chooser > summary")
    for label in ("Organization", "Phone", "Owner", "Tags", "Last touched", "Created"):
        page.locator(".column-chooser label", has_text=label).locator("input").uncheck()
    page.click("text=Show these columns")
    expect(page.locator("#results thead th")).to_have_text(["", re.compile("^Name"), "Stage"])
    assert page.evaluate(SIDEWAYS) <= 0

    # Save it, shared, as the default view.
    page.click(".save-view > summary")
    page.fill(".save-view input[name=name]", "My leads")
    page.check(".save-view input[name=is_shared]")
    page.check(".save-view input[name=make_default]")
    page.click(".save-view button[type=submit]")
    expect(page.locator(".saved-views [aria-current=true]")).to_contain_text("My leads")
    view = SavedView.objects.get()
    assert view.filters == {"lifecycle_stage": ["lead"]} and view.is_shared
    assert view.columns == ["name", "lifecycle"]

    # The plain list is one click away; the view one click back.
    page.click(".saved-views >> text=All contacts")
    expect(page.locator(".list-count")).to_have_text("2 contacts")
    page.click(".saved-views >> text=My leads")
    expect(page.locator(".list-count")).to_contain_text("1 contact")
    expect(page.locator("#results thead th")).to_have_text(["", re.compile("^Name"), "Stage"])
    expect(page.locator("#results")).to_contain_text("Lena Lead")
    page.click(".view-actions > summary")
    page.screenshot(path=f"{SCREENSHOTS}/ui-saved-views.png")

    # Changing a filter leaves the view (its columns stay until chosen otherwise).
    page.select_option("#id_lifecycle_stage", "customer")
    expect(page.locator("#results")).to_contain_text("Carl Customer")
    expect(page.locator(".saved-views [aria-current=true]")).to_have_text("All contacts")
    expect(page.locator("#results thead th")).to_have_text(["", re.compile("^Name"), "Stage"])

    # Opening the list bare opens the default view; nothing scrolls sideways on a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/contacts/")
    expect(page.locator(".saved-views [aria-current=true]")).to_contain_text("My leads")
    page.click(".column-chooser > summary")
    assert page.evaluate(SIDEWAYS) <= 0
    page.screenshot(path=f"{SCREENSHOTS}/ui-saved-views-phone.png", full_page=True)
