"""Receiving mail: the IMAP sync, filing each message where it belongs, and the triage inbox.

The sync reads a mailbox's folder with `imapclient` and guarantees:

- nothing is read twice or skipped after a restart: `FolderState` keeps the folder's UIDVALIDITY
  and the last UID filed, advanced in the same transaction as the batch it ends. A crash re-reads
  at most one batch, and the (mailbox, Message-ID) uniqueness files nothing twice. A changed
  UIDVALIDITY (the server renumbered the folder) starts over from UID 1 for the same reason;
- mail is never marked as read (EXAMINE and BODY.PEEK[]);
- one bad message never stops the loop: it is filed with a warning, or, when even that fails,
  counted in the report's errors with its UID. A message over the size cap is filed from its
  headers alone, with a warning, rather than downloaded;
- a failing mailbox records the error in words, backs off (1 minute doubling to 1 hour) and never
  stops the others.

A sync is queued as new mail arrives by the IMAP IDLE listener (`rapport.mail.idle`, its own
process, so no worker is held), and each mailbox is also polled by the chain in
`rapport.mail.tasks` (every RAPPORT_MAIL_POLL_SECONDS, or only as a safety net under IDLE).

A message is filed on the timeline of every contact it was exchanged with (matched through any
of their addresses, aliases left by merges included). A message from nobody Rapport knows waits
in the triage inbox; Rapport never creates a contact on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from imapclient.exceptions import IMAPClientError

from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core import display
from rapport.core.events import emit_many
from rapport.mail.choices import (
    MailboxState,
    MessageDirection,
    MessageStatus,
    ParticipantRole,
    TriageState,
)
from rapport.mail.connections import MailServerError, describe, imap_connection
from rapport.mail.events import EmailReceived, EmailReplied
from rapport.mail.ignoring import ignore_sender, is_ignored, patterns_for
from rapport.mail.models import (
    Attachment,
    EmailMessage,
    EmailThread,
    FolderState,
    Mailbox,
    Participant,
)
from rapport.mail.parsing import ParsedMessage, parse_message

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
# A batch is also cut when its messages add up to this many bytes, so 200 large messages are
# never held in memory at once.
BATCH_BYTES = 32 * 1024 * 1024
# Messages filed per transaction (each moves the folder's position on with it).
FILE_CHUNK = 50
BACKOFF_START = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=1)
# A sync claims its mailbox for this long; a worker that died mid-sync frees it when it ends.
SYNC_LEASE = dt.timedelta(minutes=15)
# SQLite allows 32,766 variables in a statement, older builds 999: IN lists are cut to this.
IN_CHUNK = 900
# UIDs asked for their size in one command (a command line stays well under 64 KB).
SIZE_CHUNK = 2000
# Free mail providers: ignoring one of these as a whole domain would hide every private sender.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.ru",
        "yandex.ru",
    }
)
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
TIMELINE_SUBJECT_LIMIT = 200
TIMELINE_BODY_LIMIT = 50_000


def poll_seconds() -> int:
    """How often each mailbox is checked for new mail."""
    return max(10, int(getattr(settings, "RAPPORT_MAIL_POLL_SECONDS", 60)))


def max_message_bytes() -> int:
    """Messages larger than this are filed from their headers only, with a warning."""
    return int(getattr(settings, "RAPPORT_MAIL_MAX_MESSAGE_BYTES", 40 * 1024 * 1024))


def max_attachment_bytes() -> int:
    """Attachments larger than this are listed with the reason and not stored."""
    return int(getattr(settings, "RAPPORT_MAIL_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024))


@dataclass
class SyncReport:
    """What one sync of one mailbox did. `errors` names each message that could not be filed by
    its UID; `failure` is the mailbox's own error in words (empty when the server was read)."""

    fetched: int = 0
    filed: int = 0
    skipped: int = 0
    triaged: int = 0
    errors: list[str] = field(default_factory=list)
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure

    def as_dict(self) -> dict:
        return {
            "fetched": self.fetched,
            "filed": self.filed,
            "skipped": self.skipped,
            "triaged": self.triaged,
            "errors": list(self.errors),
            "failure": self.failure,
        }


@dataclass
class _Incoming:
    """One message read from the server, parsed, waiting to be filed."""

    raw: bytes
    parsed: ParsedMessage
    uid: int | None = None
    extra_warnings: list[str] = field(default_factory=list)


# --- the sync --------------------------------------------------------------------------------


def due_mailboxes(now: dt.datetime | None = None):
    """Active mailboxes with an IMAP server whose next check has come."""
    now = now or timezone.now()
    return (
        Mailbox.objects.filter(is_active=True, is_local_sink=False)
        .exclude(imap_host="")
        .exclude(imap_username="")
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .order_by("next_check_at", "pk")
    )


def claim_mailbox(mailbox: Mailbox, now: dt.datetime | None = None) -> bool:
    """True when this caller won the mailbox's due check: its next check moves a lease ahead
    with a conditional update, so two schedulers never sync one mailbox at once."""
    now = now or timezone.now()
    return bool(
        Mailbox.objects.filter(pk=mailbox.pk, next_check_at=mailbox.next_check_at).update(
            next_check_at=now + SYNC_LEASE
        )
    )


def sync_mailbox(*, mailbox: Mailbox) -> SyncReport:
    """Read the mailbox's new mail and file it; record how the server answered.

    Never raises for a server or a message: a failure is the mailbox's state (failing, the
    reason, the next try after a backoff) and the report's `failure`.
    """
    report = SyncReport()
    try:
        with imap_connection(mailbox) as client:
            _sync_folder(client, mailbox, mailbox.imap_folder or "INBOX", report)
    except MailServerError as exc:
        report.failure = str(exc)
    except (IMAPClientError, OSError) as exc:  # the server broke off mid-session
        error = describe(exc, server="IMAP", host=mailbox.imap_host, port=mailbox.imap_port)
        report.failure = str(error)
    except Exception as exc:  # a bug or the database: logged, and this mailbox alone fails
        logger.exception("the sync of mailbox %s failed", mailbox.pk)
        report.failure = f"Rapport could not sync this mailbox: {exc}"[:500]
    if report.failure:
        _record_failure(mailbox, report.failure)
    else:
        _record_success(mailbox)
    return report


def _record_success(mailbox: Mailbox) -> None:
    now = timezone.now()
    values = {
        "state": MailboxState.WORKING,
        "last_error": "",
        "failure_count": 0,
        "last_checked_at": now,
        "last_success_at": now,
        "next_check_at": now + dt.timedelta(seconds=poll_seconds()),
    }
    # A mailbox paused while it synced stays paused.
    Mailbox.objects.filter(pk=mailbox.pk, is_active=True).update(**values)
    if mailbox.is_active:
        for name, value in values.items():
            setattr(mailbox, name, value)


def backoff(failure_count: int) -> dt.timedelta:
    """The wait before the next try after `failure_count` failures in a row."""
    exponent = max(0, min(failure_count - 1, 12))
    return min(BACKOFF_START * (2**exponent), BACKOFF_CAP)


def _record_failure(mailbox: Mailbox, error: str) -> None:
    now = timezone.now()
    try:
        current = Mailbox.objects.filter(pk=mailbox.pk).values_list("failure_count", flat=True)
        failure_count = (current.first() or 0) + 1
        values = {
            "state": MailboxState.FAILING,
            "last_error": error[:500],
            "failure_count": failure_count,
            "last_checked_at": now,
            "next_check_at": now + backoff(failure_count),
        }
        Mailbox.objects.filter(pk=mailbox.pk, is_active=True).update(**values)
    except Exception:  # the database itself is down: nothing to record it in
        logger.exception("could not record the failure of mailbox %s", mailbox.pk)
        return
    if mailbox.is_active:
        for name, value in values.items():
            setattr(mailbox, name, value)


def _sync_folder(client, mailbox: Mailbox, folder: str, report: SyncReport) -> None:
    try:
        selected = client.select_folder(folder, readonly=True)  # EXAMINE: flags stay untouched
    except Exception as exc:
        raise MailServerError(
            f"The IMAP server would not open the folder {folder!r}: {exc}.", temporary=False
        ) from exc
    uidvalidity = selected.get(b"UIDVALIDITY")
    state, _ = FolderState.objects.get_or_create(mailbox=mailbox, folder=folder)
    if uidvalidity is not None and state.uidvalidity != uidvalidity:
        if state.uidvalidity is not None:
            logger.info(
                "mailbox %s folder %s: UIDVALIDITY %s -> %s, reading it again",
                mailbox.pk,
                folder,
                state.uidvalidity,
                uidvalidity,
            )
        state.uidvalidity = uidvalidity
        state.last_uid = 0
        state.save(update_fields=["uidvalidity", "last_uid"])
    if not selected.get(b"EXISTS"):
        return
    # "n:*" always matches the newest message, even when its UID is below n.
    uids = sorted(
        uid for uid in client.search(["UID", f"{state.last_uid + 1}:*"]) if uid > state.last_uid
    )
    sizes = {}
    for chunk in _chunks(uids, SIZE_CHUNK):
        for uid, data in client.fetch(chunk, ["RFC822.SIZE"]).items():
            sizes[uid] = int(data.get(b"RFC822.SIZE") or 0)
    uids = [uid for uid in uids if uid in sizes]  # the others were deleted meanwhile
    cap = max_message_bytes()
    for batch in _batches(uids, sizes, cap):
        items = _fetch_batch(client, batch, sizes, cap, report)
        # Filed in shorter transactions than the fetch, so the database's write lock (SQLite
        # has one for everybody) is never held for long while a person saves a record.
        chunks = list(_chunks(items, FILE_CHUNK)) or [[]]
        for number, chunk in enumerate(chunks, start=1):
            last_uid = batch[-1] if number == len(chunks) else chunk[-1].uid
            _file_batch_and_advance(mailbox, folder, state, chunk, last_uid, report)


def _batches(uids: list[int], sizes: dict[int, int], cap: int) -> Iterable[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = min(sizes[uid], cap)
        if batch and (len(batch) >= BATCH_SIZE or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _fetch_batch(client, batch, sizes, cap, report: SyncReport) -> list[_Incoming]:
    whole = [uid for uid in batch if sizes[uid] <= cap]
    too_large = [uid for uid in batch if sizes[uid] > cap]
    bodies = client.fetch(whole, ["BODY.PEEK[]"]) if whole else {}
    headers = client.fetch(too_large, ["BODY.PEEK[HEADER]"]) if too_large else {}
    limit = max_attachment_bytes()
    items = []
    for uid in batch:
        extra = []
        if uid in headers:
            raw = headers[uid].get(b"BODY[HEADER]")
            extra.append(
                f"This message is {display.number_text(sizes[uid] / 1_048_576, 1)} MB, over the "
                f"{display.number_text(cap / 1_048_576, 0)} MB Rapport downloads: only its headers "
                "were read. Open it in your mail program."
            )
        else:
            raw = bodies.get(uid, {}).get(b"BODY[]")
        if raw is None:
            # Deleted on the server between the listing and the fetch: nothing left to file.
            report.skipped += 1
            continue
        report.fetched += 1
        try:
            parsed = parse_message(bytes(raw), max_attachment_bytes=limit)
        except Exception as exc:
            logger.exception("UID %s of a mailbox could not be parsed", uid)
            report.errors.append(f"UID {uid}: the message could not be read ({exc}).")
            continue
        items.append(_Incoming(raw=bytes(raw), parsed=parsed, uid=uid, extra_warnings=extra))
    return items


def _file_batch_and_advance(mailbox, folder, state, items, last_uid, report) -> None:
    """File a batch in one transaction with the folder's new position; when that fails, file its
    messages one by one, so one bad message costs only itself."""
    try:
        with transaction.atomic():
            outcome = _file_batch(mailbox=mailbox, folder=folder, items=items)
            FolderState.objects.filter(pk=state.pk).update(last_uid=last_uid)
    except (OperationalError, InterfaceError):
        # The database itself is unwell (locked, gone): the position stays where it was and the
        # whole sync fails, so the next one reads this batch again and nothing is skipped.
        raise
    except Exception:
        logger.warning("a batch of mailbox %s failed; filing it message by message", mailbox.pk)
        outcome = []
        for item in items:
            try:
                with transaction.atomic():
                    outcome += _file_batch(mailbox=mailbox, folder=folder, items=[item])
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                logger.exception("UID %s of mailbox %s could not be filed", item.uid, mailbox.pk)
                outcome += _file_plainly(mailbox, folder, item, exc, report)
        FolderState.objects.filter(pk=state.pk).update(last_uid=last_uid)
    state.last_uid = last_uid
    for message in outcome:
        if message is None:
            report.skipped += 1
            continue
        report.filed += 1
        if message.triage_state == TriageState.PENDING:
            report.triaged += 1


def _file_plainly(mailbox, folder, item: _Incoming, exc: Exception, report: SyncReport) -> list:
    """Keep a message that could not be filed in full as its headers and text alone, with a
    warning saying so; when even that fails, name its UID in the report's errors."""
    reduced = _Incoming(
        raw=item.raw,
        uid=item.uid,
        parsed=dataclasses.replace(item.parsed, attachments=[], delivery_report=None, html_raw=""),
        extra_warnings=[
            *item.extra_warnings,
            f"Rapport could not file this message in full ({exc}); its attachments, HTML and "
            "delivery report were left out. Open it in your mail program.",
        ],
    )
    try:
        with transaction.atomic():
            return _file_batch(mailbox=mailbox, folder=folder, items=[reduced])
    except (OperationalError, InterfaceError):
        raise
    except Exception as second:
        logger.exception("UID %s of mailbox %s could not be kept", item.uid, mailbox.pk)
        report.errors.append(f"UID {item.uid}: the message could not be filed ({second}).")
        return []


# --- filing ----------------------------------------------------------------------------------


def file_message(*, mailbox: Mailbox, raw: bytes, folder: str = "", uid: int | None = None):
    """File one raw message received in `mailbox`; None when the mailbox already has it."""
    parsed = parse_message(raw, max_attachment_bytes=max_attachment_bytes())
    with transaction.atomic():
        (message,) = _file_batch(
            mailbox=mailbox, folder=folder, items=[_Incoming(raw=raw, parsed=parsed, uid=uid)]
        )
    return message


def _bare_id(message_id: str) -> str:
    return message_id.strip().strip("<>").strip()


def _id_forms(message_ids: Iterable[str]) -> set[str]:
    """Each Message-ID with and without its angle brackets: senders store either."""
    forms = set()
    for message_id in message_ids:
        bare = _bare_id(message_id)
        if bare:
            forms.update((bare, f"<{bare}>"))
    return forms


def _chunks(values, size: int = IN_CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _addresses(parsed: ParsedMessage) -> list[tuple[str, str, str]]:
    """(role, email lower-cased, name) of everyone on the message, sender first, once each."""
    seen = set()
    rows = []
    people = [(ParticipantRole.SENDER, parsed.sender)] if parsed.sender else []
    people += [(ParticipantRole.TO, address) for address in parsed.to]
    people += [(ParticipantRole.CC, address) for address in parsed.cc]
    for role, address in people:
        email = (address.email or "").strip().lower()[:254]
        if not email or (role, email) in seen:
            continue
        seen.add((role, email))
        rows.append((role, email, (address.name or "")[:200]))
    return rows


def _contacts_by_email(emails: set[str]) -> dict[str, object]:
    """The contact each address belongs to, in one query per 900 addresses. Where two contacts
    share an address, an active one is preferred, then the oldest."""
    from rapport.contacts.models import Contact, ContactEmail

    owners: dict[str, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted(emails)):
        for email, contact_id in ContactEmail.objects.filter(email__in=chunk).values_list(
            "email", "contact_id"
        ):
            owners[email].append(contact_id)
    if not owners:
        return {}
    contact_ids = {pk for ids in owners.values() for pk in ids}
    contacts = {}
    for chunk in _chunks(contact_ids):
        contacts.update(Contact.objects.in_bulk(chunk))
    chosen = {}
    for email, ids in owners.items():
        candidates = [contacts[pk] for pk in ids if pk in contacts]
        if candidates:
            chosen[email] = min(candidates, key=lambda c: (c.is_archived, c.pk))
    return chosen


def _primary_organizations(contacts: Iterable) -> dict[int, object]:
    from rapport.contacts.models import Membership

    ids = {contact.pk for contact in contacts}
    found = {}
    for chunk in _chunks(ids):
        for membership in Membership.objects.filter(
            contact_id__in=chunk, is_primary=True
        ).select_related("organization"):
            found[membership.contact_id] = membership.organization
    return found


def _occurred_at(parsed: ParsedMessage, warnings: list[str], now: dt.datetime) -> dt.datetime:
    when = parsed.date
    if when is None:
        return now
    if timezone.is_naive(when):
        when = timezone.make_aware(when, dt.UTC)
    if when > now + dt.timedelta(days=1):
        # Kept with the message for any reader: in UTC, and said so, not the worker's zone.
        written = display.moment_text(when, "dated", zone=dt.UTC)
        warnings.append(
            f"The message says it was written on {written} UTC, in the future; "
            "it is dated when it arrived instead."
        )
        return now
    return when


def _thread_subject(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject or "").strip()[:300]


def _file_batch(*, mailbox: Mailbox, folder: str, items: list[_Incoming]) -> list:
    """File `items` (in order) inside the caller's transaction; for each, the new EmailMessage
    or None when the mailbox already had it. A few queries per batch, not per message: the
    addresses, the threads and the duplicates are each looked up once."""
    now = timezone.now()
    own = {mailbox.email_address.lower(), mailbox.imap_username.lower()} - {""}
    ids = [item.parsed.message_id[:500] for item in items]
    known = set()
    for chunk in _chunks(set(ids)):
        known.update(
            EmailMessage.objects.filter(
                mailbox=mailbox, direction=MessageDirection.INBOUND, message_id__in=chunk
            ).values_list("message_id", flat=True)
        )
    results: list = [None] * len(items)
    fresh = []
    for index, (item, message_id) in enumerate(zip(items, ids, strict=True)):
        if message_id in known:
            continue
        known.add(message_id)  # the same message twice in one batch is filed once
        fresh.append((index, item, message_id))
    if not fresh:
        return results

    addresses = {index: _addresses(item.parsed) for index, item, _ in fresh}
    all_emails = {email for rows in addresses.values() for _, email, _ in rows} - own
    contacts = _contacts_by_email(all_emails)
    organizations = _primary_organizations(contacts.values())
    patterns = patterns_for(mailbox)

    # Threads: every id a message points at, and its own (the same message in another mailbox).
    pointers = {}
    for index, item, message_id in fresh:
        parsed = item.parsed
        order = [parsed.in_reply_to, *reversed(parsed.references), message_id]
        pointers[index] = [_bare_id(value) for value in order if value and _bare_id(value)]
    known_messages: dict[str, dict] = {}
    wanted = _id_forms(value for values in pointers.values() for value in values)
    for chunk in _chunks(wanted):
        for row in EmailMessage.objects.filter(message_id__in=chunk).values(
            "pk", "message_id", "thread_id", "direction", "deal_id"
        ):
            key = _bare_id(row["message_id"])
            current = known_messages.get(key)
            # Our own sent copy wins over a received copy of it (it is what a reply marks).
            if current is None or (
                row["direction"] == MessageDirection.OUTBOUND
                and current["direction"] != MessageDirection.OUTBOUND
            ):
                known_messages[key] = row
    thread_deals: dict[int, int] = {}
    existing_threads = {row["thread_id"] for row in known_messages.values() if row["thread_id"]}
    for chunk in _chunks(existing_threads):
        for thread_id, deal_id in (
            EmailMessage.objects.filter(thread_id__in=chunk, deal__isnull=False)
            .order_by("-occurred_at")
            .values_list("thread_id", "deal_id")
        ):
            thread_deals.setdefault(thread_id, deal_id)

    messages = []
    new_threads: list[EmailThread] = []
    batch_threads: dict[str, EmailThread | int] = {}  # bare Message-ID -> thread (this batch)
    thread_of_new: dict[int, EmailThread] = {}
    deal_of_new_thread: dict[int, int | None] = {}
    replied: dict[int, dt.datetime] = {}
    answers: dict[int, int] = {}  # index of a reply -> pk of our message it answers
    participants_of: dict[int, list] = {}
    matched_of: dict[int, list] = {}
    for index, item, message_id in fresh:
        parsed = item.parsed
        warnings = [*parsed.warnings, *item.extra_warnings]
        occurred_at = _occurred_at(parsed, warnings, now)
        rows = addresses[index]
        matched = []
        participants = []
        for role, email, name in rows:
            contact = None if email in own else contacts.get(email)
            participants.append((role, email, name, contact))
            if contact is not None and contact not in matched:
                matched.append(contact)
        sender_email = parsed.sender.email.lower() if parsed.sender else ""
        sender_contact = None if sender_email in own else contacts.get(sender_email)
        contact = sender_contact or (matched[0] if matched else None)
        organization = organizations.get(contact.pk) if contact else None

        thread: EmailThread | int | None = None
        deal_id = None
        for pointer in pointers[index]:
            if pointer in batch_threads:
                thread = batch_threads[pointer]
                break
            row = known_messages.get(pointer)
            if row and row["thread_id"]:
                thread = row["thread_id"]
                break
        if thread is None:
            thread = EmailThread(
                subject=_thread_subject(parsed.subject), last_message_at=occurred_at
            )
            new_threads.append(thread)
        if isinstance(thread, int):
            deal_id = thread_deals.get(thread)
        else:
            deal_id = deal_of_new_thread.get(id(thread))
        batch_threads[_bare_id(message_id)] = thread

        # A reply to one of our own messages: the one it answers directly.
        answered = _bare_id(parsed.in_reply_to or (parsed.references or [""])[-1])
        row = known_messages.get(answered)
        if row and row["direction"] == MessageDirection.OUTBOUND:
            replied[row["pk"]] = min(replied.get(row["pk"], occurred_at), occurred_at)
            answers[index] = row["pk"]
            deal_id = deal_id or row["deal_id"]

        if matched:
            triage = TriageState.FILED
        elif (
            parsed.delivery_report is not None
            or parsed.is_auto_reply
            or parsed.list_unsubscribe
            or is_ignored(sender_email, patterns)
        ):
            triage = TriageState.IGNORED
        else:
            triage = TriageState.PENDING
        reply_to = parsed.reply_to[0].email if parsed.reply_to else ""
        message = EmailMessage(
            mailbox=mailbox,
            direction=MessageDirection.INBOUND,
            status=MessageStatus.RECEIVED,
            message_id=message_id,
            in_reply_to=parsed.in_reply_to[:500],
            references=list(parsed.references),
            from_address=sender_email[:254],
            from_name=(parsed.sender.name if parsed.sender else "")[:200],
            to=[{"name": a.name, "email": a.email} for a in parsed.to],
            cc=[{"name": a.name, "email": a.email} for a in parsed.cc],
            reply_to=reply_to[:254],
            subject=parsed.subject[:998],
            text_body=parsed.text,
            visible_text=parsed.visible_text,
            quoted_text=parsed.quoted_text,
            html_body=parsed.html_raw,
            occurred_at=occurred_at,
            warnings=warnings,
            contact=contact,
            organization=organization,
            deal_id=deal_id,
            triage_state=triage,
            imap_folder=folder[:200],
            imap_uid=item.uid,
        )
        if isinstance(thread, int):
            message.thread_id = thread
        else:
            thread_of_new[index] = thread
            if deal_id and id(thread) not in deal_of_new_thread:
                deal_of_new_thread[id(thread)] = deal_id
        messages.append((index, item, message))
        participants_of[index] = participants
        matched_of[index] = matched

    # New threads are counted before they are written; existing ones get an update each.
    for index, _item, message in messages:
        thread = thread_of_new.get(index)
        if thread is not None:
            thread.message_count += 1
            thread.last_message_at = max(thread.last_message_at, message.occurred_at)
    if new_threads:
        EmailThread.objects.bulk_create(new_threads)
    for index, _item, message in messages:
        if index in thread_of_new:
            message.thread = thread_of_new[index]
    EmailMessage.objects.bulk_create([message for _, _, message in messages])
    Participant.objects.bulk_create(
        [
            Participant(message=message, role=role, email=email, name=name, contact=contact)
            for index, _item, message in messages
            for role, email, name, contact in participants_of[index]
        ],
        batch_size=500,
    )
    _store_attachments(messages)
    _count_in_threads([message for index, _, message in messages if index not in thread_of_new])
    for pk, when in replied.items():
        EmailMessage.objects.filter(pk=pk, replied_at__isnull=True).update(replied_at=when)
    for _index, item, message in messages:
        if item.parsed.delivery_report is not None:
            _record_bounce(item.parsed, message)
    _put_on_timelines(
        [(message, matched_of[index]) for index, _item, message in messages], organizations
    )
    for index, _item, message in messages:
        results[index] = message
    emit_many(
        [
            EmailReceived(message_id=m.pk, mailbox_id=mailbox.pk, contact_id=m.contact_id)
            for _, _, m in messages
        ]
        + [
            EmailReplied(message_id=m.pk, replied_to_id=answers[i], contact_id=m.contact_id)
            for i, _, m in messages
            if i in answers
        ]
    )
    return results


def _attachment_name(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip().lstrip(".")
    name = default_storage.get_valid_name(name) if name else ""
    if not name or name in {"", "_"}:
        name = "attachment"
    stem, ext = os.path.splitext(name)
    return f"{stem[:100]}{ext[:20]}"


def _store_attachments(messages) -> None:
    """Save each accepted attachment under the media root; refused ones keep their reason and
    no file."""
    rows = []
    for _index, item, message in messages:
        for part in item.parsed.attachments:
            attachment = Attachment(
                message=message,
                filename=(part.filename or "attachment")[:255],
                content_type=(part.content_type or "application/octet-stream")[:255],
                size=part.size,
                content_id=(part.content_id or "")[:255],
                is_inline=part.is_inline,
                refused_reason=(part.refused_reason or "")[:300],
            )
            if not part.refused_reason:
                path = f"mail/attachments/{message.uuid}/{_attachment_name(part.filename)}"
                attachment.file.name = default_storage.save(path, ContentFile(part.payload))
            rows.append(attachment)
    if rows:
        Attachment.objects.bulk_create(rows)


def _count_in_threads(messages) -> None:
    """Add `messages` to the counts of the threads they joined, which already existed."""
    per_thread: dict[int, list[dt.datetime]] = defaultdict(list)
    for message in messages:
        per_thread[message.thread_id].append(message.occurred_at)
    # A batch of replies joins dozens of older conversations: one UPDATE per chunk of them, in
    # plain SQL because Django builds a CASE of a hundred WHENs forty times slower than one
    # UPDATE per thread. Same effect as F("message_count") + n and Greatest(Coalesce(...)).
    table = connection.ops.quote_name(EmailThread._meta.db_table)
    pk = connection.ops.quote_name(EmailThread._meta.pk.column)
    count = connection.ops.quote_name(EmailThread._meta.get_field("message_count").column)
    latest = connection.ops.quote_name(EmailThread._meta.get_field("last_message_at").column)
    adapt = connection.ops.adapt_datetimefield_value
    # Seven parameters a thread, so a statement stays under SQLite's oldest limit of 999.
    for chunk in _chunks(sorted(per_thread), 120):
        cases = " ".join(["WHEN %s THEN %s"] * len(chunk))
        added = [value for thread in chunk for value in (thread, len(per_thread[thread]))]
        newest = [value for thread in chunk for value in (thread, adapt(max(per_thread[thread])))]
        # Only quoted column names and placeholders are put into the text.
        sql = (
            f"UPDATE {table} SET {count} = {count} + (CASE {pk} {cases} ELSE 0 END), "  # noqa: S608
            f"{latest} = CASE WHEN {latest} IS NULL OR {latest} < (CASE {pk} {cases} END) "
            f"THEN (CASE {pk} {cases} END) ELSE {latest} END "
            f"WHERE {pk} IN ({', '.join(['%s'] * len(chunk))})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*added, *newest, *newest, *chunk])


def _record_bounce(parsed: ParsedMessage, report_message: EmailMessage) -> None:
    """A delivery report (`report_message`, as filed): the failed addresses are bouncing, and
    the message it reports on says why it did not arrive."""
    from rapport.interactions.services import set_delivery_outcome
    from rapport.mail import tracking
    from rapport.mail.sending import timeline_ids

    report = parsed.delivery_report
    detail = (report.diagnostic or report.status or "The receiving server refused it.")[:500]
    for email in report.failed_recipients:
        tracking.mark_bouncing(email=email, detail=detail, message=report_message)
    if report.original_message_id:
        originals = EmailMessage.objects.filter(
            direction=MessageDirection.OUTBOUND,
            message_id__in=_id_forms([report.original_message_id]),
        )
        for original in originals:
            EmailMessage.objects.filter(pk=original.pk).update(
                last_error=f"Bounced: {detail}"[:500]
            )
            set_delivery_outcome(external_ids=timeline_ids(original), outcome="bounced")


def _put_on_timelines(filed: list, organizations: dict) -> None:
    """One timeline entry per contact each (message, contacts) of `filed` concerns (the
    system's, not a person's), written for the whole batch at once."""
    from rapport.interactions.services import log_interactions

    log_interactions(
        entries=[
            dict(
                actor=None,
                kind="email",
                contact=contact,
                organization=organizations.get(contact.pk),
                occurred_at=message.occurred_at,
                channel="email",
                direction="inbound",
                subject=(message.subject or "(no subject)")[:TIMELINE_SUBJECT_LIMIT],
                body=message.visible_text[:TIMELINE_BODY_LIMIT],
                outcome="received",
                external_id=f"mail:{message.uuid}:{contact.pk}",
            )
            for message, contacts in filed
            for contact in contacts
        ]
    )


# --- triage ----------------------------------------------------------------------------------


def _require_triage(actor, message: EmailMessage) -> None:
    """The actor may use the message's mailbox, and the message's triage state is read afresh
    (another user may have filed it a moment ago)."""
    message.refresh_from_db(fields=["triage_state", "contact", "organization"])
    if message.mailbox_id is None or not (
        Mailbox.objects.usable_by(actor).filter(pk=message.mailbox_id).exists()
    ):
        raise PermissionDenied("Only those who may use this message's mailbox may triage it.")
    if message.direction != MessageDirection.INBOUND:
        raise ValidationError({"message": ["Only received mail is triaged."]})


@transaction.atomic
def triage_create_contact(*, actor, message: EmailMessage, first_name: str, last_name: str = ""):
    """Create the contact the sender of `message` is, then file that message and every other
    message waiting in triage from the same address on the new contact's timeline. When a
    contact with that address appeared meanwhile, the mail is filed on it instead."""
    from rapport.contacts.services import create_contact

    _require_triage(actor, message)
    if message.triage_state == TriageState.FILED:
        raise ValidationError({"message": ["This message is already filed."]})
    email = (message.from_address or "").lower()
    if not email:
        raise ValidationError({"message": ["This message has no sender address to keep."]})
    existing = _contacts_by_email({email}).get(email)
    if existing is not None:
        # Someone made the contact since this message arrived: file on it, never a duplicate.
        from rapport.contacts.models import Contact

        if not Contact.objects.visible_to(actor).filter(pk=existing.pk).exists():
            raise ValidationError(
                {"message": [f"{email} already belongs to a contact outside your access."]}
            )
        contact = existing
    else:
        contact = create_contact(
            actor=actor,
            first_name=(first_name or "").strip(),
            last_name=(last_name or "").strip(),
            emails=[{"email": email, "is_primary": True}],
            owner=actor,
        )
    # Only mail in mailboxes the actor may use: another person's mailbox is theirs to triage.
    waiting = EmailMessage.objects.filter(
        direction=MessageDirection.INBOUND,
        triage_state__in=[TriageState.PENDING, TriageState.IGNORED],
        from_address=email,
        mailbox__in=Mailbox.objects.usable_by(actor),
    ).filter(Q(pk=message.pk) | Q(triage_state=TriageState.PENDING))
    organizations = _primary_organizations([contact])
    filed = []
    for pending in waiting.select_for_update():
        pending.contact = contact
        pending.organization = organizations.get(contact.pk)
        pending.triage_state = TriageState.FILED
        pending.save(update_fields=["contact", "organization", "triage_state", "updated_at"])
        pending.participants.filter(email=email).update(contact=contact)
        filed.append((pending, [contact]))
    _put_on_timelines(filed, organizations)
    return contact


@transaction.atomic
def triage_ignore(*, actor, message: EmailMessage) -> EmailMessage:
    """Set one message aside: it leaves the triage inbox and files nowhere."""
    _require_triage(actor, message)
    if message.triage_state == TriageState.FILED:
        raise ValidationError({"message": ["This message is already filed."]})
    before = snapshot(message, ["triage_state"])
    message.triage_state = TriageState.IGNORED
    message.save(update_fields=["triage_state", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=message,
        before=before,
        after=snapshot(message, ["triage_state"]),
    )
    return message


def triage_ignore_sender(*, actor, message: EmailMessage, whole_domain: bool = True):
    """Always ignore mail from the sender of `message` in its mailbox (see
    `rapport.mail.ignoring.ignore_sender`, which also sets a pattern for every mailbox)."""
    return ignore_sender(actor=actor, message=message, whole_domain=whole_domain)
