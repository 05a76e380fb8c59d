"""The core journey in a real browser: sign in, create a contact with a custom field, find it,
open its 360° page, log a call and see it on the timeline; bad input shows beside the field."""

import os
import re
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.customfields.services import create_definition
from rapport.interactions.models import Interaction

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The shared fixtures, made visible to pytest in this module.

# Screenshots of the list and the 360° page, for a person to look at after a run.
SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())


@pytest.fixture
def region(admin_user):
    return create_definition(
        actor=admin_user,
        entity="contact",
        key="region",
        label="Sales region",
        field_type="choice",
        choices=["North", "South"],
    )


def test_create_find_open_and_log_a_call(signed_in_page, owner, region):
    org = make_organization(actor=owner, owner=owner, name="Navy Research Lab")
    for number in range(3):
        make_contact(actor=owner, owner=owner, first_name="Other", last_name=f"Person{number}")
    page = signed_in_page(owner)

    # Create a contact with a custom field.
    page.goto("/contacts/new/")
    page.fill("#id_first_name", "Grace")
    page.fill("#id_last_name", "Hopper")
    page.fill("#id_job_title", "Rear Admiral")
    page.fill("#id_organization_name", "Navy Research Lab")
    page.locator('[data-rows="email"] input[name="email"]').first.fill("grace@navy.mil")
    page.locator('[data-rows="phone"] input[name="phone"]').first.fill("+1 415 555 0100")
    page.select_option("#id_cf_region", "South")
    page.select_option("#id_lifecycle_stage", "opportunity")
    page.click("text=Create contact")
    expect(page.locator("h1")).to_have_text("Grace Hopper")
    contact = Contact.objects.get(first_name="Grace")
    assert contact.custom_fields == {"region": "South"}
    assert contact.memberships.get().organization == org

    # Find it with the live search (HTMX swaps the results, no submit needed).
    page.goto("/contacts/")
    expect(page.locator("#results")).to_contain_text("Other Person0")
    page.fill("#id_q", "hopper")
    expect(page.locator("#results")).not_to_contain_text("Other Person0")
    expect(page.locator("#results")).to_contain_text("Grace Hopper")
    assert "q=hopper" in page.url  # the search is in the address bar, so it can be shared
    page.fill("#id_q", "")
    expect(page.locator("#results")).to_contain_text("Other Person0")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar belongs at the top
    page.screenshot(path=f"{SCREENSHOTS}/ui-list.png", full_page=True)

    page.fill("#id_q", "navy research")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    page.click("#results >> text=Grace Hopper")
    expect(page.locator("h1")).to_have_text("Grace Hopper")
    expect(page.locator("#panel-custom_fields")).to_contain_text("South")

    # Log a call; it appears on the timeline without reloading the page.
    page.evaluate("window.rapportNoReload = true")
    page.check("#log-form input[name=kind][value=call]")
    page.fill("#id_log_subject", "Compiler pilot")
    page.fill("#id_log_body", "She will try it with two teams.")
    page.select_option("#id_log_outcome", "connected")
    page.fill("#id_log_duration_minutes", "20")
    page.click("#log-form button[type=submit]")
    entry = page.locator("#timeline-list .timeline-item").first
    expect(entry).to_contain_text("Call: Compiler pilot")
    expect(entry).to_contain_text("She will try it with two teams.")
    expect(page.locator("#log-form")).to_contain_text("Call logged.")
    expect(page.locator("#id_log_subject")).to_have_value("")
    # "When" defaults to the minute the page was drawn, so this reads "just now" or "1 min ago".
    expect(page.locator("#contact-last-touched")).to_have_text(
        re.compile(r"Last touched: (just now|1 min ago)")
    )
    assert page.evaluate("window.rapportNoReload") is True
    call = Interaction.objects.get()
    assert (call.contact_id, call.outcome, call.duration_minutes) == (contact.pk, "connected", 20)

    # Move the lifecycle stage inline; the header badge follows.
    page.select_option("#id_lifecycle_stage_inline", "customer")
    page.click("#panel-lifecycle >> text=Change stage")
    expect(page.locator("#contact-stage-badge")).to_have_text("Customer")
    expect(page.locator("#panel-lifecycle")).to_contain_text("Opportunity → Customer")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=f"{SCREENSHOTS}/ui-360.png", full_page=True)


def test_bad_email_shows_an_error_beside_the_field(signed_in_page, owner):
    page = signed_in_page(owner)
    page.goto("/contacts/new/")
    page.fill("#id_first_name", "Alan")
    page.locator('[data-rows="email"] input[name="email"]').first.fill("alan-at-example")
    page.click("text=Create contact")

    row = page.locator('[data-rows="email"] [data-row]').first
    error = row.locator(".field-error")
    expect(error).to_have_text("Enter a valid email address.")
    email_input = row.locator('input[name="email"]')
    expect(email_input).to_have_attribute("aria-invalid", "true")
    expect(email_input).to_have_value("alan-at-example")
    # Beside the field: the message sits right under its input.
    input_box, error_box = email_input.bounding_box(), error.bounding_box()
    assert 0 <= error_box["y"] - (input_box["y"] + input_box["height"]) < 40
    assert abs(error_box["x"] - input_box["x"]) < 5
    expect(page.locator("#form-errors")).to_be_visible()
    assert Contact.objects.count() == 0


def test_email_rows_can_be_added_and_removed(signed_in_page, owner):
    page = signed_in_page(owner)
    page.goto("/contacts/new/")
    page.fill("#id_first_name", "Ada")
    rows = page.locator('[data-rows="email"] [data-row]')
    rows.first.locator('input[name="email"]').fill("ada@work.example")
    page.click("text=+ Add email")
    expect(rows).to_have_count(2)
    rows.nth(1).locator('input[name="email"]').fill("ada@home.example")
    rows.nth(1).locator('input[type="radio"]').check()
    page.click("text=+ Add email")
    expect(rows).to_have_count(3)
    rows.nth(2).locator("[data-remove-row]").click()
    expect(rows).to_have_count(2)
    page.click("text=Create contact")

    expect(page.locator("h1")).to_have_text("Ada")
    contact = Contact.objects.get()
    assert contact.primary_email == "ada@home.example"
    assert contact.emails.count() == 2


def test_the_shell_works_on_a_phone(signed_in_page, owner):
    make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")
    page = signed_in_page(owner)
    page.set_viewport_size({"width": 375, "height": 740})

    for path in ("/", "/contacts/", "/contacts/new/", "/organizations/"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 375px"

    page.goto("/")
    nav = page.locator("#mainnav")
    expect(nav).to_be_hidden()
    page.click("[data-nav-toggle]")
    expect(nav).to_be_visible()
    expect(page.locator("[data-nav-toggle]")).to_have_attribute("aria-expanded", "true")
    nav.locator("text=Contacts").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    expect(page.locator("#results")).to_contain_text("Grace Hopper")
    page.screenshot(path=f"{SCREENSHOTS}/ui-phone-list.png", full_page=True)
    contact = Contact.objects.get()
    page.goto(contact.get_absolute_url())
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    page.screenshot(path=f"{SCREENSHOTS}/ui-phone-360.png", full_page=True)


def test_sign_out_is_a_post_from_the_user_menu(signed_in_page, owner):
    page = signed_in_page(owner)
    page.click(".usermenu summary")
    page.click(".usermenu >> text=Sign out")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.goto("/contacts/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_a_note_keeps_its_own_fields_through_every_swap(signed_in_page, owner):
    contact = make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")
    page = signed_in_page(owner)
    page.goto(contact.get_absolute_url())
    outcome = page.locator("#id_log_outcome")
    expect(outcome).to_be_visible()  # a call is the default
    page.check("#log-form input[name=kind][value=note]")
    expect(outcome).to_be_hidden()
    # A person drags the notes box bigger: Chromium writes its size into a style attribute,
    # which the swap must not copy onto the new form (the CSP refuses inline style).
    page.locator("#id_log_body").evaluate("box => { box.style.height = '160px'; }")

    page.click("#log-form button[type=submit]")
    error = page.locator("#id_log_body_error")
    expect(error).to_have_text("Write the note: it is empty.")
    expect(page.locator("#log-form input[name=kind][value=note]")).to_be_checked()
    expect(outcome).to_be_hidden()
    assert Interaction.objects.count() == 0

    page.fill("#id_log_body", "Prefers email to calls.")
    page.click("#log-form button[type=submit]")
    expect(page.locator("#log-form")).to_contain_text("Note logged.")
    expect(page.locator("#timeline-list .timeline-item").first).to_contain_text(
        "Prefers email to calls."
    )
    expect(page.locator("#log-form input[name=kind][value=note]")).to_be_checked()
    expect(outcome).to_be_hidden()
    expect(page.locator("#id_log_duration_minutes")).to_be_hidden()
