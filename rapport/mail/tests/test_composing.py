import email
from datetime import UTC, datetime
from email import policy

import pytest

from rapport.mail.composing import (
    HeaderProblem,
    OutgoingEmail,
    add_tracking,
    build_mime,
    envelope_recipients,
    make_message_id,
    validate_addresses,
)
from rapport.mail.rendering import render_email

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def outgoing(**changes) -> OutgoingEmail:
    values = {
        "message_id": "3f2b9c1e-0000-4000-8000-000000000001@mail.example.com",
        "from_address": "olle@example.com",
        "from_name": "Olle Ek",
        "to": ["anna@example.org"],
        "subject": "Your renewal",
        "html": "<html><body><p>Hi Anna</p></body></html>",
        "text": "Hi Anna",
    }
    values.update(changes)
    return OutgoingEmail(**values)


def header_lines(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.split("\r\n")


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)


# -- message ids ----------------------------------------------------------------------------------


def test_message_id_is_stable_for_the_same_unique():
    first = make_message_id(
        unique="3f2b9c1e-0000-4000-8000-000000000001", domain="Mail.Example.COM"
    )
    again = make_message_id(
        unique="3f2b9c1e-0000-4000-8000-000000000001", domain="mail.example.com"
    )

    assert first == again == "3f2b9c1e-0000-4000-8000-000000000001@mail.example.com"


@pytest.mark.parametrize(
    ("unique", "domain", "message"),
    [
        (
            "abc",
            "localhost",
            "The Message-ID domain 'localhost' is not valid: the domain 'localhost' is not a valid domain name.",
        ),
        (
            "abc",
            "exa mple.com",
            "The Message-ID domain 'exa mple.com' is not valid: the domain 'exa mple.com' is not a valid domain name.",
        ),
        ("a b", "example.com", "'a b' cannot be used as the unique part of a Message-ID."),
        (
            "a>\r\nBcc: x",
            "example.com",
            "'a>\r\nBcc: x' cannot be used as the unique part of a Message-ID.",
        ),
    ],
)
def test_message_id_refuses_bad_parts(unique, domain, message):
    with pytest.raises(HeaderProblem) as problem:
        make_message_id(unique=unique, domain=domain)

    assert problem.value.field == "message_id"
    assert problem.value.message == message


# -- addresses ------------------------------------------------------------------------------------


def test_validate_addresses_cleans_dedupes_and_explains():
    clean, errors = validate_addresses(
        [
            "Anna@Example.ORG",
            " anna@example.org ",
            "",
            "Bob Berg <bob@Example.com>",
            "jörg@Bücher.de",
            "no-at-sign",
            "two@@example.com",
            "carl@",
            "a b@example.com",
            "dora@localhost",
            ".dot@example.com",
        ],
        field="cc",
    )

    assert clean == ["Anna@example.org", "bob@example.com", "jörg@xn--bcher-kva.de"]
    assert errors == [
        "The address 'no-at-sign' in cc is not valid: an address needs exactly one '@'.",
        "The address 'two@@example.com' in cc is not valid: it has more than one '@'.",
        "The address 'carl@' in cc is not valid: there is no domain after the '@'.",
        "The address 'a b@example.com' in cc is not valid: the part before the '@' contains characters an address cannot have.",
        "The address 'dora@localhost' in cc is not valid: the domain 'localhost' is not a valid domain name.",
        "The address '.dot@example.com' in cc is not valid: the part before the '@' has a misplaced dot.",
    ]


def test_validate_addresses_limit():
    clean, errors = validate_addresses([f"p{n}@example.com" for n in range(4)], field="to", limit=3)

    assert clean == ["p0@example.com", "p1@example.com", "p2@example.com"]
    assert errors == ["to has 4 addresses; at most 3 are allowed."]


def test_validate_addresses_refuses_line_breaks():
    clean, errors = validate_addresses(["anna@example.org\r\nBcc: evil@example.com"], field="to")

    assert clean == []
    assert errors == [
        "The address 'anna@example.org\r\nBcc: evil@example.com' in to is not valid: it contains a line break."
    ]


def test_envelope_recipients_dedupes_across_to_cc_bcc():
    message = outgoing(
        to=["anna@example.org", "bob@example.com"],
        cc=["ANNA@example.org", "carl@example.com"],
        bcc=["boss@example.com", "bob@example.com"],
    )

    assert envelope_recipients(message) == [
        "anna@example.org",
        "bob@example.com",
        "carl@example.com",
        "boss@example.com",
    ]


# -- build_mime -----------------------------------------------------------------------------------


def test_headers_of_a_reply_with_unsubscribe_and_bcc():
    message = outgoing(
        cc=["carl@example.com"],
        bcc=["boss@example.com"],
        reply_to="sales@example.com",
        in_reply_to="<original@mail.example.org>",
        references=["root@mail.example.org", "<original@mail.example.org>"],
        list_unsubscribe_url="https://crm.example.com/mail/unsubscribe/abc123",
        list_unsubscribe_mailto="unsubscribe@example.com",
        headers={"X-Rapport-Message": "42"},
    )

    raw = build_mime(message, now=NOW).as_bytes()
    lines = header_lines(raw)

    assert lines[:14] == [
        "From: Olle Ek <olle@example.com>",
        "To: anna@example.org",
        "Cc: carl@example.com",
        "Reply-To: sales@example.com",
        "Subject: Your renewal",
        "Date: Mon, 07 Dec 2026 09:30:00 +0000",
        "Message-ID: <3f2b9c1e-0000-4000-8000-000000000001@mail.example.com>",
        "In-Reply-To: <original@mail.example.org>",
        "References: <root@mail.example.org> <original@mail.example.org>",
        "List-Unsubscribe: <https://crm.example.com/mail/unsubscribe/abc123>,",
        " <mailto:unsubscribe@example.com>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "X-Rapport-Message: 42",
        "MIME-Version: 1.0",
    ]
    assert b"boss@example.com" not in raw
    assert b"Bcc" not in raw
    assert envelope_recipients(message) == [
        "anna@example.org",
        "carl@example.com",
        "boss@example.com",
    ]


def test_list_unsubscribe_long_url_is_never_encoded():
    url = "https://crm.example.com/mail/unsubscribe/" + "a1b2c3d4" * 20
    raw = build_mime(outgoing(list_unsubscribe_url=url), now=NOW).as_bytes()

    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in raw
    assert b"=?utf-8?" not in raw
    assert (
        parsed(build_mime(outgoing(list_unsubscribe_url=url), now=NOW))["List-Unsubscribe"]
        == f"<{url}>"
    )


def test_mailto_only_unsubscribe_has_no_one_click_header():
    raw = build_mime(
        outgoing(list_unsubscribe_mailto="mailto:unsub@example.com?subject=stop"), now=NOW
    ).as_bytes()

    assert "List-Unsubscribe: <mailto:unsub@example.com?subject=stop>" in header_lines(raw)
    assert b"List-Unsubscribe-Post" not in raw


def test_no_unsubscribe_headers_when_none_given():
    raw = build_mime(outgoing(), now=NOW).as_bytes()

    assert b"List-Unsubscribe" not in raw


def test_unsubscribe_url_must_be_https():
    with pytest.raises(HeaderProblem) as problem:
        build_mime(outgoing(list_unsubscribe_url="http://crm.example.com/u/1"), now=NOW)

    assert problem.value.field == "list_unsubscribe_url"
    assert (
        problem.value.message
        == "The unsubscribe link 'http://crm.example.com/u/1' must be a plain https:// URL."
    )


def test_multipart_alternative_text_then_html():
    message = parsed(build_mime(outgoing(), now=NOW))

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Hi Anna\r\n"
    assert parts[1].get_content() == "<html><body><p>Hi Anna</p></body></html>\r\n"


def test_text_made_from_html_when_missing():
    message = parsed(
        build_mime(
            outgoing(text="", html="<p>Hello <a href='https://x.example'>here</a></p>"), now=NOW
        )
    )

    assert (
        message.get_body(preferencelist=("plain",)).get_content()
        == "Hello here (https://x.example)\r\n"
    )


def test_attachments_make_multipart_mixed():
    message = parsed(
        build_mime(
            outgoing(attachments=[("Angebot März.pdf", "application/pdf", b"%PDF-1.7 test")]),
            now=NOW,
        )
    )

    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "Angebot März.pdf"
    assert attachment.get_content() == b"%PDF-1.7 test"
    assert "MIME-Version" not in attachment


def test_attachment_with_invalid_type_refused():
    with pytest.raises(HeaderProblem) as problem:
        build_mime(outgoing(attachments=[("a.txt", "text", b"x")]), now=NOW)

    assert problem.value.field == "attachments"
    assert problem.value.message == "The attachment 'a.txt' has an invalid type 'text'."


def test_display_names_with_comma_quotes_and_non_ascii_round_trip():
    raw = build_mime(outgoing(from_name='Åsa Öberg, "Sales" — Acme'), now=NOW).as_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)

    assert raw.isascii()  # encoded words, so any SMTP server takes it
    sender = message["From"].addresses[0]
    assert sender.display_name == 'Åsa Öberg, "Sales" — Acme'
    assert sender.addr_spec == "olle@example.com"


def test_non_ascii_address_round_trips_as_smtputf8():
    raw = build_mime(outgoing(from_name="Åsa", reply_to="åsa@example.com"), now=NOW).as_bytes()
    message = email.message_from_string(raw.decode("utf-8"), policy=policy.default)

    assert message["From"].addresses[0].display_name == "Åsa"
    assert message["Reply-To"].addresses[0].addr_spec == "åsa@example.com"


def test_ascii_name_with_comma_is_quoted():
    raw = build_mime(outgoing(from_name="Ek, Olle"), now=NOW).as_bytes()

    assert 'From: "Ek, Olle" <olle@example.com>' in header_lines(raw)


def test_policy_is_smtp_unless_an_address_needs_utf8():
    assert build_mime(outgoing(), now=NOW).policy.utf8 is False
    assert build_mime(outgoing(to=["jörg@example.de"]), now=NOW).policy.utf8 is True


def test_header_injection_through_a_merged_subject_is_neutralised():
    rendered = render_email(
        subject="Offer for {{ contact.first_name }}",
        body_html="<p>Hi</p>",
        context={"contact": {"first_name": "Anna\r\nBcc: evil@example.com"}},
    )
    raw = build_mime(
        outgoing(subject=rendered.subject, html=rendered.html, text=rendered.text), now=NOW
    ).as_bytes()
    lines = header_lines(raw)

    assert not [line for line in lines if line.lower().startswith("bcc")]
    assert [line for line in lines if line.startswith("Subject:")] == [
        "Subject: Offer for Anna Bcc: evil@example.com"
    ]
    assert envelope_recipients(outgoing(subject=rendered.subject)) == ["anna@example.org"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"from_name": "Olle\r\nBcc: evil@example.com"}, "from_name"),
        ({"subject": "Hi\r\nBcc: evil@example.com"}, "subject"),
        ({"subject": "Hi\nBcc: evil@example.com"}, "subject"),
        ({"to": ["anna@example.org\r\nBcc: evil@example.com"]}, "to"),
        ({"reply_to": "a@example.org\nBcc: evil@example.com"}, "reply_to"),
        ({"in_reply_to": "a@b\r\nBcc: evil@example.com"}, "in_reply_to"),
        ({"headers": {"X-Rapport-Message": "1\r\nBcc: evil@example.com"}}, "headers"),
    ],
)
def test_line_breaks_in_any_header_value_are_refused(changes, field):
    with pytest.raises(HeaderProblem) as problem:
        build_mime(outgoing(**changes), now=NOW)

    assert problem.value.field == field
    assert "line break" in problem.value.message


@pytest.mark.parametrize("name", ["Bcc", "From", "Subject", "Content-Type", "Bad Name", "X-Ok:"])
def test_extra_headers_cannot_replace_ours(name):
    with pytest.raises(HeaderProblem) as problem:
        build_mime(outgoing(headers={name: "x"}), now=NOW)

    assert problem.value.message == f"'{name}' cannot be added as an extra header."


def test_invalid_recipient_and_no_recipient_refused():
    with pytest.raises(HeaderProblem) as bad:
        build_mime(outgoing(cc=["not-an-address"]), now=NOW)
    with pytest.raises(HeaderProblem) as nobody:
        build_mime(outgoing(to=[]), now=NOW)

    assert (bad.value.field, bad.value.message) == (
        "cc",
        "The address 'not-an-address' in cc is not valid: an address needs exactly one '@'.",
    )
    assert (nobody.value.field, nobody.value.message) == ("to", "The email has no recipient.")


def test_bcc_only_message_has_no_to_header():
    raw = build_mime(outgoing(to=[], bcc=["hidden@example.com"]), now=NOW).as_bytes()

    assert b"hidden@example.com" not in raw
    assert not [line for line in header_lines(raw) if line.startswith(("To:", "Bcc:"))]


# -- tracking -------------------------------------------------------------------------------------


def click(url: str) -> str:
    return "https://t.example.com/c?u=" + url


def test_add_tracking_rewrites_http_links_only():
    html = (
        "<html><body>\n"
        '<p><a href="https://example.com/pricing?a=1&amp;b=2" class="cta">Prices</a>\n'
        "<A HREF='http://example.com/old'>Old</A>\n"
        '<a data-href="https://example.com/not" title="x > y" href=https://example.com/bare>Bare</a>\n'
        '<a href="mailto:anna@example.com">Mail</a> <a href="tel:+4612345">Call</a> '
        '<a href="#top">Top</a> <a name="x">anchor</a>\n'
        '<a href="https://crm.example.com/u/abc">Unsubscribe</a></p>\n'
        "</body></html>"
    )

    tracked = add_tracking(
        html,
        click_url=click,
        pixel_url="https://t.example.com/o/abc.gif?x=1&y=2",
        skip={"https://crm.example.com/u/abc"},
    )

    assert tracked == (
        "<html><body>\n"
        '<p><a href="https://t.example.com/c?u=https://example.com/pricing?a=1&amp;b=2" class="cta">Prices</a>\n'
        '<A href="https://t.example.com/c?u=http://example.com/old">Old</A>\n'
        '<a data-href="https://example.com/not" title="x > y" href="https://t.example.com/c?u=https://example.com/bare">Bare</a>\n'
        '<a href="mailto:anna@example.com">Mail</a> <a href="tel:+4612345">Call</a> '
        '<a href="#top">Top</a> <a name="x">anchor</a>\n'
        '<a href="https://crm.example.com/u/abc">Unsubscribe</a></p>\n'
        '<img src="https://t.example.com/o/abc.gif?x=1&amp;y=2" alt="" width="1" height="1"></body></html>'
    )


def test_add_tracking_passes_the_decoded_url_and_escapes_the_result():
    seen = []

    def recording(url):
        seen.append(url)
        return 'https://t.example.com/c?u="x"&v=1'

    tracked = add_tracking(
        '<a href="https://e.com/?a=1&amp;b=2">x</a>', click_url=recording, pixel_url="", skip=set()
    )

    assert seen == ["https://e.com/?a=1&b=2"]
    assert tracked == '<a href="https://t.example.com/c?u=&quot;x&quot;&amp;v=1">x</a>'


def test_add_tracking_without_body_appends_the_pixel():
    tracked = add_tracking(
        "<p>Hi</p>", click_url=click, pixel_url="https://t.example.com/o.gif", skip=set()
    )

    assert tracked == '<p>Hi</p><img src="https://t.example.com/o.gif" alt="" width="1" height="1">'
