"""Receiving mail from a real Dovecot: the sync's bookkeeping, filing, threading, triage, bounces,
bad input and failing servers. Nothing in the mail path is mocked.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.contacts.models import Membership
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import display
from rapport.interactions.models import Interaction
from rapport.mail import receiving
from rapport.mail.choices import MailboxState, MessageDirection, MessageStatus, TriageState
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.models import (
    Attachment,
    EmailMessage,
    EmailThread,
    FolderState,
    IgnoredSender,
    Mailbox,
    SuppressedAddress,
)
from rapport.mail.sanitizing import sanitize_html

pytestmark = pytest.mark.django_db

OUR_ADDRESS = "sales@rapport.test"


def mail(
    *,
    sender="Ada Lovelace <ada@example.com>",
    to=OUR_ADDRESS,
    cc="",
    subject="Hello",
    body="Hello there.",
    html=None,
    message_id=None,
    in_reply_to="",
    references="",
    date=None,
    attachments=(),
    headers=(),
) -> bytes:
    message = MimeMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(date or timezone.now())
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in headers:
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, payload in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


def make_mailbox(account, *, actor, name="Sales", email_address=OUR_ADDRESS, team=None, **extra):
    mailbox = create_mailbox(
        actor=actor,
        kind="shared",
        name=name,
        email_address=email_address,
        imap_host=account.host,
        imap_port=account.port,
        imap_security="none",
        imap_username=account.username,
        imap_password=account.password,
        team=team,
        check=False,
        **extra,
    )
    return mailbox


@pytest.fixture
def mailbox(imap_account, admin_user, sales_team):
    return make_mailbox(imap_account, actor=admin_user, team=sales_team)


@pytest.fixture
def ada(owner):
    return make_contact(owner=owner, emails=["ada@example.com"])


def inbound():
    return EmailMessage.objects.filter(direction=MessageDirection.INBOUND)


# --- the sync's bookkeeping ----------------------------------------------------------------------


def test_initial_sync_files_every_message_and_a_second_sync_files_none(imap_account, mailbox, ada):
    for number in range(5):
        imap_account.append(mail(subject=f"Message {number}"))

    first = receiving.sync_mailbox(mailbox=mailbox)
    second = receiving.sync_mailbox(mailbox=mailbox)

    assert (first.fetched, first.filed, first.errors, first.failure) == (5, 5, [], "")
    assert (second.fetched, second.filed) == (0, 0)
    assert inbound().count() == 5
    assert set(inbound().values_list("subject", flat=True)) == {f"Message {n}" for n in range(5)}
    state = FolderState.objects.get(mailbox=mailbox, folder="INBOX")
    assert state.last_uid == 5 and state.uidvalidity
    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.WORKING
    assert mailbox.failure_count == 0 and mailbox.last_success_at
    # Nothing was marked as read on the server.
    client = imap_account.server.client(imap_account.username, imap_account.password)
    try:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    finally:
        client.logout()
    assert all(b"\\Seen" not in value for value in flags.values())


def test_a_restart_reads_on_from_the_stored_position(imap_account, mailbox, ada):
    for number in range(3):
        imap_account.append(mail(subject=f"Before {number}"))
    receiving.sync_mailbox(mailbox=mailbox)
    for number in range(2):
        imap_account.append(mail(subject=f"After {number}"))

    # A new process: the mailbox and its folder state read afresh from the database.
    report = receiving.sync_mailbox(mailbox=Mailbox.objects.get(pk=mailbox.pk))

    assert (report.fetched, report.filed, report.skipped) == (2, 2, 0)
    assert inbound().count() == 5
    assert sorted(inbound().values_list("imap_uid", flat=True)) == [1, 2, 3, 4, 5]


def test_a_crash_after_filing_before_the_position_moved_files_nothing_twice(
    imap_account, mailbox, ada
):
    for number in range(4):
        imap_account.append(mail(subject=f"Message {number}"))
    receiving.sync_mailbox(mailbox=mailbox)
    # As if the worker died after filing a batch but before its position was stored.
    FolderState.objects.filter(mailbox=mailbox).update(last_uid=1)

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert (report.fetched, report.filed, report.skipped) == (3, 0, 3)
    assert inbound().count() == 4
    assert Interaction.objects.filter(contact=ada).count() == 4


def test_a_changed_uidvalidity_reads_the_folder_again_without_duplicates(
    imap_account, admin_user, ada
):
    mailbox = make_mailbox(imap_account, actor=admin_user, imap_folder="Projects")
    client = imap_account.server.client(imap_account.username, imap_account.password)
    try:
        client.create_folder("Projects")
        for number in range(3):
            client.append(
                "Projects", mail(subject=f"Project {number}", message_id=f"<p{number}@x>")
            )
    finally:
        client.logout()
    receiving.sync_mailbox(mailbox=mailbox)
    before = FolderState.objects.get(mailbox=mailbox, folder="Projects").uidvalidity

    # The folder is removed and made again: the server renumbers it with a new UIDVALIDITY.
    client = imap_account.server.client(imap_account.username, imap_account.password)
    try:
        client.delete_folder("Projects")
        client.create_folder("Projects")
        for number in range(4):
            client.append(
                "Projects", mail(subject=f"Project {number}", message_id=f"<p{number}@x>")
            )
        after = client.folder_status("Projects", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    finally:
        client.logout()
    assert after != before

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert (report.fetched, report.filed, report.skipped) == (4, 1, 3)
    assert inbound().count() == 4
    assert FolderState.objects.get(mailbox=mailbox, folder="Projects").uidvalidity == after


def test_large_folders_are_read_in_batches(imap_account, mailbox, ada, monkeypatch):
    monkeypatch.setattr(receiving, "BATCH_SIZE", 3)
    monkeypatch.setattr(receiving, "FILE_CHUNK", 2)
    for number in range(8):
        imap_account.append(mail(subject=f"Message {number}"))

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert (report.fetched, report.filed) == (8, 8)
    assert FolderState.objects.get(mailbox=mailbox).last_uid == 8
    assert sorted(inbound().values_list("imap_uid", flat=True)) == list(range(1, 9))


# --- filing ------------------------------------------------------------------------------------


def test_a_known_sender_is_filed_on_every_timeline_it_concerns(imap_account, mailbox, owner):
    organization = make_organization(owner=owner, name="Engines Ltd")
    ada = make_contact(owner=owner, emails=["ada@example.com"], organization=organization)
    charles = make_contact(
        owner=owner, first_name="Charles", last_name="Babbage", emails=["charles@example.com"]
    )
    imap_account.append(
        mail(
            subject="Engine plans",
            body="The plans are attached.\n\nOn Monday, Charles wrote:\n> Where are they?\n",
            cc="Charles <CHARLES@example.com>, someone@elsewhere.test",
        )
    )

    receiving.sync_mailbox(mailbox=mailbox)

    message = inbound().get()
    assert message.contact == ada
    assert message.organization == organization
    assert message.triage_state == TriageState.FILED
    assert message.status == MessageStatus.RECEIVED
    assert message.deal is None
    roles = {(p.role, p.email, p.contact_id) for p in message.participants.all()}
    assert roles == {
        ("from", "ada@example.com", ada.pk),
        ("to", OUR_ADDRESS, None),  # the mailbox's own address is nobody's contact
        ("cc", "charles@example.com", charles.pk),
        ("cc", "someone@elsewhere.test", None),
    }
    entries = Interaction.objects.filter(external_id__startswith=f"mail:{message.uuid}:")
    assert {(e.contact_id, e.kind, e.direction, e.outcome) for e in entries} == {
        (ada.pk, "email", "inbound", "received"),
        (charles.pk, "email", "inbound", "received"),
    }
    ada_entry = entries.get(contact=ada)
    assert ada_entry.subject == "Engine plans"
    assert ada_entry.organization == organization
    assert "Where are they?" not in ada_entry.body  # the quote is folded away
    assert "Where are they?" in message.quoted_text


def test_file_message_skips_a_message_the_mailbox_already_has(mailbox, ada):
    raw = mail(message_id="<once@example.com>")

    first = receiving.file_message(mailbox=mailbox, raw=raw, folder="INBOX", uid=1)
    again = receiving.file_message(mailbox=mailbox, raw=raw, folder="INBOX", uid=2)

    assert first is not None and again is None
    assert inbound().count() == 1


def test_a_reply_joins_its_thread_and_marks_our_message_replied(imap_account, mailbox, ada):
    ours = EmailMessage.objects.create(
        mailbox=mailbox,
        thread=EmailThread.objects.create(subject="Proposal"),
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.SENT,
        message_id="proposal-1@rapport.test",
        subject="Proposal",
        occurred_at=timezone.now() - dt.timedelta(hours=2),
        contact=ada,
    )
    imap_account.append(
        mail(
            subject="Re: Proposal",
            message_id="<reply-1@example.com>",
            in_reply_to="<proposal-1@rapport.test>",
            references="<proposal-1@rapport.test>",
        )
    )
    # A reply to the reply, in the same batch, and an unrelated message.
    imap_account.append(
        mail(
            subject="Re: Re: Proposal",
            in_reply_to="<reply-1@example.com>",
            references="<proposal-1@rapport.test> <reply-1@example.com>",
        )
    )
    imap_account.append(mail(subject="Something else"))

    receiving.sync_mailbox(mailbox=mailbox)

    ours.refresh_from_db()
    assert ours.replied_at is not None
    threads = {m.subject: m.thread_id for m in inbound()}
    assert threads["Re: Proposal"] == threads["Re: Re: Proposal"] == ours.thread_id
    assert threads["Something else"] != ours.thread_id
    ours.thread.refresh_from_db()
    assert ours.thread.message_count == 2
    assert EmailThread.objects.get(pk=threads["Something else"]).subject == "Something else"


def test_replies_in_one_batch_add_to_each_older_thread_its_count_and_newest_time(
    imap_account, mailbox, ada
):
    now = timezone.now().replace(microsecond=0)
    later = now + dt.timedelta(hours=5)
    untimed = EmailThread.objects.create(subject="Quote", message_count=1)
    ahead = EmailThread.objects.create(subject="Order", message_count=3, last_message_at=later)
    for thread, message_id in ((untimed, "quote-1@rapport.test"), (ahead, "order-1@rapport.test")):
        EmailMessage.objects.create(
            mailbox=mailbox,
            thread=thread,
            direction=MessageDirection.OUTBOUND,
            status=MessageStatus.SENT,
            message_id=message_id,
            subject=thread.subject,
            occurred_at=now - dt.timedelta(days=1),
            contact=ada,
        )
    for minutes in (10, 30):
        imap_account.append(
            mail(
                subject="Re: Quote",
                in_reply_to="<quote-1@rapport.test>",
                date=now - dt.timedelta(minutes=minutes),
            )
        )
    imap_account.append(mail(subject="Re: Order", in_reply_to="<order-1@rapport.test>", date=now))

    receiving.sync_mailbox(mailbox=mailbox)

    untimed.refresh_from_db()
    ahead.refresh_from_db()
    assert (untimed.message_count, untimed.last_message_at) == (3, now - dt.timedelta(minutes=10))
    # A reply older than the thread's newest message leaves that time alone.
    assert (ahead.message_count, ahead.last_message_at) == (4, later)


def test_a_reply_inherits_the_deal_of_its_thread_and_new_mail_gets_none(
    imap_account, mailbox, ada, owner, admin_user
):
    from rapport.sales.services.deals import create_deal
    from rapport.sales.services.pipelines import create_pipeline

    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    deal = create_deal(
        actor=owner,
        owner=owner,
        name="Engines",
        pipeline=pipeline,
        amount="1000.00",
        expected_close_date=timezone.localdate() + dt.timedelta(days=20),
        contact=ada,
    )
    EmailMessage.objects.create(
        mailbox=mailbox,
        thread=EmailThread.objects.create(subject="Engines"),
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.SENT,
        message_id="engines-1@rapport.test",
        subject="Engines",
        occurred_at=timezone.now() - dt.timedelta(hours=1),
        contact=ada,
        deal=deal,
    )
    imap_account.append(mail(subject="Re: Engines", in_reply_to="<engines-1@rapport.test>"))
    imap_account.append(mail(subject="A new question"))

    receiving.sync_mailbox(mailbox=mailbox)

    assert inbound().get(subject="Re: Engines").deal == deal
    # Ada has exactly one open deal, but a new conversation is not guessed onto it.
    assert inbound().get(subject="A new question").deal is None


def test_an_address_left_by_a_merge_files_on_the_survivor(imap_account, mailbox, owner):
    from rapport.data_exchange.services import merge_contacts

    survivor = make_contact(owner=owner, emails=["ada@example.com"])
    loser = make_contact(owner=owner, emails=["countess@lovelace.test"])
    merge_contacts(actor=None, survivor=survivor, loser=loser)
    assert set(survivor.emails.values_list("email", flat=True)) == {
        "ada@example.com",
        "countess@lovelace.test",
    }
    imap_account.append(mail(sender="Countess <Countess@Lovelace.test>"))

    receiving.sync_mailbox(mailbox=mailbox)

    message = inbound().get()
    assert message.contact == survivor
    assert Interaction.objects.filter(contact=survivor, kind="email").count() == 1


def test_attachments_are_stored_under_the_media_root_and_refused_ones_keep_the_reason(
    imap_account, mailbox, ada, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    imap_account.append(
        mail(
            attachments=[
                ("notes.txt", "text/plain", b"Numbers of Bernoulli"),
                ("../../setup.exe", "application/octet-stream", b"MZ\x90\x00" + b"\x00" * 64),
            ]
        )
    )

    receiving.sync_mailbox(mailbox=mailbox)

    kept = Attachment.objects.get(filename="notes.txt")
    assert kept.file.name.startswith(f"mail/attachments/{kept.message.uuid}/")
    assert (tmp_path / kept.file.name).read_bytes() == b"Numbers of Bernoulli"
    refused = Attachment.objects.exclude(pk=kept.pk).get()
    assert refused.refused_reason and not refused.file


def test_a_message_over_the_size_cap_is_filed_from_its_headers_with_a_warning(
    imap_account, mailbox, ada, settings
):
    settings.RAPPORT_MAIL_MAX_MESSAGE_BYTES = 50_000
    imap_account.append(mail(subject="Huge", body="x" * 200_000))
    imap_account.append(mail(subject="Small"))

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert report.filed == 2
    huge = inbound().get(subject="Huge")
    assert huge.contact == ada
    assert huge.text_body == ""
    assert any("only its headers were read" in warning for warning in huge.warnings)


def test_a_message_dated_in_the_future_is_dated_on_arrival_and_says_when_it_claimed(
    imap_account, mailbox, ada
):
    claimed = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)
    imap_account.append(mail(subject="Ahead", date=claimed))

    receiving.sync_mailbox(mailbox=mailbox)

    ahead = inbound().get(subject="Ahead")
    assert ahead.occurred_at < claimed
    with timezone.override(dt.UTC):
        written = display.moment_text(claimed, "dated")
    assert f"The message says it was written on {written} UTC, in the future; " in " ".join(
        ahead.warnings
    )


# --- triage ------------------------------------------------------------------------------------


def test_an_unknown_sender_waits_in_triage_and_no_contact_is_created(imap_account, mailbox):
    from rapport.contacts.models import Contact

    imap_account.append(mail(sender="Grace <grace@navy.test>"))
    imap_account.append(
        mail(sender="News <news@shop.test>", headers=[("List-Unsubscribe", "<mailto:u@shop.test>")])
    )
    imap_account.append(
        mail(sender="Grace <grace@navy.test>", headers=[("Auto-Submitted", "auto-replied")])
    )

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert report.triaged == 1
    assert not Contact.objects.exists()
    states = sorted(inbound().values_list("from_address", "triage_state"))
    assert states == [
        ("grace@navy.test", TriageState.IGNORED),
        ("grace@navy.test", TriageState.PENDING),
        ("news@shop.test", TriageState.IGNORED),
    ]
    assert not Interaction.objects.exists()


def test_creating_the_contact_from_triage_files_all_their_waiting_mail(
    imap_account, mailbox, owner, outsider
):
    imap_account.append(mail(sender="Grace <grace@navy.test>", subject="One"))
    imap_account.append(mail(sender="Grace <grace@navy.test>", subject="Two"))
    receiving.sync_mailbox(mailbox=mailbox)
    first = inbound().get(subject="One")

    with pytest.raises(PermissionDenied):
        receiving.triage_create_contact(
            actor=outsider, message=first, first_name="Grace", last_name="Hopper"
        )
    contact = receiving.triage_create_contact(
        actor=owner, message=first, first_name="Grace", last_name="Hopper"
    )

    assert contact.owner == owner
    assert list(contact.emails.values_list("email", flat=True)) == ["grace@navy.test"]
    assert set(inbound().values_list("triage_state", "contact_id")) == {
        (TriageState.FILED, contact.pk)
    }
    assert Interaction.objects.filter(contact=contact, kind="email").count() == 2
    with pytest.raises(ValidationError) as refused:
        receiving.triage_create_contact(actor=owner, message=first, first_name="Again")
    assert "message" in refused.value.message_dict


def test_triage_files_on_a_contact_made_meanwhile_instead_of_a_duplicate(mailbox, owner):
    message = receiving.file_message(mailbox=mailbox, raw=mail(sender="grace@navy.test"))
    grace = make_contact(owner=owner, first_name="Grace", emails=["grace@navy.test"])

    contact = receiving.triage_create_contact(actor=owner, message=message, first_name="G")

    assert contact == grace
    message.refresh_from_db()
    assert (message.contact, message.triage_state) == (grace, TriageState.FILED)


def test_ignoring_a_domain_sets_aside_its_waiting_and_future_mail(
    imap_account, mailbox, owner, outsider
):
    imap_account.append(mail(sender="alerts@noisy.test", subject="One"))
    imap_account.append(mail(sender="other@noisy.test", subject="Two"))
    imap_account.append(mail(sender="grace@navy.test", subject="Keep"))
    receiving.sync_mailbox(mailbox=mailbox)
    first = inbound().get(subject="One")

    with pytest.raises(PermissionDenied):
        receiving.triage_ignore_sender(actor=outsider, message=first)
    receiving.triage_ignore_sender(actor=owner, message=first)
    imap_account.append(mail(sender="later@NOISY.test", subject="Later"))
    receiving.sync_mailbox(mailbox=mailbox)

    assert IgnoredSender.objects.get().pattern == "noisy.test"
    states = dict(inbound().values_list("subject", "triage_state"))
    assert states == {
        "One": TriageState.IGNORED,
        "Two": TriageState.IGNORED,
        "Later": TriageState.IGNORED,
        "Keep": TriageState.PENDING,
    }


def test_triage_reaches_only_mailboxes_the_actor_may_use(
    imap_account, mailbox, owner, admin_user, other_team
):
    # Another team's mailbox, with mail from the same unknown sender waiting in its triage.
    theirs = make_mailbox(
        imap_account, actor=admin_user, name="Service", email_address="help@x.test", team=other_team
    )
    mine = receiving.file_message(mailbox=mailbox, raw=mail(sender="eve@noisy.test"))
    foreign = receiving.file_message(
        mailbox=theirs, raw=mail(sender="eve@noisy.test", message_id="<other@noisy.test>")
    )

    receiving.triage_ignore_sender(actor=owner, message=mine)
    foreign.refresh_from_db()
    assert foreign.triage_state == TriageState.PENDING

    mine.triage_state = TriageState.PENDING
    mine.save(update_fields=["triage_state"])
    receiving.triage_create_contact(actor=owner, message=mine, first_name="Eve")
    foreign.refresh_from_db()
    assert (foreign.contact, foreign.triage_state) == (None, TriageState.PENDING)


def test_a_free_mail_domain_cannot_be_ignored_whole_but_one_address_can(mailbox, owner):
    message = receiving.file_message(mailbox=mailbox, raw=mail(sender="x@gmail.com"))

    with pytest.raises(ValidationError) as refused:
        receiving.triage_ignore_sender(actor=owner, message=message)
    assert "whole_domain" in refused.value.message_dict
    receiving.triage_ignore_sender(actor=owner, message=message, whole_domain=False)
    assert IgnoredSender.objects.get().pattern == "x@gmail.com"
    message.refresh_from_db()
    assert message.triage_state == TriageState.IGNORED


def test_ignoring_one_message(mailbox, owner, outsider):
    message = receiving.file_message(mailbox=mailbox, raw=mail(sender="x@unknown.test"))

    with pytest.raises(PermissionDenied):
        receiving.triage_ignore(actor=outsider, message=message)
    receiving.triage_ignore(actor=owner, message=message)

    message.refresh_from_db()
    assert message.triage_state == TriageState.IGNORED


# --- bounces -----------------------------------------------------------------------------------


def delivery_report(*, failed: str, original_id: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {OUR_ADDRESS}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.org>\r\n"
        f"Date: {format_datetime(timezone.now())}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{original_id}>\r\nSubject: Proposal\r\n"
        "--b--\r\n"
    ).encode()


def test_a_delivery_report_marks_the_address_bouncing(imap_account, mailbox, ada):
    ours = EmailMessage.objects.create(
        mailbox=mailbox,
        direction=MessageDirection.OUTBOUND,
        status=MessageStatus.SENT,
        message_id="proposal-9@rapport.test",
        subject="Proposal",
        occurred_at=timezone.now(),
        contact=ada,
    )
    imap_account.append(
        delivery_report(failed="gone@example.org", original_id="proposal-9@rapport.test")
    )

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert report.errors == []
    suppressed = SuppressedAddress.objects.get(email="gone@example.org")
    assert suppressed.reason == "bounced" and "User unknown" in suppressed.detail
    ours.refresh_from_db()
    assert "User unknown" in ours.last_error
    bounce = inbound().get()
    assert bounce.triage_state == TriageState.IGNORED  # not a person to triage


# --- bad input ---------------------------------------------------------------------------------


def test_bad_messages_never_stop_the_loop(imap_account, mailbox, ada):
    malformed = (
        b"From: ada@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        b"--never-closed\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n"
    )
    eight_bit = (
        "From: Zoë Ünlü <ada@example.com>\r\nTo: sales@rapport.test\r\n"
        "Subject: Grüße aus Köln\r\nMessage-ID: <8bit@example.com>\r\n\r\nDanke schön\r\n"
    ).encode("latin-1")
    crowd = ", ".join(f"person{n}@crowd.test" for n in range(1000))
    imap_account.append(malformed)
    imap_account.append(eight_bit)
    imap_account.append(mail(subject="A thousand", to=crowd))
    imap_account.append(
        mail(
            subject="Scripted",
            html='<p onclick="steal()">Hi<script>alert(1)</script>'
            '<a href="javascript:alert(2)">x</a><div style="width:expression(alert(3))">y</div></p>',
        )
    )
    imap_account.append(mail(subject="Fine afterwards"))

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert (report.fetched, report.filed, report.errors, report.failure) == (5, 5, [], "")
    assert inbound().get(subject="broken").warnings
    assert inbound().get(message_id="8bit@example.com").from_name == "Zoë Ünlü"
    assert inbound().get(subject="A thousand").participants.count() == 1001
    scripted = inbound().get(subject="Scripted")
    assert "<script>" in scripted.html_body  # kept as received...
    shown = sanitize_html(scripted.html_body).html  # ...and shown only sanitized
    assert "script" not in shown and "javascript:" not in shown and "expression" not in shown
    assert inbound().filter(subject="Fine afterwards").exists()


def test_a_message_that_cannot_be_filed_in_full_is_kept_plainly_and_costs_only_itself(
    imap_account, mailbox, ada, monkeypatch
):
    def broken(parsed):
        raise RuntimeError("the bounce bookkeeping broke")

    # The only induced fault: filing the delivery report fails; the servers and the rest are real.
    monkeypatch.setattr(receiving, "_record_bounce", broken)
    imap_account.append(mail(subject="Before"))
    imap_account.append(delivery_report(failed="gone@example.org", original_id="x@rapport.test"))
    imap_account.append(mail(subject="After"))

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert (report.fetched, report.filed, report.errors, report.failure) == (3, 3, [], "")
    kept = inbound().get(imap_uid=2)
    assert any("could not file this message in full" in w for w in kept.warnings)
    assert kept.subject == "Undelivered Mail Returned to Sender"
    assert FolderState.objects.get(mailbox=mailbox).last_uid == 3


def test_a_message_that_cannot_be_kept_at_all_is_named_by_its_uid(
    imap_account, mailbox, ada, monkeypatch
):
    real = receiving._put_on_timelines

    def fails_for_one(filed, organizations):
        if any(message.subject == "Poison" for message, _contacts in filed):
            raise RuntimeError("the timeline refused it")
        return real(filed, organizations)

    # The only induced fault: one message's timeline entry fails every time.
    monkeypatch.setattr(receiving, "_put_on_timelines", fails_for_one)
    for subject in ("Before", "Poison", "After"):
        imap_account.append(mail(subject=subject))

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert (report.fetched, report.filed, report.failure) == (3, 2, "")
    assert len(report.errors) == 1 and report.errors[0].startswith("UID 2:")
    assert "the timeline refused it" in report.errors[0]
    assert set(inbound().values_list("subject", flat=True)) == {"Before", "After"}
    assert FolderState.objects.get(mailbox=mailbox).last_uid == 3


# --- failing servers ---------------------------------------------------------------------------


def test_a_wrong_password_fails_with_backoff_and_the_other_mailbox_still_syncs(
    dovecot, admin_user, ada
):
    good_account = dovecot.account()
    bad_account = dovecot.account()
    good = make_mailbox(good_account, actor=admin_user, name="Good")
    bad = make_mailbox(bad_account, actor=admin_user, name="Bad", email_address="bad@rapport.test")
    dovecot.set_password(bad_account.username, "changed-elsewhere")
    good_account.append(mail())

    started = timezone.now()
    failed = receiving.sync_mailbox(mailbox=bad)
    worked = receiving.sync_mailbox(mailbox=good)

    assert "authentication failed" in failed.failure
    assert worked.ok and worked.filed == 1
    bad.refresh_from_db()
    assert bad.state == MailboxState.FAILING
    assert "authentication failed" in bad.last_error
    assert bad.failure_count == 1
    assert started + dt.timedelta(seconds=55) < bad.next_check_at
    assert bad.next_check_at < timezone.now() + dt.timedelta(seconds=65)

    receiving.sync_mailbox(mailbox=bad)
    bad.refresh_from_db()
    assert bad.failure_count == 2
    assert bad.next_check_at > timezone.now() + dt.timedelta(seconds=115)

    # The password is fixed on the server: the next sync recovers.
    dovecot.set_password(bad_account.username, bad_account.password)
    assert receiving.sync_mailbox(mailbox=bad).ok
    bad.refresh_from_db()
    assert (bad.state, bad.failure_count, bad.last_error) == (MailboxState.WORKING, 0, "")


def test_a_stopped_server_makes_the_mailbox_failing(private_dovecot, admin_user):
    account = private_dovecot.account()
    mailbox = make_mailbox(account, actor=admin_user)
    private_dovecot.stop()

    report = receiving.sync_mailbox(mailbox=mailbox)

    assert "connection refused" in report.failure
    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.FAILING
    assert "connection refused" in mailbox.last_error


def test_backoff_doubles_from_a_minute_to_an_hour():
    minutes = [receiving.backoff(count).total_seconds() / 60 for count in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_contact_with_a_primary_organization_files_mail_on_it(imap_account, mailbox, owner):
    organization = make_organization(owner=owner, name="Difference Ltd")
    contact = make_contact(owner=owner, emails=["ada@example.com"])
    Membership.objects.create(contact=contact, organization=organization, is_primary=True)
    imap_account.append(mail())

    receiving.sync_mailbox(mailbox=mailbox)

    assert inbound().get().organization == organization
