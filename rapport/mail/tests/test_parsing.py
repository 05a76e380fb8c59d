"""parse_message on messages built with the stdlib and on hand-written (often broken) raw bytes."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.mail import parsing
from rapport.mail.parsing import (
    INTERNAL_ERROR_WARNING,
    Address,
    DeliveryReport,
    ParsedMessage,
    parse_message,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _message(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Ana Silva <ana@example.com>")
    message["To"] = headers.pop("To", "bob@example.org")
    message["Subject"] = headers.pop("Subject", "Quarterly review")
    message["Message-ID"] = headers.pop("Message_ID", "<m1@example.com>")
    message["Date"] = headers.pop("Date", "Mon, 07 Dec 2026 09:30:00 +0100")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message


def _raw(*lines: str | bytes, body: bytes = b"") -> bytes:
    head = b"\r\n".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    return head + b"\r\n\r\n" + body


def test_multipart_alternative_uses_the_plain_part_and_keeps_the_html():
    message = _message()
    message.set_content("Hello Bob,\n\nThe figures are attached.\n")
    message.add_alternative(
        "<p>Hello <b>Bob</b>,</p><p>The figures are attached.</p>", subtype="html"
    )

    parsed = parse_message(message.as_bytes())

    assert parsed.text == "Hello Bob,\n\nThe figures are attached.\n"
    assert parsed.html_raw == "<p>Hello <b>Bob</b>,</p><p>The figures are attached.</p>\n"
    assert parsed.subject == "Quarterly review"
    assert parsed.message_id == "m1@example.com"
    assert parsed.sender == Address(name="Ana Silva", email="ana@example.com")
    assert parsed.to == [Address(name="", email="bob@example.org")]
    assert parsed.date == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert parsed.attachments == []
    assert parsed.delivery_report is None
    assert parsed.is_auto_reply is False
    assert parsed.warnings == []


def test_html_only_message_gets_its_text_from_the_html():
    message = _message()
    message.set_content("<html><body><p>Price list</p><p>Call us</p></body></html>", subtype="html")

    parsed = parse_message(message.as_bytes())

    assert parsed.html_raw == "<html><body><p>Price list</p><p>Call us</p></body></html>\n"
    assert parsed.text == "Price list\n\nCall us"
    assert parsed.visible_text == "Price list\n\nCall us"
    assert parsed.quoted_text == ""


def test_an_empty_plain_alternative_falls_back_to_the_html():
    message = _message()
    message.set_content("\n")
    message.add_alternative("<p>Only here</p>", subtype="html")

    assert parse_message(message.as_bytes()).text == "Only here"


def test_utf8_labelled_as_latin1_is_read_as_utf8_with_a_warning():
    raw = _raw(
        "From: a@example.com",
        "Message-ID: <c1@example.com>",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: 8bit",
        body="Café crème à Paris".encode(),
    )

    parsed = parse_message(raw)

    assert parsed.text == "Café crème à Paris"
    assert parsed.warnings == [
        "The text was declared as iso-8859-1 but is UTF-8; it was decoded as utf-8."
    ]


def test_latin1_labelled_as_utf8_is_guessed():
    raw = _raw(
        "From: a@example.com",
        "Message-ID: <c2@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        body="Grüße aus München, schöne Straße.".encode("latin-1"),
    )

    parsed = parse_message(raw)

    assert parsed.text == "Grüße aus München, schöne Straße."
    assert parsed.warnings == [
        "The text was not valid utf-8; the text was decoded as windows-1252."
    ]


def test_unknown_declared_charset_is_guessed():
    raw = _raw(
        "From: a@example.com",
        "Message-ID: <c3@example.com>",
        "Content-Type: text/plain; charset=x-unknown",
        body="Привет, как дела? Всё хорошо.".encode("koi8-r"),
    )

    parsed = parse_message(raw)

    assert parsed.text == "Привет, как дела? Всё хорошо."
    assert parsed.warnings == [
        "The declared charset 'x-unknown' is unknown; the text was decoded as koi8-r."
    ]


def test_missing_charset_with_an_8bit_body():
    raw = _raw(
        "From: a@example.com",
        "Message-ID: <c4@example.com>",
        "Content-Type: text/plain",
        body=b"Caf\xe9 cr\xe8me br\xfbl\xe9e, d\xe9j\xe0 vu.",
    )

    parsed = parse_message(raw)

    assert parsed.text == "Café crème brûlée, déjà vu."
    assert parsed.warnings == [
        "The text declared no charset; the text was decoded as windows-1252."
    ]


def test_missing_charset_with_valid_utf8_is_read_silently():
    raw = _raw("Message-ID: <c5@example.com>", body="Zażółć gęślą jaźń".encode())

    parsed = parse_message(raw)

    assert parsed.text == "Zażółć gęślą jaźń"
    assert parsed.warnings == []


def test_8bit_raw_headers_are_decoded():
    raw = _raw(
        "Message-ID: <h1@example.com>",
        "From: José Núñez <jose@example.com>".encode(),
        "Subject: Résumé et prix".encode(),
        b"To: M\xfcller <mueller@example.de>",
        "Content-Type: text/plain; charset=iso-8859-1",
        body=b"Gr\xfc\xdfe",
    )

    parsed = parse_message(raw)

    assert parsed.sender == Address(name="José Núñez", email="jose@example.com")
    assert parsed.subject == "Résumé et prix"
    assert parsed.to == [Address(name="Müller", email="mueller@example.de")]
    assert parsed.text == "Grüße"
    assert parsed.warnings == [
        "The To header had undeclared 8-bit characters; they were decoded as windows-1252."
    ]


def test_rfc2047_subjects_and_names():
    raw = _raw(
        "Message-ID: <e1@example.com>",
        "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.be>",
        "Subject: =?utf-8?B?w4lsbA==?=",
        "Content-Type: text/plain",
    )
    folded = _raw(
        "Message-ID: <e2@example.com>",
        # A UTF-8 character split across two encoded words, folded over two lines.
        "Subject: =?UTF-8?B?8J+O?=\r\n =?UTF-8?B?iSBEZWFs?= closed\r\n\tsoon",
    )
    unknown = _raw("Message-ID: <e3@example.com>", "Subject: =?x-bogus?Q?caf=E9?=")

    assert parse_message(raw).subject == "Éll"
    assert parse_message(raw).sender == Address(name="André Pirard", email="pirard@example.be")
    assert parse_message(folded).subject == "🎉 Deal closed soon"
    assert parse_message(unknown).subject == "café"
    assert parse_message(unknown).warnings == [
        "The declared charset 'x-bogus' is unknown; the Subject header was decoded as windows-1252."
    ]


def test_stdlib_encoded_subject_round_trips():
    message = _message(Subject="Ünïcödé — „Angebot“ 2026 " + "x" * 80)
    message.set_content("hi")

    assert parse_message(message.as_bytes()).subject == "Ünïcödé — „Angebot“ 2026 " + "x" * 80


def test_missing_message_id_gets_a_stable_synthetic_one():
    raw = _raw("From: a@example.com", "Subject: no id", body=b"hello")

    parsed = parse_message(raw)

    assert parsed.message_id == f"missing-{hashlib.sha256(raw).hexdigest()}@rapport.invalid"
    assert parse_message(raw).message_id == parsed.message_id
    assert parsed.warnings == ["This message has no Message-ID; Rapport gave it one of its own."]


def test_threading_headers():
    raw = _raw(
        "Message-ID:   <reply-3@mail.example.com> ",
        "In-Reply-To: <reply-2@mail.example.com> (Bob's message)",
        "References: <root@mail.example.com>\r\n <reply-1@mail.example.com>\r\n\t<reply-2@mail.example.com> <root@mail.example.com>",
    )

    parsed = parse_message(raw)

    assert parsed.message_id == "reply-3@mail.example.com"
    assert parsed.in_reply_to == "reply-2@mail.example.com"
    assert parsed.references == [
        "root@mail.example.com",
        "reply-1@mail.example.com",
        "reply-2@mail.example.com",
    ]


def test_references_without_brackets_and_very_long_chains():
    bare = _raw("Message-ID: x1@example.com", "References: a@example.com b@example.com")
    chain = " ".join(f"<r{index}@example.com>" for index in range(150))
    long = _raw("Message-ID: <x2@example.com>", f"References: {chain}")

    assert parse_message(bare).message_id == "x1@example.com"
    assert parse_message(bare).references == ["a@example.com", "b@example.com"]
    references = parse_message(long).references
    assert len(references) == 100
    assert references[0] == "r0@example.com"
    assert references[1] == "r51@example.com"
    assert references[-1] == "r149@example.com"


def test_a_thousand_recipients_are_all_kept():
    recipients = ", ".join(f"Person {index} <person{index}@example.com>" for index in range(1000))
    raw = _raw("Message-ID: <big@example.com>", f"To: {recipients}")

    parsed = parse_message(raw)

    assert len(parsed.to) == 1000
    assert parsed.to[999] == Address(name="Person 999", email="person999@example.com")
    assert parsed.warnings == []


def test_recipients_over_the_cap_are_left_out_with_a_count():
    recipients = ",".join(f"p{index}@example.com" for index in range(2300))
    raw = _raw("Message-ID: <huge@example.com>", f"Cc: {recipients}")

    parsed = parse_message(raw)

    assert len(parsed.cc) == 2000
    assert parsed.cc[-1] == Address(name="", email="p1999@example.com")
    assert parsed.warnings == [
        "Cc lists 2,300 addresses; only the first 2,000 were kept (300 left out)."
    ]


def test_addresses_are_lowercased_deduplicated_idn_readable_and_invalid_ones_dropped():
    raw = _raw(
        "Message-ID: <a@example.com>",
        "To: Bob <BOB@Example.ORG>, bob@example.org, not-an-address, Zoë <zoe@xn--bcher-kva.example>,"
        ' undisclosed-recipients:;, "Smith, Jo" <jo@bücher.example>',
        "Reply-To: <sales@example.com>",
    )

    parsed = parse_message(raw)

    assert parsed.to == [
        Address(name="Bob", email="bob@example.org"),
        Address(name="Zoë", email="zoe@bücher.example"),
        Address(name="Smith, Jo", email="jo@bücher.example"),
    ]
    assert parsed.reply_to == [Address(name="", email="sales@example.com")]
    assert parsed.warnings == [
        "The address 'not-an-address' in To could not be read and was left out."
    ]


def test_bad_and_odd_dates():
    bad = _raw("Message-ID: <d1@example.com>", "Date: the day after tomorrow")
    no_zone = _raw("Message-ID: <d2@example.com>", "Date: Tue, 1 Dec 2026 10:00:00 -0000")

    assert parse_message(bad).date is None
    assert parse_message(bad).warnings == ["The date 'the day after tomorrow' could not be read."]
    assert parse_message(no_zone).date == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _with_attachment(payload: bytes, filename: str, maintype: str, subtype: str) -> bytes:
    message = _message()
    message.set_content("See attached.")
    message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def test_an_ordinary_attachment_is_kept():
    parsed = parse_message(_with_attachment(PNG, "chart.png", "image", "png"))

    assert parsed.text == "See attached.\n"
    [attachment] = parsed.attachments
    assert attachment.filename == "chart.png"
    assert attachment.content_type == "image/png"
    assert attachment.size == len(PNG)
    assert attachment.payload == PNG
    assert attachment.is_inline is False
    assert attachment.refused_reason == ""


def test_an_attachment_over_the_limit_is_listed_without_its_payload():
    payload = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024)
    raw = _with_attachment(payload, "scan.pdf", "application", "pdf")

    parsed = parse_message(raw, max_attachment_bytes=2 * 1024 * 1024)

    [attachment] = parsed.attachments
    assert attachment.size == len(payload)
    assert attachment.payload == b""
    assert attachment.refused_reason == "This file is 3 MB, over the 2 MB limit for attachments."


def test_a_renamed_exe_is_refused():
    program = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
    as_png = parse_message(_with_attachment(program, "holiday.png", "image", "png"))
    as_octets = parse_message(
        _with_attachment(program, "invoice.txt", "application", "octet-stream")
    )
    by_name = parse_message(_with_attachment(PNG, "setup.exe", "image", "png"))
    pdf_as_png = parse_message(_with_attachment(b"%PDF-1.4 ...", "a.png", "image", "png"))

    assert (
        as_png.attachments[0].refused_reason
        == "The content does not match its declared type image/png."
    )
    assert as_png.attachments[0].payload == b""
    assert as_png.attachments[0].size == len(program)
    assert as_octets.attachments[0].refused_reason == (
        "This file is a program; programs are not accepted as attachments."
    )
    assert (
        by_name.attachments[0].refused_reason
        == "Programs (.exe files) are not accepted as attachments."
    )
    assert pdf_as_png.attachments[0].refused_reason == (
        "The content does not match its declared type image/png."
    )


def test_attachment_file_names_are_made_safe():
    raw = _raw(
        "Message-ID: <f@example.com>",
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
            b'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="..\\\\..\\\\windows\\\\evil\x07.pdf"\r\n\r\n%PDF-1.4\r\n'
            b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''%E2%80%AEfdp.exe\r\n\r\n%PDF-1.4\r\n"
            b'--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="=?utf-8?q?r=C3=A9sum=C3=A9_'
            + b"x"
            * 200
            + b'.png?="\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n'
            b"--b\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
            b"--b--\r\n"
        ),
    )

    parsed = parse_message(raw)

    assert parsed.text == "body"
    assert [a.filename for a in parsed.attachments] == [
        "evil .pdf",
        "fdp.exe",
        "résumé " + "x" * 139 + ".png",
        "attachment.png",
    ]
    assert (
        parsed.attachments[1].refused_reason
        == "Programs (.exe files) are not accepted as attachments."
    )
    assert parsed.attachments[2].payload == b"\x89PNG\r\n\x1a\n"
    assert (parsed.attachments[3].content_id, parsed.attachments[3].is_inline) == ("logo@x", True)


def test_an_attached_message_is_an_eml_attachment():
    inner = _message(Subject="Original offer", Message_ID="<inner@example.com>")
    inner.set_content("The original.")
    outer = _message(Subject="Fwd: Original offer")
    outer.set_content("Forwarding this.")
    outer.add_attachment(inner)

    parsed = parse_message(outer.as_bytes())

    assert parsed.text == "Forwarding this.\n"
    [attachment] = parsed.attachments
    assert attachment.filename == "Original offer.eml"
    assert attachment.content_type == "message/rfc822"
    assert b"Message-ID: <inner@example.com>" in attachment.payload
    assert attachment.refused_reason == ""


def _dsn(original_part: bytes | None = None) -> bytes:
    original_part = original_part or (
        b"Content-Type: text/rfc822-headers\r\n\r\n"
        b"From: ana@example.com\r\nTo: ghost@example.org\r\nSubject: Offer\r\n"
        b"Message-ID: <offer-42@rapport.example>\r\n"
    )
    return _raw(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>",
        "To: ana@example.com",
        "Subject: Undelivered Mail Returned to Sender",
        "Message-ID: <bounce-1@mx.example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"',
        body=(
            b"--R\r\nContent-Type: text/plain\r\n\r\n"
            b"I'm sorry to have to inform you that your message could not be delivered.\r\n"
            b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.com\r\n"
            b"\r\n"
            b"Final-Recipient: rfc822; Ghost@Example.org\r\n"
            b"Original-Recipient: rfc822;ghost@example.org\r\n"
            b"Action: failed\r\n"
            b"Status: 5.1.1\r\n"
            b"Diagnostic-Code: smtp; 550 5.1.1 <ghost@example.org>: Recipient address\r\n"
            b"    rejected: User unknown\r\n"
            b"\r\n"
            b"Final-Recipient: rfc822; slow@example.org\r\n"
            b"Action: delayed\r\n"
            b"Status: 4.4.1\r\n"
            b"\r\n--R\r\n" + original_part + b"\r\n--R--\r\n"
        ),
    )


def test_a_delivery_status_notification():
    parsed = parse_message(_dsn())

    assert parsed.delivery_report == DeliveryReport(
        failed_recipients=["ghost@example.org"],
        status="5.1.1",
        diagnostic="550 5.1.1 <ghost@example.org>: Recipient address rejected: User unknown",
        original_message_id="offer-42@rapport.example",
    )
    assert parsed.is_auto_reply is True
    assert (
        parsed.text == "I'm sorry to have to inform you that your message could not be delivered."
    )


def test_a_dsn_carrying_the_whole_original_message():
    original = _message(Message_ID="<offer-7@rapport.example>")
    original.set_content("Our offer.")
    raw = _dsn(b"Content-Type: message/rfc822\r\n\r\n" + original.as_bytes())

    assert parse_message(raw).delivery_report.original_message_id == "offer-7@rapport.example"


def test_a_non_standard_bounce_with_x_failed_recipients():
    raw = _raw(
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>",
        "Message-ID: <b2@mx.example.net>",
        "X-Failed-Recipients: lost@example.net",
        "Subject: Mail delivery failed: returning message to sender",
        body=(
            b"This message was created automatically by mail delivery software.\r\n\r\n"
            b"------ This is a copy of the message, including all the headers. ------\r\n"
            b"Message-ID: <offer-9@rapport.example>\r\nSubject: Offer\r\n"
        ),
    )

    assert parse_message(raw).delivery_report == DeliveryReport(
        failed_recipients=["lost@example.net"],
        status="",
        diagnostic="",
        original_message_id="offer-9@rapport.example",
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: no", False),
        ("X-Autoreply: yes", True),
        ("Precedence: bulk", True),
        ("Precedence: auto_reply", True),
        ("Precedence: list", False),
        ("X-Mailer: Outlook", False),
    ],
)
def test_auto_replies(header: str, expected: bool):
    raw = _raw(
        "Message-ID: <o@example.com>", "Subject: Out of office", header, body=b"Back Monday."
    )

    assert parse_message(raw).is_auto_reply is expected


def test_list_unsubscribe_is_kept_unfolded():
    raw = _raw(
        "Message-ID: <l@example.com>",
        "List-Unsubscribe: <mailto:leave@lists.example.com>,\r\n <https://lists.example.com/u/1>",
    )

    assert parse_message(raw).list_unsubscribe == (
        "<mailto:leave@lists.example.com>, <https://lists.example.com/u/1>"
    )


def test_gmail_style_quoted_reply_is_folded():
    text = (
        "Yes, Thursday works for me.\n"
        "\n"
        "On Mon, Dec 7, 2026 at 9:30 AM Ana Silva <ana@example.com>\n"
        "wrote:\n"
        "> Can we meet on Thursday?\n"
        ">\n"
        "> Ana\n"
    )
    message = _message()
    message.set_content(text)

    parsed = parse_message(message.as_bytes())

    assert parsed.text == text
    assert parsed.visible_text == "Yes, Thursday works for me."
    assert parsed.quoted_text == text.removeprefix("Yes, Thursday works for me.")


def test_outlook_style_quoted_reply_and_signature_are_folded():
    text = (
        "Thanks, the contract is signed.\n"
        "\n"
        "--\n"
        "Bob Jones, Acme\n"
        "\n"
        "-----Original Message-----\n"
        "From: Ana Silva <ana@example.com>\n"
        "Sent: Monday, December 7, 2026 9:30 AM\n"
        "To: Bob Jones <bob@example.org>\n"
        "Subject: Contract\n"
        "\n"
        "Please sign the contract.\n"
    )
    message = _message()
    message.set_content(text)

    parsed = parse_message(message.as_bytes())

    assert parsed.visible_text == "Thanks, the contract is signed."
    assert parsed.visible_text + parsed.quoted_text == parsed.text == text


def test_a_message_that_is_only_a_quote_stays_visible():
    message = _message()
    message.set_content("> forwarded words\n> more\n")

    parsed = parse_message(message.as_bytes())

    assert (parsed.visible_text, parsed.quoted_text) == ("> forwarded words\n> more\n", "")


def test_a_body_over_2_mb_is_truncated():
    message = _message()
    message.set_content("a" * (2 * 1024 * 1024 + 10))

    parsed = parse_message(message.as_bytes())

    assert len(parsed.text) == 2 * 1024 * 1024
    assert parsed.warnings == [
        "The text of this message is longer than 2 MB; only the first 2 MB were kept."
    ]


def test_deep_nesting_is_capped():
    body = b""
    for level in range(40):
        body += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
    body += b"Content-Type: text/plain\r\n\r\ntoo deep\r\n"
    raw = b"Message-ID: <deep@example.com>\r\n" + body

    parsed = parse_message(raw)

    assert parsed.text == ""
    assert parsed.warnings == ["Parts nested more than 20 levels deep were left out."]


def test_nesting_too_deep_for_the_stdlib_parser_still_gives_the_headers():
    inner = b"Content-Type: text/plain\r\n\r\nhi\r\n"
    for _ in range(3000):
        inner = b"Content-Type: message/rfc822\r\n\r\nSubject: x\r\n" + inner
    raw = b"Message-ID: <rr@example.com>\r\nSubject: Nested\r\n" + inner

    parsed = parse_message(raw)

    assert (parsed.message_id, parsed.subject) == ("rr@example.com", "Nested")
    assert parsed.warnings == [
        "This message is nested too deeply to be read in full; only its headers were read."
    ]


def test_too_many_parts_are_capped():
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain\r\n\r\np%d\r\n" % index for index in range(600)
    )
    raw = _raw(
        "Message-ID: <many@example.com>",
        'Content-Type: multipart/mixed; boundary="b"',
        body=parts + b"--b--",
    )

    parsed = parse_message(raw)

    assert parsed.text.splitlines()[-1] == "p498"
    assert parsed.warnings == ["This message has more than 500 parts; the rest were left out."]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe\x00garbage\xff",
        b"Subject: =?utf-8?B?####?=\r\nFrom: <<<@@@>>>\r\nDate: 99 Foo 99999 99:99\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b'Content-Type: text/plain; charset="utf-16"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64',
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n\xff\xfe\r\n--x",
        b"From: a@example.com\r\nTo: \xff\xfe@\xff.com\r\nSubject: \x00\r\nContent-Type: text/html\r\n\r\n<p>\x00</p>",
    ],
)
def test_garbage_never_raises(raw: bytes):
    parsed = parse_message(raw)

    assert isinstance(parsed, ParsedMessage)
    assert INTERNAL_ERROR_WARNING not in parsed.warnings
    assert parsed.message_id == f"missing-{hashlib.sha256(raw).hexdigest()}@rapport.invalid"


def test_non_bytes_is_a_type_error():
    with pytest.raises(TypeError, match="raw must be bytes, not str"):
        parse_message("From: a@example.com")  # type: ignore[arg-type]


def _assert_storable(parsed: ParsedMessage) -> None:
    strings = [parsed.message_id, parsed.in_reply_to, parsed.subject, parsed.text, parsed.html_raw]
    strings += parsed.references + parsed.warnings
    strings += [
        part
        for address in parsed.to + parsed.cc + parsed.reply_to
        for part in (address.name, address.email)
    ]
    strings += [attachment.filename for attachment in parsed.attachments]
    for value in strings:
        assert "\x00" not in value
        value.encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_parse_message_never_raises_on_arbitrary_bytes(raw: bytes):
    parsed = parse_message(raw)

    assert INTERNAL_ERROR_WARNING not in parsed.warnings
    assert parsed.visible_text + parsed.quoted_text == parsed.text
    _assert_storable(parsed)


_HEADER_LINES = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=zz\r\n",
        b"Content-Type: multipart/alternative; boundary=zz\r\n",
        b"Content-Type: text/plain; charset=x-bogus\r\n",
        b"Content-Type: text/html; charset=utf-8\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=zz\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''%FF%00a.exe\r\n",
        b"Subject: =?utf-8?q?=FF=00?= \xe9\r\n",
        b"From: =?iso-8859-1?q?=E9?= <x@xn--zz.com>, @@, <>\r\n",
        b"Date: Fri, 31 Dec 9999 23:59:59 -1200\r\n",
        b"\r\n",
        b"--zz\r\n",
        b"--zz--\r\n",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_HEADER_LINES, st.binary(max_size=40)), max_size=40))
def test_parse_message_never_raises_on_mime_shaped_noise(lines: list[bytes]):
    parsed = parse_message(b"".join(lines))

    assert INTERNAL_ERROR_WARNING not in parsed.warnings
    assert parsed.visible_text + parsed.quoted_text == parsed.text
    _assert_storable(parsed)


def test_a_quote_header_with_backslashes_is_folded():
    text = "Done.\n\nOn Mon, Dec 7, 2026, C:\\Temp\\1 Admin <admin@example.com>\nwrote:\n> path?\n"
    message = _message()
    message.set_content(text)

    parsed = parse_message(message.as_bytes())

    assert (parsed.visible_text, parsed.quoted_text) == ("Done.", text.removeprefix("Done."))


def test_folding_does_not_backtrack_on_many_ons():
    # email_reply_parser's own quote-header regex took 27 s on 7,000 characters of this.
    text = "On it. " * 20_000 + "\n\nOn Mon, Ana <ana@example.com> wrote:\n> hi\n"
    message = _message()
    message.set_content(text)

    started = time.monotonic()
    parsed = parse_message(message.as_bytes())

    assert time.monotonic() - started < 5
    assert parsed.visible_text == ("On it. " * 20_000).rstrip()


def test_a_multipart_without_boundary_is_shown_as_text():
    raw = _raw(
        "Message-ID: <nb@example.com>",
        "Content-Type: multipart/alternative",
        body=b"Hello there\r\n",
    )

    parsed = parse_message(raw)

    assert parsed.text == "Hello there\n"
    assert parsed.warnings == [
        "The structure of this message is broken; it is shown as plain text."
    ]


def test_a_utf8_byte_order_mark_is_not_part_of_the_text():
    raw = _raw(
        "Message-ID: <bom@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        body="\ufeffHallo".encode(),
    )

    assert parse_message(raw).text == "Hallo"


_ADDRESS_PIECES = st.sampled_from(
    ["Person 5", "a", "B9", " ", "  ", "_", "+", "-", ".", "@", "<", ">", ",", "x@y.example",
     "ex-1.org", "a.b", '"', "(c)", "é", ";", ":"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(_ADDRESS_PIECES, min_size=1, max_size=12))
def test_address_headers_read_as_the_stdlib_reads_them(pieces: list[str]):
    text = "".join(pieces)
    plain = parsing._plain_addresses(text)

    # The shortcut for plain headers must agree with (lenient) getaddresses wherever it answers.
    if plain is not None:
        lenient = {"strict": False} if parsing._GETADDRESSES_HAS_STRICT else {}
        assert plain == getaddresses([text], **lenient)


def test_a_plain_address_list_is_read_without_the_stdlib():
    text = "Person 1 <p1@c1.example>, p2@c2.example"

    assert parsing._plain_addresses(text) == [("Person 1", "p1@c1.example"), ("", "p2@c2.example")]
    assert parsing._plain_addresses('"Doe, J" <j@x.example>') is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["word", " ", "\n", "\t", "\u00a0", "> quoted", "On Mon, A wrote:",
                                 "-- ", "Sent from my phone", "\n\n", "__________"]), max_size=60))  # fmt: skip
def test_folding_splits_the_text_where_the_old_character_count_did(pieces: list[str]):
    text = "".join(pieces)

    visible, quoted = parsing._fold_reply(text)

    assert visible + quoted == text
    fragments = parsing._ReplyReader(text).read().fragments
    trailing = 0
    for fragment in reversed(fragments):
        if not fragment.hidden:
            break
        trailing += 1
    if quoted:
        kept = "".join(f.content for f in fragments[: len(fragments) - trailing])
        # The visible text holds exactly the non-space characters of the kept fragments.
        assert sum(not c.isspace() for c in visible) == sum(not c.isspace() for c in kept)
        assert not visible[-1].isspace()
