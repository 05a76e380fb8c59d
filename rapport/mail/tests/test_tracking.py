"""Opens, clicks, one-click unsubscribe and who may be mailed: the public endpoints as a mail
client and a link scanner reach them, and the consent rules the sender meets.
"""

from email import policy
from email.parser import BytesParser
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Consent
from rapport.contacts.services import set_consent
from rapport.contacts.tests.factories import make_contact
from rapport.core import display
from rapport.mail import tracking
from rapport.mail.choices import MessagePurpose, SuppressionReason, TrackingKind
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.models import EmailMessage, SuppressedAddress, TrackingEvent
from rapport.mail.public_views import PIXEL_GIF
from rapport.mail.sending import send_email

PUBLIC = "https://crm.example.com"


@pytest.fixture(autouse=True)
def public_endpoints(settings):
    settings.ROOT_URLCONF = "rapport.mail.tests.urls_public"
    settings.RAPPORT_PUBLIC_URL = PUBLIC
    settings.RAPPORT_MAIL_DOMAIN = "mail.example.com"


@pytest.fixture
def mailbox(admin_user):
    # Nothing here is delivered (the tests do not run the commit's task), so no server is needed.
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales",
        email_address="sales@rapport.example",
        from_name="Sales team",
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        check=False,
    )


@pytest.fixture
def ada(owner):
    return make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@example.com"])


def grant_email_consent(actor, contact):
    set_consent(
        actor=actor,
        contact=contact,
        channel="email",
        status="granted",
        lawful_basis="consent",
        source="signup form",
    )


@pytest.fixture
def message(owner, mailbox, ada):
    return send_email(
        actor=owner,
        mailbox=mailbox,
        to=["ada@example.com"],
        subject="Our spring offer",
        body_html='<p>Hello, see <a href="https://example.com/offer?id=7&amp;x=1">the offer</a>.</p>',
        contact=ada,
    )


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/m/")
    return urlsplit(url).path


def tampered(token: str) -> str:
    value, signature = token.rsplit(":", 1)
    flipped = "A" if signature[0] != "A" else "B"
    return f"{value}:{flipped}{signature[1:]}"


# -- the pixel -----------------------------------------------------------------------------------


def test_the_pixel_counts_each_open_and_keeps_the_first_time(message):
    url = tracking.pixel_url(message)
    client = Client()

    first = client.get(path_of(url), HTTP_USER_AGENT="Thunderbird/128")
    message.refresh_from_db()
    first_opened_at = message.first_opened_at
    second = client.get(path_of(url))
    message.refresh_from_db()

    assert first.status_code == 200
    assert first["Content-Type"] == "image/gif"
    assert first.content == PIXEL_GIF
    assert len(first.content) == 43
    assert "no-store" in first["Cache-Control"]
    assert not first.cookies
    assert second.content == PIXEL_GIF
    assert message.open_count == 2
    assert first_opened_at is not None
    assert message.first_opened_at == first_opened_at
    events = list(TrackingEvent.objects.filter(message=message).order_by("occurred_at"))
    assert [event.kind for event in events] == [TrackingKind.OPEN, TrackingKind.OPEN]
    assert events[0].user_agent == "Thunderbird/128"


def sent_html(message) -> str:
    email = BytesParser(policy=policy.default).parsebytes(bytes(message.raw))
    return email.get_body(("html",)).get_content()


def test_the_sent_body_carries_the_pixel_but_the_stored_one_does_not(message):
    assert tracking.pixel_url(message) in sent_html(message)
    # Rapport shows what the sender wrote: viewing it must not count as an open or a click.
    assert "/m/" not in message.html_body
    assert 'href="https://example.com/offer?id=7&amp;x=1"' in message.html_body


def test_a_bad_pixel_token_still_answers_the_image_and_records_nothing(message):
    token = path_of(tracking.pixel_url(message)).split("/")[-1].removesuffix(".gif")
    client = Client()

    forged = client.get(reverse("mail_public:pixel", kwargs={"token": tampered(token)}))
    garbage = client.get(reverse("mail_public:pixel", kwargs={"token": "not-a-token"}))
    click_token = path_of(tracking.click_url(message, "https://example.com/")).split("/")[-1]
    wrong_kind = client.get(reverse("mail_public:pixel", kwargs={"token": click_token}))

    for response in (forged, garbage, wrong_kind):
        assert response.status_code == 200
        assert response.content == PIXEL_GIF
        assert "no-store" in response["Cache-Control"]
    message.refresh_from_db()
    assert message.open_count == 0
    assert message.first_opened_at is None
    assert not TrackingEvent.objects.exists()


def test_an_open_takes_two_writes_and_no_session(message, django_assert_max_num_queries):
    path = path_of(tracking.pixel_url(message))
    client = Client()

    with django_assert_max_num_queries(6) as captured:  # the savepoints of the test's transaction
        client.get(path)
    statements = [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].upper().startswith(("SAVEPOINT", "RELEASE"))
    ]

    assert len(statements) == 2
    assert statements[0].upper().startswith("UPDATE")
    assert statements[1].upper().startswith("INSERT")
    assert not any("django_session" in sql for sql in statements)


# -- clicks ----------------------------------------------------------------------------------------


def test_every_web_link_is_wrapped_and_redirects_to_its_own_url(message):
    client = Client()
    wrapped = tracking.click_url(message, "https://example.com/offer?id=7&x=1")
    assert "https://example.com/offer" not in sent_html(message)
    assert wrapped.replace("&", "&amp;") in sent_html(message)

    response = client.get(path_of(wrapped), HTTP_USER_AGENT="Mail/1.0")

    assert response.status_code == 302
    assert response["Location"] == "https://example.com/offer?id=7&x=1"
    assert response["Referrer-Policy"] == "no-referrer"
    message.refresh_from_db()
    assert message.click_count == 1
    assert message.first_clicked_at is not None
    event = TrackingEvent.objects.get(message=message)
    assert (event.kind, event.url, event.user_agent) == (
        TrackingKind.CLICK,
        "https://example.com/offer?id=7&x=1",
        "Mail/1.0",
    )


def test_a_click_token_cannot_be_bent_into_an_open_redirect(message):
    client = Client()
    token = path_of(tracking.click_url(message, "https://example.com/")).split("/")[-1]
    other = path_of(tracking.click_url(message, "https://evil.example/")).split("/")[-1]
    # The value of one token with the signature of another, and a plain forgery.
    spliced = f"{other.rsplit(':', 1)[0]}:{token.rsplit(':', 1)[1]}"
    pixel_token = path_of(tracking.pixel_url(message)).split("/")[-1].removesuffix(".gif")

    for bad in (spliced, tampered(token), "https%3A%2F%2Fevil.example", pixel_token):
        response = client.get(reverse("mail_public:click", kwargs={"token": bad}))
        assert response.status_code == 404
        assert not response.has_header("Location")
        assert response["Content-Type"].startswith("text/plain")
    message.refresh_from_db()
    assert message.click_count == 0


def test_only_web_links_are_wrapped(message):
    assert tracking.click_url(message, "mailto:ada@example.com") == "mailto:ada@example.com"
    assert tracking.click_url(message, "javascript:alert(1)") == "javascript:alert(1)"
    assert tracking.click_url(message, "#top") == "#top"


# -- unsubscribe -----------------------------------------------------------------------------------


@pytest.fixture
def marketing_message(owner, mailbox, ada):
    grant_email_consent(owner, ada)
    return send_email(
        actor=owner,
        mailbox=mailbox,
        to=["ADA@example.com"],
        subject="Spring newsletter",
        body_html="<p>News for {{ contact.first_name }}</p>",
        contact=ada,
        purpose=MessagePurpose.MARKETING,
    )


def test_opening_the_unsubscribe_link_changes_nothing(marketing_message, ada):
    client = Client()

    response = client.get(path_of(tracking.unsubscribe_url(marketing_message)))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Stop marketing email from Sales team?" in page
    assert '<form method="post"' in page
    assert not SuppressedAddress.objects.exists()
    assert Consent.objects.get(contact=ada, channel="email").status == "granted"


def test_one_click_unsubscribe_withdraws_consent_and_suppresses_the_address(
    marketing_message, ada, owner, mailbox
):
    # A mail client's RFC 8058 POST: no cookie, no CSRF token.
    client = Client(enforce_csrf_checks=True)
    path = path_of(tracking.unsubscribe_url(marketing_message))

    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    again = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert again.status_code == 200
    suppressed = SuppressedAddress.objects.get()
    assert (suppressed.email, suppressed.reason) == ("ada@example.com", "unsubscribed")
    consent = Consent.objects.get(contact=ada, channel="email")
    assert (consent.status, consent.source) == ("withdrawn", "one-click unsubscribe")
    withdrawals = ChangeRecord.objects.filter(
        entity="contacts.contact",
        object_id=str(ada.pk),
        after__icontains="withdrawn",
    )
    assert withdrawals.count() == 1
    assert withdrawals.get().actor_id is None
    with pytest.raises(ValidationError) as refused:
        send_email(
            actor=owner,
            mailbox=mailbox,
            to=["ada@example.com"],
            subject="More news",
            body_html="<p>Hi</p>",
            contact=ada,
            purpose=MessagePurpose.MARKETING,
        )
    assert "ada@example.com unsubscribed" in refused.value.message_dict["to"][0]


def test_a_bad_unsubscribe_token_is_refused_and_changes_nothing(marketing_message):
    client = Client(enforce_csrf_checks=True)
    token = path_of(tracking.unsubscribe_url(marketing_message)).split("/")[-1]
    pixel_token = path_of(tracking.pixel_url(marketing_message)).split("/")[-1].removesuffix(".gif")

    for bad in (tampered(token), pixel_token):
        path = reverse("mail_public:unsubscribe", kwargs={"token": bad})
        assert client.get(path).status_code == 404
        assert client.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert not SuppressedAddress.objects.exists()
    assert Consent.objects.get(channel="email").status == "granted"


def test_a_marketing_message_carries_a_visible_unsubscribe_link_that_is_not_tracked(
    marketing_message,
):
    url = tracking.unsubscribe_url(marketing_message)

    assert f'href="{url}"' in sent_html(marketing_message)
    assert f'href="{url}"' in marketing_message.html_body
    assert "Unsubscribe" in marketing_message.text_body


# -- consent and bounces ------------------------------------------------------------------------


def test_consent_rules_by_purpose(owner, ada):
    personal, marketing = MessagePurpose.PERSONAL, MessagePurpose.MARKETING

    assert tracking.consent_problem(email="ada@example.com", contact=ada, purpose=personal) is None
    no_consent = tracking.consent_problem(email="ada@example.com", contact=ada, purpose=marketing)
    stranger = tracking.consent_problem(email="who@example.org", contact=None, purpose=marketing)
    grant_email_consent(owner, ada)
    granted = tracking.consent_problem(email="Ada@Example.com", contact=ada, purpose=marketing)

    assert "has not granted consent to marketing email" in no_consent
    assert no_consent.startswith("ada@example.com")
    assert "belongs to no contact" in stranger
    assert granted is None


def test_an_unsubscribed_address_is_refused_marketing_mail_with_the_day_it_left(owner, ada):
    grant_email_consent(owner, ada)
    row = SuppressedAddress.objects.create(
        email="ada@example.com", reason=SuppressionReason.UNSUBSCRIBED
    )

    problem = tracking.consent_problem(
        email="ada@example.com", contact=ada, purpose=MessagePurpose.MARKETING
    )

    assert problem == (
        f"ada@example.com unsubscribed on {display.day_text(row.created_at)}: "
        "it gets no marketing mail."
    )


def test_a_bouncing_address_gets_no_mail_at_all_and_replaces_an_unsubscribe(owner, ada):
    grant_email_consent(owner, ada)
    SuppressedAddress.objects.create(email="ada@example.com", reason=SuppressionReason.UNSUBSCRIBED)

    row = tracking.mark_bouncing(email=" ADA@example.com ", detail="550 5.1.1 mailbox unknown")
    problem = tracking.consent_problem(
        email="ada@example.com", contact=ada, purpose=MessagePurpose.PERSONAL
    )

    assert (row.email, row.reason) == ("ada@example.com", "bounced")
    assert SuppressedAddress.objects.count() == 1
    assert problem.startswith("ada@example.com is bouncing (550 5.1.1 mailbox unknown)")


def test_tokens_name_their_message_and_are_absolute_urls(message):
    other = EmailMessage.objects.get(pk=message.pk)

    assert tracking.pixel_url(message) == tracking.pixel_url(other)
    assert tracking.unsubscribe_url(message).startswith(PUBLIC + "/m/u/")
    assert tracking.pixel_url(message).endswith(".gif")


def test_only_an_administrator_releases_a_suppressed_address(admin_user, owner):
    tracking.mark_bouncing(email="ada@example.com", detail="452 mailbox full")

    with pytest.raises(PermissionDenied):
        tracking.release_address(actor=owner, email="ada@example.com")
    assert SuppressedAddress.objects.exists()

    assert tracking.release_address(actor=admin_user, email="ADA@example.com") is True
    assert not SuppressedAddress.objects.exists()
    assert ChangeRecord.objects.filter(entity="mail.suppressedaddress", action="delete").exists()
    assert tracking.release_address(actor=admin_user, email="ada@example.com") is False
