"""The test mail servers behave like real ones, and the local sink keeps what `rapport serve`'s
users send.
"""

import io
import os
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from email.message import EmailMessage

import imapclient
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from imapclient.exceptions import LoginError

from rapport.mail.management.commands.mailsink import Command as MailsinkCommand
from rapport.mail.sink import read_delivered, read_one, run_sink
from rapport.mail.tests.servers import DOVECOT_BINARY, Dovecot, free_port

RAW = (
    b"From: Ada <ada@example.com>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Subject: Quarterly review\r\n"
    b"Message-ID: <review-1@example.com>\r\n"
    b"\r\n"
    b"See you Tuesday.\r\n"
)


def outgoing(subject: str = "Renewal", to: str = "bob@example.com") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "ada@example.com"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.lower()}@rapport.localhost>"
    message.set_content("Shall we renew?")
    return message


# -- Dovecot -------------------------------------------------------------------------------------


def test_a_new_account_logs_in_and_has_the_special_folders(imap_account):
    with imapclient.IMAPClient(imap_account.host, imap_account.port, ssl=False) as client:
        client.login(imap_account.username, imap_account.password)
        folders = {name: flags for flags, _, name in client.list_folders()}
        assert client.find_special_folder(b"\\Sent") == "Sent"

    assert set(folders) == {"INBOX", "Sent", "Drafts", "Trash"}
    assert b"\\Drafts" in folders["Drafts"]
    assert b"\\Trash" in folders["Trash"]


def test_an_appended_message_is_fetched_back_byte_for_byte(imap_account):
    uid = imap_account.append(RAW)
    imap_account.append(RAW.replace(b"Quarterly", b"Annual"), folder="Sent")

    with imapclient.IMAPClient(imap_account.host, imap_account.port, ssl=False) as client:
        client.login(imap_account.username, imap_account.password)
        client.select_folder("INBOX")
        fetched = client.fetch([uid], ["BODY.PEEK[]"])
    assert fetched[uid][b"BODY[]"] == RAW
    assert imap_account.messages("Sent") == [RAW.replace(b"Quarterly", b"Annual")]


def test_each_account_sees_only_its_own_mail(dovecot):
    first, second = dovecot.account(), dovecot.account()
    first.append(RAW)

    assert first.username != second.username
    assert second.messages() == []
    assert first.messages() == [RAW]


def test_a_wrong_password_is_refused(imap_account):
    client = imapclient.IMAPClient(imap_account.host, imap_account.port, ssl=False)
    with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        client.login(imap_account.username, "not-" + imap_account.password)


def test_a_changed_password_refuses_the_old_one_at_once(dovecot, imap_account):
    dovecot.set_password(imap_account.username, "the-new-one")

    with pytest.raises(LoginError):
        dovecot.client(imap_account.username, imap_account.password)
    dovecot.client(imap_account.username, "the-new-one").logout()


def test_the_default_server_refuses_starttls(imap_account):
    client = imapclient.IMAPClient(imap_account.host, imap_account.port, ssl=False)
    assert b"STARTTLS" not in client.capabilities()
    with pytest.raises(imapclient.exceptions.CapabilityError):
        client.starttls(ssl.create_default_context())


def test_a_stopped_server_refuses_connections_and_comes_back_with_its_mail(private_dovecot):
    account = private_dovecot.account()
    account.append(RAW)
    private_dovecot.stop()

    with pytest.raises(ConnectionRefusedError):
        imapclient.IMAPClient(account.host, account.port, ssl=False, timeout=2)

    private_dovecot.start()
    assert account.messages() == [RAW]


@pytest.mark.skipif(not os.access(DOVECOT_BINARY, os.X_OK), reason=f"{DOVECOT_BINARY} is missing")
def test_the_tls_variant_offers_starttls_with_its_own_certificate():
    with Dovecot(tls=True) as server:
        account = server.account()
        client = imapclient.IMAPClient(server.host, server.port, ssl=False, timeout=5)
        assert b"STARTTLS" in client.capabilities()
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(ssl.create_default_context())
        account.append(RAW)  # over STARTTLS, trusting the server's certificate
        assert account.messages() == [RAW]


# -- SMTP ----------------------------------------------------------------------------------------


def test_a_sent_message_arrives_with_its_envelope(smtp_server):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.send_message(outgoing(), to_addrs=["bob@example.com", "cc@example.com"])

    [received] = smtp_server.wait_for(1)
    assert received.envelope_from == "ada@example.com"
    assert received.recipients == ("bob@example.com", "cc@example.com")
    assert received.message["Subject"] == "Renewal"
    assert received.message.get_content().strip() == "Shall we renew?"
    assert received.authenticated_as is None


def test_auth_is_required_and_the_right_password_passes(smtp_server_with_auth):
    server = smtp_server_with_auth
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(outgoing())
        assert refused.value.smtp_code == 530
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            client.login("rapport", "guess")
        assert wrong.value.smtp_code == 535
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.login("rapport", "smtp-secret")
        client.send_message(outgoing())

    [received] = server.wait_for(1)
    assert received.authenticated_as == "rapport"


def test_fail_next_answers_data_once_with_the_given_code(smtp_server):
    smtp_server.fail_next(451, "4.3.0 Try again later")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPDataError) as temporary:
            client.send_message(outgoing("First"))
        assert (temporary.value.smtp_code, temporary.value.smtp_error) == (
            451,
            b"4.3.0 Try again later",
        )
        client.send_message(outgoing("Second"))

    assert [m.message["Subject"] for m in smtp_server.wait_for(1)] == ["Second"]


def test_fail_next_at_rcpt_refuses_the_recipient_permanently(smtp_server):
    smtp_server.fail_next(550, "5.1.1 No such user", stage="RCPT")
    with (
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        client.send_message(outgoing(to="gone@example.com"))
    assert refused.value.recipients == {"gone@example.com": (550, b"5.1.1 No such user")}
    assert smtp_server.messages == []


def test_a_stopped_smtp_server_refuses_and_starts_again_on_its_port(smtp_server):
    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=2)

    smtp_server.start()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.send_message(outgoing())
    assert len(smtp_server.wait_for(1)) == 1


# -- the local sink of `rapport serve` ------------------------------------------------------------


@pytest.fixture
def sink(tmp_path):
    port, directory, stop = free_port(), tmp_path / "var" / "mail" / "delivered", threading.Event()
    thread = threading.Thread(
        target=run_sink,
        args=("127.0.0.1", port, directory),
        kwargs={"stop": stop},
    )
    thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=1).quit()
            break
        except OSError:
            time.sleep(0.05)
    yield port, directory
    stop.set()
    thread.join(timeout=5)


def test_the_sink_keeps_each_message_with_its_envelope(sink):
    port, directory = sink
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(outgoing("Older"), to_addrs=["bob@example.com"])
        client.send_message(outgoing("Newer"), to_addrs=["bob@example.com", "cc@example.com"])

    newer, older = read_delivered(directory)
    assert (newer.subject, older.subject) == ("Newer", "Older")
    assert newer.envelope_from == "ada@example.com"
    assert newer.recipients == ("bob@example.com", "cc@example.com")
    assert newer.message_id == "<newer@rapport.localhost>"
    assert newer.received_at >= older.received_at
    stored = read_one(directory, newer.key)
    assert newer.size == len(stored)
    assert (
        b"\r\nReturn-Path: <ada@example.com>\r\n"
        b"Delivered-To: bob@example.com\r\nDelivered-To: cc@example.com\r\n"
    ) in stored
    assert b"Subject: Newer" in stored
    assert read_delivered(directory, limit=1) == [newer]


def test_the_sink_reads_an_empty_or_missing_directory_as_nothing(tmp_path):
    assert read_delivered(tmp_path / "never-created") == []
    with pytest.raises(KeyError):
        read_one(tmp_path / "never-created", "../../etc/passwd")


def start_mailsink(port: int, directory) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rapport.settings"}
    command = [sys.executable, "-m", "rapport.cli", "mailsink", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--directory", str(directory)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_mailsink_command_keeps_mail_until_terminated(tmp_path):
    port, directory = free_port(), tmp_path / "delivered"
    sink = start_mailsink(port, directory)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sink.poll() is None:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        with client:
            client.send_message(outgoing("Invitation"))
    finally:
        sink.terminate()
        out, err = sink.communicate(timeout=10)

    assert sink.returncode == 0, err
    assert f"Mail sink listening on 127.0.0.1:{port}" in out
    assert out.rstrip().endswith("Mail sink stopped.")
    assert [message.subject for message in read_delivered(directory)] == ["Invitation"]


def test_the_mailsink_command_says_when_its_port_is_taken(tmp_path, smtp_server):
    taken = smtp_server.port
    with pytest.raises(CommandError, match=f"Port {taken} on 127.0.0.1 is already in use"):
        call_command(
            MailsinkCommand(), port=taken, directory=tmp_path / "delivered", stdout=io.StringIO()
        )
