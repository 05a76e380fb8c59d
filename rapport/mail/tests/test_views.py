"""The mail pages: who may open what, the forms' errors beside their fields, and the actions
that go through the services (triage, compose, retry, mailboxes, templates). Real SMTP server,
real filing of raw messages; nothing in the mail path is mocked.
"""

from __future__ import annotations

import mailbox as maildir
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.utils import timezone

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.tests import api_matrix
from rapport.interactions.models import Interaction
from rapport.mail import receiving, sending
from rapport.mail.choices import MessageStatus, TriageState
from rapport.mail.mailboxes import create_mailbox, local_sink_mailbox
from rapport.mail.models import Attachment, EmailMessage, EmailTemplate, Mailbox
from rapport.mail.templating import create_template

# Sending builds tracking and unsubscribe links: the public endpoints must be mounted.
pytestmark = [pytest.mark.django_db, pytest.mark.urls("rapport.mail.tests.urls_public")]

OUR_ADDRESS = "sales@rapport.test"
read_only_user = api_matrix.read_only_user  # a read-only seat of the sales team


def raw_mail(
    *,
    sender="Ada Lovelace <ada@example.com>",
    to=OUR_ADDRESS,
    subject="Hello",
    body="Hello there.",
    html=None,
    message_id=None,
    attachments=(),
) -> bytes:
    message = MimeMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, payload in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


@pytest.fixture
def team_mailbox(admin_user, sales_team, smtp_server):
    """A shared mailbox of the sales team, sending through a real SMTP server."""
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales",
        email_address=OUR_ADDRESS,
        team=sales_team,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
    )


@pytest.fixture
def contact(owner):
    return make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=[{"email": "ada@example.com"}],
    )


@pytest.fixture
def received(team_mailbox, contact):
    """A message from the contact, filed on the contact's timeline, with HTML and a file."""
    return receiving.file_message(
        mailbox=team_mailbox,
        raw=raw_mail(
            subject="About the engine",
            body="Can we meet on Tuesday?\n\nOn Monday you wrote:\n> the old question",
            html='<p style="color: #333">Can we meet?</p><img src="https://track.example/p.gif">',
            attachments=[("notes.txt", "text/plain", b"the notes")],
        ),
    )


@pytest.fixture
def unknown(team_mailbox):
    """A message from a sender no contact has: waiting in triage."""
    return receiving.file_message(
        mailbox=team_mailbox,
        raw=raw_mail(sender="Grace Hopper <grace@navy.example>", subject="Introduction"),
    )


# -- mail home: triage and sent ----------------------------------------------------------------
def test_the_triage_tab_lists_the_unknown_senders_of_mailboxes_the_user_may_use(
    unknown,
    web_client_for,
    owner,
    outsider,
):
    assert unknown.triage_state == TriageState.PENDING
    page = web_client_for(owner).get("/mail/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Introduction" in text
    assert "Grace Hopper &lt;grace@navy.example&gt;" in text
    assert "Always ignore this domain (navy.example)" in text

    # The outsider is not in the mailbox's team: neither sees nor decides.
    other = web_client_for(outsider)
    assert "Introduction" not in other.get("/mail/").content.decode()
    assert other.get(f"/mail/messages/{unknown.uuid}/").status_code == 404
    for action in ("contact", "ignore", "ignore-sender"):
        assert other.post(f"/mail/triage/{unknown.uuid}/{action}/").status_code == 404
    unknown.refresh_from_db()
    assert unknown.triage_state == TriageState.PENDING


def test_create_contact_from_triage_files_the_message_in_place(unknown, web_client_for, owner):
    client = web_client_for(owner)
    url = f"/mail/triage/{unknown.uuid}/contact/"
    prefix = str(unknown.pk)

    refused = client.post(
        url,
        {f"{prefix}-first_name": "", f"{prefix}-last_name": ""},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 422
    assert "Give a first or a last name." in refused.content.decode()
    assert not Contact.objects.filter(primary_email="grace@navy.example").exists()

    answer = client.post(
        url,
        {f"{prefix}-first_name": "Grace", f"{prefix}-last_name": "Hopper"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200
    assert "Grace Hopper was added as a contact and the message filed." in answer.content.decode()
    assert f'id="triage-{unknown.uuid}"' in answer.content.decode()
    unknown.refresh_from_db()
    assert unknown.triage_state == TriageState.FILED
    assert Contact.objects.get(primary_email="grace@navy.example").owner == owner


def test_ignore_and_always_ignore_the_domain(team_mailbox, unknown, web_client_for, owner):
    client = web_client_for(owner)
    answer = client.post(f"/mail/triage/{unknown.uuid}/ignore-sender/", HTTP_HX_REQUEST="true")
    assert "Mail from navy.example is ignored from now on." in answer.content.decode()
    unknown.refresh_from_db()
    assert unknown.triage_state == TriageState.IGNORED
    # No longer waiting: a second decision on it is a 404, not a crash.
    assert client.post(f"/mail/triage/{unknown.uuid}/ignore/").status_code == 404

    another = receiving.file_message(
        mailbox=team_mailbox,
        raw=raw_mail(sender="x@gmail.com", subject="Free mail"),
    )
    page = client.get("/mail/").content.decode()
    assert "Always ignore this sender" in page  # a free mail provider's domain is never offered
    assert client.post(f"/mail/triage/{another.uuid}/ignore/").status_code == 302
    another.refresh_from_db()
    assert another.triage_state == TriageState.IGNORED


def test_the_sent_tab_shows_each_state_and_offers_retry_on_failure(
    team_mailbox,
    contact,
    web_client_for,
    outsider,
    owner,
    smtp_server,
):
    message = sending.send_email(
        actor=owner,
        mailbox=team_mailbox,
        to=["ada@example.com"],
        subject="Proposal",
        body_html="<p>Here it is.</p>",
        contact=contact,
    )
    client = web_client_for(owner)
    page = client.get("/mail/?tab=sent").content.decode()
    assert "Proposal" in page and ">Sending<" in page

    smtp_server.fail_next(550, "Mailbox unavailable")
    sending.deliver(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert web_client_for(outsider).post(f"/mail/messages/{message.uuid}/retry/").status_code == 404
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    page = client.get("/mail/?tab=sent").content.decode()
    assert f"Failed: {message.last_error}" in page
    assert f"/mail/messages/{message.uuid}/retry/" in page

    response = client.post(
        f"/mail/messages/{message.uuid}/retry/", {"next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/mail/?tab=sent"
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    sending.deliver(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert ">Sent<" in client.get("/mail/?tab=sent").content.decode()


# -- the message page --------------------------------------------------------------------------
def test_the_message_page_shows_headers_folded_quote_frame_and_attachments(
    received,
    web_client_for,
    owner,
    outsider,
):
    client = web_client_for(owner)
    page = client.get(f"/mail/messages/{received.uuid}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "About the engine" in text
    assert "Ada Lovelace &lt;ada@example.com&gt;" in text
    assert "Can we meet on Tuesday?" in text
    if received.quoted_text:
        assert "Show quoted text" in text
    assert "Show 1 remote image" in text
    assert f'src="/mail/messages/{received.uuid}/html/"' in text
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in text  # never scripts
    for mode in ("Reply", "Reply all", "Forward"):
        assert f">{mode}</a>" in text

    frame = client.get(f"/mail/messages/{received.uuid}/html/")
    assert frame.status_code == 200
    assert "script-src" not in frame["Content-Security-Policy"]
    assert "default-src 'none'" in frame["Content-Security-Policy"]
    assert "img-src data:;" in frame["Content-Security-Policy"]
    assert "track.example" not in frame.content.decode()
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    shown = client.get(f"/mail/messages/{received.uuid}/html/?images=1")
    assert "https://track.example/p.gif" in shown.content.decode()
    assert "img-src data: https: http:" in shown["Content-Security-Policy"]

    attachment = Attachment.objects.get(message=received)
    download = client.get(f"/mail/messages/{received.uuid}/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert b"".join(download.streaming_content) == b"the notes"

    # Someone who may not see the message learns nothing about it or its files.
    other = web_client_for(outsider)
    assert other.get(f"/mail/messages/{received.uuid}/").status_code == 404
    assert other.get(f"/mail/messages/{received.uuid}/html/").status_code == 404
    assert (
        other.get(f"/mail/messages/{received.uuid}/attachments/{attachment.pk}/").status_code == 404
    )


def test_a_refused_attachment_is_listed_with_its_reason(received, web_client_for, owner):
    Attachment.objects.create(
        message=received,
        filename="setup.exe",
        content_type="application/x-msdownload",
        refused_reason="a program",
    )
    page = web_client_for(owner).get(f"/mail/messages/{received.uuid}/").content.decode()
    assert "setup.exe" in page and "not kept: a program" in page


# -- compose -----------------------------------------------------------------------------------
def test_compose_from_a_contact_is_prefilled_and_sends(
    team_mailbox,
    contact,
    web_client_for,
    owner,
):
    client = web_client_for(owner)
    page = client.get(f"/mail/compose/?contact={contact.pk}")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'value="ada@example.com"' in text
    assert "Contact · First name" in text  # the merge-field picker, in words

    response = client.post(
        "/mail/compose/",
        {
            "contact": contact.pk,
            "mailbox": team_mailbox.pk,
            "to": "ada@example.com",
            "subject": "Hello {{ contact.first_name }}",
            "body_html": "<p>Dear {{ contact.first_name }},</p>",
            "purpose": "personal",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == contact.get_absolute_url()
    message = EmailMessage.objects.get(subject="Hello Ada")
    assert message.status == MessageStatus.QUEUED
    entry = Interaction.objects.get(external_id=f"mail:{message.uuid}:{contact.pk}")
    assert entry.outcome == "sending"
    followed = client.get(response["Location"]).content.decode()
    assert "Sending…" in followed


def test_compose_errors_are_shown_beside_their_fields(team_mailbox, contact, web_client_for, owner):
    response = web_client_for(owner).post(
        "/mail/compose/",
        {
            "contact": contact.pk,
            "mailbox": team_mailbox.pk,
            "to": "not an address",
            "subject": "",
            "body_html": "<p>{{ contact.first_name </p>",
            "purpose": "personal",
        },
    )
    assert response.status_code == 422
    form = response.context["form"]
    assert form.errors["subject"]
    assert "to" in form.errors
    assert not EmailMessage.objects.exists()

    response = web_client_for(owner).post(
        "/mail/compose/",
        {
            "contact": contact.pk,
            "mailbox": team_mailbox.pk,
            "to": "not an address",
            "subject": "Hi",
            "body_html": "<p>Hi</p>",
            "purpose": "personal",
        },
    )
    assert response.status_code == 422
    assert response.context["form"].errors["to"]
    assert 'id="id_to_error"' in response.content.decode()


def test_a_read_only_seat_cannot_compose(team_mailbox, contact, web_client_for, read_only_user):
    client = web_client_for(read_only_user)
    assert client.get(f"/mail/compose/?contact={contact.pk}").status_code == 403
    assert (
        client.post(
            "/mail/compose/",
            {"mailbox": team_mailbox.pk, "to": "ada@example.com", "subject": "x", "body_html": "x"},
        ).status_code
        == 403
    )
    assert not EmailMessage.objects.exists()


def test_compose_about_a_contact_of_another_team_is_a_404(
    team_mailbox,
    contact,
    web_client_for,
    outsider,
):
    assert web_client_for(outsider).get(f"/mail/compose/?contact={contact.pk}").status_code == 404


def test_reply_starts_with_the_sender_and_the_quoted_message(received, web_client_for, owner):
    page = web_client_for(owner).get(f"/mail/compose/?reply_to={received.uuid}&mode=reply")
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["to"] == "ada@example.com"
    assert form.initial["subject"] == "Re: About the engine"
    assert f'name="reply_to" value="{received.uuid}"' in page.content.decode()


def test_choosing_a_template_fills_subject_and_body(team_mailbox, web_client_for, owner):
    template = create_template(
        actor=owner,
        name="Follow-up",
        subject="Following up, {{ contact.first_name }}",
        body_html="<p>Hi {{ contact.first_name }}</p>",
    )
    fragment = web_client_for(owner).get(
        f"/mail/compose/template/?template={template.pk}",
        HTTP_HX_REQUEST="true",
    )
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert 'id="compose-message"' in text
    assert "Following up, {{ contact.first_name }}" in text


def test_the_preview_renders_for_the_chosen_contact_inside_its_own_policy(
    contact,
    web_client_for,
    owner,
):
    response = web_client_for(owner).post(
        "/mail/preview/",
        {
            "preview_contact": contact.pk,
            "subject": "Hi {{ contact.first_name }}",
            "body_html": "<p>Dear {{ contact.full_name }}</p><script>alert(1)</script>",
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Hi Ada" in text and "Dear Ada Lovelace" in text
    assert "<script>" not in text
    assert "default-src 'none'" in response["Content-Security-Policy"]

    broken = web_client_for(owner).post(
        "/mail/preview/",
        {"subject": "x", "body_html": "<p>{{ contact.nickname }}</p>"},
    )
    assert "The preview cannot be shown" in broken.content.decode()
    assert "nickname" in broken.content.decode()


# -- mailboxes ---------------------------------------------------------------------------------
def mailbox_form(smtp_server, **changes) -> dict:
    data = {
        "kind": "personal",
        "name": "My mail",
        "email_address": "owner@rapport.test",
        "from_name": "Owen Owner",
        "imap_port": 993,
        "imap_security": "ssl",
        "imap_folder": "INBOX",
        "sent_folder": "Sent",
        "smtp_host": smtp_server.host,
        "smtp_port": smtp_server.port,
        "smtp_security": "none",
        "daily_send_limit": 200,
    }
    data.update(changes)
    return data


def test_connecting_a_personal_mailbox_tests_it_and_never_shows_the_password(
    smtp_server_with_auth,
    web_client_for,
    owner,
):
    client = web_client_for(owner)
    page = client.get("/mail/mailboxes/new/").content.decode()
    assert "Shared mailbox" not in page  # shared mailboxes are the administrators'
    data = mailbox_form(
        smtp_server_with_auth,
        smtp_username="rapport",
        smtp_password="wrong-password",
    )

    tested = client.post("/mail/mailboxes/new/", {**data, "action": "test"})
    assert tested.status_code == 200
    assert "Connection test" in tested.content.decode()
    assert "Sending (SMTP):" in tested.content.decode()
    assert "wrong-password" not in tested.content.decode()
    assert not Mailbox.objects.exists()

    refused = client.post("/mail/mailboxes/new/", {**data, "action": "save"})
    assert refused.status_code == 422
    assert refused.context["form"].errors["smtp_host"]
    assert not Mailbox.objects.exists()

    saved = client.post(
        "/mail/mailboxes/new/",
        {**data, "smtp_password": "smtp-secret", "action": "save"},
    )
    assert saved.status_code == 302
    mailbox = Mailbox.objects.get()
    assert mailbox.owner == owner and mailbox.kind == "personal"
    edit = client.get(f"/mail/mailboxes/{mailbox.pk}/").content.decode()
    assert "smtp-secret" not in edit
    assert "Leave empty to keep the stored password." in edit

    # An empty password keeps the stored one, and a rename does not need the server up.
    smtp_server_with_auth.stop()
    again = client.post(
        f"/mail/mailboxes/{mailbox.pk}/",
        {**data, "name": "Renamed", "smtp_password": "", "action": "save"},
    )
    assert again.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.name == "Renamed"
    listing = client.get("/mail/mailboxes/").content.decode()
    assert "Renamed" in listing and "Working" in listing

    # "Test connection" on the edit page signs in with the stored password.
    smtp_server_with_auth.start()
    tested = client.post(
        f"/mail/mailboxes/{mailbox.pk}/", {**data, "smtp_password": "", "action": "test"}
    )
    assert "Sending (SMTP):</strong> Connected and signed in." in tested.content.decode()


def test_mailbox_form_errors_are_beside_their_fields(smtp_server, web_client_for, owner):
    response = web_client_for(owner).post(
        "/mail/mailboxes/new/",
        mailbox_form(smtp_server, email_address="nobody", smtp_port=70000, action="save"),
    )
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "smtp_port" in errors
    assert 'id="id_smtp_port_error"' in response.content.decode()


def test_mailbox_pages_belong_to_their_owner_and_administrators(
    smtp_server,
    web_client_for,
    owner,
    outsider,
    admin_user,
    read_only_user,
):
    mailbox = create_mailbox(
        actor=owner,
        kind="personal",
        name="Mine",
        email_address="owner@rapport.test",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
    )
    assert web_client_for(outsider).get(f"/mail/mailboxes/{mailbox.pk}/").status_code == 404
    assert web_client_for(admin_user).get(f"/mail/mailboxes/{mailbox.pk}/").status_code == 200
    assert web_client_for(read_only_user).get("/mail/mailboxes/new/").status_code == 403
    assert "Mine" not in web_client_for(outsider).get("/mail/mailboxes/").content.decode()

    client = web_client_for(owner)
    client.post(f"/mail/mailboxes/{mailbox.pk}/pause/")
    mailbox.refresh_from_db()
    assert not mailbox.is_active
    assert "Paused" in client.get("/mail/mailboxes/").content.decode()
    client.post(f"/mail/mailboxes/{mailbox.pk}/pause/", {"paused": "0"})
    mailbox.refresh_from_db()
    assert mailbox.is_active

    assert (
        "Remove this mailbox"
        in client.get(f"/mail/mailboxes/{mailbox.pk}/remove/").content.decode()
    )
    assert web_client_for(outsider).post(f"/mail/mailboxes/{mailbox.pk}/remove/").status_code == 404
    assert client.post(f"/mail/mailboxes/{mailbox.pk}/remove/").status_code == 302
    assert not Mailbox.objects.exists()


# -- templates ---------------------------------------------------------------------------------
def test_a_template_with_a_syntax_error_is_refused_beside_the_body(web_client_for, owner):
    client = web_client_for(owner)
    page = client.get("/mail/templates/new/").content.decode()
    assert "Contact · First name" in page and "Share with everyone" not in page
    response = client.post(
        "/mail/templates/new/",
        {
            "name": "Broken",
            "purpose": "personal",
            "subject": "Hi",
            "body_html": "<p>Hello</p>\n<p>{% if contact.first_name %}</p>",
        },
    )
    assert response.status_code == 422
    errors = response.context["form"].errors["body_html"]
    assert "line" in " ".join(errors).lower()
    assert 'id="id_body_html_error"' in response.content.decode()
    assert not EmailTemplate.objects.exists()

    saved = client.post(
        "/mail/templates/new/",
        {
            "name": "Welcome",
            "purpose": "personal",
            "subject": "Welcome {{ contact.first_name }}",
            "body_html": "<p>Hello {{ contact.first_name | default('there') }}</p>",
        },
    )
    assert saved.status_code == 302
    template = EmailTemplate.objects.get()
    assert template.owner == owner
    assert "Welcome" in client.get("/mail/templates/").content.decode()


def test_templates_are_their_owners_and_shared_ones_the_administrators(
    web_client_for,
    owner,
    outsider,
    admin_user,
    read_only_user,
):
    mine = create_template(actor=owner, name="Mine", subject="s", body_html="<p>b</p>")
    shared = create_template(
        actor=admin_user,
        name="House style",
        subject="s",
        body_html="<p>b</p>",
        shared=True,
    )
    assert web_client_for(owner).get(f"/mail/templates/{mine.pk}/").status_code == 200
    assert web_client_for(outsider).get(f"/mail/templates/{mine.pk}/").status_code == 404
    assert web_client_for(owner).get(f"/mail/templates/{shared.pk}/").status_code == 403
    assert web_client_for(admin_user).get(f"/mail/templates/{shared.pk}/").status_code == 200
    assert web_client_for(read_only_user).get("/mail/templates/new/").status_code == 403
    assert "House style" in web_client_for(outsider).get("/mail/templates/").content.decode()

    assert web_client_for(outsider).post(f"/mail/templates/{mine.pk}/remove/").status_code == 404
    assert web_client_for(owner).post(f"/mail/templates/{mine.pk}/remove/").status_code == 302
    assert not EmailTemplate.objects.filter(pk=mine.pk).exists()


# -- delivered here ----------------------------------------------------------------------------
def test_delivered_here_lists_only_mail_the_user_may_see(
    settings,
    tmp_path,
    team_mailbox,
    contact,
    web_client_for,
    owner,
    outsider,
    admin_user,
):
    settings.RAPPORT_MAIL_SINK_DIR = tmp_path / "delivered"
    local_sink_mailbox()
    message = sending.send_email(
        actor=owner,
        mailbox=team_mailbox,
        to=["ada@example.com"],
        subject="Seen by the owner",
        body_html="<p>Hello Ada</p>",
        contact=contact,
    )
    box = maildir.Maildir(tmp_path / "delivered", create=True)
    box.add(bytes(message.raw))
    foreign = box.add(raw_mail(subject="Someone else's", message_id="<x@elsewhere.example>"))

    client = web_client_for(owner)
    assert "Delivered here" in client.get("/mail/").content.decode()
    page = client.get("/mail/delivered/").content.decode()
    assert "Delivered here — not sent to the internet" in page
    assert "Seen by the owner" in page
    assert "Someone else&#x27;s" not in page
    assert client.get(f"/mail/delivered/{foreign}/").status_code == 404

    # Mail with no message behind it (a password reset's link) is nobody's to read here, not
    # even an administrator's: it would sign them in as someone else.
    admin_page = web_client_for(admin_user).get("/mail/delivered/").content.decode()
    assert "Seen by the owner" in admin_page
    assert "Someone else&#x27;s" not in admin_page
    assert (
        "Seen by the owner" not in web_client_for(outsider).get("/mail/delivered/").content.decode()
    )
    assert web_client_for(admin_user).get(f"/mail/delivered/{foreign}/").status_code == 404
    assert web_client_for(admin_user).get("/mail/delivered/..%2Fetc/").status_code == 404


# -- panels ------------------------------------------------------------------------------------
def test_the_contact_page_has_an_email_panel_with_compose(
    received,
    contact,
    web_client_for,
    owner,
    read_only_user,
):
    page = web_client_for(owner).get(contact.get_absolute_url()).content.decode()
    assert 'id="panel-mail_email"' in page
    assert f"/mail/messages/{received.uuid}/" in page
    assert f"/mail/compose/?contact={contact.pk}" in page

    viewer_page = web_client_for(read_only_user).get(contact.get_absolute_url()).content.decode()
    assert f"/mail/messages/{received.uuid}/" in viewer_page
    assert "/mail/compose/" not in viewer_page


def test_the_organization_page_has_an_email_panel(owner, web_client_for, team_mailbox):
    from rapport.contacts.tests.factories import make_organization

    organization = make_organization(actor=owner, owner=owner, name="Engines Ltd")
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Charles",
        emails=[{"email": "charles@engines.example"}],
        organization=organization,
    )
    message = receiving.file_message(
        mailbox=team_mailbox,
        raw=raw_mail(sender="charles@engines.example", subject="Gears"),
    )
    page = web_client_for(owner).get(organization.get_absolute_url()).content.decode()
    assert 'id="panel-mail_email"' in page
    assert f"/mail/messages/{message.uuid}/" in page
    assert f"/mail/compose/?organization={organization.pk}" in page


def test_compose_from_a_deal_goes_back_to_the_deal_and_the_deal_panel_lists_it(
    team_mailbox, contact, web_client_for, owner, admin_user, rf
):
    import datetime as dt

    from rapport.core import registry
    from rapport.core.htmx import panel_entries
    from rapport.sales.services.deals import create_deal
    from rapport.sales.services.pipelines import create_pipeline

    pipeline = create_pipeline(actor=admin_user, name="Mail pipeline", currency="EUR")
    deal = create_deal(
        actor=owner,
        owner=owner,
        name="Engine order",
        pipeline=pipeline,
        amount="1000.00",
        expected_close_date=timezone.localdate() + dt.timedelta(days=30),
        contact=contact,
    )
    response = web_client_for(owner).post(
        "/mail/compose/",
        {
            "deal": deal.pk,
            "contact": contact.pk,
            "mailbox": team_mailbox.pk,
            "to": "ada@example.com",
            "subject": "About {{ deal.name }}",
            "body_html": "<p>The order.</p>",
            "purpose": "personal",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/sales/deals/{deal.pk}/"
    message = EmailMessage.objects.get(subject="About Engine order")
    assert message.deal == deal

    # The deal page's panel (registered for the entity "deal").
    assert any(panel.key == "mail_email" for panel in registry.panels["deal"])
    request = rf.get(f"/sales/deals/{deal.pk}/")
    request.user = owner
    (entry,) = [e for e in panel_entries("deal", request, deal) if e["panel"].key == "mail_email"]
    assert [row["message"] for row in entry["context"]["threads"]] == [message]
    assert entry["context"]["compose_url"] == f"/mail/compose/?deal={deal.pk}&contact={contact.pk}"
