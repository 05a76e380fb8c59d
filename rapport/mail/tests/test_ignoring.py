"""Ignored senders belong to the mailbox they were set from: one team's "always ignore this
domain" does not hide mail arriving in another team's mailbox. Administrators alone set a
pattern for every mailbox."""

import json

import pytest
from django.core.exceptions import PermissionDenied

from rapport.audit.models import ChangeRecord
from rapport.mail import ignoring, receiving
from rapport.mail.choices import TriageState
from rapport.mail.mailboxes import create_mailbox
from rapport.mail.models import IgnoredSender
from rapport.mail.tests.test_receiving import mail

pytestmark = pytest.mark.django_db


def shared_mailbox(admin_user, *, name, address, team):
    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name=name,
        email_address=address,
        team=team,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        check=False,
    )


@pytest.fixture
def sales(admin_user, sales_team):
    return shared_mailbox(admin_user, name="Sales", address="sales@rapport.test", team=sales_team)


@pytest.fixture
def service(admin_user, other_team):
    return shared_mailbox(admin_user, name="Service", address="help@rapport.test", team=other_team)


@pytest.fixture
def everyone(admin_user):
    return shared_mailbox(admin_user, name="Info", address="info@rapport.test", team=None)


def file(mailbox, number, sender="alerts@noisy.test"):
    return receiving.file_message(
        mailbox=mailbox, raw=mail(sender=sender, message_id=f"<{number}@noisy.test>")
    )


def test_a_domain_ignored_in_one_mailbox_still_reaches_the_others(sales, service, everyone, owner):
    waiting_elsewhere = file(everyone, 1)
    first = file(sales, 2)

    ignored = ignoring.ignore_sender(actor=owner, message=first)

    assert (ignored.pattern, ignored.mailbox) == ("noisy.test", sales)
    # The owner may use "Info" too, but the pattern was said in Sales: Info's mail waits.
    waiting_elsewhere.refresh_from_db()
    assert waiting_elsewhere.triage_state == TriageState.PENDING
    later_in_sales = file(sales, 3)
    later_in_service = file(service, 4)
    assert later_in_sales.triage_state == TriageState.IGNORED
    assert later_in_service.triage_state == TriageState.PENDING
    assert ignoring.patterns_for(sales) == {"noisy.test"}
    assert ignoring.patterns_for(service) == set()


def test_only_an_administrator_ignores_a_sender_in_every_mailbox(
    everyone, service, owner, admin_user
):
    first = file(everyone, 1)

    with pytest.raises(PermissionDenied):
        ignoring.ignore_sender(actor=owner, message=first, every_mailbox=True)
    assert not IgnoredSender.objects.exists()

    ignored = ignoring.ignore_sender(actor=admin_user, message=first, every_mailbox=True)
    assert ignored.mailbox is None
    assert file(service, 2).triage_state == TriageState.IGNORED
    assert ChangeRecord.objects.filter(entity="mail.ignoredsender", action="create").count() == 1


def test_the_same_pattern_may_be_set_in_two_mailboxes(sales, service, owner, outsider):
    ignoring.ignore_sender(actor=owner, message=file(sales, 1))
    ignoring.ignore_sender(actor=outsider, message=file(service, 2))
    ignoring.ignore_sender(actor=owner, message=file(sales, 3))  # already there: kept once

    assert sorted(IgnoredSender.objects.values_list("mailbox__name", flat=True)) == [
        "Sales",
        "Service",
    ]


def test_the_triage_page_and_the_api_set_the_pattern_on_the_message_mailbox(
    sales, everyone, owner, admin_user, web_client_for, api_client_for
):
    first, second = file(sales, 1), file(everyone, 2, sender="news@other.test")
    response = web_client_for(owner).post(f"/mail/triage/{first.uuid}/ignore-sender/")
    assert response.status_code == 302
    assert IgnoredSender.objects.get(pattern="noisy.test").mailbox == sales

    refused = api_client_for(owner).post(
        f"/api/v1/mail/messages/{second.uuid}/triage",
        data=json.dumps({"action": "ignore_domain", "every_mailbox": True}),
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert not IgnoredSender.objects.filter(pattern="other.test").exists()
    allowed = api_client_for(admin_user).post(
        f"/api/v1/mail/messages/{second.uuid}/triage",
        data=json.dumps({"action": "ignore_domain", "every_mailbox": True}),
        content_type="application/json",
    )
    assert allowed.status_code == 200, allowed.content
    assert IgnoredSender.objects.get(pattern="other.test").mailbox is None


def test_the_every_mailbox_choice_is_offered_to_administrators_only(
    everyone, owner, admin_user, web_client_for
):
    file(everyone, 1)
    assert "in every mailbox" not in web_client_for(owner).get("/mail/").content.decode()
    assert "in every mailbox" in web_client_for(admin_user).get("/mail/").content.decode()
