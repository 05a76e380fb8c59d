"""Outgoing-mail settings from one URL (RAPPORT_SMTP_URL), and the key that encrypts mailbox
passwords. Read by settings.py, so this module imports nothing from Django but its exception."""

import base64
import re
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SETTING = "RAPPORT_SMTP_URL"
DEFAULT_PORTS = {"starttls": 587, "none": 25, "ssl": 465}
DEFAULT_TIMEOUT_SECONDS = 30
MAIL_KEY_INFO = b"rapport mail: mailbox password encryption"
MAIL_KEY_MIN_LENGTH = 32


def _redacted(url: str) -> str:
    """The URL as an error message may show it: never the password."""
    return re.sub(r"(://[^:/@]*):[^/]*@", r"\1:***@", url)


def smtp_settings_from_url(url: str) -> dict:
    """Django's EMAIL_* settings for the SMTP server this URL names.

    smtp://user:password@host:587              STARTTLS required (the default; port 587)
    smtp://host:25?tls=none                    plain text, for a relay on a trusted network
    smtps://user:password@host                 TLS from the first byte (port 465)
    optional ?timeout=SECONDS (default 30). User and password are percent-decoded, so a
    password with @ or : is written %40 or %3A. Anything else raises ImproperlyConfigured
    naming RAPPORT_SMTP_URL and the problem.
    """

    def refuse(problem: str):
        raise ImproperlyConfigured(f"{SETTING}={_redacted(url)!r}: {problem}")

    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as error:
        refuse(f"this is not a URL ({error})")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        refuse("the port is not a number from 1 to 65535")
    scheme = parts.scheme.lower()
    if scheme not in {"smtp", "smtps"}:
        refuse("use smtp:// (STARTTLS) or smtps:// (TLS), e.g. smtp://user:pass@host:587")
    if not parts.hostname:
        refuse("there is no host name, e.g. smtp://user:pass@smtp.example.com:587")
    if parts.path not in ("", "/"):
        refuse(f"a mail server URL has no path ({parts.path!r})")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        refuse(f"the options {parts.query!r} are not name=value pairs joined by &")
    unknown = sorted(set(query) - {"tls", "timeout"})
    if unknown:
        refuse(f"unknown option {', '.join(unknown)} (known: tls, timeout)")
    tls = query.get("tls", ["ssl" if scheme == "smtps" else "starttls"])[-1].strip().lower()
    if scheme == "smtps" and tls != "ssl":
        refuse(f"smtps:// is TLS from the first byte; tls={tls} contradicts it")
    if tls not in DEFAULT_PORTS:
        refuse(f"tls={tls!r} is not one of starttls, none (or use smtps:// for TLS)")
    timeout = DEFAULT_TIMEOUT_SECONDS
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            timeout = 0
        if not 0 < timeout <= 600:
            refuse(f"timeout={query['timeout'][-1]!r} is not a number of seconds from 1 to 600")
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if password and not username:
        refuse("there is a password but no user name")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or DEFAULT_PORTS[tls],
        "EMAIL_HOST_USER": username,
        "EMAIL_HOST_PASSWORD": password,
        "EMAIL_USE_TLS": tls == "starttls",
        "EMAIL_USE_SSL": tls == "ssl",
        "EMAIL_TIMEOUT": timeout,
    }


def local_sink_settings(port: int) -> dict:
    """EMAIL_* settings that hand every message to the local sink `rapport serve` starts on
    127.0.0.1:`port`: nothing leaves the machine."""
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 10,
    }


def mail_key(*, configured: str, secret_key: str) -> str:
    """The key material that encrypts mailbox passwords (rapport.mail.secrets stretches it with
    HKDF into its Fernet key).

    RAPPORT_MAIL_KEY when set: any random string of at least 32 characters. Otherwise derived
    from SECRET_KEY with HKDF-SHA256 and a purpose label, so the two differ yet a new install
    needs no setup. That is acceptable because whoever holds SECRET_KEY can already forge any
    session, so the derived key adds no secret to guard; but rotating SECRET_KEY then makes
    every stored mailbox password unreadable, which is why production should set its own.
    """
    configured = configured.strip()
    if configured:
        if len(configured) < MAIL_KEY_MIN_LENGTH:
            raise ImproperlyConfigured(
                f"RAPPORT_MAIL_KEY is too short ({len(configured)} characters): use a random "
                f"string of at least {MAIL_KEY_MIN_LENGTH}, e.g. from "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`.'
            )
        return configured
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=MAIL_KEY_INFO).derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived).decode("ascii")
