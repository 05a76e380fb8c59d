"""Opening a mailbox's IMAP and SMTP connections, and saying in plain words why one failed.

Every path that talks to a mail server (the check on save, the sync, the outbox) opens it here,
so "authentication failed" or "the server offers no TLS" reads the same on the mailbox page,
in the sync's last error and on a failed message.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Iterator

import imapclient
from django.conf import settings
from imapclient.exceptions import IMAPClientError, LoginError

from rapport.mail.choices import Security
from rapport.mail.secrets import SecretUnreadable, decrypt

TIMEOUT_SECONDS = 20
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


class MailServerError(Exception):
    """A mail server could not be used; `str(error)` is the reason in the user's words.
    `temporary` tells the outbox and the sync whether trying again later may help."""

    def __init__(self, message: str, *, temporary: bool = True):
        super().__init__(message)
        self.temporary = temporary


def plaintext_allowed(host: str) -> bool:
    """An unprotected connection is allowed to this machine only (a local relay, the sink, a
    test server), unless the administrator says otherwise with RAPPORT_MAIL_ALLOW_PLAINTEXT."""
    return host.strip().lower() in LOCAL_HOSTS or bool(
        getattr(settings, "RAPPORT_MAIL_ALLOW_PLAINTEXT", False)
    )


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def describe(exc: BaseException, *, server: str, host: str, port: int) -> MailServerError:
    """The failure `exc` of talking to `server` ("IMAP" or "SMTP") at host:port, in words."""
    where = f"{host}:{port}"
    if isinstance(exc, MailServerError):
        return exc
    if isinstance(exc, SecretUnreadable):
        return MailServerError(str(exc), temporary=False)
    if isinstance(exc, LoginError | smtplib.SMTPAuthenticationError):
        return MailServerError(
            f"The {server} server refused the sign-in: authentication failed. "
            "Check the user name and password.",
            temporary=False,
        )
    if isinstance(exc, socket.gaierror):
        return MailServerError(f"The host name {host!r} cannot be found.", temporary=True)
    if isinstance(exc, ConnectionRefusedError):
        return MailServerError(
            f"Nothing answers at {where} (connection refused): is the {server} server running "
            "and the port right?"
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return MailServerError(f"The {server} server at {where} did not answer in time.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailServerError(
            f"The {server} server's certificate is not valid for {host}: {exc.verify_message}.",
            temporary=False,
        )
    if isinstance(exc, ssl.SSLError):
        return MailServerError(
            f"The TLS handshake with {where} failed ({exc.reason or exc}). Is this the right "
            "port for the chosen security?",
            temporary=False,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailServerError(
            f"The SMTP server at {where} does not allow signing in on this connection.",
            temporary=False,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailServerError(f"The SMTP server at {where} closed the connection.")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        return MailServerError(
            f"The SMTP server answered {exc.smtp_code}: {text}".strip(),
            temporary=400 <= exc.smtp_code < 500,
        )
    if isinstance(exc, IMAPClientError):
        return MailServerError(f"The IMAP server at {where} refused: {exc}.")
    if isinstance(exc, OSError):
        return MailServerError(f"Could not reach {where}: {exc.strerror or exc}.")
    return MailServerError(f"The {server} server at {where} failed: {exc}.")


@contextlib.contextmanager
def imap_connection(mailbox) -> Iterator[imapclient.IMAPClient]:
    """A signed-in IMAP connection to `mailbox`, logged out afterwards.
    Raises MailServerError with the reason."""
    host, port, security = mailbox.imap_host, mailbox.imap_port, mailbox.imap_security
    if security == Security.NONE and not plaintext_allowed(host):
        raise MailServerError(
            f"An unprotected IMAP connection is allowed only to this machine; choose SSL/TLS or "
            f"STARTTLS for {host}.",
            temporary=False,
        )
    try:
        client = imapclient.IMAPClient(
            host,
            port=port,
            ssl=security == Security.SSL,
            ssl_context=_tls_context() if security == Security.SSL else None,
            timeout=TIMEOUT_SECONDS,
        )
    except Exception as exc:
        raise describe(exc, server="IMAP", host=host, port=port) from exc
    try:
        if security == Security.STARTTLS:
            if b"STARTTLS" not in client.capabilities():
                raise MailServerError(
                    f"The IMAP server at {host}:{port} offers no TLS (no STARTTLS): choose "
                    "SSL/TLS, another port, or ask its administrator.",
                    temporary=False,
                )
            client.starttls(_tls_context())
        client.login(mailbox.imap_username, decrypt(mailbox.imap_password_encrypted))
    except Exception as exc:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise describe(exc, server="IMAP", host=host, port=port) from exc
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def smtp_endpoint(mailbox) -> tuple[str, int, str, str, str]:
    """(host, port, security, username, password) the mailbox sends through; the local sink
    when it is Rapport's own "delivered here" mailbox."""
    if mailbox.is_local_sink:
        return (
            "127.0.0.1",
            int(getattr(settings, "RAPPORT_MAIL_SINK_PORT", 8025)),
            Security.NONE,
            "",
            "",
        )
    return (
        mailbox.smtp_host,
        mailbox.smtp_port,
        mailbox.smtp_security,
        mailbox.smtp_username,
        decrypt(mailbox.smtp_password_encrypted),
    )


@contextlib.contextmanager
def smtp_connection(mailbox) -> Iterator[smtplib.SMTP]:
    """A ready (TLS, signed-in) SMTP connection for `mailbox`, closed afterwards."""
    host, port, security, username, password = smtp_endpoint(mailbox)
    if security == Security.NONE and not plaintext_allowed(host):
        raise MailServerError(
            f"An unprotected SMTP connection is allowed only to this machine; choose SSL/TLS or "
            f"STARTTLS for {host}.",
            temporary=False,
        )
    try:
        if security == Security.SSL:
            client = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=_tls_context())
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
    except Exception as exc:
        raise describe(exc, server="SMTP", host=host, port=port) from exc
    try:
        client.ehlo()
        if security == Security.STARTTLS:
            if not client.has_extn("starttls"):
                raise MailServerError(
                    f"The SMTP server at {host}:{port} offers no TLS (no STARTTLS): choose "
                    "SSL/TLS, another port, or ask its administrator.",
                    temporary=False,
                )
            client.starttls(context=_tls_context())
            client.ehlo()
        if username:
            client.login(username, password)
    except Exception as exc:
        with contextlib.suppress(Exception):
            client.close()
        raise describe(exc, server="SMTP", host=host, port=port) from exc
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.quit()
