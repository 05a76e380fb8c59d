"""The demo's mail: the shared mailbox on the local sink, the team's templates, and the last
weeks of mail with a few dozen contacts, built through the mail services.

Received mail is filed the way the IMAP sync files it (`receiving.file_message` with RFC 5322
bytes from the contact's own address), so it lands on the timelines, threads join by
In-Reply-To, and mail from senders nobody knows waits in the triage inbox. Today's answers are
written with `sending.send_email` like any user's and delivered by the worker's own `deliver`
into the local sink (Mail → Delivered here): the part runs the sink `rapport serve` starts,
for as long as it sends. Opens and clicks are recorded through the tracking service with each
message's own signed links, as a recipient's mail client would, and a few recipients answer.
When no sink can listen on its port, the answers stay in the outbox for the worker and nobody
opens or answers them.

Mail goes out only to contacts whose email consent is granted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, formataddr
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import resolve
from django.utils import timezone

from rapport.contacts.models import Consent, Contact, Membership
from rapport.demo import vocabulary as words
from rapport.demo.context import DemoContext
from rapport.mail import mailboxes, receiving, sending, templating, tracking
from rapport.mail.choices import MessagePurpose, MessageStatus
from rapport.mail.models import EmailMessage, EmailTemplate, Mailbox

MAILBOX_ADDRESS = f"hello@{words.STAFF_DOMAIN}"
MAILBOX_FROM = "Brightwave Solutions"
SIGNATURE = "Brightwave Solutions · licences, implementation, support and training"
TRAINING_URL = f"https://{words.STAFF_DOMAIN}/training"
# How many contacts write to the team, and how many of them did in the last days (answered today).
CORRESPONDENTS = 36
ANSWERED_TODAY = 12
INVITED = 8
# Chances that a recipient's mail client loads the pixel, follows the link, answers.
OPEN_SHARE = 0.7
CLICK_SHARE = 0.4
REPLY_SHARE = 0.5

TEMPLATES = {
    "licences": {
        "name": "Licence quote",
        "subject": (
            "Your Brightwave licence quote{% if organization.name %} for "
            "{{ organization.name }}{% endif %}"
        ),
        "body_html": (
            '<p>Hello {{ contact.first_name|default("there") }},</p>'
            "<p>thank you for asking. Extra seats come at the list price less the volume "
            'discount {{ organization.name|default("you") }} already has, for the rest of the '
            "current licence year. I have put the figures into a quote, and "
            '{{ owner.full_name|default("your account manager") }} will walk you through it '
            "on a short call this week.</p>"
            "<p>Kind regards,<br>{{ sender.name }}</p>"
        ),
        "purpose": MessagePurpose.PERSONAL,
    },
    "implementation": {
        "name": "Implementation kick-off",
        "subject": "Kick-off for your Brightwave rollout",
        "body_html": (
            '<p>Hello {{ contact.first_name|default("there") }},</p>'
            "<p>thank you for choosing Brightwave. Our implementation team plans the rollout "
            "with you in a one-hour kick-off call: who needs access first, which data we "
            "import, and when the training days fit. Please reply with two or three times "
            'next week that suit {{ organization.name|default("you") }}.</p>'
            "<p>Best regards,<br>{{ sender.name }}</p>"
        ),
        "purpose": MessagePurpose.PERSONAL,
    },
    "support": {
        "name": "Support: we are on it",
        "subject": "We are on it: your support request",
        "body_html": (
            '<p>Hello {{ contact.first_name|default("there") }},</p>'
            "<p>thank you for the details. A support engineer has your request and answers "
            "within one working day (four hours with Premium support). If it gets worse in "
            "the meantime, reply to this email: it reaches the whole team.</p>"
            "<p>{{ sender.name }}</p>"
        ),
        "purpose": MessagePurpose.PERSONAL,
    },
    "training": {
        "name": "Training days invitation",
        "subject": (
            "Brightwave training days{% if contact.city %} near {{ contact.city }}{% endif %}"
        ),
        "body_html": (
            '<p>Hello {{ contact.first_name|default("there") }},</p>'
            '<p>new colleagues at {{ organization.name|default("your company") }}? Our '
            "training days cover Brightwave Desk, Helpdesk and Rooms, one day each, on site "
            "or remote. Dates and booking: "
            f'<a href="{TRAINING_URL}">{words.STAFF_DOMAIN}/training</a>.</p>'
            "<p>See you there,<br>{{ sender.name }}</p>"
        ),
        "purpose": MessagePurpose.MARKETING,
    },
}

# What customers write about: (topic, subject, first message, reminder, thanks for our answer).
# The answer to each topic is the template of the same key ("renewal" is answered as licences).
TOPICS = [
    (
        "licences",
        "{n} more {product} licences",
        "Hello,\n\nwe are taking on new people and need {n} more {product} licences before "
        "the end of the month. Could you send us a quote with the discount we have today?\n\n"
        "Thanks,\n{first}",
        "Hello again,\n\na short reminder about the quote below: our budget meeting is on "
        "Thursday.\n\n{first}",
        "Thank you, that works for us. Please go ahead with the order.\n\n{first}",
    ),
    (
        "renewal",
        "Renewal of our {product} licences",
        "Hello,\n\nour {product} licences run out at the end of next month. Before we renew: "
        "can we drop {n} seats we no longer use, and what would the price be then?\n\n"
        "Kind regards,\n{first}",
        "Hello,\n\nany news on this? Our purchasing department asks for the figures.\n\n{first}",
        "Thanks, the new figures are fine. Please send the renewal.\n\n{first}",
    ),
    (
        "implementation",
        "Rollout of {product} at {company}",
        "Hi,\n\nthe contract is signed and we would like to start the rollout of {product} "
        "across our {n} offices. Who plans the implementation with us, and what does our IT "
        "need to prepare?\n\nBest regards,\n{first}\n{title}, {company}",
        "Hi,\n\nour IT asks whether the rollout can start before the holidays. Could you let "
        "us know?\n\n{first}",
        "Thanks! Tuesday at 10:00 or Wednesday afternoon would suit us.\n\n{first}",
    ),
    (
        "support",
        "{product}: {problem}",
        "Hello support,\n\nsince yesterday {product} {problem_sentence}. It affects about {n} "
        "colleagues. Can you help?\n\n{first}\n{title}, {company}",
        "Hello,\n\nthe problem is still there this morning. Is anyone looking at it?\n\n{first}",
        "It works again, thank you for the quick help.\n\n{first}",
    ),
]
PROBLEMS = [
    ("sync stops after the update", "stops syncing a few minutes after the update"),
    ("nobody can sign in", "refuses every sign-in with 'session expired'"),
    ("reports show last week", "shows last week's figures in every report"),
    ("bookings disappear", "loses room bookings made on the phone app"),
]
TRAINING_ANSWER = (
    "Hello,\n\nplease book two places on the remote Desk day for our new colleagues.\n\n{first}"
)
# Mail from people no contact has: it waits in the triage inbox for someone to decide.
UNKNOWN_SENDERS = [
    (
        "Tomás Novák",
        "t.novak@nordhavn-logistik.example",
        "Price list for 80 Desk seats",
        "Hello,\n\nwe met your team at the Web Summit in Lisbon. Could you send me your price "
        "list for about 80 Brightwave Desk seats?\n\nTomás Novák\nHead of IT, Nordhavn Logistik",
    ),
    (
        "Ines Carvalho",
        "ines.carvalho@atelier-luz.example",
        "Question about a trial",
        "Good morning,\n\nis there a trial of Brightwave Rooms for a studio with four meeting "
        "rooms? We would like to test it in May.\n\nInes Carvalho",
    ),
    (
        "Alder Consulting",
        "partners@alder-consulting.example",
        "Becoming a Brightwave reseller",
        "Hello,\n\nwe implement helpdesk tools for mid-size companies in Austria and would like "
        "to resell Brightwave Helpdesk. Who can we talk to about the partner programme?\n\n"
        "Markus Eder, Alder Consulting",
    ),
    (
        "IT Expo Nordic",
        "events@itexpo-nordic.example",
        "Exhibitor space at IT Expo Nordic",
        "Dear Brightwave team,\n\na few booths are still free at IT Expo Nordic in Malmö this "
        "autumn. Shall we send you the floor plan and prices?\n\nThe IT Expo Nordic events team",
    ),
]


def build(ctx: DemoContext) -> None:
    """The mailbox, the templates, the received history, today's answers and invitations."""
    mailbox = _mailbox(ctx)
    templates = _templates(ctx)
    chosen, granted = _correspondents(ctx)
    organizations = _organizations([contact.pk for contact in chosen])
    recent = _receive_history(ctx, mailbox, chosen, granted, organizations)
    _receive_from_strangers(ctx, mailbox)
    answers = _answer(ctx, mailbox, templates, recent)
    invitations = _invite(ctx, mailbox, templates["training"], granted, chosen)
    outbound = answers + invitations
    with _local_sink() as listening:
        sent = _deliver(outbound) if listening else []
    if not listening:
        ctx.say(
            f"  no mail sink could listen on port {settings.RAPPORT_MAIL_SINK_PORT}: "
            f"{len(outbound)} messages wait in the outbox for the worker"
        )
    replies = _recipients_act(ctx, mailbox, sent, recent)
    ctx.say(
        f"  mail: {len(templates)} templates, {len(chosen)} correspondents, "
        f"{len(outbound)} sent today ({len(sent)} delivered to the sink), {replies} answers"
    )


# -- the mailbox and the templates -------------------------------------------------------------


def _mailbox(ctx: DemoContext) -> Mailbox:
    """Rapport's own shared mailbox on the local sink, wearing Brightwave's sending identity."""
    mailbox = mailboxes.local_sink_mailbox()
    if mailbox.email_address != MAILBOX_ADDRESS:
        mailbox = mailboxes.update_mailbox(
            actor=ctx.admin,
            mailbox=mailbox,
            check=False,
            email_address=MAILBOX_ADDRESS,
            from_name=MAILBOX_FROM,
            signature=SIGNATURE,
        )
    return mailbox


def _templates(ctx: DemoContext) -> dict[str, EmailTemplate]:
    made = {}
    for key, spec in TEMPLATES.items():
        existing = EmailTemplate.objects.filter(name=spec["name"], owner__isnull=True).first()
        made[key] = existing or templating.create_template(actor=ctx.admin, shared=True, **spec)
    return made


# -- who writes --------------------------------------------------------------------------------


def _correspondents(ctx: DemoContext) -> tuple[list[Contact], set[int]]:
    """A few dozen contacts with an address (one each), and the ids of every demo contact
    whose email consent is granted: only those get mail from the team."""
    with_address = [c for c in ctx.contacts if c.primary_email and not c.is_archived]
    ids = [c.pk for c in with_address]
    granted: set[int] = set()
    for start in range(0, len(ids), 900):
        granted.update(
            Consent.objects.filter(
                contact_id__in=ids[start : start + 900], channel="email", status="granted"
            ).values_list("contact_id", flat=True)
        )
    count = min(CORRESPONDENTS, len(with_address))
    chosen = ctx.rng.sample(with_address, count)
    # One address, one person: a planted duplicate would make two of them write the same mail.
    seen: set[str] = set()
    unique = []
    for contact in chosen:
        if contact.primary_email.lower() not in seen:
            seen.add(contact.primary_email.lower())
            unique.append(contact)
    return unique, granted


def _organizations(contact_ids: list[int]) -> dict[int, str]:
    return dict(
        Membership.objects.filter(contact_id__in=contact_ids, is_primary=True).values_list(
            "contact_id", "organization__name"
        )
    )


# -- received mail -----------------------------------------------------------------------------


def _message_id(ctx: DemoContext, domain: str) -> str:
    return f"<{ctx.rng.getrandbits(64):016x}.{ctx.rng.getrandbits(32):08x}@{domain}>"


def _raw(
    *,
    sender: tuple[str, str],
    to: str,
    subject: str,
    body: str,
    at: dt.datetime,
    message_id: str,
    answers: tuple[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """An RFC 5322 message as a mail client writes it; `answers` is (In-Reply-To, References)."""
    message = MimeMessage()
    message["From"] = formataddr(sender)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(at)
    message["Message-ID"] = message_id
    if answers is not None:
        # Rapport keeps its own Message-IDs bare; a header carries them in angle brackets.
        in_reply_to, *references = [f"<{value.strip('<>')}>" for value in (answers[0], *answers[1])]
        message["In-Reply-To"] = in_reply_to
        message["References"] = " ".join([*references, in_reply_to])
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def _topic_text(ctx: DemoContext, contact: Contact, company: str) -> dict:
    topic, subject, first, reminder, thanks = ctx.rng.choice(TOPICS)
    problem, problem_sentence = ctx.rng.choice(PROBLEMS)
    fill = {
        "n": ctx.rng.choice([3, 5, 8, 12, 20, 25, 40]),
        "product": ctx.rng.choice(words.PRODUCTS),
        "company": company or "our company",
        "first": contact.first_name or contact.full_name,
        "title": contact.job_title or "IT",
        "problem": problem,
        "problem_sentence": problem_sentence,
    }
    return {
        "topic": "licences" if topic == "renewal" else topic,
        "subject": subject.format(**fill),
        "first": first.format(**fill),
        "reminder": reminder.format(**fill),
        "thanks": thanks.format(**fill),
    }


def _receive_history(ctx, mailbox, chosen, granted, organizations) -> list[dict]:
    """Each correspondent writes once, some write again below their own message (a reminder).
    Returns the conversations of the last days from contacts with consent: today's to answer."""
    domain_of = {c.pk: c.primary_email.rsplit("@", 1)[-1] for c in chosen}
    fresh = [c for c in chosen if c.pk in granted][:ANSWERED_TODAY]
    fresh_ids = {c.pk for c in fresh}
    recent = []
    with ctx.progress("Mail received", len(chosen)) as advance:
        for contact in chosen:
            text = _topic_text(ctx, contact, organizations.get(contact.pk, ""))
            if contact.pk in fresh_ids:
                at = ctx.moment(days_ago_max=3, days_ago_min=0.1)
            else:
                at = ctx.moment(days_ago_max=120, days_ago_min=4)
            sender = (contact.full_name, contact.primary_email)
            first_id = _message_id(ctx, domain_of[contact.pk])
            last = receiving.file_message(
                mailbox=mailbox,
                raw=_raw(
                    sender=sender,
                    to=mailbox.sender_display,
                    subject=text["subject"],
                    body=text["first"],
                    at=at,
                    message_id=first_id,
                ),
            )
            if last is not None and ctx.rng.random() < 0.35:
                later = ctx.moment_after(at, 4)
                reminder = receiving.file_message(
                    mailbox=mailbox,
                    raw=_raw(
                        sender=sender,
                        to=mailbox.sender_display,
                        subject=f"Re: {text['subject']}",
                        body=f"{text['reminder']}\n\n{_quoted(text['first'])}",
                        at=later,
                        message_id=_message_id(ctx, domain_of[contact.pk]),
                        answers=(first_id, []),
                    ),
                )
                last = reminder or last
            if last is not None and contact.pk in fresh_ids:
                recent.append({"contact": contact, "message": last, "text": text})
            advance(1)
    return recent


def _receive_from_strangers(ctx: DemoContext, mailbox: Mailbox) -> None:
    """Mail from people no contact has (triage), and a newsletter triage sets aside itself."""
    for name, address, subject, body in UNKNOWN_SENDERS:
        receiving.file_message(
            mailbox=mailbox,
            raw=_raw(
                sender=(name, address),
                to=mailbox.sender_display,
                subject=subject,
                body=body,
                at=ctx.moment(days_ago_max=6, days_ago_min=0.1),
                message_id=_message_id(ctx, address.rsplit("@", 1)[-1]),
            ),
        )
    receiving.file_message(
        mailbox=mailbox,
        raw=_raw(
            sender=("SaaS Weekly", "news@saas-weekly.example"),
            to=mailbox.sender_display,
            subject="SaaS Weekly: pricing pages that convert",
            body="This week: five pricing pages that convert, and why annual plans win.",
            at=ctx.moment(days_ago_max=7, days_ago_min=1),
            message_id=_message_id(ctx, "saas-weekly.example"),
            headers={"List-Unsubscribe": "<mailto:leave@saas-weekly.example>"},
        ),
    )


# -- sent mail ---------------------------------------------------------------------------------


def _sender(ctx: DemoContext, contact: Contact):
    """The contact's owner answers half the time (when they may write), the demo login the rest,
    so the demo login's Sent tab has mail in it."""
    owners = {user.pk: user for user in ctx.users if not user.is_read_only}
    owner = owners.get(contact.owner_id)
    return owner if owner is not None and ctx.rng.random() < 0.5 else ctx.admin


def _answer(ctx, mailbox, templates, recent) -> list[EmailMessage]:
    """Today's answers to the last days' mail, from the topic's template, the original quoted."""
    answers = []
    for conversation in recent:
        contact, original = conversation["contact"], conversation["message"]
        template = templates[conversation["text"]["topic"]]
        actor = _sender(ctx, contact)
        reply = sending.reply_defaults(actor=actor, message=original, mode="reply")
        message = sending.send_email(
            actor=actor,
            mailbox=mailbox,
            to=reply["to"],
            subject=reply["subject"],
            body_html=template.body_html + reply["body_html"],
            contact=contact,
            template=template,
            reply_to_message=original,
        )
        conversation["answer"] = message
        answers.append(message)
    return answers


def _invite(ctx, mailbox, template, granted, chosen) -> list[EmailMessage]:
    """The training days invitation (marketing mail) to a few customers who agreed to hear
    from us and are not in today's conversations."""
    taken = {c.pk for c in chosen}
    customers = [
        c
        for c in ctx.contacts
        if c.pk in granted
        and c.pk not in taken
        and c.primary_email
        and not c.is_archived
        and c.lifecycle_stage in ("customer", "loyal", "advocate")
    ]
    invited = []
    for contact in ctx.rng.sample(customers, min(INVITED, len(customers))):
        invited.append(
            sending.send_email(
                actor=ctx.admin,
                mailbox=mailbox,
                to=[contact.primary_email],
                subject=template.subject,
                body_html=template.body_html,
                contact=contact,
                template=template,
                purpose=MessagePurpose.MARKETING,
            )
        )
    return invited


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def _local_sink() -> Iterator[bool]:
    """True while a mail sink listens on RAPPORT_MAIL_SINK_PORT: one `rapport serve` already
    runs, or the same sink started here in a thread until the block ends."""
    from rapport.mail.sink import run_sink

    port = settings.RAPPORT_MAIL_SINK_PORT
    if _port_open(port):
        yield True
        return
    stop, ready = threading.Event(), threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):  # the port was taken meanwhile: nothing listens
            run_sink("127.0.0.1", port, settings.RAPPORT_MAIL_SINK_DIR, stop=stop, ready=ready)

    # aiosmtpd logs every SMTP command at INFO: a line per command would bury the progress.
    smtp_log = logging.getLogger("mail.log")
    level = smtp_log.level
    smtp_log.setLevel(logging.WARNING)
    thread = threading.Thread(target=serve, name="demo-mail-sink", daemon=True)
    thread.start()
    while thread.is_alive() and not ready.wait(0.05):
        pass
    try:
        yield ready.is_set()
    finally:
        stop.set()
        thread.join(timeout=5)
        smtp_log.setLevel(level)


def _deliver(outbound: list[EmailMessage]) -> list[EmailMessage]:
    """Deliver each message as the worker does; those the sink accepted, read again."""
    for message in outbound:
        sending.deliver(message.pk)
    return list(
        EmailMessage.objects.filter(
            pk__in=[m.pk for m in outbound], status=MessageStatus.SENT
        ).order_by("pk")
    )


# -- what recipients do ------------------------------------------------------------------------


def _token(url: str) -> str:
    return resolve(urlsplit(url).path).kwargs["token"]


def _wait_past(moment: dt.datetime) -> None:
    """A Date header carries whole seconds: wait (under a second) until the second after
    `moment` has begun, so an answer dated now is neither before what it answers nor ahead of
    the clock."""
    delay = (
        moment.replace(microsecond=0) + dt.timedelta(seconds=1) - timezone.now()
    ).total_seconds()
    if delay > 0:
        time.sleep(delay)


def _recipients_act(ctx, mailbox, sent, recent) -> int:
    """Recipients open some of the delivered mail, follow the invitation's link, and answer a
    few; each through the same service the public links and the IMAP sync call."""
    by_answer = {c["answer"].pk: c for c in recent if "answer" in c}
    replies = clicks = 0
    if sent:
        _wait_past(max(message.occurred_at for message in sent))
    for message in sent:
        if ctx.rng.random() >= OPEN_SHARE:
            continue
        tracking.record_open(_token(tracking.pixel_url(message)), user_agent="Mozilla/5.0")
        if message.purpose == MessagePurpose.MARKETING:
            # The first reader of the invitation follows its link, whatever the draw: the
            # story shows a click however the random numbers fall.
            if clicks == 0 or ctx.rng.random() < CLICK_SHARE:
                clicks += 1
                tracking.follow_click(
                    _token(tracking.click_url(message, TRAINING_URL)), user_agent="Mozilla/5.0"
                )
                if replies == 0 or ctx.rng.random() < REPLY_SHARE:
                    first = message.contact.first_name or message.contact.full_name
                    replies += _reply(ctx, mailbox, message, TRAINING_ANSWER.format(first=first))
            continue
        conversation = by_answer.get(message.pk)
        if conversation is not None and ctx.rng.random() < REPLY_SHARE:
            replies += _reply(ctx, mailbox, message, conversation["text"]["thanks"])
    return replies


def _reply(ctx: DemoContext, mailbox: Mailbox, message: EmailMessage, body: str) -> int:
    contact = message.contact
    filed = receiving.file_message(
        mailbox=mailbox,
        raw=_raw(
            sender=(contact.full_name, contact.primary_email),
            to=mailbox.sender_display,
            subject=f"Re: {message.subject}",
            body=body,
            at=timezone.now().replace(microsecond=0),
            message_id=_message_id(ctx, contact.primary_email.rsplit("@", 1)[-1]),
            answers=(message.message_id, list(message.references or [])),
        ),
    )
    return int(filed is not None)
