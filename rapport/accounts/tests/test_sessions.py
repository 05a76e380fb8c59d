"""Sessions on My account: listed per user, signed out one by one or all the others."""

import datetime as dt

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rapport.accounts import sessions
from rapport.accounts.models import UserSession
from rapport.audit.models import ChangeRecord

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def signed_in(username="owner", agent=FIREFOX, address="10.1.1.1") -> Client:
    client = Client(REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    response = client.post(
        reverse("accounts:login"), {"username": username, "password": "secret-pass-123"}
    )
    assert response.status_code == 302
    return client


def is_signed_in(client) -> bool:
    return client.get(reverse("accounts:account")).status_code == 200


def test_signing_in_records_the_session_in_the_users_words(owner):
    client = signed_in()

    row = UserSession.objects.get(user=owner)
    assert row.session_key == client.session.session_key
    assert (row.ip_address, row.device) == ("10.1.1.1", "Firefox on Linux")
    page = client.get(reverse("accounts:account")).content.decode()
    assert "Firefox on Linux" in page
    assert "this browser" in page
    assert row.session_key not in page  # the key is a credential


def test_the_account_page_lists_only_the_users_live_sessions(owner, teammate):
    laptop = signed_in()
    signed_in(agent=SAFARI_IPHONE, address="10.2.2.2")
    signed_in(username="teammate")
    gone = signed_in(agent="curl/8.0")
    gone.post(reverse("accounts:logout"))

    listed = sessions.active_sessions(owner)

    assert sorted(s.device for s in listed) == ["Firefox on Linux", "Safari on iOS"]
    page = laptop.get(reverse("accounts:account")).content.decode()
    assert "Safari on iOS" in page and "curl" not in page


def test_sign_out_one_other_session(owner):
    laptop = signed_in()
    phone = signed_in(agent=SAFARI_IPHONE, address="10.2.2.2")
    phone_row = UserSession.objects.get(session_key=phone.session.session_key)

    response = laptop.post(reverse("accounts:session_end", args=[phone_row.pk]))

    assert response.status_code == 302
    assert not is_signed_in(phone)
    assert is_signed_in(laptop)
    record = ChangeRecord.objects.get(entity="accounts.usersession", object_id=str(phone_row.pk))
    assert record.actor_id == owner.pk
    assert record.before["user_agent"] == SAFARI_IPHONE
    assert phone_row.session_key not in str(record.before)


def test_sign_out_this_session_signs_this_browser_out(owner):
    laptop = signed_in()
    row = UserSession.objects.get(session_key=laptop.session.session_key)

    response = laptop.post(reverse("accounts:session_end", args=[row.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert not is_signed_in(laptop)


def test_sign_out_all_other_sessions(owner, teammate):
    laptop = signed_in()
    phone = signed_in(agent=SAFARI_IPHONE, address="10.2.2.2")
    tablet = signed_in(agent="Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) Safari/604.1")
    colleague = signed_in(username="teammate")

    response = laptop.post(reverse("accounts:session_end_others"), follow=True)

    assert "Signed out 2 other sessions." in response.content.decode()
    assert is_signed_in(laptop) and is_signed_in(colleague)
    assert not is_signed_in(phone) and not is_signed_in(tablet)
    assert [s.session_key for s in sessions.active_sessions(owner)] == [laptop.session.session_key]
    record = ChangeRecord.objects.get(entity="accounts.user", object_id=str(owner.pk))
    assert record.message == "Signed out 2 other session(s)"


def test_nobody_can_end_someone_elses_session(owner, teammate):
    colleague = signed_in(username="teammate")
    row = UserSession.objects.get(user=teammate)

    response = signed_in().post(reverse("accounts:session_end", args=[row.pk]))

    assert response.status_code == 404
    assert is_signed_in(colleague)


def test_a_password_change_drops_the_other_sessions_from_the_list(owner):
    laptop = signed_in()
    signed_in(agent=SAFARI_IPHONE, address="10.2.2.2")

    laptop.post(
        reverse("accounts:account_password"),
        {
            "password-old_password": "secret-pass-123",
            "password-new_password1": "another-long-pass-456",
            "password-new_password2": "another-long-pass-456",
        },
    )

    # The page after the change notes the session under its new key, the old row goes.
    assert is_signed_in(laptop)
    owner.refresh_from_db()  # the new password hash decides which sessions still count
    listed = sessions.active_sessions(owner)
    assert [s.session_key for s in listed] == [laptop.session.session_key]
    assert UserSession.objects.filter(user=owner).count() == 1


def test_last_seen_is_written_at_most_once_a_minute(owner):
    laptop = signed_in()
    row = UserSession.objects.get(user=owner)
    earlier = timezone.now() - dt.timedelta(minutes=5)
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=earlier)

    laptop.get(reverse("accounts:account"))
    row.refresh_from_db()
    assert row.last_seen_at == earlier  # noted at sign-in, under a minute ago

    session = laptop.session
    session[sessions.SEEN_MARK] = [session.session_key, earlier.isoformat()]
    session.save()
    laptop.get(reverse("accounts:account"))

    row.refresh_from_db()
    assert row.last_seen_at > earlier


def test_token_requests_and_forced_logins_note_nothing(owner, api_client_for, web_client_for):
    assert api_client_for(owner).get("/api/v1/me").status_code == 200
    client = web_client_for(owner)
    assert client.get(reverse("accounts:account")).status_code == 200
    assert SESSION_KEY in client.session

    assert not UserSession.objects.exists()
