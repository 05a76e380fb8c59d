"""Real Chromium, real SMTP server: compose from a contact's page to a message the server
received and the Sent tab says "Sent". The shared `browser_page` fixture fails the test on any
JavaScript error, console error or CSP violation (the preview frame included)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.mail import receiving
from rapport.mail.choices import MessageStatus
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.models import EmailMessage
from rapport.mail.templating import create_template
from rapport.mail.tests.test_views import raw_mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1440)
SIDEWAYS = "document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture
def public_links(settings):
    # Sent mail carries tracking and unsubscribe links to the public endpoints at /m/.
    settings.ROOT_URLCONF = "rapport.mail.tests.urls_public"


def test_compose_from_a_contact_page_through_to_sent(
    public_links, signed_in_page, owner, admin_user, sales_team, smtp_server
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
    )
    contact = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=[{"email": "ada@example.com"}],
    )
    create_template(
        actor=owner,
        name="Follow-up",
        subject="Following up, {{ contact.first_name }}",
        body_html='<p style="color: #333">Hello {{ contact.first_name }},</p><p>Thanks.</p>',
    )
    page = signed_in_page(owner)
    page.goto(contact.get_absolute_url())
    panel = page.locator("#panel-mail_email")
    expect(panel).to_contain_text("No email yet.")
    panel.get_by_role("link", name="Compose").click()

    expect(page.locator("#id_to")).to_have_value("ada@example.com")
    # htmx binds the template's change once the page has loaded: choosing earlier sends nothing.
    page.wait_for_load_state("networkidle")
    page.locator("#id_template").select_option(label="Follow-up")
    expect(page.locator("#id_subject")).to_have_value("Following up, {{ contact.first_name }}")
    # The preview frame shows the merge fields filled in for the contact.
    frame = page.frame_locator("iframe[name=mail-preview]")
    expect(frame.locator("body")).to_contain_text("Subject: Following up, Ada")
    expect(frame.locator("body")).to_contain_text("Hello Ada,")

    # A merge field is inserted where the cursor is.
    body = page.locator("#id_body_html")
    body.fill("<p>Dear , see you soon.</p>")
    body.evaluate("element => element.setSelectionRange(8, 8)")
    page.get_by_label("Insert a merge field").select_option(label="Contact · First name")
    page.get_by_role("button", name="Insert").click()
    expect(body).to_have_value("<p>Dear {{ contact.first_name }}, see you soon.</p>")

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(SIDEWAYS) <= 0, f"compose scrolls sideways at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**{contact.get_absolute_url()}")
    expect(page.locator("#messages")).to_contain_text("Sending…")
    message = EmailMessage.objects.get()
    # The timeline has the entry at once (the test settings run the outbox task inline, so it
    # may already say sent).
    expect(page.locator("#panel-timeline")).to_contain_text("Following up, Ada")
    expect(page.locator("#panel-mail_email")).to_contain_text("Following up, Ada")

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.recipients == ("ada@example.com",)
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    assert "Dear Ada, see you soon." in text

    page.goto("/mail/?tab=sent")
    row = page.locator("table.mail-sent tbody tr", has_text="Following up, Ada")
    expect(row).to_contain_text("Sent")
    row.get_by_role("link", name="Following up, Ada").click()
    expect(page.locator("h1")).to_have_text("Following up, Ada")
    expect(page.frame_locator("iframe.mail-frame").locator("body")).to_contain_text("Dear Ada")

    for path in ("/mail/?tab=sent", f"/mail/messages/{message.uuid}/", contact.get_absolute_url()):
        page.goto(path)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate(SIDEWAYS) <= 0, f"{path} scrolls sideways at {width} px"


def test_the_template_editor_previews_live_for_a_contact_picked_by_name(signed_in_page, owner):
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Grace",
        last_name="Hopper",
        emails=[{"email": "grace@navy.example"}],
    )
    template = create_template(
        actor=owner,
        name="Welcome",
        subject="Welcome, {{ contact.first_name | default('friend') }}",
        body_html='<p style="font-weight: bold">Hello {{ contact.full_name }}</p>',
    )
    page = signed_in_page(owner)
    page.goto(f"/mail/templates/{template.pk}/")
    frame = page.frame_locator("iframe[name=mail-preview]")
    expect(frame.locator("body")).to_contain_text("Subject: Welcome, friend")

    page.locator("#id_preview_contact").fill("Hop")
    page.get_by_role("option", name="Grace Hopper").click()
    expect(frame.locator("body")).to_contain_text("Subject: Welcome, Grace")
    expect(frame.locator("body")).to_contain_text("Hello Grace Hopper")

    # A mistake is said in the preview while typing, and beside the field on saving.
    page.locator("#id_body_html").fill("<p>{{ contact.nickname }}</p>")
    expect(frame.locator("body")).to_contain_text("The preview cannot be shown")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_body_html_error")).to_contain_text("nickname")


def test_triage_creates_a_contact_and_ignores_a_domain_in_place(
    signed_in_page, owner, admin_user, sales_team, smtp_server
):
    mailbox = create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales team",
        email_address="sales@rapport.test",
        team=sales_team,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
    )
    grace = receiving.file_message(
        mailbox=mailbox, raw=raw_mail(sender="Grace Hopper <grace@navy.example>", subject="Hi")
    )
    news = receiving.file_message(
        mailbox=mailbox, raw=raw_mail(sender="news@letters.example", subject="Newsletter")
    )
    page = signed_in_page(owner)
    page.goto("/mail/")
    row = page.locator(f"#triage-{grace.uuid}")
    expect(row.locator("input[name$=first_name]")).to_have_value("Grace")
    row.get_by_role("button", name="Create contact").click()
    expect(page.locator(f"#triage-{grace.uuid}")).to_contain_text(
        "Grace Hopper was added as a contact and the message filed."
    )
    assert Contact.objects.filter(primary_email="grace@navy.example").exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#triage-{news.uuid}").get_by_role(
        "button", name="Always ignore this domain (letters.example)"
    ).click()
    expect(page.locator(f"#triage-{news.uuid}")).to_contain_text(
        "Mail from letters.example is ignored from now on."
    )
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/mail/")
        assert page.evaluate(SIDEWAYS) <= 0, f"the inbox scrolls sideways at {width} px"
