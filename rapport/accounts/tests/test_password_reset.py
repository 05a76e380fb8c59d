"""Forgot your password: the link by email (through a real SMTP server), the page it opens, and
what a reset does to sessions, the audit trail and the second factor."""

import datetime as dt
import re
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from freezegun import freeze_time

from rapport.accounts import password_reset
from rapport.accounts.models import UserSession
from rapport.accounts.tests.factories import UserFactory
from rapport.audit.models import ChangeRecord
from rapport.mail.tests.servers import SmtpServer

pytestmark = pytest.mark.django_db

OLD_PASSWORD = "secret-pass-123"
NEW_PASSWORD = "a new Pass for 2027!"
LINK = re.compile(r"https?://[^\s\"<>]+/accounts/password-reset/[^\s\"<>]+/")


def moving_clock():
    """A clock that starts at a fixed moment and runs on (and can jump ahead): the SMTP
    server's event loop and `wait_for` need time that moves."""
    return freeze_time(dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC), tick=True, real_asyncio=True)


@pytest.fixture(autouse=True)
def empty_cache():
    # The limits live in the cache, which the local-memory backend keeps between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def mail_server(settings):
    """A real SMTP server on 127.0.0.1 that Django's SMTP backend delivers to."""
    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.RAPPORT_PUBLIC_URL = ""
    yield server
    server.stop()


@pytest.fixture
def anna(db):
    return UserFactory(username="anna", email="anna.berg@example.com", first_name="Anna")


def ask(email: str, *, address: str = "10.9.9.9", client: Client | None = None):
    client = client or Client(REMOTE_ADDR=address)
    return client.post(reverse("accounts:password_reset"), {"email": email}, follow=True)


def without_csrf_token(response) -> str:
    # Each response carries its own CSRF token; nothing else may differ.
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", response.content.decode())


def link_in(message) -> str:
    text = message.message.get_body(preferencelist=("plain",)).get_content()
    found = LINK.findall(text)
    assert len(found) == 1, text
    return found[0]


def path_of(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def open_and_set(client: Client, link: str, password: str, again: str | None = None):
    opened = client.get(path_of(link))
    assert opened.status_code == 302, opened.content.decode()
    return client.post(
        opened["Location"], {"new_password1": password, "new_password2": again or password}
    )


def signs_in(username: str, password: str) -> bool:
    response = Client().post(
        reverse("accounts:login"), {"username": username, "password": password}
    )
    return response.status_code == 302 and response["Location"] != reverse("accounts:login_code")


def signed_in_client(username: str, address: str) -> Client:
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        reverse("accounts:login"), {"username": username, "password": OLD_PASSWORD}
    )
    assert response.status_code == 302
    return client


SAME_ANSWER = "If an account uses that address, we sent a link to it."


def test_the_sign_in_page_links_to_the_reset(db):
    page = Client().get(reverse("accounts:login")).content.decode()

    assert f'href="{reverse("accounts:password_reset")}"' in page
    assert "Forgot your password?" in page


def test_the_email_arrives_with_a_link_that_sets_the_password(anna, mail_server):
    response = ask("Anna.Berg@Example.com")

    assert response.redirect_chain == [(reverse("accounts:password_reset_sent"), 302)]
    assert SAME_ANSWER in response.content.decode()
    (message,) = mail_server.wait_for(1)
    assert message.recipients == ("anna.berg@example.com",)
    email = message.message
    assert email["Subject"] == "Reset your Rapport password"
    assert email["From"] == django_settings.DEFAULT_FROM_EMAIL
    html = email.get_body(preferencelist=("html",)).get_content()
    link = link_in(message)
    assert link.startswith("http://testserver/accounts/password-reset/")
    assert f'href="{link}"' in html
    assert "60 minutes" in email.get_body(preferencelist=("plain",)).get_content()

    browser = Client()
    done = open_and_set(browser, link, NEW_PASSWORD)

    assert done.status_code == 302 and done["Location"] == reverse("accounts:login")
    assert SESSION_KEY not in browser.session  # the reset signs nobody in
    page = browser.get(done["Location"]).content.decode()
    assert "Your password is changed. Sign in with the new one." in page
    assert signs_in("anna", NEW_PASSWORD)
    assert not signs_in("anna", OLD_PASSWORD)


def test_the_link_uses_the_public_url_when_set(anna, mail_server, settings):
    settings.RAPPORT_PUBLIC_URL = "https://crm.example.com"

    ask("anna.berg@example.com")

    (message,) = mail_server.wait_for(1)
    assert link_in(message).startswith("https://crm.example.com/accounts/password-reset/")


def test_an_unknown_address_gets_the_same_page_and_no_mail(anna, mail_server):
    known = ask("anna.berg@example.com")
    mail_server.wait_for(1)
    mail_server.clear()

    unknown = ask("nobody@example.com")

    assert unknown.redirect_chain == known.redirect_chain
    assert without_csrf_token(unknown) == without_csrf_token(known)
    assert mail_server.wait_for(1, timeout=0.5) == []


def test_a_second_request_within_15_minutes_sends_nothing(anna, mail_server):
    with moving_clock() as clock:
        ask("anna.berg@example.com", address="10.0.0.1")
        assert len(mail_server.wait_for(1)) == 1

        clock.tick(dt.timedelta(minutes=14))
        again = ask("anna.berg@example.com", address="10.0.0.2")

        assert SAME_ANSWER in again.content.decode()
        assert len(mail_server.wait_for(2, timeout=0.5)) == 1

        clock.tick(dt.timedelta(minutes=2))
        ask("anna.berg@example.com", address="10.0.0.3")

        assert len(mail_server.wait_for(2)) == 2


def test_one_address_may_not_ask_over_and_over(db, mail_server):
    users = [UserFactory(username=f"rep{n}", email=f"rep{n}@example.com") for n in range(7)]
    answers = [ask(user.email, address="10.7.7.7") for user in users]

    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert "Too many requests from your address" in answers[5].content.decode()
    assert len(mail_server.wait_for(5)) == 5
    assert len(mail_server.wait_for(6, timeout=0.5)) == 5
    # Another address is not held back.
    assert ask(users[6].email, address="10.8.8.8").status_code == 200
    assert len(mail_server.wait_for(6)) == 6


def test_the_link_works_once(anna, mail_server):
    ask("anna.berg@example.com")
    link = link_in(mail_server.wait_for(1)[0])
    open_and_set(Client(), link, NEW_PASSWORD)

    second = Client().get(path_of(link))

    assert second.status_code == 400
    assert "This link no longer works" in second.content.decode()
    assert signs_in("anna", NEW_PASSWORD)


def test_an_expired_link_shows_a_clear_page(anna, mail_server):
    with moving_clock() as clock:
        ask("anna.berg@example.com")
        link = link_in(mail_server.wait_for(1)[0])
        clock.tick(dt.timedelta(minutes=61))

        response = Client().get(path_of(link))

    assert response.status_code == 400
    page = response.content.decode()
    assert "expired, was already used, or is incomplete" in page
    assert reverse("accounts:password_reset") in page


def test_a_link_expires_after_the_configured_timeout(anna, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3 * 3600
    with moving_clock() as clock:
        token = password_reset.reset_tokens.make_token(anna)
        uid = password_reset.uid_for(anna)
        clock.tick(dt.timedelta(hours=2))
        assert password_reset.user_for_link(uid, token) == anna
        clock.tick(dt.timedelta(hours=1, seconds=1))
        assert password_reset.user_for_link(uid, token) is None


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password-reset/MQ/not-a-token/",
        "/accounts/password-reset/%%%/abc-def/",
        "/accounts/password-reset/99999999999999999999/abc-def/",
        "/accounts/password-reset/MQ/set-password/",  # the form without having opened a link
    ],
)
def test_a_garbled_link_shows_a_clear_page(anna, path):
    response = Client().get(path)

    assert response.status_code == 400
    assert "This link no longer works" in response.content.decode()


def test_a_token_for_one_user_does_not_open_another(anna, db):
    bruno = UserFactory(username="bruno")
    token = password_reset.reset_tokens.make_token(anna)

    response = Client().get(
        reverse(
            "accounts:password_reset_link",
            kwargs={"uidb64": password_reset.uid_for(bruno), "token": token},
        )
    )

    assert response.status_code == 400


def test_the_validators_messages_show_beside_the_field(anna, mail_server):
    ask("anna.berg@example.com")
    link = link_in(mail_server.wait_for(1)[0])
    browser = Client()

    response = open_and_set(browser, link, "12345")

    assert response.status_code == 422
    page = response.content.decode()
    error = re.search(r'<p class="field-error" id="id_new_password1_error"[^>]*>(.*?)</p>', page)
    assert error is not None, page
    assert "This password is too short. It must contain at least 8 characters." in error[1]
    assert "This password is entirely numeric." in error[1]
    anna.refresh_from_db()
    assert anna.check_password(OLD_PASSWORD)  # not by signing in: that would end the link
    # The form stays usable with the same link.
    confirm = reverse(
        "accounts:password_reset_confirm", kwargs={"uidb64": path_of(link).split("/")[3]}
    )
    fixed = browser.post(confirm, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert fixed.status_code == 302
    assert signs_in("anna", NEW_PASSWORD)


def test_two_different_passwords_are_refused_beside_the_second(anna, mail_server):
    ask("anna.berg@example.com")
    link = link_in(mail_server.wait_for(1)[0])

    response = open_and_set(Client(), link, NEW_PASSWORD, again=NEW_PASSWORD + "x")

    assert response.status_code == 422
    assert re.search(
        r'id="id_new_password2_error"[^>]*>The two passwords differ', response.content.decode()
    )
    assert signs_in("anna", OLD_PASSWORD)


def test_the_reset_ends_every_other_session_and_is_audited(anna, mail_server):
    laptop = signed_in_client("anna", "10.1.1.1")
    phone = signed_in_client("anna", "10.2.2.2")
    keys = [laptop.session.session_key, phone.session.session_key]
    assert UserSession.objects.filter(user=anna).count() == 2
    ask("anna.berg@example.com")
    link = link_in(mail_server.wait_for(1)[0])

    open_and_set(Client(), link, NEW_PASSWORD)

    assert not UserSession.objects.filter(user=anna).exists()
    store = import_module(django_settings.SESSION_ENGINE).SessionStore
    assert [store().exists(key) for key in keys] == [False, False]
    assert laptop.get(reverse("accounts:account")).status_code == 302
    record = ChangeRecord.objects.get(entity="accounts.user", message="Password reset by email")
    assert record.actor_id == anna.pk
    assert (record.before, record.after) == (
        {"password_changed": False},
        {"password_changed": True},
    )
    assert "password" not in str(record.after).replace("password_changed", "")


def test_resetting_from_a_browser_signed_in_as_the_user_signs_it_out(anna, mail_server):
    browser = signed_in_client("anna", "10.1.1.1")
    ask("anna.berg@example.com", client=browser)
    link = link_in(mail_server.wait_for(1)[0])

    done = open_and_set(browser, link, NEW_PASSWORD)

    assert done.status_code == 302 and done["Location"] == reverse("accounts:login")
    assert SESSION_KEY not in browser.session
    assert browser.get(reverse("accounts:login")).status_code == 200


def test_a_user_with_a_second_factor_still_passes_it(anna, mail_server):
    TOTPDevice.objects.create(user=anna, name="Authenticator app", confirmed=True)
    ask("anna.berg@example.com")
    link = link_in(mail_server.wait_for(1)[0])
    open_and_set(Client(), link, NEW_PASSWORD)

    browser = Client()
    response = browser.post(
        reverse("accounts:login"), {"username": "anna", "password": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login_code")
    assert SESSION_KEY not in browser.session


def test_an_sso_only_user_gets_nothing(db, mail_server):
    sso = UserFactory(username="sso", email="sso@example.com")
    sso.set_unusable_password()
    sso.save()

    response = ask("sso@example.com")

    assert SAME_ANSWER in response.content.decode()
    assert mail_server.wait_for(1, timeout=0.5) == []


def test_a_deactivated_user_gets_nothing_and_their_link_dies(anna, mail_server):
    token = password_reset.reset_tokens.make_token(anna)
    anna.is_active = False
    anna.save()

    response = ask("anna.berg@example.com")

    assert SAME_ANSWER in response.content.decode()
    assert mail_server.wait_for(1, timeout=0.5) == []
    assert password_reset.user_for_link(password_reset.uid_for(anna), token) is None


def test_an_invalid_address_is_named_beside_the_field(db, mail_server):
    response = Client().post(reverse("accounts:password_reset"), {"email": "not an address"})

    assert response.status_code == 422
    assert re.search(
        r'id="id_email_error"[^>]*>Enter a valid email address', response.content.decode()
    )


def test_a_refusing_mail_server_shows_the_same_page_and_allows_a_retry(anna, mail_server):
    mail_server.fail_next(554, "5.7.1 Rejected for policy reasons")

    response = ask("anna.berg@example.com")

    assert SAME_ANSWER in response.content.decode()
    assert mail_server.messages == []
    ask("anna.berg@example.com")
    assert len(mail_server.wait_for(1)) == 1
