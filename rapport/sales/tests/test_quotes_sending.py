"""Sending a quote through a real SMTP server (aiosmtpd): the outbox row, the PDF attached, the
timeline, and the send page with the contact's address filled in."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.contacts.tests.factories import make_contact
from rapport.interactions.models import Interaction
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.models import EmailMessage
from rapport.mail.tests.servers import SmtpServer
from rapport.sales.models import QuoteStatus
from rapport.sales.quotes import mailing
from rapport.sales.quotes.services import create_quote, mark_accepted, send_quote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quote_mailer(monkeypatch):
    """The quote mailer `rapport.mail.wiring` registered at start-up. Should it be missing, the
    mail app's is registered for this test alone (restored afterwards), so the sending tests run
    and the start-up test below still fails."""
    from rapport.mail import quotes as mail_quotes

    at_start_up = mailing.quote_mailer()
    monkeypatch.setattr(mailing, "_mailer", at_start_up)
    if at_start_up is None:
        mail_quotes.connect()
    return at_start_up


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(admin_user, smtp_server):
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales",
        email_address="sales@rapport.example",
        from_name="Sales team",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        check=False,
    )


@pytest.fixture
def ada(owner):
    return make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", emails=["ada@example.com"]
    )


@pytest.fixture
def quote(make_deal, owner, ada):
    deal = make_deal(owner=owner, name="Engines for Ada", amount="2500.00", contact=ada)
    return create_quote(actor=owner, deal=deal, notes="Thank you for asking.")


def test_the_mail_app_registers_the_quote_mailer_at_start_up(quote_mailer):
    assert quote_mailer is not None


def test_a_sent_quote_arrives_with_its_pdf_and_is_marked_sent(
    owner, quote, ada, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = send_quote(
            actor=owner,
            quote=quote,
            mailbox=mailbox.pk,
            to=["ada@example.com"],
            subject=f"Quote {quote.number}",
            message="Hello Ada,\n\nplease find our quote {attached}.",
        )

    assert (sent.status, sent.sent_to) == (QuoteStatus.SENT, "ada@example.com")
    assert sent.sent_at is not None
    [received] = smtp_server.wait_for(1)
    email = received.message
    assert received.recipients == ("ada@example.com",)
    assert email["Subject"] == f"Quote {quote.number}"
    [attachment] = list(email.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{quote.number}-v1.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-") and quote.number.encode() in pdf
    body = email.get_body(("html",)).get_content()
    assert "please find our quote {attached}." in body.replace("&#123;", "{").replace("&#125;", "}")
    message = EmailMessage.objects.get()
    assert (message.deal_id, message.contact_id, message.status) == (quote.deal_id, ada.pk, "sent")
    assert Interaction.objects.filter(contact=ada, kind="email", outcome="sent").exists()


def test_a_quote_can_be_sent_again_but_not_once_replaced(
    owner, quote, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    arguments = {"mailbox": mailbox.pk, "subject": "Quote", "message": "Here it is."}
    with django_capture_on_commit_callbacks(execute=True):
        send_quote(actor=owner, quote=quote, to=["ada@example.com"], **arguments)
        send_quote(actor=owner, quote=quote, to=["bob@example.com"], **arguments)
    assert len(smtp_server.wait_for(2)) == 2
    newer = create_quote(actor=owner, deal=quote.deal)
    with pytest.raises(ValidationError) as caught:
        send_quote(actor=owner, quote=quote, to=["ada@example.com"], **arguments)
    assert list(caught.value.message_dict) == ["status"]
    mark_accepted(actor=owner, quote=newer)
    with pytest.raises(ValidationError):
        send_quote(actor=owner, quote=newer, to=["ada@example.com"], **arguments)
    assert EmailMessage.objects.count() == 2


def test_bad_addresses_and_a_foreign_mailbox_are_refused_beside_their_fields(
    owner, outsider, quote, mailbox, smtp_server
):
    with pytest.raises(ValidationError) as caught:
        send_quote(
            actor=owner,
            quote=quote,
            mailbox=mailbox.pk,
            to=["not an address"],
            subject="Q",
            message="Hi",
        )
    assert list(caught.value.message_dict) == ["to"]
    with pytest.raises(ValidationError) as caught:
        send_quote(
            actor=owner,
            quote=quote,
            mailbox=999_999,
            to=["ada@example.com"],
            subject="Q",
            message="Hi",
        )
    assert caught.value.message_dict == {"mailbox": ["Choose a mailbox you may send from."]}
    with pytest.raises(PermissionDenied):
        send_quote(
            actor=outsider,
            quote=quote,
            mailbox=mailbox.pk,
            to=["ada@example.com"],
            subject="Q",
            message="Hi",
        )
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT
    assert not EmailMessage.objects.exists()
    assert smtp_server.messages == []


def test_the_send_page_fills_in_the_contacts_address_and_sends(
    web_client_for, owner, quote, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    client = web_client_for(owner)
    page = client.get(f"/sales/quotes/{quote.pk}/send/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="ada@example.com"' in html
    assert "Sales team &lt;sales@rapport.example&gt;" in html
    assert "Hello Ada," in html

    refused = client.post(
        f"/sales/quotes/{quote.pk}/send/",
        {"mailbox": mailbox.pk, "to": "nobody", "subject": "Q", "message": "Hi"},
    )
    assert refused.status_code == 422
    assert 'id="id_to_error"' in refused.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/sales/quotes/{quote.pk}/send/",
            {
                "mailbox": mailbox.pk,
                "to": "ada@example.com, cfo@example.com",
                "subject": "Your quote",
                "message": "Hello Ada",
            },
        )
    assert response.status_code == 302
    [received] = smtp_server.wait_for(1)
    assert set(received.recipients) == {"ada@example.com", "cfo@example.com"}
    quote.refresh_from_db()
    assert (quote.status, quote.sent_to) == ("sent", "ada@example.com, cfo@example.com")
