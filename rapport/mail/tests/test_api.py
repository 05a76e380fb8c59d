"""The mail API: mailboxes checked against real servers, templates checked on save, and mail
seen only by those who may see the contacts it was exchanged with."""

import json

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.models import EmailMessage, EmailThread, Mailbox, Participant
from rapport.mail.secrets import decrypt

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def errors_of(response) -> dict:
    return {error["field"]: error["message"] for error in response.json().get("errors", [])}


def smtp_body(server, **extra):
    return {
        "kind": "personal",
        "name": "My mail",
        "email_address": "Owner@Example.com",
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_security": "none",
        **extra,
    }


def test_a_mailbox_is_checked_against_its_server_and_never_shows_its_password(
    owner, api_client_for, smtp_server_with_auth
):
    client = api_client_for(owner)
    response = post(
        client,
        "/api/v1/mail/mailboxes/",
        smtp_body(smtp_server_with_auth, smtp_username="rapport", smtp_password="smtp-secret"),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email_address"] == "owner@example.com"
    assert body["has_smtp_password"] is True
    assert body["state"] == "working"
    assert "smtp-secret" not in response.content.decode()
    mailbox = Mailbox.objects.get(pk=body["id"])
    assert mailbox.smtp_password_encrypted != "smtp-secret"
    assert decrypt(mailbox.smtp_password_encrypted) == "smtp-secret"
    # Nor does the audit record keep it.
    from rapport.audit.models import ChangeRecord

    assert "smtp-secret" not in json.dumps(
        list(ChangeRecord.objects.values("before", "after")), default=str
    )


def test_a_refused_sign_in_is_said_on_the_server_field(
    owner, api_client_for, smtp_server_with_auth
):
    response = post(
        api_client_for(owner),
        "/api/v1/mail/mailboxes/",
        smtp_body(smtp_server_with_auth, smtp_username="rapport", smtp_password="wrong"),
    )
    assert response.status_code == 422
    assert "authentication failed" in errors_of(response)["body.smtp_host"]
    assert not Mailbox.objects.exists()


def test_an_imap_server_without_tls_is_refused_when_tls_is_asked(
    owner, api_client_for, imap_account
):
    body = {
        "kind": "personal",
        "name": "Inbox",
        "email_address": "owner@example.com",
        "imap_host": imap_account.host,
        "imap_port": imap_account.port,
        "imap_security": "starttls",
        "imap_username": imap_account.username,
        "imap_password": imap_account.password,
    }
    response = post(api_client_for(owner), "/api/v1/mail/mailboxes/", body)
    assert response.status_code == 422
    assert "offers no TLS" in errors_of(response)["body.imap_host"]

    wrong = {**body, "imap_security": "none", "imap_password": "not-it"}
    response = post(api_client_for(owner), "/api/v1/mail/mailboxes/", wrong)
    assert "authentication failed" in errors_of(response)["body.imap_host"]

    right = {**body, "imap_security": "none"}
    response = post(api_client_for(owner), "/api/v1/mail/mailboxes/", right)
    assert response.status_code == 201, response.content


def test_nothing_answering_is_said_plainly(owner, api_client_for):
    response = post(
        api_client_for(owner),
        "/api/v1/mail/mailboxes/",
        {
            "kind": "personal",
            "name": "My mail",
            "email_address": "owner@example.com",
            "smtp_host": "127.0.0.1",
            "smtp_port": 9,
            "smtp_security": "none",
        },
    )
    assert response.status_code == 422
    assert "connection refused" in errors_of(response)["body.smtp_host"]


def test_plain_text_to_another_machine_is_refused(owner, api_client_for):
    response = post(
        api_client_for(owner),
        "/api/v1/mail/mailboxes/",
        {
            "kind": "personal",
            "name": "My mail",
            "email_address": "owner@example.com",
            "smtp_host": "mail.example.com",
            "smtp_security": "none",
        },
    )
    assert response.status_code == 422
    assert "only to this machine" in errors_of(response)["body.smtp_host"]


def test_only_administrators_connect_shared_mailboxes(
    owner, admin_user, api_client_for, smtp_server
):
    body = smtp_body(smtp_server, kind="shared", name="Sales")
    assert post(api_client_for(owner), "/api/v1/mail/mailboxes/", body).status_code == 403
    response = post(api_client_for(admin_user), "/api/v1/mail/mailboxes/", body)
    assert response.status_code == 201
    assert response.json()["owner_id"] is None


def test_a_changed_mailbox_keeps_its_password_when_none_is_given(
    owner, api_client_for, smtp_server_with_auth
):
    client = api_client_for(owner)
    created = post(
        client,
        "/api/v1/mail/mailboxes/",
        smtp_body(smtp_server_with_auth, smtp_username="rapport", smtp_password="smtp-secret"),
    ).json()
    response = patch(
        client,
        f"/api/v1/mail/mailboxes/{created['id']}",
        {"from_name": "Olga Owner", "smtp_password": ""},
    )
    assert response.status_code == 200, response.content
    mailbox = Mailbox.objects.get(pk=created["id"])
    assert mailbox.from_name == "Olga Owner"
    assert decrypt(mailbox.smtp_password_encrypted) == "smtp-secret"


def test_another_users_mailbox_is_not_there(owner, outsider, teammate, api_client_for):
    mailbox = create_mailbox(
        actor=owner,
        kind="personal",
        name="Mine",
        email_address="owner@example.com",
        smtp_host="127.0.0.1",
        smtp_security="none",
        check=False,
    )
    for user in (outsider, teammate):
        client = api_client_for(user)
        assert client.get(f"/api/v1/mail/mailboxes/{mailbox.pk}").status_code == 404
        assert (
            patch(client, f"/api/v1/mail/mailboxes/{mailbox.pk}", {"name": "x"}).status_code == 404
        )
        assert [m["id"] for m in client.get("/api/v1/mail/mailboxes/").json()] == []


def test_a_template_with_a_mistake_is_refused_with_the_line(owner, api_client_for):
    client = api_client_for(owner)
    response = post(
        client,
        "/api/v1/mail/templates/",
        {
            "name": "Follow-up",
            "subject": "Hello {{ contact.frist_name }}",
            "body_html": "<p>Hi</p>\n{% if contact.first_name %}\n<p>x</p>\n{% endfor %}",
        },
    )
    assert response.status_code == 422
    errors = errors_of(response)
    assert "contact.first_name" in errors["body.subject"]
    assert "Line 4" in errors["body.body_html"]


def test_a_template_previews_for_a_real_contact(owner, outsider, api_client_for):
    contact = make_contact(actor=owner, owner=owner, first_name="Mira", emails=["mira@example.com"])
    client = api_client_for(owner)
    template = post(
        client,
        "/api/v1/mail/templates/",
        {
            "name": "Follow-up",
            "subject": "Hello {{ contact.first_name|default('there') }}",
            "body_html": "<p>Dear {{ contact.first_name }}, from {{ owner.full_name }}</p>",
        },
    ).json()
    response = post(
        client, f"/api/v1/mail/templates/{template['id']}/preview", {"contact_id": contact.pk}
    )
    assert response.status_code == 200
    assert response.json()["subject"] == "Hello Mira"
    assert "Dear Mira" in response.json()["html"]
    # Nobody else's template, and nobody else's contact.
    assert (
        post(
            api_client_for(outsider),
            f"/api/v1/mail/templates/{template['id']}/preview",
            {"contact_id": contact.pk},
        ).status_code
        == 404
    )


def _message_with(contact, **fields):
    thread = EmailThread.objects.create(subject="Quote", message_count=1)
    message = EmailMessage.objects.create(
        thread=thread,
        direction="inbound",
        status="received",
        message_id=f"{contact.pk}-quote@example.com",
        from_address=contact.primary_email,
        subject="Quote",
        occurred_at=timezone.now(),
        contact=contact,
        **fields,
    )
    Participant.objects.create(
        message=message, role="from", email=contact.primary_email, contact=contact
    )
    return message


def test_mail_is_seen_by_those_who_may_see_its_contact(owner, teammate, outsider, api_client_for):
    contact = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    message = _message_with(contact)
    for user, visible in ((owner, True), (teammate, True), (outsider, False)):
        client = api_client_for(user)
        listed = client.get(f"/api/v1/mail/messages/?contact={contact.pk}").json()["items"]
        assert [item["id"] for item in listed] == ([str(message.uuid)] if visible else [])
        detail = client.get(f"/api/v1/mail/messages/{message.uuid}")
        assert detail.status_code == (200 if visible else 404)
        thread = client.get(f"/api/v1/mail/threads/{message.thread_id}")
        assert thread.status_code == (200 if visible else 404)
