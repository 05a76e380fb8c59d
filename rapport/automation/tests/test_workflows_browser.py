"""Real Chromium: an administrator builds a workflow with menus (trigger, the visual condition
builder, steps added and reordered), saves it, tests it on a contact and switches it on. The
shared `browser_page` fixture fails the test on any console error or CSP violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rapport.automation.models import Workflow
from rapport.contacts.tests.factories import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def settled(page) -> None:
    """Wait until HTMX has swapped and settled the redrawn editor (its new inputs wired)."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)


def test_build_a_workflow_with_the_visual_builder(signed_in_page, admin_user, owner):
    ada = make_contact(actor=owner, owner=owner, country="DE")
    page = signed_in_page(admin_user)
    page.goto("/automation/workflows/")
    page.get_by_role("link", name="Add a workflow").click()
    page.get_by_label("Name").first.fill("German welcome")

    # The trigger's settings come with it (HTMX redraws the form).
    page.get_by_label("Trigger").select_option(label="A contact's lifecycle stage changes")
    expect(page.get_by_label("To stage")).to_be_visible()
    settled(page)
    page.get_by_label("Trigger").select_option(label="A contact is created")
    expect(page.get_by_label("To stage")).to_have_count(0)
    settled(page)

    # The condition is built from menus; its JSON stays out of sight.
    editor = page.locator("#workflow-editor")
    expect(editor.locator("textarea[name=conditions]")).to_be_hidden()
    conditions = editor.locator("fieldset", has_text="Only for records where").first
    conditions.get_by_role("button", name="Add condition").click()
    conditions.get_by_label("Field of condition 1").select_option(label="Country (ISO code)")
    conditions.get_by_label("Operator of condition 1").select_option(label="is")
    conditions.get_by_label("Value of condition 1").fill("DE")

    page.get_by_label("Step to add").select_option(label="Create a task for the record's owner")
    page.get_by_role("button", name="Add step").click()
    settled(page)
    page.get_by_label("Task").fill("Call them")
    page.get_by_label("Step to add").select_option(label="Add a tag")
    page.get_by_role("button", name="Add step").click()
    settled(page)
    page.get_by_label("Tag").fill("Welcome")
    page.get_by_role("button", name="Move step 2 up").click()
    settled(page)
    expect(page.locator("#step-0")).to_contain_text("Add a tag")
    # The condition survived the redraws.
    expect(conditions.get_by_label("Value of condition 1")).to_have_value("DE")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Workflow “German welcome”")).to_be_visible()
    workflow = Workflow.objects.get()
    version = workflow.current_version
    assert version.conditions == {"all": [{"field": "country", "op": "eq", "value": "DE"}]}
    assert version.steps == [
        {"type": "add_tag", "tag": "Welcome"},
        {"type": "create_task", "title": "Call them", "due_in_days": 1, "priority": "normal"},
    ]
    expect(page.get_by_text("A contact is created")).to_be_visible()

    # Test it on Ada, picked by name: it says what it would do and does nothing.
    picker = page.locator("#dry-run input[type=search], #dry-run input[role=combobox]").first
    picker.fill("Ada")
    page.get_by_role("option", name="Ada Lovelace").first.click()
    page.get_by_role("button", name="Test").click()
    expect(page.locator(".dry-run")).to_contain_text("Would add the tag “Welcome”")
    assert not ada.tags.exists()

    page.get_by_role("button", name="Switch on").click()
    expect(page.get_by_text("Workflow switched on.")).to_be_visible()
    workflow.refresh_from_db()
    assert workflow.is_active is True
