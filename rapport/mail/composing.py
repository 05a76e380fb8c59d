"""Building the message we send: addresses checked, headers that cannot be injected, the MIME tree,
and the tracking rewrite of a rendered body.

Pure Python on the stdlib ``email`` package: no Django, no database, no network.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime

from rapport.mail.plaintext import html_to_text

__all__ = [
    "HeaderProblem",
    "OutgoingEmail",
    "add_tracking",
    "build_mime",
    "envelope_recipients",
    "make_message_id",
    "validate_addresses",
]

# Headers build_mime writes itself (or, for Bcc, must never write); extra headers may not replace them.
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "return-path",
        "received",
    }
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,75}$")
_LINE_BREAKS = re.compile(r"[\r\n\x00]")
_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
# Unquoted local parts only; non-ASCII letters are allowed (they make the message SMTPUTF8).
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-\u00a0-\U0010ffff]+$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
_NAMED_ADDRESS = re.compile(r"^[^<>]*<([^<>]+)>\s*$")
_MAX_URL_LENGTH = 900  # a header line may not pass 998 octets, and the URL sits on its own line


class HeaderProblem(ValueError):
    """A value that cannot go into a header as given; ``message`` names the field and the value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(kw_only=True)
class OutgoingEmail:
    """Everything one sent email consists of. ``message_id``, ``in_reply_to`` and ``references`` are
    message ids without angle brackets; ``to``/``cc``/``bcc`` are bare addresses; ``headers`` holds
    extra headers such as ``X-Rapport-Message``."""

    message_id: str
    from_address: str
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: str = ""
    subject: str = ""
    html: str = ""
    text: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    list_unsubscribe_url: str = ""  # https one-click URL (RFC 8058) or ""
    list_unsubscribe_mailto: str = ""  # "mailto:…" or a bare address, or ""
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # filename, type, data
    headers: dict[str, str] = field(default_factory=dict)


# -- addresses ----------------------------------------------------------------------------------


def validate_addresses(
    values: list[str], *, field: str, limit: int = 100
) -> tuple[list[str], list[str]]:
    """Return ``(clean, errors)`` for the addresses a user typed into ``field``.

    ``clean`` holds each valid address once, in the order given, with its domain lower-cased and in
    its ASCII (IDNA) form; "Anna <anna@example.com>" is accepted as anna@example.com and blank
    entries are ignored. ``errors`` holds one sentence per bad value naming the field and the value,
    plus one if there are more than ``limit`` addresses. Never raises.
    """
    clean: list[str] = []
    errors: list[str] = []
    seen: set[str] = set()
    for raw in values:
        value = (raw or "").strip()
        if not value:
            continue
        address, problem = _clean_address(value)
        if problem:
            errors.append(f"The address '{value}' in {field} is not valid: {problem}.")
            continue
        if address.lower() not in seen:
            seen.add(address.lower())
            clean.append(address)
    if len(clean) > limit:
        errors.append(f"{field} has {len(clean)} addresses; at most {limit} are allowed.")
        clean = clean[:limit]
    return clean, errors


def _clean_address(value: str) -> tuple[str, str]:
    """Return ``(address, "")`` or ``("", reason)``."""
    if _LINE_BREAKS.search(value):
        return "", "it contains a line break"
    named = _NAMED_ADDRESS.match(value)
    if named:
        value = named.group(1).strip()
    if value.count("@") != 1:
        return (
            "",
            "an address needs exactly one '@'" if "@" not in value else "it has more than one '@'",
        )
    local, domain = value.split("@")
    if not local:
        return "", "there is nothing before the '@'"
    if len(local) > 64:
        return "", "the part before the '@' is longer than 64 characters"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "", "the part before the '@' has a misplaced dot"
    if not _LOCAL_PART.match(local):
        return "", "the part before the '@' contains characters an address cannot have"
    domain, domain_problem = _clean_domain(domain)
    if domain_problem:
        return "", domain_problem
    address = f"{local}@{domain}"
    if len(address) > 254:
        return "", "it is longer than 254 characters"
    return address, ""


def _clean_domain(domain: str) -> tuple[str, str]:
    domain = domain.strip().rstrip(".").lower()
    if not domain:
        return "", "there is no domain after the '@'"
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "", f"the domain '{domain}' is not a valid domain name"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        return "", f"the domain '{domain}' is not a valid domain name"
    if labels[-1].isdigit():
        return "", f"the domain '{domain}' is not a valid domain name"
    return ascii_domain, ""


def make_message_id(*, unique: str, domain: str) -> str:
    """Return ``"<unique>@<domain>"`` without angle brackets: the same ``unique`` (the outbox row's
    uuid) always gives the same id, so a retried send is recognisably the same message.
    Raises ``HeaderProblem`` for a ``unique`` that is not plain id text or a domain that is not one.
    """
    unique = str(unique)
    if not unique or not _ATEXT.match(unique) or unique.startswith(".") or ".." in unique:
        raise HeaderProblem(
            "message_id", f"'{unique}' cannot be used as the unique part of a Message-ID."
        )
    clean_domain, problem = _clean_domain(domain or "")
    if problem:
        raise HeaderProblem(
            "message_id", f"The Message-ID domain '{domain}' is not valid: {problem}."
        )
    return f"{unique}@{clean_domain}"


def envelope_recipients(email: OutgoingEmail) -> list[str]:
    """Everyone the SMTP envelope must name: to, then cc, then bcc, each address once (compared
    without regard to case), names stripped. Bcc addresses appear here and nowhere in the headers.
    """
    recipients: list[str] = []
    seen: set[str] = set()
    for value in (*email.to, *email.cc, *email.bcc):
        value = (value or "").strip()
        named = _NAMED_ADDRESS.match(value)
        address = named.group(1).strip() if named else value
        if address and address.lower() not in seen:
            seen.add(address.lower())
            recipients.append(address)
    return recipients


# -- the MIME message -----------------------------------------------------------------------------


class _TokenHeader(UnstructuredHeader):
    """A header of ASCII tokens (<uri>, <msg-id>) folded only between tokens, never turned into
    =?utf-8?q?…?= encoded words, which would make a long List-Unsubscribe URL unusable."""

    def fold(self, *, policy) -> str:
        lines: list[str] = []
        current = f"{self.name}:"
        for token in str(self).split():
            has_token = current != f"{self.name}:"
            if has_token and len(current) + 1 + len(token) > policy.max_line_length:
                lines.append(current)
                current = ""
            current += f" {token}"
        lines.append(current)
        return policy.linesep.join(lines) + policy.linesep


_HEADERS = HeaderRegistry()
for _name in ("list-unsubscribe", "references", "in-reply-to"):
    _HEADERS.map_to_type(_name, _TokenHeader)
_SMTP = email_policy.SMTP.clone(header_factory=_HEADERS)
_SMTPUTF8 = email_policy.SMTPUTF8.clone(header_factory=_HEADERS)


def build_mime(email: OutgoingEmail, *, now: datetime | None = None) -> EmailMessage:
    """Return the message ready for ``as_bytes()`` and an SMTP DATA command.

    Guarantees: multipart/alternative text + html (wrapped in multipart/mixed with attachments; text
    made from the html when not given); Date, Message-ID, In-Reply-To, References; List-Unsubscribe
    with the https URL and/or mailto, plus ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
    (RFC 8058) when a URL is given; no Bcc header ever; display names with commas, quotes or
    non-ASCII characters encoded properly. A value with CR/LF, an invalid address or a header that
    would overwrite one of ours raises ``HeaderProblem`` naming the field instead of being written.
    Uses the SMTPUTF8 policy only when an address needs it.
    """
    _refuse_line_breaks(email)
    sender = _address("from_address", email.from_address, display_name=email.from_name)
    to = [_address("to", value) for value in email.to]
    cc = [_address("cc", value) for value in email.cc]
    for value in email.bcc:
        _address("bcc", value)  # checked so the envelope is sound; never written
    reply_to = _address("reply_to", email.reply_to) if email.reply_to.strip() else None
    if not to and not cc and not email.bcc:
        raise HeaderProblem("to", "The email has no recipient.")
    addresses = [sender, *to, *cc, *([reply_to] if reply_to else [])]
    needs_utf8 = any(not address.username.isascii() for address in addresses)

    message = EmailMessage(policy=_SMTPUTF8 if needs_utf8 else _SMTP)
    message["From"] = sender
    if to:
        message["To"] = to
    if cc:
        message["Cc"] = cc
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = f"<{_message_id('message_id', email.message_id)}>"
    if email.in_reply_to.strip():
        message["In-Reply-To"] = f"<{_message_id('in_reply_to', email.in_reply_to)}>"
    references = [
        f"<{_message_id('references', value)}>" for value in email.references if value.strip()
    ]
    if references:
        message["References"] = " ".join(references)
    unsubscribe = _list_unsubscribe(email)
    if unsubscribe:
        message["List-Unsubscribe"] = ", ".join(unsubscribe)
        if email.list_unsubscribe_url:
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in email.headers.items():
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            raise HeaderProblem("headers", f"'{name}' cannot be added as an extra header.")
        message[name] = value

    text = email.text or (html_to_text(email.html) if email.html else "")
    message.set_content(text)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    for filename, content_type, data in email.attachments:
        if not _CONTENT_TYPE.match(content_type or ""):
            raise HeaderProblem(
                "attachments", f"The attachment '{filename}' has an invalid type '{content_type}'."
            )
        maintype, subtype = content_type.lower().split("/", 1)
        message.add_attachment(bytes(data), maintype=maintype, subtype=subtype, filename=filename)
    for part in message.walk():
        # The email package stamps MIME-Version on every part it creates; it belongs on top only.
        if part is not message:
            del part["MIME-Version"]
    return message


def _refuse_line_breaks(email: OutgoingEmail) -> None:
    values: list[tuple[str, str]] = [
        ("message_id", email.message_id),
        ("from_address", email.from_address),
        ("from_name", email.from_name),
        ("reply_to", email.reply_to),
        ("subject", email.subject),
        ("in_reply_to", email.in_reply_to),
        ("list_unsubscribe_url", email.list_unsubscribe_url),
        ("list_unsubscribe_mailto", email.list_unsubscribe_mailto),
    ]
    values += [("to", value) for value in email.to]
    values += [("cc", value) for value in email.cc]
    values += [("bcc", value) for value in email.bcc]
    values += [("references", value) for value in email.references]
    values += [("headers", f"{name}{value}") for name, value in email.headers.items()]
    values += [("attachments", f"{name}{kind}") for name, kind, _data in email.attachments]
    for field_name, value in values:
        if value and _LINE_BREAKS.search(value):
            raise HeaderProblem(
                field_name,
                f"The {field_name.replace('_', ' ')} contains a line break, which a header may not have.",
            )


def _address(field_name: str, value: str, *, display_name: str = "") -> Address:
    address, problem = _clean_address((value or "").strip())
    if problem:
        raise HeaderProblem(
            field_name, f"The address '{value}' in {field_name} is not valid: {problem}."
        )
    local, domain = address.rsplit("@", 1)
    # Address() quotes or RFC 2047-encodes the name as needed, so commas and quotes stay in it.
    return Address(display_name=" ".join(display_name.split()), username=local, domain=domain)


def _message_id(field_name: str, value: str) -> str:
    value = value.strip().removeprefix("<").removesuffix(">")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or not value.isascii() or re.search(r"[\s<>]", value):
        raise HeaderProblem(field_name, f"'{value}' is not a valid message id for {field_name}.")
    return value


def _list_unsubscribe(email: OutgoingEmail) -> list[str]:
    entries: list[str] = []
    url = email.list_unsubscribe_url.strip()
    if url:
        if (
            not url.lower().startswith("https://")
            or not url.isascii()
            or re.search(r"[\s<>,]", url)
        ):
            raise HeaderProblem(
                "list_unsubscribe_url",
                f"The unsubscribe link '{url}' must be a plain https:// URL.",
            )
        if len(url) > _MAX_URL_LENGTH:
            raise HeaderProblem(
                "list_unsubscribe_url",
                f"The unsubscribe link is longer than {_MAX_URL_LENGTH} characters.",
            )
        entries.append(f"<{url}>")
    mailto = email.list_unsubscribe_mailto.strip()
    if mailto:
        target = mailto if mailto.lower().startswith("mailto:") else f"mailto:{mailto}"
        address = target[len("mailto:") :].split("?", 1)[0]
        _clean, problem = _clean_address(address)
        if problem or not target.isascii() or re.search(r"[\s<>,]", target):
            raise HeaderProblem(
                "list_unsubscribe_mailto",
                f"The unsubscribe address '{mailto}' is not a valid mailto: address.",
            )
        entries.append(f"<{target}>")
    return entries


# -- tracking -------------------------------------------------------------------------------------

# An <a ...> start tag; quoted attribute values may contain '>'.
_ANCHOR_TAG = re.compile(r"""<a(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
# The href attribute inside one tag, preceded by whitespace so data-href= is not taken for it.
_HREF = re.compile(
    r"""(?<=[\s"'/])href\s*=\s*(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)'|(?P<bare>[^\s"'=<>`]+))""",
    re.IGNORECASE,
)
_CLOSING_BODY = re.compile(r"</body\s*>", re.IGNORECASE)


def add_tracking(
    html: str, *, click_url: Callable[[str], str], pixel_url: str, skip: set[str]
) -> str:
    """Return ``html`` with every http(s) link's href replaced by ``click_url(original)`` — except
    links whose URL is in ``skip`` (the unsubscribe link) — and a 1×1 open-tracking image before
    ``</body>`` (or at the end). mailto:, tel:, #anchors and every other byte are left exactly as
    they were. ``click_url`` receives the URL with HTML entities decoded; its result is escaped.
    No pixel is added when ``pixel_url`` is empty."""

    def rewrite_tag(tag_match: re.Match[str]) -> str:
        tag = tag_match.group(0)
        href = _HREF.search(tag)
        if not href:
            return tag
        raw = href.group("double") if href.group("double") is not None else href.group("single")
        if raw is None:
            raw = href.group("bare")
        original = html_lib.unescape(raw).strip()
        if not re.match(r"https?://", original, re.IGNORECASE) or original in skip or raw in skip:
            return tag
        replacement = f'href="{html_lib.escape(click_url(original), quote=True)}"'
        return tag[: href.start()] + replacement + tag[href.end() :]

    tracked = _ANCHOR_TAG.sub(rewrite_tag, html)
    if not pixel_url:
        return tracked
    pixel = f'<img src="{html_lib.escape(pixel_url, quote=True)}" alt="" width="1" height="1">'
    closings = list(_CLOSING_BODY.finditer(tracked))
    if not closings:
        return tracked + pixel
    position = closings[-1].start()  # the last </body> is the real one
    return tracked[:position] + pixel + tracked[position:]
