"""Inline edit on the 360° page in a real browser: edit a job title in place, see a bad email
refused beside its field, and leave a form with Escape without saving."""

import os
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A screenshot of the panel with a field being edited, for a person to look at after a run.
SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())
AXE = "/static/vendor/axe/4.14.1/axe.min.js"


def serious_violations(page, selector: str) -> list[str]:
    """axe-core's critical and serious findings inside `selector`."""
    page.add_script_tag(url=AXE)  # a same-origin file: the CSP allows it
    return page.evaluate(
        "async (selector) => (await axe.run(selector, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'critical' || v.impact === 'serious')"
        ".map(v => `${v.id} (${v.impact}): ${v.help}`)",
        selector,
    )


def test_a_job_title_is_edited_in_place(signed_in_page, owner):
    contact = make_contact(
        actor=owner, owner=owner, job_title="Analyst", emails=["ada@example.com"]
    )
    page = signed_in_page(owner)
    page.goto(contact.get_absolute_url())
    page.evaluate("window.rapportNoReload = true")
    details = page.locator("#panel-details")

    details.get_by_role("button", name="Edit job title").click()
    title = details.get_by_role("textbox", name="Job title")
    expect(title).to_be_focused()
    expect(title).to_have_value("Analyst")
    details.screenshot(path=f"{SCREENSHOTS}/ui-inline-edit.png")
    assert serious_violations(page, "#panel-details") == []
    title.fill("Chief Engineer")
    details.get_by_role("button", name="Save job title").click()

    expect(details.locator("#field-job_title")).to_contain_text("Chief Engineer")
    expect(details.get_by_role("textbox", name="Job title")).to_have_count(0)
    expect(page.locator("#contact-who")).to_contain_text("Chief Engineer")  # the header too
    expect(details.get_by_role("button", name="Edit job title")).to_be_focused()
    assert page.evaluate("window.rapportNoReload") is True  # swapped, not reloaded
    assert Contact.objects.get(pk=contact.pk).job_title == "Chief Engineer"

    # A bad email stays in the form with the message beside it; nothing is saved.
    details.get_by_role("button", name="Edit email").click()
    email = details.get_by_role("textbox", name="Email")
    email.fill("ada-at-example")
    details.get_by_role("button", name="Save email").click()
    expect(details.locator("#field-email .field-error")).to_have_text(
        "Enter a valid email address."
    )
    expect(email).to_have_attribute("aria-invalid", "true")
    details.screenshot(path=f"{SCREENSHOTS}/ui-inline-edit-error.png")
    assert serious_violations(page, "#panel-details") == []
    assert Contact.objects.get(pk=contact.pk).primary_email == "ada@example.com"

    # Escape leaves the form without saving.
    email.press("Escape")
    expect(details.locator("#field-email")).to_contain_text("ada@example.com")
    expect(details.get_by_role("textbox", name="Email")).to_have_count(0)
    assert Contact.objects.get(pk=contact.pk).primary_email == "ada@example.com"
