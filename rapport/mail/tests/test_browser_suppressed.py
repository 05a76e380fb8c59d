"""Real Chromium: an administrator mails a bouncing address again from the contact's page,
through the confirmation, and finds the Not mailed list empty after it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from rapport.contacts.tests.factories import make_contact
from rapport.mail import tracking
from rapport.mail.models import SuppressedAddress

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_mails_a_bouncing_address_again_from_the_contact_page(
    signed_in_page, owner, admin_user
):
    contact = make_contact(
        actor=owner, owner=owner, first_name="Ada", emails=[{"email": "ada@example.com"}]
    )
    tracking.mark_bouncing(email="ada@example.com", detail="552 mailbox full")
    page = signed_in_page(admin_user)

    page.goto("/mail/suppressed/")
    expect(page.locator("table.mail-suppressed")).to_contain_text("552 mailbox full")
    page.goto(contact.get_absolute_url())
    panel = page.locator("#panel-mail_email")
    expect(panel).to_contain_text("Bouncing")
    panel.get_by_role("link", name="Mail this address again").click()
    expect(page.locator("h1")).to_have_text("Mail ada@example.com again?")
    page.get_by_role("button", name="Mail this address again").click()

    expect(page).to_have_url(re.compile(re.escape(contact.get_absolute_url()) + "$"))
    expect(page.locator("#panel-mail_email")).not_to_contain_text("Bouncing")
    assert not SuppressedAddress.objects.exists()
