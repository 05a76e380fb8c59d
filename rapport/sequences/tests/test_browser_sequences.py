"""Real Chromium: build a two-step sequence in the editor (adding and moving a step with its
buttons), then enroll a contact from their page. The shared `browser_page` fixture fails the
test on any JavaScript error, console error or CSP violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rapport.contacts.tests.factories import make_contact
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.templating import create_template
from rapport.sequences.models import Enrollment, Sequence

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_sequence_and_enroll_a_contact(
    signed_in_page, owner, admin_user, sales_team, smtp_server
):
    create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales team",
        email_address="sales@rapport.test",
        team=sales_team,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        check=False,
    )
    create_template(
        actor=owner,
        name="First touch",
        subject="Hello {{ contact.first_name }}",
        body_html="<p>Hi</p>",
    )
    contact = make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", emails=["ada@example.com"]
    )
    page = signed_in_page(owner)

    page.goto("/sequences/")
    expect(page.get_by_text("No sequences yet.")).to_be_visible()
    page.get_by_role("link", name="New sequence").click()
    page.get_by_label("Name").fill("Trial follow-up")
    page.get_by_label("Send from").select_option(label="Sales team")
    page.locator("#id_step-0-template").select_option(label="First touch")
    page.get_by_role("button", name="Add a call task").click()
    expect(page.locator("#step-1-title")).to_have_text("Step 2")
    page.locator("#id_step-1-task_title").fill("Ask about the budget")
    page.locator("#id_step-1-delay_amount").fill("2")
    page.get_by_role("button", name="Save sequence").click()

    expect(page.get_by_role("heading", name="Trial follow-up")).to_be_visible()
    sequence = Sequence.objects.get()
    assert list(sequence.steps.values_list("kind", "delay_amount", "task_title")) == [
        ("email", 0, ""),
        ("call", 2, "Ask about the budget"),
    ]

    page.goto(contact.get_absolute_url())
    panel = page.locator("#panel-sequences")
    expect(panel).to_contain_text("Not in any sequence.")
    panel.get_by_label("Enroll in").select_option(label="Trial follow-up")
    panel.get_by_role("button", name="Enroll").click()
    expect(page.get_by_text("Enrolled Ada Lovelace in “Trial follow-up”")).to_be_visible()
    enrollment = Enrollment.objects.get()
    assert (enrollment.contact_id, enrollment.status) == (contact.pk, "active")

    page.goto(f"/sequences/{sequence.pk}/")
    expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    page.get_by_role("button", name="Pause Ada Lovelace").click()
    expect(page.get_by_text("Paused: Ada Lovelace in “Trial follow-up”.")).to_be_visible()
    enrollment.refresh_from_db()
    assert enrollment.status == "paused"
