"""The local mail sink: an SMTP server on this machine that keeps every message it is given in a
Maildir and delivers nothing onward, so a new install can "send" mail with no settings.

`rapport serve` starts it (as `rapport mailsink`) when RAPPORT_SMTP_URL is empty; the Mail pages
read what it kept with `read_delivered` and `read_one` ("Delivered here, not sent to the
internet").
"""

import asyncio
import datetime
import mailbox
import os
import signal
import threading
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP

# The sink's own headers, written above the message as a delivering mail server does: when it
# arrived, the envelope sender, and one Delivered-To per envelope recipient.
RECEIVED_HEADER = "X-Rapport-Sink-Received"
SINK_HOSTNAME = "rapport-mail-sink"


@dataclass(frozen=True)
class DeliveredMessage:
    """One message the sink kept: its Maildir key and what the list of delivered mail shows."""

    key: str
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    subject: str
    received_at: datetime.datetime
    size: int


class SinkHandler:
    """aiosmtpd handler that files each message into a Maildir and never relays it."""

    def __init__(self, directory: Path | str):
        directory = Path(directory)
        # Maildir creates only its own folder; var/mail may not exist on a fresh install.
        directory.parent.mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(directory, create=True)

    async def handle_DATA(self, server, session, envelope):
        now = datetime.datetime.now(datetime.UTC)
        lines = [
            f"{RECEIVED_HEADER}: {format_datetime(now)}",
            f"Return-Path: <{_header_safe(envelope.mail_from or '')}>",
            *(f"Delivered-To: {_header_safe(rcpt)}" for rcpt in envelope.rcpt_tos),
        ]
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        stored = ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape") + content
        # Maildir writes to tmp/ and renames into new/: a reader never sees half a message.
        await asyncio.to_thread(self.maildir.add, stored)
        return "250 Delivered to the local sink (not sent to the internet)"


def _header_safe(value: str) -> str:
    """An envelope address as one header line: SMTP already forbids line breaks in it."""
    return value.replace("\r", "").replace("\n", "")


def run_sink(
    host: str,
    port: int,
    directory: Path | str,
    *,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
) -> None:
    """Serve SMTP on host:port into the Maildir at `directory` until SIGINT/SIGTERM (or `stop`
    is set). Raises OSError when the port cannot be bound."""
    stop = stop or threading.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        handler = SinkHandler(directory)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname=SINK_HOSTNAME, enable_SMTPUTF8=True),
            host=host,
            port=port,
        )
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        if ready is not None:
            ready.set()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.2)
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(serve())


def _maildir_files(directory: Path) -> list[tuple[float, str, Path]]:
    """(modified time, key, path) of every message, from new/ and cur/."""
    found = []
    for sub in ("new", "cur"):
        try:
            entries = list(os.scandir(directory / sub))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            key = entry.name.split(mailbox.Maildir.colon)[0]
            found.append((entry.stat().st_mtime, key, Path(entry.path)))
    return found


def read_delivered(directory: Path | str, *, limit: int = 200) -> list[DeliveredMessage]:
    """The newest `limit` messages the sink kept, newest first; [] when it kept none yet."""
    directory = Path(directory)
    files = sorted(_maildir_files(directory), key=lambda item: (item[0], item[1]), reverse=True)
    delivered = []
    for modified, key, path in files[: max(limit, 0)]:
        try:
            with path.open("rb") as handle:
                headers = BytesHeaderParser(policy=policy.default).parse(handle)
            size = path.stat().st_size
        except FileNotFoundError:  # removed while we listed
            continue
        delivered.append(_describe(key, headers, size, modified))
    delivered.sort(key=lambda message: (message.received_at, message.key), reverse=True)
    return delivered


def _describe(key: str, headers, size: int, modified: float) -> DeliveredMessage:
    received_at, envelope_from, recipients = None, "", []
    # Only the sink's own block at the top counts; the same headers further down came with the
    # message and say nothing about this delivery.
    items = iter(headers.raw_items())
    name, value = next(items, ("", ""))
    if name.lower() == RECEIVED_HEADER.lower():
        try:
            received_at = parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            received_at = None
        name, value = next(items, ("", ""))
        if name.lower() == "return-path":
            envelope_from = str(value).strip().strip("<>")
            name, value = next(items, ("", ""))
            while name.lower() == "delivered-to":
                recipients.append(str(value).strip())
                name, value = next(items, ("", ""))
    if received_at is None:  # not written by the sink: the file's own time is the best guess
        received_at = datetime.datetime.fromtimestamp(modified, datetime.UTC)
    return DeliveredMessage(
        key=key,
        message_id=str(headers.get("Message-ID", "") or "").strip(),
        envelope_from=envelope_from,
        recipients=tuple(recipients),
        subject=str(headers.get("Subject", "") or ""),
        received_at=received_at,
        size=size,
    )


def read_one(directory: Path | str, key: str) -> bytes:
    """The message with this key exactly as stored (the sink's Return-Path and Delivered-To
    lines on top, as in any mailbox). KeyError when there is no such message."""
    path = Path(directory)
    if not (path / "new").is_dir() and not (path / "cur").is_dir():
        raise KeyError(key)
    return mailbox.Maildir(path, create=False).get_bytes(key)
