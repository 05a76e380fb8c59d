"""Inbound email, read into plain values: who, when, threading, the text, the HTML, attachments and
delivery reports.

Pure Python (stdlib ``email`` + email_reply_parser + charset_normalizer): no Django model, so the
IMAP sync, bounce handling and benchmarks can call it anywhere. `parse_message` never raises on
malformed input; what it had to guess, shorten or leave out is said in ``warnings``, in sentences a
user can read.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import inspect
import logging
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

from charset_normalizer import from_bytes
from email_reply_parser import EmailMessage as ReplyText

__all__ = [
    "Address",
    "DeliveryReport",
    "ParsedAttachment",
    "ParsedMessage",
    "parse_message",
]

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 2000
MAX_TEXT_CHARACTERS = 2 * 1024 * 1024
MAX_DEPTH = 20
MAX_PARTS = 500
MAX_REFERENCES = 100
MAX_SUBJECT_CHARACTERS = 1000
MAX_FILENAME_CHARACTERS = 150
MAX_WARNINGS = 50
# Quoted-reply folding runs email_reply_parser's regular expressions on every line; past this size
# the message is shown whole, unfolded, rather than risk seconds on one message.
MAX_FOLDING_CHARACTERS = 200_000
# charset_normalizer only needs a sample to tell charsets apart.
CHARSET_SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Address:
    """One mailbox: ``email`` is lower-cased and valid-looking, its domain in readable Unicode."""

    name: str
    email: str


@dataclass(frozen=True)
class ParsedAttachment:
    """A file of the message. A refused one keeps its name, type and size, with ``payload`` b""
    and ``refused_reason`` saying why in a sentence; an accepted one has ``refused_reason`` ""."""

    filename: str
    content_type: str
    size: int
    payload: bytes
    content_id: str
    is_inline: bool
    refused_reason: str


@dataclass(frozen=True)
class DeliveryReport:
    """What a bounce says: who could not be reached, the status code (e.g. "5.1.1"), the remote
    server's words, and the Message-ID (without angle brackets) of the message that bounced."""

    failed_recipients: list[str]
    status: str
    diagnostic: str
    original_message_id: str


@dataclass
class ParsedMessage:
    """An inbound message as plain values. ``text == visible_text + quoted_text`` always holds;
    ``html_raw`` is untrusted and must go through `rapport.mail.sanitizing.sanitize_html` before
    display. Every str is valid UTF-8 without NUL characters (storable in PostgreSQL)."""

    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    sender: Address | None
    reply_to: list[Address]
    to: list[Address]
    cc: list[Address]
    date: datetime | None
    text: str
    visible_text: str
    quoted_text: str
    html_raw: str
    attachments: list[ParsedAttachment]
    delivery_report: DeliveryReport | None
    is_auto_reply: bool
    list_unsubscribe: str
    warnings: list[str] = field(default_factory=list)


def parse_message(raw: bytes, *, max_attachment_bytes: int = 25 * 1024 * 1024) -> ParsedMessage:
    """Read a raw RFC 5322 message. Never raises on malformed input; TypeError for a non-bytes ``raw``.

    Attachments over ``max_attachment_bytes``, programs, and files whose bytes contradict their
    declared type are listed with an empty payload and a ``refused_reason``.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    if isinstance(max_attachment_bytes, bool) or not isinstance(max_attachment_bytes, int):
        raise TypeError("max_attachment_bytes must be an int (a number of bytes)")
    if max_attachment_bytes < 0:
        raise ValueError(f"max_attachment_bytes must not be negative, got {max_attachment_bytes}")
    raw = bytes(raw)
    reader = _MessageReader(raw, max_attachment_bytes=max_attachment_bytes)
    try:
        return reader.read()
    except RecursionError:
        return reader.read_headers_only(
            "This message is nested too deeply to be read in full; only its headers were read."
        )
    except Exception:  # the promise is "never raises": log the bug, still give the user something
        logger.exception("parse_message failed on a message of %d bytes", len(raw))
        return reader.read_headers_only(INTERNAL_ERROR_WARNING)


INTERNAL_ERROR_WARNING = (
    "Rapport could not read the body of this message; only its headers were read."
)


# --- charsets -------------------------------------------------------------------------------------

# Charsets seen in real mail, in the order preferred when charset_normalizer finds several equally
# plausible (short texts often decode cleanly in many single-byte charsets).
_GUESSABLE_CHARSETS = [
    "utf_8",
    "cp1252",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "koi8_r",
    "koi8_u",
    "cp1253",
    "cp1254",
    "cp1257",
    "cp1255",
    "cp1256",
    "gb18030",
    "big5",
    "shift_jis",
    "euc_jp",
    "iso2022_jp",
    "euc_kr",
    "cp874",
]
_CHARSET_ALIASES = {
    # WHATWG: these labels mean windows-1252 in practice (senders mislabel it all the time).
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "tis-620": "cp874",
    "x-sjis": "shift_jis",
}
# Text codecs that would interpret escapes or host names rather than decode text.
_REFUSED_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs"}
)
_WESTERN_CODECS = frozenset({"cp1252", "iso8859-15", "latin-1", "ascii"})


def _codec_for(label: str) -> codecs.CodecInfo | None:
    name = label.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if not name or len(name) > 40:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return None
    return info


def _label(codec_name: str) -> str:
    name = codecs.lookup(codec_name).name
    if re.fullmatch(r"cp(125\d|874)", name):
        return "windows-" + name[2:]
    return name.replace("iso8859-", "iso-8859-").replace("_", "-")


def _shown(value: str, limit: int = 40) -> str:
    """A sender-supplied value made safe to quote in a warning."""
    value = "".join(character for character in value if character.isprintable())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _guess_charset(data: bytes) -> str | None:
    matches = from_bytes(data[:CHARSET_SAMPLE_BYTES], cp_isolation=_GUESSABLE_CHARSETS)
    if not matches:
        return None
    least_chaos = min(match.chaos for match in matches)
    plausible = set()
    for match in matches:
        if match.chaos <= least_chaos + 0.01:
            plausible.add(match.encoding)
            plausible.update(match.could_be_from_charset)
    for name in _GUESSABLE_CHARSETS:
        if name in plausible:
            return name
    return None


def _decode_bytes(data: bytes, declared: str | None, what: str) -> tuple[str, str | None]:
    """Decode ``data`` (the declared charset, else the best guess, else UTF-8 with replacement)
    and say in a warning when it was not as declared."""
    declared = (declared or "").strip()
    codec = _codec_for(declared) if declared else None
    if codec is not None:
        if codec.name in _WESTERN_CODECS and not data.isascii():
            # Mislabeled UTF-8 is by far the most common wrong charset; decoded as Latin it is mojibake.
            try:
                return data.decode("utf-8"), (
                    f"The {what} was declared as {_shown(declared)} but is UTF-8; it was decoded as utf-8."
                )
            except UnicodeDecodeError:
                pass
        try:
            return data.decode(codec.name), None
        except (UnicodeDecodeError, ValueError, LookupError):
            problem = f"The {what} was not valid {_shown(declared)}"
    elif declared:
        problem = f"The declared charset '{_shown(declared)}' is unknown"
    else:
        if data.isascii():
            return data.decode("ascii"), None
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            problem = f"The {what} declared no charset"
    guess = _guess_charset(data)
    if guess is not None:
        try:
            return data.decode(guess), f"{problem}; the {what} was decoded as {_label(guess)}."
        except (UnicodeDecodeError, ValueError):
            pass
    return data.decode("utf-8", errors="replace"), (
        f"{problem}; the {what} was decoded as utf-8 and unreadable characters were replaced."
    )


def _storable(text: str) -> str:
    """Text PostgreSQL accepts: no NUL, no lone surrogate."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


# --- headers --------------------------------------------------------------------------------------

# Encoded words are printable ASCII by definition (RFC 2047); "charset*language" per RFC 2231.
_ENCODED_WORD = re.compile(rb"=\?([!-)+->@-~]+)(?:\*[!->@-~]*)?\?([bBqQ])\?([!->@-~]*)\?=")
_ENCODED_WORD_SPLITTER = re.compile(rb"(=\?[!->@-~]+\?[bBqQ]\?[!->@-~]*\?=)")
_BETWEEN_ENCODED_WORDS = re.compile(rb"^[ \t\r\n]*$")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"[\r\n\t]+")
_SPACES = re.compile(r"\s+")
_MESSAGE_ID = re.compile(r"<([^<>]*)>")
_UNFOLD = re.compile(rb"\r?\n(?=[ \t])")


def _header_bytes(value: object) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("ascii", errors="surrogateescape")
        except UnicodeEncodeError:
            pass
        try:
            return value.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            return value.encode("utf-8", errors="replace")
    return str(value).encode("utf-8", errors="replace")


class _MessageReader:
    """One parse: collects the warnings and attachments while walking the message."""

    def __init__(self, raw: bytes, *, max_attachment_bytes: int):
        self.raw = raw
        self.max_attachment_bytes = max_attachment_bytes
        self.warnings: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.part_count = 0
        self.charset_hint: str | None = None
        self.deep_parts_left_out = False
        self.parts_left_out = False
        self.header_indexes: dict[int, tuple[Message, dict[str, list[bytes]]]] = {}

    def warn(self, sentence: str) -> None:
        if sentence not in self.warnings and len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(_storable(sentence))

    # -- entry points

    def read(self) -> ParsedMessage:
        message = BytesParser(policy=policy.compat32).parsebytes(self.raw)
        self.charset_hint = _first_text_charset(message)
        headers = self.read_headers(message)
        body = _Body()
        self.walk(message, body, depth=0)
        if self.deep_parts_left_out:
            self.warn(f"Parts nested more than {MAX_DEPTH} levels deep were left out.")
        if self.parts_left_out:
            self.warn(f"This message has more than {MAX_PARTS} parts; the rest were left out.")
        text, html = self.body_text(body)
        visible, quoted = _fold_reply(text)
        report = self.delivery_report(message, text)
        return ParsedMessage(
            **headers,
            text=text,
            visible_text=visible,
            quoted_text=quoted,
            html_raw=html,
            attachments=self.attachments,
            delivery_report=report,
            is_auto_reply=_is_auto_reply(message) or report is not None,
            warnings=self.warnings,
        )

    def read_headers_only(self, reason: str) -> ParsedMessage:
        self.warnings = []
        self.attachments = []
        try:
            message = BytesHeaderParser(policy=policy.compat32).parsebytes(self.raw)
            headers = self.read_headers(message)
            is_auto_reply = _is_auto_reply(message)
        except Exception:
            logger.exception("parse_message could not even read the headers")
            message, headers, is_auto_reply = None, self.read_headers(Message()), False
        self.warn(reason)
        return ParsedMessage(
            **headers,
            text="",
            visible_text="",
            quoted_text="",
            html_raw="",
            attachments=[],
            delivery_report=None,
            is_auto_reply=is_auto_reply,
            warnings=self.warnings,
        )

    # -- headers

    def read_headers(self, message: Message) -> dict:
        message_id = _first_message_id(self.header(message, "Message-ID"))
        if not message_id:
            message_id = f"missing-{hashlib.sha256(self.raw).hexdigest()}@rapport.invalid"
            self.warn("This message has no Message-ID; Rapport gave it one of its own.")
        references = _all_message_ids(self.header(message, "References"))
        if len(references) > MAX_REFERENCES:
            # The root and the most recent ancestors are what threading uses.
            references = references[:1] + references[-(MAX_REFERENCES - 1) :]
        subject = _LINE_BREAKS.sub(" ", self.header(message, "Subject")).strip()
        if len(subject) > MAX_SUBJECT_CHARACTERS:
            subject = subject[:MAX_SUBJECT_CHARACTERS]
            self.warn(
                f"The subject was longer than {MAX_SUBJECT_CHARACTERS:,} characters and was shortened."
            )
        senders = self.addresses(message, "From")
        return {
            "message_id": message_id,
            "in_reply_to": _first_message_id(self.header(message, "In-Reply-To")),
            "references": references,
            "subject": subject,
            "sender": senders[0] if senders else None,
            "reply_to": self.addresses(message, "Reply-To"),
            "to": self.addresses(message, "To"),
            "cc": self.addresses(message, "Cc"),
            "date": self.date(message),
            "list_unsubscribe": _SPACES.sub(" ", self.header(message, "List-Unsubscribe")).strip(),
        }

    def raw_header(self, message: Message, name: str) -> bytes | None:
        values = self.header_index(message).get(name.lower())
        if not values:
            return None
        # Some senders repeat address headers; the others keep only the first.
        joined = b", ".join(values) if name in ("To", "Cc", "Reply-To") else values[0]
        return _UNFOLD.sub(b"", joined)

    def header_index(self, message: Message) -> dict[str, list[bytes]]:
        """The part's raw header values by lower-cased name, built once per part: a dozen
        headers are read from each, and scanning every header for each was a tenth of a parse.
        The part itself is kept with its index, so its id is never reused during this parse."""
        entry = self.header_indexes.get(id(message))
        if entry is None:
            index: dict[str, list[bytes]] = {}
            for key, value in message.raw_items():
                index.setdefault(key.lower(), []).append(_header_bytes(value))
            entry = self.header_indexes[id(message)] = (message, index)
        return entry[1]

    def header(self, message: Message, name: str) -> str:
        value = self.raw_header(message, name)
        return "" if value is None else _storable(self.decode_header(value, name))

    def decode_header(self, value: bytes, name: str) -> str:
        """RFC 2047 encoded words decoded; unencoded 8-bit bytes decoded as UTF-8 (RFC 6532) or guessed."""
        pieces: list[str] = []
        pending: list[tuple[str, bytes]] = []  # adjacent encoded words, joined before decoding
        position = 0

        def flush() -> None:
            if pending:
                charset = pending[0][0]
                text, problem = _decode_bytes(
                    b"".join(data for _, data in pending),
                    charset,
                    f"{name} header",
                )
                if problem:
                    self.warn(problem)
                pieces.append(text)
                pending.clear()

        for match in _ENCODED_WORD.finditer(value):
            between = value[position : match.start()]
            if not (pending and _BETWEEN_ENCODED_WORDS.match(between)):
                flush()
                pieces.append(self.decode_unencoded(between, name))
            charset = match.group(1).decode("ascii", errors="replace")
            data = _decode_encoded_word(match.group(2), match.group(3))
            if pending and pending[0][0].lower() != charset.lower():
                flush()
            pending.append((charset, data))
            position = match.end()
        flush()
        pieces.append(self.decode_unencoded(value[position:], name))
        return "".join(pieces)

    def decode_unencoded(self, value: bytes, name: str) -> str:
        if value.isascii():
            return value.decode("ascii")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if self.charset_hint and (codec := _codec_for(self.charset_hint)) is not None:
            try:
                text = value.decode(codec.name)
            except (UnicodeDecodeError, ValueError):
                pass
            else:
                self.warn(
                    f"The {name} header had undeclared 8-bit characters; they were decoded as {_label(codec.name)}."
                )
                return text
        text, problem = _decode_bytes(value, None, f"{name} header")
        if problem:
            self.warn(problem)
        return text

    def addresses(self, message: Message, name: str) -> list[Address]:
        value = self.raw_header(message, name)
        if value is None:
            return []
        # Decode 8-bit bytes first but encoded words only after splitting: a decoded display name
        # may contain the commas and quotes that separate addresses.
        text = "".join(
            self.decode_unencoded(chunk, name) if index % 2 == 0 else chunk.decode("ascii")
            for index, chunk in enumerate(_ENCODED_WORD_SPLITTER.split(value))
        )
        result: list[Address] = []
        seen: set[str] = set()
        unreadable: list[str] = []
        total = 0
        for display_name, address in _split_addresses(text):
            if not address.strip() and not display_name.strip():
                continue  # empty entries and groups such as "undisclosed-recipients:;"
            email = _normalize_email(address)
            if email is None:
                unreadable.append(address.strip() or display_name.strip())
                continue
            if email in seen:
                continue
            seen.add(email)
            total += 1
            if len(result) < MAX_RECIPIENTS:
                decoded_name = self.decode_header(
                    display_name.encode("utf-8", errors="replace"),
                    name,
                )
                decoded_name = _SPACES.sub(" ", decoded_name).strip().strip("\"'").strip()
                if decoded_name.lower() == email:
                    decoded_name = ""
                result.append(Address(name=_storable(decoded_name), email=_storable(email)))
        if unreadable:
            examples = ", ".join(f"'{_shown(item)}'" for item in unreadable[:3])
            if len(unreadable) == 1:
                self.warn(f"The address {examples} in {name} could not be read and was left out.")
            else:
                self.warn(
                    f"{len(unreadable):,} addresses in {name} could not be read and were left out, "
                    f"such as {examples}."
                )
        if total > MAX_RECIPIENTS:
            self.warn(
                f"{name} lists {total:,} addresses; only the first {MAX_RECIPIENTS:,} were kept "
                f"({total - MAX_RECIPIENTS:,} left out)."
            )
        return result

    def date(self, message: Message) -> datetime | None:
        value = self.header(message, "Date").strip()
        if not value:
            return None
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            moment = None
        if moment is None:
            self.warn(f"The date '{_shown(value)}' could not be read.")
            return None
        if moment.tzinfo is None:  # "-0000" means UTC with no claim about the sender's zone
            moment = moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            self.warn(f"The date '{_shown(value)}' could not be read.")
            return None

    # -- body

    def walk(self, part: Message, body: _Body, *, depth: int) -> None:
        self.part_count += 1
        if self.part_count > MAX_PARTS:
            self.parts_left_out = True
            return
        if depth > MAX_DEPTH:
            self.deep_parts_left_out = True
            return
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            return  # read by delivery_report; its human-readable twin is the report's text part
        if part.is_multipart() and content_type != "message/rfc822":
            children = [child for child in part.get_payload() if isinstance(child, Message)]
            if content_type == "multipart/alternative":
                self.walk_alternative(children, body, depth=depth)
            else:
                for child in children:
                    self.walk(child, body, depth=depth + 1)
            return
        if content_type == "message/rfc822":
            self.add_attached_message(part)
            return
        disposition = _safe(part.get_content_disposition) or ""
        filename = _safe(part.get_filename) or ""
        if (
            content_type in ("text/plain", "text/html")
            and disposition != "attachment"
            and not filename
        ):
            text = self.part_text(part, content_type)
            (body.plain if content_type == "text/plain" else body.html).append(text)
            return
        if content_type.startswith("multipart/"):
            # No or a wrong boundary: the parts cannot be told apart, so the raw body is the text.
            self.warn("The structure of this message is broken; it is shown as plain text.")
            body.plain.append(self.part_text(part, "text/plain"))
            return
        self.add_attachment(part, content_type, disposition, filename)

    def walk_alternative(self, children: list[Message], body: _Body, *, depth: int) -> None:
        """The last plain and the last HTML version win (RFC 2046: richest last); every other part
        of the alternatives (inline images, calendar invitations) is kept as an attachment."""
        plain: list[str] = []
        html: list[str] = []
        for child in children:
            version = _Body()
            self.walk(child, version, depth=depth + 1)
            if version.plain:
                plain = version.plain
            if version.html:
                html = version.html
        body.plain.extend(plain)
        body.html.extend(html)

    def part_text(self, part: Message, content_type: str) -> str:
        data = _payload_bytes(part)
        what = "HTML" if content_type == "text/html" else "text"
        text, problem = _decode_bytes(data, _safe(part.get_content_charset), what)
        if problem:
            self.warn(problem)
        return text.removeprefix("\ufeff")

    def body_text(self, body: _Body) -> tuple[str, str]:
        html = _storable("\n".join(body.html))
        if len(html) > MAX_TEXT_CHARACTERS:
            html = html[:MAX_TEXT_CHARACTERS]
            self.warn(
                "The HTML of this message is longer than 2 MB; only the first 2 MB were kept."
            )
        text = "\n".join(body.plain)
        if not text.strip() and html.strip():
            # Imported here so that this module loads before (and without) its sibling.
            from rapport.mail.plaintext import html_to_text

            text = html_to_text(html)
        text = _storable(text.replace("\r\n", "\n").replace("\r", "\n"))
        if len(text) > MAX_TEXT_CHARACTERS:
            text = text[:MAX_TEXT_CHARACTERS]
            self.warn(
                "The text of this message is longer than 2 MB; only the first 2 MB were kept."
            )
        return text, html

    def add_attachment(
        self,
        part: Message,
        content_type: str,
        disposition: str,
        filename: str,
    ) -> None:
        payload = _payload_bytes(part)
        content_id = _first_message_id(self.header(part, "Content-ID"))
        name = _safe_filename(
            self.decode_header(_header_bytes(filename), "file name"),
            content_type,
        )
        self.attachments.append(
            self.checked_attachment(
                filename=name,
                content_type=content_type,
                payload=payload,
                content_id=content_id,
                is_inline=disposition == "inline" or (not disposition and bool(content_id)),
            )
        )

    def add_attached_message(self, part: Message) -> None:
        inner = part.get_payload()
        inner = (
            inner[0]
            if isinstance(inner, list) and inner and isinstance(inner[0], Message)
            else None
        )
        subject = ""
        payload = b""
        if inner is not None:
            subject = _LINE_BREAKS.sub(" ", self.header(inner, "Subject")).strip()
            try:
                payload = inner.as_bytes(policy=policy.compat32)
            except (RecursionError, ValueError, TypeError, UnicodeError, LookupError):
                payload = b""
        name = _safe_filename(f"{subject or 'message'}.eml", "message/rfc822")
        self.attachments.append(
            self.checked_attachment(
                filename=name,
                content_type="message/rfc822",
                payload=payload,
                content_id="",
                is_inline=False,
            )
        )

    def checked_attachment(
        self,
        *,
        filename: str,
        content_type: str,
        payload: bytes,
        content_id: str,
        is_inline: bool,
    ) -> ParsedAttachment:
        reason = _refusal(filename, content_type, payload, self.max_attachment_bytes)
        return ParsedAttachment(
            filename=filename,
            content_type=content_type,
            size=len(payload),
            payload=b"" if reason else payload,
            content_id=content_id,
            is_inline=is_inline,
            refused_reason=reason,
        )

    # -- bounces

    def delivery_report(self, message: Message, text: str) -> DeliveryReport | None:
        report_type = _safe(lambda: message.get_param("report-type"))
        if isinstance(report_type, tuple):  # an RFC 2231 value
            report_type = report_type[2]
        if message.get_content_type() == "multipart/report" and (
            str(report_type or "").lower() == "delivery-status"
            or any(
                isinstance(part, Message) and part.get_content_type() == "message/delivery-status"
                for part in _payload_list(message)
            )
        ):
            return self.standard_report(message)
        failed = self.header(message, "X-Failed-Recipients")
        if failed:  # Exim and Gmail bounces that are not RFC 3464 reports
            recipients = [
                email
                for _, address in _split_addresses(failed)
                if (email := _normalize_email(address))
            ]
            match = re.search(r"^\s*Message-ID:\s*<([^<>\s]+)>", text, re.IGNORECASE | re.MULTILINE)
            return DeliveryReport(
                failed_recipients=recipients,
                status="",
                diagnostic="",
                original_message_id=match.group(1) if match else "",
            )
        return None

    def standard_report(self, message: Message) -> DeliveryReport:
        failed: list[str] = []
        status = diagnostic = first_status = ""
        original_message_id = ""
        for part in _payload_list(message):
            if not isinstance(part, Message):
                continue
            content_type = part.get_content_type()
            if content_type == "message/delivery-status":
                for fields in _delivery_status_blocks(part):
                    recipient = _address_field(
                        fields.get("final-recipient") or fields.get("original-recipient")
                    )
                    if not recipient:
                        continue
                    action = fields.get("action", "").strip().lower()
                    code = fields.get("status", "").strip().split(" ")[0]
                    first_status = first_status or code
                    if action == "failed" or (not action and code.startswith("5")):
                        email = _normalize_email(recipient) or recipient.lower()
                        if email not in failed:
                            failed.append(_storable(email))
                        if not status:
                            status = code
                            diagnostic = _address_field(fields.get("diagnostic-code"))
            elif content_type in (
                "message/rfc822",
                "text/rfc822-headers",
                "message/rfc822-headers",
            ):
                original = _original_headers(part)
                if original is not None:
                    original_message_id = _first_message_id(self.header(original, "Message-ID"))
        return DeliveryReport(
            failed_recipients=failed,
            status=_storable(status or first_status),
            diagnostic=_storable(_SPACES.sub(" ", diagnostic).strip()),
            original_message_id=original_message_id,
        )


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)


def _safe(call):
    """The stdlib's parameter helpers raise on some malformed parameters; those read as absent."""
    try:
        return call()
    except (ValueError, TypeError, LookupError, IndexError, UnicodeError, AttributeError):
        return None


def _payload_list(message: Message) -> list:
    payload = message.get_payload()
    return payload if isinstance(payload, list) else []


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, UnicodeError, binascii.Error, LookupError):
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return _header_bytes(payload) if isinstance(payload, str) else b""


def _first_text_charset(message: Message) -> str | None:
    """The charset of the first text part: the likeliest one for undeclared 8-bit header bytes."""
    try:
        for index, part in enumerate(message.walk()):
            if index > MAX_PARTS:
                return None
            if part.get_content_maintype() == "text":
                charset = _safe(part.get_content_charset)
                if charset:
                    return charset
    except RecursionError:
        return None
    return None


def _decode_encoded_word(encoding: bytes, text: bytes) -> bytes:
    if encoding in (b"b", b"B"):
        try:
            return binascii.a2b_base64(text + b"=" * (-len(text) % 4))
        except binascii.Error:
            return text
    return binascii.a2b_qp(text, header=True)


def _first_message_id(value: str) -> str:
    ids = _all_message_ids(value)
    return ids[0] if ids else ""


def _all_message_ids(value: str) -> list[str]:
    """Message-IDs without angle brackets, in order, once each; bare tokens when no brackets are used."""
    found = [_SPACES.sub("", item) for item in _MESSAGE_ID.findall(value)]
    if not found:
        found = [token.strip("<>,;") for token in value.split()]
    result: list[str] = []
    for item in found:
        if item and item not in result:
            result.append(item)
    return result


_GETADDRESSES_HAS_STRICT = "strict" in inspect.signature(getaddresses).parameters


# "Name <local@domain>" or a bare address, in the characters that need no quoting: the shape of
# most real headers, read here as getaddresses reads it, at a fraction of its cost.
_PLAIN_ADDRESS = re.compile(
    r" *(?:(?P<name>[A-Za-z0-9]+(?: [A-Za-z0-9]+)*) *)?<(?P<angled>{address})> *| *(?P<bare>{address}) *".format(
        address=r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
    )
)


def _plain_addresses(text: str) -> list[tuple[str, str]] | None:
    pairs = []
    for piece in text.split(","):
        match = _PLAIN_ADDRESS.fullmatch(piece)
        if match is None:
            return None
        if match["bare"]:
            pairs.append(("", match["bare"]))
        else:
            pairs.append((match["name"] or "", match["angled"]))
    return pairs


def _split_addresses(text: str) -> list[tuple[str, str]]:
    """(name, address) pairs, leniently: the strict mode of newer Pythons drops a whole header
    for one malformed address."""
    plain = _plain_addresses(text)
    if plain is not None:
        return plain
    try:
        if _GETADDRESSES_HAS_STRICT:
            return getaddresses([text], strict=False)
        return getaddresses([text])
    except (ValueError, IndexError, TypeError):
        return [("", item) for item in text.split(",")]


_LOCAL_PART = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$")


def _normalize_email(address: str) -> str | None:
    """The address lower-cased with its domain in readable Unicode, or None when it is not one."""
    address = address.strip().strip("<>")
    if address.count("@") != 1:
        return None
    local, domain = address.split("@")
    domain = domain.rstrip(".")
    if (
        not _LOCAL_PART.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        return None
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
    ):
        return None
    readable = []
    for label in labels:
        if label.lower().startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except UnicodeError:
                return None
        readable.append(label)
    return f"{local}@{'.'.join(readable)}".lower()


_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply"})


def _is_auto_reply(message: Message) -> bool:
    def value(name: str) -> str:
        raw = message.get(name)
        return "" if raw is None else str(raw).strip().lower()

    auto_submitted = value("Auto-Submitted")
    return (
        (bool(auto_submitted) and auto_submitted != "no")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        or value("Precedence") in _AUTO_PRECEDENCE
    )


def _delivery_status_blocks(part: Message) -> list[dict[str, str]]:
    """The per-message and per-recipient field blocks of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [block for block in payload if isinstance(block, Message)]
        return [{key.lower(): str(value) for key, value in block.items()} for block in blocks]
    text = _payload_bytes(part).decode("utf-8", errors="replace")
    result = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
        block = HeaderParser(policy=policy.compat32).parsestr(
            chunk.strip() + "\n",
            headersonly=True,
        )
        result.append({key.lower(): str(value) for key, value in block.items()})
    return result


def _address_field(value: str | None) -> str:
    """The value of a typed DSN field ("rfc822; bob@example.com", "smtp; 550 ...") without its type."""
    if not value:
        return ""
    value = _FOLD.sub("", value)
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _original_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list):
        return next((item for item in payload if isinstance(item, Message)), None)
    return BytesHeaderParser(policy=policy.compat32).parsebytes(_payload_bytes(part))


# --- quoted replies -------------------------------------------------------------------------------


class _ReplyReader(ReplyText):
    """email_reply_parser's reader, with its first step rewritten. That step finds the last
    "On ... wrote:" quote header (Gmail wraps it over two lines) and joins its lines, but its
    regular expression backtracks catastrophically (7,000 characters of "On it. " took 27 s) and it
    passes the header as a regex template to re.sub, so a backslash in it raised re.error. Here the
    same header is found by plain string search; the line scan is the library's."""

    QUOTE_HEADER_START = re.compile(r"On\s")
    LONGEST_QUOTE_HEADER = 500

    def read(self):
        self.found_visible = False
        self.text = self._join_last_quote_header(self.text)
        # Outlook puts the reply right above its separator line; give it a line of its own.
        self.text = re.sub("([^\n])(?=\n ?[_-]{7,})", "\\1\n", self.text)
        self.lines = self.text.split("\n")
        self.lines.reverse()
        for line in self.lines:
            self._scan_line(line)
        self._finish_fragment()
        self.fragments.reverse()
        return self

    def _join_last_quote_header(self, text: str) -> str:
        last_wrote = text.rfind("wrote:")
        if last_wrote < 4:
            return text
        starts = [
            match.start() for match in self.QUOTE_HEADER_START.finditer(text, 0, last_wrote - 1)
        ]
        if not starts:
            return text
        start = starts[-1]
        end = text.find("wrote:", start + 4) + len("wrote:")
        if end - start > self.LONGEST_QUOTE_HEADER:
            return text
        return text[:start] + text[start:end].replace("\n", "") + text[end:]


_NON_SPACE_RUN = re.compile(r"\S+")


def _fold_reply(text: str) -> tuple[str, str]:
    """Split ``text`` into the new text and the quoted replies and signature that follow it, so
    that ``visible + quoted == text``. A message that is all quote (a bare forward) stays visible.
    """
    if not text.strip() or len(text) > MAX_FOLDING_CHARACTERS:
        return text, ""
    fragments = _ReplyReader(text).read().fragments
    trailing = 0
    for fragment in reversed(fragments):
        if not fragment.hidden:
            break
        trailing += 1
    if trailing == 0 or trailing == len(fragments):
        return text, ""
    # email_reply_parser joins or splits some lines before scanning; only line breaks change, so
    # the split point is found again by counting the non-space characters before it.
    kept = "".join(fragment.content for fragment in fragments[: len(fragments) - trailing])
    # Counted a run of non-space characters at a time (\S is exactly `not str.isspace()`):
    # a character at a time was a fifth of the time of a whole parse.
    remaining = sum(map(len, _NON_SPACE_RUN.findall(kept)))
    position = 0 if remaining == 0 else len(text)
    if remaining:
        for run in _NON_SPACE_RUN.finditer(text):
            length = run.end() - run.start()
            if remaining <= length:
                position = run.start() + remaining
                break
            remaining -= length
    visible = text[:position]
    if not visible.strip():
        return text, ""
    return visible, text[position:]


# --- attachments ----------------------------------------------------------------------------------

_PROGRAM_EXTENSIONS = frozenset(
    {
        "exe", "bat", "cmd", "com", "scr", "pif", "msi", "msp", "mst", "js", "jse", "vbs", "vbe", "wsf",
        "wsh", "ws", "hta", "cpl", "jar", "ps1", "psm1", "lnk", "reg", "dll", "sys", "scf", "inf", "gadget",
        "application", "appx", "msix", "sct", "shb", "vb", "xbap",
    }
)  # fmt: skip
_PROGRAM_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-ms-installer",
        "application/x-msi",
        "application/x-ms-shortcut",
        "application/vnd.microsoft.portable-executable",
        "application/javascript",
        "application/x-javascript",
        "text/javascript",
        "application/hta",
        "application/x-bat",
        "application/java-archive",
    }
)
# Magic numbers of the declared types we can check; a file declared as one of these must start so.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/jpg": (b"\xff\xd8\xff",),
    "image/pjpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/bmp": (b"BM",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"),
    "application/gzip": (b"\x1f\x8b",),
    "application/x-gzip": (b"\x1f\x8b",),
    "application/msword": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "application/vnd.ms-excel": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "application/vnd.ms-powerpoint": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
}
_OFFICE_OPEN_XML = "application/vnd.openxmlformats-officedocument."
_PROGRAM_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
)


def _content_matches(content_type: str, payload: bytes) -> bool:
    if content_type == "application/pdf":
        return b"%PDF-" in payload[:1024]
    if content_type == "image/webp":
        return payload[:4] == b"RIFF" and payload[8:12] == b"WEBP"
    if content_type.startswith(_OFFICE_OPEN_XML):
        return payload.startswith(_MAGIC["application/zip"])
    signatures = _MAGIC.get(content_type)
    return signatures is None or payload.startswith(signatures)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _refusal(filename: str, content_type: str, payload: bytes, limit: int) -> str:
    extension = filename.rsplit(".", 1)[1].lower() if "." in filename else ""
    if extension in _PROGRAM_EXTENSIONS:
        return f"Programs (.{extension} files) are not accepted as attachments."
    if content_type in _PROGRAM_TYPES:
        return f"Programs ({content_type}) are not accepted as attachments."
    is_program = payload.startswith(_PROGRAM_MAGIC)
    if payload and not _content_matches(content_type, payload):
        return f"The content does not match its declared type {content_type}."
    if is_program:
        return "This file is a program; programs are not accepted as attachments."
    if len(payload) > limit:
        return f"This file is {_megabytes(len(payload))}, over the {_megabytes(limit)} limit for attachments."
    return ""


def _safe_filename(name: str, content_type: str) -> str:
    """The last path component, without control or direction-override characters, at most
    MAX_FILENAME_CHARACTERS long with its extension kept; a name from the type when nothing is left.
    """
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        " " if unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") else character
        for character in name
    )
    name = _SPACES.sub(" ", name).strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME_CHARACTERS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_FILENAME_CHARACTERS - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARACTERS]
    if not name:
        name = "attachment" + (mimetypes.guess_extension(content_type) or "")
    return _storable(name)
