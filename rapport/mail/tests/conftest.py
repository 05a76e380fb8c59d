"""Real mail servers for the mail tests: one Dovecot per test process, a fresh IMAP user per test,
and an SMTP server per test.
"""

import os

import pytest

from rapport.mail.tests.servers import DOVECOT_BINARY, Dovecot, ImapAccount, SmtpServer


@pytest.fixture(scope="session")
def dovecot():
    """The Dovecot IMAP server of this test process (each xdist worker starts its own)."""
    if not os.access(DOVECOT_BINARY, os.X_OK):
        pytest.skip(
            f"{DOVECOT_BINARY} is missing: install Debian's dovecot-imapd (.ci/run does) to run "
            "the IMAP tests"
        )
    server = Dovecot().start()
    yield server
    server.cleanup()


@pytest.fixture
def private_dovecot():
    """A Dovecot of this test alone, for tests that stop it or break it."""
    if not os.access(DOVECOT_BINARY, os.X_OK):
        pytest.skip(f"{DOVECOT_BINARY} is missing: install Debian's dovecot-imapd")
    server = Dovecot().start()
    yield server
    server.cleanup()


@pytest.fixture
def imap_account(dovecot) -> ImapAccount:
    """A new user, with an empty INBOX, Sent, Drafts and Trash, on the shared Dovecot."""
    if not dovecot.running:  # a test stopped the shared server; the next one gets it back
        dovecot.start()
    return dovecot.account()


@pytest.fixture
def smtp_server():
    """An SMTP server that keeps what it receives, without AUTH."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server_with_auth():
    """An SMTP server that requires AUTH as `rapport` / `smtp-secret` (over plain text)."""
    server = SmtpServer(username="rapport", password="smtp-secret").start()
    yield server
    server.stop()
