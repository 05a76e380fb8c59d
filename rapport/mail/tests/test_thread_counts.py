"""A thread's count is of the messages its reader may see: a conversation that also reached a
contact outside the reader's access must not reveal that mail through its size."""

import pytest
from django.utils import timezone

from rapport.contacts.tests.factories import make_contact
from rapport.mail.models import EmailMessage, EmailThread, Participant
from rapport.mail.panels import contact_email_panel

pytestmark = pytest.mark.django_db


def _message(thread, contact, number):
    message = EmailMessage.objects.create(
        thread=thread,
        direction="inbound",
        status="received",
        message_id=f"<{number}@example.com>",
        from_address=contact.primary_email,
        subject="Quote",
        occurred_at=timezone.now(),
        contact=contact,
    )
    Participant.objects.create(
        message=message, role="from", email=contact.primary_email, contact=contact
    )
    return message


@pytest.fixture
def shared_thread(owner, outsider):
    """One conversation: two messages with the owner's contact, one with the outsider's."""
    ada = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    eve = make_contact(actor=outsider, owner=outsider, emails=["eve@elsewhere.example"])
    thread = EmailThread.objects.create(subject="Quote", message_count=3)
    _message(thread, ada, 1)
    _message(thread, ada, 2)
    _message(thread, eve, 3)
    return thread, ada, eve


def test_the_thread_api_counts_only_the_messages_the_reader_may_see(
    shared_thread, owner, outsider, admin_user, api_client_for
):
    thread, _ada, _eve = shared_thread
    for user, count in ((owner, 2), (outsider, 1), (admin_user, 3)):
        client = api_client_for(user)
        detail = client.get(f"/api/v1/mail/threads/{thread.pk}").json()
        assert (detail["message_count"], len(detail["messages"])) == (count, count)
        (listed,) = client.get("/api/v1/mail/threads/").json()
        assert listed["message_count"] == count


def test_the_email_panel_counts_only_the_messages_the_reader_may_see(
    shared_thread, owner, admin_user, rf
):
    _thread, ada, _eve = shared_thread
    request = rf.get(ada.get_absolute_url())
    request.user = owner
    (row,) = contact_email_panel(request, ada)["threads"]
    assert row["count"] == 2

    request.user = admin_user
    (row,) = contact_email_panel(request, ada)["threads"]
    assert row["count"] == 3
