import datetime as dt
import re

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from ninja import NinjaAPI, Router
from ninja.testing import TestClient

from rapport.accounts.api.auth import TokenAuth
from rapport.accounts.models import ApiToken, LoginAttempt
from rapport.accounts.services import create_api_token
from rapport.audit.models import ChangeRecord

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"rpt_[A-Za-z0-9_-]{20,}")


def authenticate(secret):
    return TokenAuth().authenticate(RequestFactory().get("/api/v1/"), secret)


@pytest.fixture
def whoami():
    """A one-route API behind the real TokenAuth: what a client holding a token gets."""
    router = Router()

    @router.get("/whoami", auth=TokenAuth())
    def whoami_route(request):
        return {"username": request.auth.username}

    NinjaAPI(urls_namespace="tests-whoami").add_router("/", router)
    return TestClient(router)


# My account --------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in():
    client = Client()
    for name in ("accounts:account", "accounts:account_profile", "accounts:token_create"):
        response = (
            client.post(reverse(name)) if name != "accounts:account" else client.get(reverse(name))
        )
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_any_signed_in_user_has_an_account_page(owner, web_client_for):
    response = web_client_for(owner).get(reverse("accounts:account"))

    assert response.status_code == 200
    assert response.context["profile_form"]["email"].value() == owner.email


def test_profile_changes_are_saved_and_audited(owner, web_client_for):
    response = web_client_for(owner).post(
        reverse("accounts:account_profile"),
        {
            "profile-first_name": "Olive",
            "profile-last_name": "Owner",
            "profile-email": "OLIVE@example.com",
            "profile-time_zone": "Europe/Lisbon",
        },
    )

    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.first_name, owner.email, owner.time_zone) == (
        "Olive",
        "olive@example.com",
        "Europe/Lisbon",
    )
    record = ChangeRecord.objects.get(entity="accounts.user", object_id=str(owner.pk))
    assert record.actor == owner


def test_the_profile_offers_formats_by_their_own_names(owner, web_client_for):
    client = web_client_for(owner)
    page = client.get(reverse("accounts:account")).content.decode()
    assert "Deutsch (Deutschland)" in page
    assert "The company&#x27;s (English (United States))" in page

    response = client.post(
        reverse("accounts:account_profile"),
        {"profile-email": owner.email, "profile-time_zone": "UTC", "profile-locale": "de_DE"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.locale == "de_DE"


def test_a_format_not_offered_is_refused_beside_the_field(owner, web_client_for):
    response = web_client_for(owner).post(
        reverse("accounts:account_profile"),
        {"profile-email": owner.email, "profile-time_zone": "UTC", "profile-locale": "xx_YY"},
    )

    assert response.status_code == 422
    assert "locale" in response.context["profile_form"].errors
    owner.refresh_from_db()
    assert owner.locale == ""


def test_a_taken_email_is_shown_beside_the_field(owner, teammate, web_client_for):
    response = web_client_for(owner).post(
        reverse("accounts:account_profile"),
        {"profile-email": teammate.email, "profile-time_zone": "UTC"},
    )

    assert response.status_code == 422
    assert "email" in response.context["profile_form"].errors
    assert 'id="id_profile-email_error"' in response.content.decode()
    # The header still shows who is signed in, not the refused change.
    owner.refresh_from_db()
    assert owner.email == "owner@example.com"


def test_change_password_keeps_the_session(owner, web_client_for):
    client = web_client_for(owner)

    response = client.post(
        reverse("accounts:account_password"),
        {
            "password-old_password": "secret-pass-123",
            "password-new_password1": "correct-horse-battery",
            "password-new_password2": "correct-horse-battery",
        },
    )

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("correct-horse-battery")
    assert client.get(reverse("accounts:account")).status_code == 200
    record = ChangeRecord.objects.get(entity="accounts.user", object_id=str(owner.pk))
    assert record.after["password_changed"] is True


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {
                "old_password": "wrong",
                "new_password1": "x-long-pass-1",
                "new_password2": "x-long-pass-1",
            },
            "old_password",
        ),
        (
            {"old_password": "secret-pass-123", "new_password1": "short", "new_password2": "short"},
            "new_password2",
        ),
        (
            {
                "old_password": "secret-pass-123",
                "new_password1": "a-long-pass-1",
                "new_password2": "b-long-pass-2",
            },
            "new_password2",
        ),
    ],
)
def test_bad_password_changes_are_refused_beside_the_field(owner, web_client_for, data, field):
    response = web_client_for(owner).post(
        reverse("accounts:account_password"), {f"password-{k}": v for k, v in data.items()}
    )

    assert response.status_code == 422
    assert field in response.context["password_form"].errors
    owner.refresh_from_db()
    assert owner.check_password("secret-pass-123")


# Personal API tokens -----------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(owner, web_client_for, whoami):
    client = web_client_for(owner)

    response = client.post(reverse("accounts:token_create"), {"token-name": "Zapier"})

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secrets = SECRET.findall(response.content.decode())
    assert len(secrets) == 1
    secret = secrets[0]
    token = ApiToken.objects.get(user=owner)
    assert token.name == "Zapier"
    assert token.key_hash == ApiToken.hash_key(secret)
    assert not ApiToken.objects.filter(key_hash=secret).exists()
    # It works …
    assert whoami.get("/whoami", headers={"Authorization": f"Bearer {secret}"}).json() == {
        "username": "owner"
    }
    # … and is never shown again: the list shows only its prefix.
    page = client.get(reverse("accounts:account")).content.decode()
    assert secret not in page
    assert token.key_prefix in page


def test_a_token_with_a_last_day_expires_at_the_end_of_that_day(owner, web_client_for):
    owner.time_zone = "Asia/Tokyo"
    owner.save()
    day = timezone.now().date() + dt.timedelta(days=10)

    web_client_for(owner).post(
        reverse("accounts:token_create"),
        {"token-name": "Short-lived", "token-expires_on": day.isoformat()},
    )

    token = ApiToken.objects.get(user=owner)
    local = token.expires_at.astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert (local.date(), local.hour, local.minute) == (day + dt.timedelta(days=1), 0, 0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"token-name": ""}, "name"),
        ({"token-name": "x" * 81}, "name"),
        ({"token-name": "ok", "token-expires_on": "2001-01-01"}, "expires_on"),
        ({"token-name": "ok", "token-expires_on": "tomorrow"}, "expires_on"),
    ],
)
def test_bad_token_input_creates_nothing(owner, web_client_for, data, field):
    response = web_client_for(owner).post(reverse("accounts:token_create"), data)

    assert response.status_code == 422
    assert field in response.context["token_form"].errors
    assert not SECRET.search(response.content.decode())
    assert not ApiToken.objects.exists()


def test_revoked_token_is_rejected_by_the_api(owner, web_client_for, whoami):
    token, secret = create_api_token(actor=owner, user=owner, name="CI")
    assert authenticate(secret) == owner

    response = web_client_for(owner).post(reverse("accounts:token_revoke", args=[token.pk]))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert authenticate(secret) is None
    assert whoami.get("/whoami", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    page = web_client_for(owner).get(reverse("accounts:account")).content.decode()
    assert "revoked" in page


def test_the_real_api_refuses_a_revoked_token(owner, admin_user, web_client_for):
    token, secret = create_api_token(actor=owner, user=owner, name="CI")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me").status_code == 200

    web_client_for(admin_user).post(
        reverse("accounts:user_token_revoke", args=[owner.pk, token.pk])
    )

    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_an_expired_token_is_rejected(owner):
    token, secret = create_api_token(
        actor=owner, user=owner, name="old", expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert authenticate(secret) is None


def test_nobody_revokes_someone_elses_token_from_their_own_page(owner, teammate, web_client_for):
    token, secret = create_api_token(actor=teammate, user=teammate, name="mine")

    response = web_client_for(owner).post(reverse("accounts:token_revoke", args=[token.pk]))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert authenticate(secret) == teammate


def test_token_names_with_markup_are_inert(owner, web_client_for):
    client = web_client_for(owner)

    response = client.post(
        reverse("accounts:token_create"), {"token-name": "<script>alert(1)</script>"}
    )

    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# Sign-in throttle --------------------------------------------------------------------------


def sign_in(password, username="owner", address="10.1.1.1"):
    return Client(REMOTE_ADDR=address).post(
        reverse("accounts:login"), {"username": username, "password": password}
    )


def test_after_n_failures_even_the_right_password_gets_429_from_that_address(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    for _ in range(3):
        assert sign_in("wrong").status_code == 400

    response = sign_in("secret-pass-123")

    assert response.status_code == 429
    assert "_auth_user_id" not in response.wsgi_request.session
    assert "Too many failed attempts" in response.content.decode()


def test_a_locked_attacker_address_does_not_stop_the_user_from_another(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    for _ in range(5):
        sign_in("guess", address="203.0.113.66")
    assert sign_in("secret-pass-123", address="203.0.113.66").status_code == 429

    response = sign_in("secret-pass-123", address="10.2.2.2")

    assert response.status_code == 302
    assert response.wsgi_request.session["_auth_user_id"] == str(owner.pk)


def test_the_fullwidth_username_counts_as_the_same_account(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    for _ in range(3):
        assert sign_in("wrong", username="owner").status_code == 400

    # Django signs `ｏｗｎｅｒ` in as `owner` (NFKC): it must meet the same lock.
    response = sign_in("secret-pass-123", username="ｏｗｎｅｒ")

    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def test_the_fullwidth_username_failures_lock_the_plain_one(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    for _ in range(3):
        sign_in("wrong", username="ｏｗｎｅｒ")

    assert sign_in("secret-pass-123", username="owner").status_code == 429


def test_the_throttle_is_per_account(owner, teammate, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    for _ in range(3):
        sign_in("wrong", username="owner", address="10.1.1.1")

    assert sign_in("secret-pass-123", username="teammate", address="10.2.2.2").status_code == 302


def test_the_throttle_is_per_address(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 2
    # Eight different unknown accounts from one address: no single account hits its limit …
    for n in range(8):
        assert sign_in("guess", username=f"nobody{n}", address="10.6.6.6").status_code == 400

    # … but the address (limit × 4) is now shut, for every account.
    assert sign_in("secret-pass-123", address="10.6.6.6").status_code == 429
    assert sign_in("secret-pass-123", address="10.7.7.7").status_code == 302


def test_a_successful_sign_in_resets_the_account_failures(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    sign_in("wrong")
    sign_in("wrong")
    assert sign_in("secret-pass-123").status_code == 302

    sign_in("wrong")
    sign_in("wrong")

    assert sign_in("secret-pass-123").status_code == 302
    assert LoginAttempt.objects.filter(succeeded=True).count() == 2


def test_throttled_attempts_are_not_counted_as_new_failures(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 2
    sign_in("wrong")
    sign_in("wrong")
    failures = LoginAttempt.objects.filter(succeeded=False).count()

    assert sign_in("wrong").status_code == 429
    assert LoginAttempt.objects.filter(succeeded=False).count() == failures


def test_the_throttle_sees_each_client_behind_a_trusted_proxy(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    settings.RAPPORT_TRUSTED_PROXIES = ("10.0.0.0/8",)

    def via_balancer(password, client_ip):
        client = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=client_ip)
        return client.post(reverse("accounts:login"), {"username": "owner", "password": password})

    for _ in range(3):
        via_balancer("guess", "203.0.113.66")
    assert via_balancer("secret-pass-123", "203.0.113.66").status_code == 429

    # The balancer's own address is not the client: the real user is not locked out with them.
    assert via_balancer("secret-pass-123", "198.51.100.7").status_code == 302
    assert LoginAttempt.objects.filter(ip_address="203.0.113.66").count() == 3
