"""Mail sync: the initial sync of a mailbox of 10,000 messages from a real Dovecot, beside bare
imapclient fetching the same messages in the same run, then an incremental sync of 100 new ones.

1. Starts a private Dovecot (rapport.mail.tests.servers, Debian's dovecot-imapd) and APPENDs N
   small realistic messages (default 10,000): mostly from the seeded contacts, some from
   strangers (left in triage), some replies (threaded), some with an HTML part, a quoted reply
   and a signature, a few with an attachment.
2. Baseline: bare imapclient reads the same folder the way the sync does (EXAMINE, UID SEARCH,
   RFC822.SIZE, UID FETCH BODY.PEEK[] in batches of 200) and keeps the bytes. Run once to warm
   the server's caches, then timed.
3. Rapport: `receiving.sync_mailbox` on a fresh SQLite database with the contacts seeded:
   parsing, matching, threading, filing, attachments and one timeline entry per matched
   contact. Messages per second and the ratio to the baseline (aim: at least 1/4).
4. APPENDs 100 more and times the incremental sync (aim: under 5 s).

    python benchmarks/run.py mail_sync                   # 10,000 messages
    python benchmarks/run.py mail_sync --messages 1000   # a quick run
    python benchmarks/run.py mail_sync --messages 2000 --profile var/bench/sync.prof

Runs in a database of its own: var/bench/mail_sync.sqlite3 (made afresh each run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
BENCH_DIR = REPO_ROOT / "var" / "bench"
sys.path.insert(0, str(HERE))

import seed as seeding  # noqa: E402

AIM_RATIO = 0.25
AIM_INCREMENTAL_SECONDS = 5.0
FETCH_BATCH = 200
CONTACTS = 400
OUR_ADDRESS = "sales@rapport.test"

WORDS = [
    "proposal",
    "quote",
    "renewal",
    "invoice",
    "meeting",
    "contract",
    "pricing",
    "delivery",
    "schedule",
    "team",
    "budget",
    "review",
    "order",
    "support",
    "question",
    "update",
    "thanks",
    "license",
    "trial",
    "onboarding",
    "feedback",
    "call",
    "next",
    "week",
    "monday",
    "friday",
    "attached",
    "numbers",
    "forecast",
    "discount",
    "volume",
    "project",
    "timeline",
]


def configure() -> str:
    """Its own fresh database: SQLite under var/bench/, or DATABASE_URL's name + "_mail_sync"."""
    return seeding.configure_own("mail_sync")


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def contact_address(number: int) -> str:
    return f"person{number}@customer{number % 40}.example"


class MessageMaker:
    """Small messages as a sales mailbox receives them; replies point at earlier ones."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.count = 0
        self.sent_ids: list[tuple[str, str]] = []

    def make(self) -> bytes:
        rng = self.rng
        self.count += 1
        number = self.count
        message = MimeMessage()
        if rng.random() < 0.75:
            who = rng.randrange(CONTACTS)
            message["From"] = f"Person {who} <{contact_address(who)}>"
        else:
            message["From"] = f"Stranger {number} <stranger{number}@elsewhere{number % 97}.example>"
        message["To"] = f"Sales <{OUR_ADDRESS}>"
        if rng.random() < 0.2:
            other = rng.randrange(CONTACTS)
            message["Cc"] = f"Person {other} <{contact_address(other)}>"
        message_id = f"<bench-{number}@customer.example>"
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        subject = _sentence(rng, 4)[:-1]
        quoted = ""
        if self.sent_ids and rng.random() < 0.3:
            parent_id, parent_subject = rng.choice(self.sent_ids[-200:])
            message["In-Reply-To"] = parent_id
            message["References"] = parent_id
            subject = f"Re: {parent_subject}"
            quoted = "\n\nOn Monday, Sales wrote:\n> " + "\n> ".join(
                _sentence(rng, 12) for _ in range(4)
            )
        message["Subject"] = subject
        body = "\n\n".join(_sentence(rng, rng.randint(10, 40)) for _ in range(rng.randint(1, 4)))
        text = f"Hello,\n\n{body}{quoted}\n\n-- \nPerson\nCustomer Ltd\n"
        message.set_content(text)
        if rng.random() < 0.4:
            paragraphs = "".join(f"<p>{part}</p>" for part in body.split("\n\n"))
            message.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
        if rng.random() < 0.03:
            message.add_attachment(
                ("\n".join(_sentence(rng, 8) for _ in range(20))).encode(),
                maintype="text",
                subtype="plain",
                filename=f"notes-{number}.txt",
            )
        self.sent_ids.append((message_id, subject))
        return bytes(message)


def append_messages(server, account, maker: MessageMaker, count: int) -> float:
    client = server.client(account.username, account.password)
    started = time.perf_counter()
    try:
        # MULTIAPPEND (RFC 3502): hundreds of messages per command, as a migration tool would.
        for start in range(0, count, 500):
            client.multiappend("INBOX", [maker.make() for _ in range(min(500, count - start))])
    finally:
        client.logout()
    return time.perf_counter() - started


def bare_fetch(server, account, keep: list | None = None) -> tuple[int, int, float]:
    """(messages, bytes, seconds) of reading the whole INBOX with bare imapclient; the bytes are
    appended to `keep` when given."""
    started = time.perf_counter()
    client = server.client(account.username, account.password)
    messages = total = 0
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["UID", "1:*"]))
        sizes = {}
        for start in range(0, len(uids), 2000):
            sizes.update(client.fetch(uids[start : start + 2000], ["RFC822.SIZE"]))
        for start in range(0, len(uids), FETCH_BATCH):
            fetched = client.fetch(uids[start : start + FETCH_BATCH], ["BODY.PEEK[]"])
            for data in fetched.values():
                messages += 1
                total += len(data[b"BODY[]"])
                if keep is not None:
                    keep.append(data[b"BODY[]"])
    finally:
        client.logout()
    return messages, total, time.perf_counter() - started


def seed_contacts() -> None:
    from rapport.contacts.services import create_contact

    for number in range(CONTACTS):
        create_contact(
            actor=None,
            first_name="Person",
            last_name=str(number),
            emails=[contact_address(number)],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--incremental", type=int, default=100)
    parser.add_argument(
        "--profile", metavar="PATH", help="run the initial sync under cProfile, stats to PATH"
    )
    args, _unknown = parser.parse_known_args(argv)

    sys.path.insert(0, str(REPO_ROOT))
    from rapport.mail.tests.servers import DOVECOT_BINARY, Dovecot

    if not os.access(DOVECOT_BINARY, os.X_OK):
        print(f"{DOVECOT_BINARY} is missing: install Debian's dovecot-imapd to run this benchmark")
        return 1
    configure()
    from django.db import connection

    from rapport.interactions.models import Interaction
    from rapport.mail import receiving
    from rapport.mail.mailboxes import create_mailbox
    from rapport.mail.models import EmailMessage, EmailThread

    server = Dovecot().start()
    try:
        account = server.account()
        maker = MessageMaker()
        seconds = append_messages(server, account, maker, args.messages)
        print(f"appended {args.messages:,} messages to Dovecot in {seconds:.1f} s")

        raws: list[bytes] = []
        bare_fetch(server, account, keep=raws)  # warms the server's caches for both runs
        bare_messages, bare_bytes, bare_seconds = bare_fetch(server, account)
        bare_rate = bare_messages / bare_seconds
        print(
            f"bare imapclient: {bare_messages:,} messages ({bare_bytes / 1_048_576:.1f} MB) in "
            f"{bare_seconds:.2f} s, {bare_rate:,.0f} messages/s"
        )

        # Where the time goes: parsing alone (rapport.mail.parsing) bounds the sync's speed.
        from rapport.mail.parsing import parse_message

        started = time.perf_counter()
        for raw in raws:
            parse_message(raw)
        parse_seconds = time.perf_counter() - started
        print(
            f"parse_message alone over the same messages: {len(raws) / parse_seconds:,.0f} messages/s "
            f"({parse_seconds * 1000 / max(len(raws), 1):.2f} ms a message)"
        )
        del raws

        seed_contacts()
        mailbox = create_mailbox(
            actor=None,
            kind="shared",
            name="Sales",
            email_address=OUR_ADDRESS,
            imap_host=server.host,
            imap_port=server.port,
            imap_security="none",
            imap_username=account.username,
            imap_password=account.password,
            check=False,
        )
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        report = receiving.sync_mailbox(mailbox=mailbox)
        sync_seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
            print(f"profile of the initial sync written to {args.profile} (timed under cProfile)")
        if report.failure or report.errors:
            print(f"the sync reported: {report.failure or report.errors[:5]}")
        rate = report.filed / sync_seconds if sync_seconds else 0.0
        ratio = rate / bare_rate if bare_rate else 0.0
        print(
            f"Rapport initial sync ({connection.vendor}): {report.filed:,} filed "
            f"({report.triaged:,} to triage, {report.skipped:,} skipped, "
            f"{len(report.errors)} errors) in {sync_seconds:.2f} s, {rate:,.0f} messages/s"
        )
        print(
            f"  {ratio:.2f} of bare imapclient's speed (aim ≥ {AIM_RATIO}); "
            f"{EmailThread.objects.count():,} threads, "
            f"{Interaction.objects.filter(kind='email').count():,} timeline entries"
        )

        seconds = append_messages(server, account, maker, args.incremental)
        started = time.perf_counter()
        incremental = receiving.sync_mailbox(mailbox=mailbox)
        incremental_seconds = time.perf_counter() - started
        print(
            f"incremental sync of {args.incremental} new messages: {incremental.filed} filed in "
            f"{incremental_seconds:.2f} s (aim < {AIM_INCREMENTAL_SECONDS:.0f} s)"
        )
        total = EmailMessage.objects.count()
        complete = total == args.messages + args.incremental
        print(f"  {total:,} messages stored, {'none' if complete else 'SOME'} missing or doubled")
        aims = [
            ("initial sync ≥ 1/4 of bare imapclient", ratio >= AIM_RATIO),
            ("incremental sync of 100 < 5 s", incremental_seconds < AIM_INCREMENTAL_SECONDS),
            ("every message filed once", complete),
        ]
        for label, met in aims:
            print(f"  aim {label}: {'met' if met else 'NOT met'}")
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
