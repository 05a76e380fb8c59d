"""Mailing a suppressed address again: from the contact's page, the administrators' list and the
API, decided by `access` (administrators), asked first and audited."""

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.contacts.tests.factories import make_contact
from rapport.mail import tracking, views_suppressed
from rapport.mail.models import EmailMessage, SuppressedAddress

pytestmark = pytest.mark.django_db

URL = "/api/v1/mail/suppressed-addresses/"


@pytest.fixture
def ada(owner):
    return make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@example.com"])


@pytest.fixture
def report():
    """The delivery report that said ada@example.com bounces, waiting nowhere (ignored)."""
    return EmailMessage.objects.create(
        direction="inbound",
        status="received",
        message_id="<dsn-1@mx.example>",
        from_address="mailer-daemon@mx.example",
        subject="Undelivered Mail Returned to Sender",
        occurred_at=timezone.now(),
        triage_state="ignored",
    )


@pytest.fixture
def bouncing(ada, report):
    return tracking.mark_bouncing(
        email="ada@example.com", detail="550 5.1.1 no such user", message=report
    )


def released_records():
    return ChangeRecord.objects.filter(entity="mail.suppressedaddress", action="delete")


def test_releasing_is_refused_to_who_access_refuses_and_audited_otherwise(
    bouncing, owner, admin_user
):
    assert not tracking.may_release(owner, bouncing)
    with pytest.raises(PermissionDenied):
        tracking.release_suppressed(actor=owner, address=bouncing)
    assert SuppressedAddress.objects.exists()
    assert not released_records().exists()

    assert tracking.may_release(admin_user, bouncing)
    tracking.release_suppressed(actor=admin_user, address=bouncing)
    assert not SuppressedAddress.objects.exists()
    (record,) = released_records()
    assert record.before["email"] == "ada@example.com"
    assert record.before["reason"] == "bounced"


def test_the_contact_page_shows_the_bouncing_address_and_offers_release_to_administrators(
    bouncing, ada, owner, admin_user, web_client_for
):
    release = f"/mail/suppressed/{bouncing.pk}/release/"
    owners_page = web_client_for(owner).get(ada.get_absolute_url()).content.decode()
    assert "Bouncing" in owners_page
    assert "550 5.1.1 no such user" in owners_page
    assert release not in owners_page

    admins_page = web_client_for(admin_user).get(ada.get_absolute_url()).content.decode()
    assert "Mail this address again" in admins_page
    assert release in admins_page


def test_release_asks_first_then_returns_to_the_contact(
    bouncing, ada, owner, admin_user, web_client_for
):
    release = f"/mail/suppressed/{bouncing.pk}/release/?next={ada.get_absolute_url()}"
    assert web_client_for(owner).get(release).status_code == 403
    assert web_client_for(owner).post(release).status_code == 403
    assert SuppressedAddress.objects.exists()

    client = web_client_for(admin_user)
    question = client.get(release)
    assert question.status_code == 200
    assert "Mail ada@example.com again?" in question.content.decode()
    assert SuppressedAddress.objects.exists()  # asking changes nothing

    answer = client.post(release, {"next": ada.get_absolute_url()})
    assert answer.status_code == 302
    assert answer["Location"] == ada.get_absolute_url()
    assert not SuppressedAddress.objects.exists()
    assert released_records().count() == 1


def test_release_goes_back_only_to_this_site(bouncing, admin_user, web_client_for):
    answer = web_client_for(admin_user).post(
        f"/mail/suppressed/{bouncing.pk}/release/", {"next": "https://evil.example/"}
    )
    assert answer["Location"] == "/mail/suppressed/"


def test_the_administrators_list_pages_through_the_addresses_with_their_reports(
    bouncing, report, owner, admin_user, web_client_for, monkeypatch
):
    monkeypatch.setattr(views_suppressed, "PAGE_SIZE", 2)
    for number in range(3):
        SuppressedAddress.objects.create(email=f"gone{number}@example.com", reason="unsubscribed")
    SuppressedAddress.objects.filter(pk=bouncing.pk).update(updated_at=timezone.now())

    assert web_client_for(owner).get("/mail/suppressed/").status_code == 403
    client = web_client_for(admin_user)
    first = client.get("/mail/suppressed/")
    page = first.content.decode()
    assert "ada@example.com" in page
    assert f"/mail/messages/{report.uuid}/" in page
    assert f"/mail/suppressed/{bouncing.pk}/release/" in page
    assert page.count("Mail this address again") == 2
    next_url = first.context["next_url"]
    assert next_url
    rest = client.get(f"/mail/suppressed/{next_url}")
    assert [row["address"].email for row in rest.context["rows"]] == [
        "gone1@example.com",
        "gone0@example.com",
    ]
    assert not rest.context["next_url"]
    bounced = client.get("/mail/suppressed/?reason=bounced").context["rows"]
    assert [row["address"].email for row in bounced] == ["ada@example.com"]
    garbled = client.get("/mail/suppressed/?cursor=nonsense")
    assert garbled.status_code == 200
    assert garbled.context["cursor_error"]


def test_the_api_lists_addresses_in_scope(
    bouncing, report, owner, outsider, admin_user, api_client_for
):
    SuppressedAddress.objects.create(email="stranger@example.com", reason="complained")

    everything = api_client_for(admin_user).get(URL).json()["items"]
    assert sorted(item["email"] for item in everything) == [
        "ada@example.com",
        "stranger@example.com",
    ]
    (mine,) = api_client_for(owner).get(URL).json()["items"]
    assert mine["email"] == "ada@example.com"
    assert mine["reason_label"] == "Bouncing"
    assert mine["report_message"] is None  # the owner may not open that report
    assert api_client_for(outsider).get(URL).json()["items"] == []
    (with_report,) = api_client_for(admin_user).get(f"{URL}?reason=bounced").json()["items"]
    assert with_report["report_message"] == str(report.uuid)
    bad = api_client_for(admin_user).get(f"{URL}?reason=lost")
    assert bad.status_code == 422


def test_the_api_releases_an_address_for_administrators_only(
    bouncing, owner, admin_user, api_client_for
):
    refused = api_client_for(owner).delete(f"{URL}{bouncing.pk}")
    assert refused.status_code == 403
    assert SuppressedAddress.objects.exists()

    assert api_client_for(admin_user).delete(f"{URL}{bouncing.pk}").status_code == 204
    assert not SuppressedAddress.objects.exists()
    assert released_records().count() == 1
    assert api_client_for(admin_user).delete(f"{URL}{bouncing.pk}").status_code == 404


def test_the_api_releases_by_address_and_names_the_field_when_it_cannot(
    bouncing, owner, admin_user, api_client_for
):
    def release(user, body):
        return api_client_for(user).post(
            f"{URL}release", data=json.dumps(body), content_type="application/json"
        )

    assert release(owner, {"email": "ada@example.com"}).status_code == 403
    for body, field in (
        ({"email": "not an address"}, "body.email"),
        ({"email": "nobody@example.com"}, "body.email"),
        ({}, "body.email"),
    ):
        response = release(admin_user, body)
        assert response.status_code == 422, body
        assert [error["field"] for error in response.json()["errors"]] == [field]
    assert SuppressedAddress.objects.exists()

    released = release(admin_user, {"email": " ADA@example.com "})
    assert released.status_code == 200, released.content
    assert released.json()["email"] == "ada@example.com"
    assert not SuppressedAddress.objects.exists()


def test_a_received_delivery_report_is_linked_from_the_bouncing_address(admin_user):
    from rapport.mail import receiving
    from rapport.mail.mailboxes import create_mailbox
    from rapport.mail.tests.test_receiving import delivery_report

    mailbox = create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales",
        email_address="sales@rapport.test",
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        check=False,
    )
    report = receiving.file_message(
        mailbox=mailbox,
        raw=delivery_report(failed="ada@example.com", original_id="proposal@rapport.test"),
    )

    assert SuppressedAddress.objects.get(email="ada@example.com").message == report
