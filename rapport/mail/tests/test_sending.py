"""Sending through a real SMTP server (aiosmtpd) and copying to a real IMAP Sent folder
(Dovecot): the outbox row, its retries, the timeline, consent and access.
"""

import datetime as dt
from email import policy
from email.parser import BytesParser
from html import escape

import imapclient
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact
from rapport.contacts.services import set_consent
from rapport.contacts.tests.factories import make_contact
from rapport.core import display
from rapport.interactions.models import Interaction
from rapport.mail import tracking
from rapport.mail.choices import MessageDirection, MessagePurpose, MessageStatus
from rapport.mail.mailboxes import create_mailbox, update_mailbox
from rapport.mail.models import EmailMessage, EmailThread, Participant
from rapport.mail.sending import (
    BACKOFF,
    MAX_ATTEMPTS,
    deliver,
    mailbox_sent_today,
    reply_defaults,
    requeue_due,
    retry_message,
    send_email,
)


@pytest.fixture(autouse=True)
def public_endpoints(settings):
    settings.ROOT_URLCONF = "rapport.mail.tests.urls_public"
    settings.RAPPORT_PUBLIC_URL = "https://crm.example.com"
    settings.RAPPORT_MAIL_DOMAIN = "mail.example.com"


@pytest.fixture
def mailbox(admin_user, smtp_server):
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales",
        email_address="sales@rapport.example",
        from_name="Sales team",
        signature="Grace Hopper\nSales, Rapport Ltd",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
    )


@pytest.fixture
def ada(owner):
    return make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=["ada@example.com", "ada.l@home.example"],
    )


@pytest.fixture
def send(owner, mailbox, ada, django_capture_on_commit_callbacks):
    """send(**overrides) -> the message, its commit's task run (as the worker would)."""

    def run(**overrides):
        arguments = {
            "actor": owner,
            "mailbox": mailbox,
            "to": ["ada@example.com"],
            "subject": "Renewal",
            "body_html": "<p>Hello</p>",
            "contact": ada,
        }
        arguments.update(overrides)
        with django_capture_on_commit_callbacks(execute=True):
            message = send_email(**arguments)
        message.refresh_from_db()
        return message

    return run


def parsed(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def timeline(message, contact) -> Interaction:
    return Interaction.objects.get(external_id=f"mail:{message.uuid}:{contact.pk}")


# -- a message goes out ----------------------------------------------------------------------------


def test_a_message_arrives_with_the_right_headers_and_is_on_the_timeline(send, smtp_server, ada):
    message = send(
        to=["Ada <ada@example.com>"],
        cc=["bob@example.net"],
        bcc=["ADA.L@home.example", "hidden@example.org"],
        subject="Renewal for {{ contact.first_name }}",
        body_html='<p>Hello {{ contact.first_name }}, see <a href="https://example.com/offer">the '
        "offer</a>.</p>",
    )

    [received] = smtp_server.wait_for(1)
    email = received.message
    assert received.envelope_from == "sales@rapport.example"
    assert set(received.recipients) == {
        "ada@example.com",
        "bob@example.net",
        "ADA.L@home.example",
        "hidden@example.org",
    }
    assert email["From"] == "Sales team <sales@rapport.example>"
    assert email["To"] == "ada@example.com"
    assert email["Cc"] == "bob@example.net"
    assert email["Bcc"] is None
    assert b"hidden@example.org" not in received.raw
    assert email["Subject"] == "Renewal for Ada"
    assert email["Message-ID"] == f"<{message.message_id}>"
    assert message.message_id == f"{message.uuid}@mail.example.com"
    assert email["List-Unsubscribe"] is None  # personal mail
    html = email.get_body(("html",)).get_content()
    text = email.get_body(("plain",)).get_content()
    assert "Hello Ada" in html
    assert "https://crm.example.com/m/c/" in html
    assert 'href="https://example.com/offer"' not in html
    assert tracking.pixel_url(message) in html
    assert "Grace Hopper<br>Sales, Rapport Ltd" in html
    assert "Hello Ada" in text and "Grace Hopper" in text
    assert "/m/c/" not in text
    assert received.raw == bytes(message.raw)

    assert message.status == MessageStatus.SENT
    assert message.sent_at is not None
    assert message.attempts == 1
    assert message.direction == MessageDirection.OUTBOUND
    entry = timeline(message, ada)
    assert (entry.kind, entry.channel, entry.direction, entry.outcome) == (
        "email",
        "email",
        "outbound",
        "sent",
    )
    assert entry.subject == "Renewal for Ada"
    assert "Hello Ada" in entry.body
    # Ada is both in To and (by her other address) in Bcc: one entry on her timeline.
    assert Interaction.objects.filter(external_id__startswith=f"mail:{message.uuid}:").count() == 1
    roles = set(Participant.objects.filter(message=message).values_list("role", "email", "contact"))
    assert roles == {
        ("from", "sales@rapport.example", None),
        ("to", "ada@example.com", ada.pk),
        ("cc", "bob@example.net", None),
        ("bcc", "ada.l@home.example", ada.pk),
        ("bcc", "hidden@example.org", None),
    }


def test_the_timeline_says_sending_until_the_worker_has_sent_it(owner, mailbox, ada, smtp_server):
    message = send_email(
        actor=owner,
        mailbox=mailbox,
        to=["ada@example.com"],
        subject="Hi",
        body_html="<p>Hi</p>",
        contact=ada,
    )

    assert message.status == MessageStatus.QUEUED
    assert timeline(message, ada).outcome == "sending"
    assert smtp_server.messages == []

    assert deliver(message.pk) == "sent"
    assert timeline(message, ada).outcome == "sent"
    assert len(smtp_server.wait_for(1)) == 1


def test_a_reply_continues_the_thread_with_in_reply_to_and_references(
    send, smtp_server, owner, mailbox, ada
):
    thread = EmailThread.objects.create(subject="Pricing")
    inbound = EmailMessage.objects.create(
        mailbox=mailbox,
        thread=thread,
        direction=MessageDirection.INBOUND,
        status=MessageStatus.RECEIVED,
        message_id="q1@example.com",
        references=["q0@example.com"],
        from_address="ada@example.com",
        from_name="Ada Lovelace",
        to=[{"name": "", "email": "sales@rapport.example"}],
        cc=[{"name": "", "email": "carol@example.com"}],
        subject="Pricing",
        text_body="What does it cost? {{ contact.__class__ }}",
        occurred_at=timezone.now(),
        contact=ada,
    )
    Participant.objects.create(message=inbound, role="from", email="ada@example.com", contact=ada)

    defaults = reply_defaults(actor=owner, message=inbound, mode="reply_all")
    reply = send(**defaults)

    assert defaults["to"] == ["ada@example.com"]
    assert defaults["cc"] == ["carol@example.com"]
    assert defaults["subject"] == "Re: Pricing"
    when = display.moment_text(inbound.occurred_at, "full")
    assert f"<p>On {when}, {escape(inbound.sender_display)} wrote:</p>" in defaults["body_html"]
    email = smtp_server.wait_for(1)[0].message
    assert email["In-Reply-To"] == "<q1@example.com>"
    assert email["References"] == "<q0@example.com> <q1@example.com>"
    assert reply.thread_id == thread.pk
    # What the other side wrote is quoted as written, never run as a template.
    assert "{{ contact.__class__ }}" in email.get_body(("plain",)).get_content()
    forward = reply_defaults(actor=owner, message=inbound, mode="forward")
    assert (forward["subject"], forward["to"], forward["forward_of"]) == (
        "Fwd: Pricing",
        [],
        inbound,
    )


# -- retries and failures --------------------------------------------------------------------------


def test_a_temporary_refusal_is_retried_later_with_the_same_bytes_and_message_id(
    send, smtp_server, ada
):
    smtp_server.fail_next(451, "4.3.0 Try again later")
    message = send()

    assert smtp_server.messages == []
    assert message.status == MessageStatus.QUEUED
    assert message.attempts == 1
    assert "451" in message.last_error
    wait = message.next_attempt_at - timezone.now()
    assert dt.timedelta(seconds=50) < wait <= BACKOFF[0]
    assert timeline(message, ada).outcome == "sending"
    assert deliver(message.pk) == "skipped"  # not due yet

    assert deliver(message.pk, now=message.next_attempt_at) == "sent"

    [received] = smtp_server.wait_for(1)
    message.refresh_from_db()
    assert received.message["Message-ID"] == f"<{message.message_id}>"
    assert received.raw == bytes(message.raw)
    assert (message.status, message.attempts, message.last_error) == (MessageStatus.SENT, 2, "")
    assert timeline(message, ada).outcome == "sent"


def test_the_sweep_queues_a_retry_once_its_wait_is_over(send, smtp_server):
    smtp_server.fail_next(421, "4.7.0 Too busy")
    message = send()
    assert requeue_due() == 0  # still waiting

    # The wait passes.
    EmailMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert requeue_due() == 1

    assert len(smtp_server.wait_for(1)) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert requeue_due() == 0


def test_it_gives_up_after_six_temporary_refusals(send, smtp_server, ada):
    smtp_server.fail_next(451, "4.3.0 Try again later")
    message = send()
    for _attempt in range(MAX_ATTEMPTS - 1):
        smtp_server.fail_next(451, "4.3.0 Try again later")
        message.refresh_from_db()
        deliver(message.pk, now=message.next_attempt_at)

    message.refresh_from_db()
    assert message.attempts == MAX_ATTEMPTS == 6
    assert message.status == MessageStatus.FAILED
    assert message.last_error.startswith("Gave up after 6 attempts.")
    assert timeline(message, ada).outcome == "failed: 451"
    assert smtp_server.messages == []


def test_a_permanent_refusal_fails_with_the_reason_on_the_timeline(send, smtp_server, ada):
    smtp_server.fail_next(550, "5.1.1 No such user here")
    message = send()

    assert smtp_server.messages == []
    assert message.status == MessageStatus.FAILED
    assert message.attempts == 1
    assert message.last_error == "The SMTP server answered 550: 5.1.1 No such user here"
    assert timeline(message, ada).outcome == "failed: 550"
    assert requeue_due(now=timezone.now() + dt.timedelta(days=1)) == 0


def test_a_failed_message_sent_again_keeps_its_message_id(
    send, smtp_server, owner, ada, django_capture_on_commit_callbacks
):
    smtp_server.fail_next(554, "5.7.1 Rejected for policy reasons")
    message = send()
    assert message.status == MessageStatus.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        retried = retry_message(actor=owner, message=message)

    [received] = smtp_server.wait_for(1)
    message.refresh_from_db()
    assert retried.pk == message.pk
    assert message.status == MessageStatus.SENT
    assert received.message["Message-ID"] == f"<{message.message_id}>"
    assert timeline(message, ada).outcome == "sent"
    assert ChangeRecord.objects.filter(
        entity="mail.emailmessage", object_id=str(message.pk), actor_id=owner.pk
    ).exists()
    with pytest.raises(ValidationError):
        retry_message(actor=owner, message=message)  # it was sent


def test_delivering_twice_sends_once(send, smtp_server):
    message = send()

    assert deliver(message.pk) == "skipped"
    assert deliver(message.pk, now=timezone.now() + dt.timedelta(days=1)) == "skipped"
    assert len(smtp_server.wait_for(1, timeout=0.5)) == 1


def test_a_row_left_sending_by_a_crashed_worker_is_sent_after_the_lease(
    owner, mailbox, ada, smtp_server
):
    message = send_email(
        actor=owner, mailbox=mailbox, to=["ada@example.com"], subject="Hi", body_html="<p>Hi</p>"
    )
    now = timezone.now()
    EmailMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, claimed_at=now - dt.timedelta(minutes=2)
    )
    assert deliver(message.pk) == "skipped"  # its worker may still be at it

    EmailMessage.objects.filter(pk=message.pk).update(claimed_at=now - dt.timedelta(minutes=6))
    assert deliver(message.pk) == "sent"
    assert len(smtp_server.wait_for(1)) == 1


def test_a_server_that_is_down_is_a_temporary_failure(owner, mailbox, smtp_server):
    message = send_email(
        actor=owner, mailbox=mailbox, to=["ada@example.com"], subject="Hi", body_html="<p>Hi</p>"
    )
    smtp_server.stop()

    assert deliver(message.pk) == "retry"

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert "connection refused" in message.last_error


# -- the Sent folder -----------------------------------------------------------------------------


def imap_mailbox(admin_user, smtp_server, imap_account, *, sent_folder="Sent"):
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Support",
        email_address="support@rapport.example",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        imap_host=imap_account.host,
        imap_port=imap_account.port,
        imap_security="none",
        imap_username=imap_account.username,
        imap_password=imap_account.password,
        sent_folder=sent_folder,
    )


def test_a_sent_message_is_copied_to_the_sent_folder_as_read(
    send, admin_user, smtp_server, imap_account
):
    mailbox = imap_mailbox(admin_user, smtp_server, imap_account)

    message = send(mailbox=mailbox)

    assert message.copied_to_sent_folder is True
    assert imap_account.messages("Sent") == [bytes(message.raw)]
    with imapclient.IMAPClient(imap_account.host, imap_account.port, ssl=False) as client:
        client.login(imap_account.username, imap_account.password)
        client.select_folder("Sent", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert all(b"\\Seen" in value for value in flags.values())


def test_a_failed_copy_to_the_sent_folder_is_a_warning_never_a_resend(
    send, admin_user, smtp_server, imap_account
):
    mailbox = imap_mailbox(admin_user, smtp_server, imap_account, sent_folder="No such folder")

    message = send(mailbox=mailbox)

    assert message.status == MessageStatus.SENT
    assert message.copied_to_sent_folder is False
    assert message.warnings[0].startswith("Sent, but not copied to the folder 'No such folder'")
    assert len(smtp_server.wait_for(1)) == 1
    assert deliver(message.pk) == "skipped"


# -- what is refused ---------------------------------------------------------------------------------


def test_marketing_mail_to_a_contact_without_consent_is_refused(send, owner, ada, smtp_server):
    with pytest.raises(ValidationError) as refused:
        send(purpose=MessagePurpose.MARKETING)

    [reason] = refused.value.message_dict["to"]
    assert reason.startswith("ada@example.com: Ada Lovelace has not granted consent")
    assert not EmailMessage.objects.exists()
    assert not Interaction.objects.exists()

    set_consent(
        actor=owner,
        contact=ada,
        channel="email",
        status="granted",
        lawful_basis="consent",
        source="webinar signup",
    )
    message = send(purpose=MessagePurpose.MARKETING)

    email = smtp_server.wait_for(1)[0].message
    assert message.status == MessageStatus.SENT
    assert email["List-Unsubscribe"] == f"<{tracking.unsubscribe_url(message)}>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_bouncing_address_is_refused_for_any_mail(send, ada, smtp_server):
    tracking.mark_bouncing(email="ada@example.com", detail="550 5.1.1 user unknown")

    with pytest.raises(ValidationError) as refused:
        send(cc=["bob@example.net"])

    assert refused.value.message_dict == {
        "to": [
            "ada@example.com is bouncing (550 5.1.1 user unknown): Rapport sends it no mail "
            "until the address is corrected."
        ]
    }
    assert not EmailMessage.objects.exists()


def test_header_injection_through_a_contact_name_or_the_subject_is_impossible(
    send, ada, smtp_server
):
    # As an import or an old record could hold it: a name with a line break and a header.
    Contact.objects.filter(pk=ada.pk).update(first_name="Ada\r\nBcc: victim@evil.example")
    ada.refresh_from_db()

    send(subject="Hello {{ contact.first_name }}", body_html="<p>Dear {{ contact.first_name }}</p>")
    send(subject="Plain\r\nBcc: victim@evil.example\r\nX-Evil: 1", body_html="<p>Hi</p>")

    first, second = smtp_server.wait_for(2)
    for received in (first, second):
        assert received.recipients == ("ada@example.com",)
        assert received.message["Bcc"] is None
        assert received.message["X-Evil"] is None
        headers = received.raw.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc:" not in headers
        assert b"\r\nX-Evil:" not in headers
    assert first.message["Subject"] == "Hello Ada Bcc: victim@evil.example"
    assert second.message["Subject"] == "Plain Bcc: victim@evil.example X-Evil: 1"


def test_a_thousand_recipients_are_refused_with_the_number(send, smtp_server):
    with pytest.raises(ValidationError) as thousand:
        send(to=[f"person{i}@example.com" for i in range(1000)])
    with pytest.raises(ValidationError) as spread:
        send(
            to=[f"a{i}@example.com" for i in range(60)], cc=[f"c{i}@example.com" for i in range(60)]
        )

    assert thousand.value.message_dict["to"] == ["to has 1000 addresses; at most 100 are allowed."]
    assert spread.value.message_dict["to"] == [
        "This message has 120 recipients; at most 100 are allowed."
    ]
    assert not EmailMessage.objects.exists()


def test_bad_input_is_refused_naming_the_field(send):
    with pytest.raises(ValidationError) as refused:
        send(to=["not an address"], cc=["x@y"], subject=" ", body_html="")

    errors = refused.value.message_dict
    assert errors["to"] == [
        "The address 'not an address' in to is not valid: an address needs exactly one '@'."
    ]
    assert errors["cc"][0].startswith("The address 'x@y' in cc is not valid")
    assert errors["subject"] == ["Write a subject."]
    assert errors["body_html"] == ["Write the message."]

    with pytest.raises(ValidationError) as broken:
        send(body_html="<p>{{ contact.first_name </p>")
    assert list(broken.value.message_dict) == ["body_html"]


def test_the_daily_limit_is_refused_with_the_numbers(send, admin_user, mailbox, smtp_server):
    update_mailbox(actor=admin_user, mailbox=mailbox, daily_send_limit=2)
    send()
    send()

    with pytest.raises(ValidationError) as refused:
        send()

    assert refused.value.message_dict["mailbox"] == [
        "Sales has sent or queued 2 messages today, its daily limit of 2. Try again tomorrow "
        "or ask an administrator to raise the limit."
    ]
    assert mailbox_sent_today(mailbox) == 2


# -- access ----------------------------------------------------------------------------------------


def test_a_rep_cannot_send_about_a_contact_outside_their_scope(send, outsider, smtp_server):
    with pytest.raises(PermissionDenied):
        send(actor=outsider)

    assert not EmailMessage.objects.exists()
    assert not Interaction.objects.exists()


def test_a_rep_cannot_send_from_another_users_personal_mailbox(send, owner, outsider, smtp_server):
    personal = create_mailbox(
        actor=owner,
        kind="personal",
        name="Owner's mail",
        email_address="owner@rapport.example",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        check=False,
    )
    outsiders_contact = make_contact(
        actor=outsider, owner=outsider, first_name="Olga", emails=["olga@example.com"]
    )

    with pytest.raises(PermissionDenied):
        send(actor=outsider, mailbox=personal, to=["olga@example.com"], contact=outsiders_contact)
    message = send(mailbox=personal)

    assert message.status == MessageStatus.SENT
    assert EmailMessage.objects.count() == 1


def test_a_recipient_outside_the_senders_access_still_gets_the_entry_by_the_system(
    send, owner, outsider, ada, smtp_server
):
    olga = make_contact(
        actor=outsider, owner=outsider, first_name="Olga", emails=["olga@example.com"]
    )

    message = send(to=["ada@example.com"], cc=["OLGA@example.com"])

    assert timeline(message, ada).actor_id == owner.pk
    assert timeline(message, olga).actor_id is None
    assert timeline(message, olga).outcome == "sent"


def test_without_https_marketing_mail_offers_an_unsubscribe_reply_instead(
    send, owner, ada, smtp_server, settings
):
    settings.RAPPORT_PUBLIC_URL = "http://127.0.0.1:8000"
    settings.RAPPORT_MAIL_DOMAIN = "127.0.0.1"  # not a domain: the mailbox's is used
    set_consent(actor=owner, contact=ada, channel="email", status="granted", lawful_basis="consent")

    message = send(purpose=MessagePurpose.MARKETING)

    email = smtp_server.wait_for(1)[0].message
    assert email["List-Unsubscribe"] == "<mailto:sales@rapport.example?subject=unsubscribe>"
    assert email["List-Unsubscribe-Post"] is None
    assert message.message_id == f"{message.uuid}@rapport.example"
    assert 'href="http://127.0.0.1:8000/m/u/' in message.html_body


def test_one_delivery_carries_the_mailboxs_other_due_messages_and_their_tasks_skip(
    owner, mailbox, ada, smtp_server
):
    messages = [
        send_email(
            actor=owner,
            mailbox=mailbox,
            to=["ada@example.com"],
            subject=f"Note {number}",
            body_html="<p>Hi</p>",
        )
        for number in range(3)
    ]

    assert deliver(messages[0].pk) == "sent"
    later = [deliver(message.pk) for message in messages[1:]]

    received = smtp_server.wait_for(3)
    assert [email.message["Subject"] for email in received] == ["Note 0", "Note 1", "Note 2"]
    assert later == ["skipped", "skipped"]
    assert set(
        EmailMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list(
            "status", flat=True
        )
    ) == {MessageStatus.SENT}
    assert Interaction.objects.filter(outcome="sent").count() == 3
