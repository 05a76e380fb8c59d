"""Two-factor sign-in: set-up from My account, the code step, recovery codes, roles requiring it."""

import datetime as dt

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rapport.accounts import two_factor
from rapport.accounts.models import LoginAttempt
from rapport.accounts.services import create_role, update_role
from rapport.audit.models import ChangeRecord

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_otp_delay(settings):
    # django-otp makes a device wait after a wrong code; these tests type the right one next.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code the user's app shows now (or `steps_ahead` periods later: a wrong one)."""
    generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    generator.time += steps_ahead * device.step
    return f"{generator.token():0{device.digits}d}"


def with_authenticator(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def password_step(client: Client, username="owner", next_url=""):
    data = {"username": username, "password": "secret-pass-123"}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("accounts:login"), data)


def code_step(client: Client, code: str):
    return client.post(reverse("accounts:login_code"), {"code": code})


# Setting it up --------------------------------------------------------------------------------


def test_setting_up_shows_a_qr_code_and_turns_on_with_a_right_code(owner, web_client_for):
    client = web_client_for(owner)

    page = client.get(reverse("accounts:two_factor_setup"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html
    device = TOTPDevice.objects.get(user=owner, confirmed=False)
    assert two_factor.manual_key(device).replace(" ", "") in html.replace(" ", "")

    wrong = client.post(reverse("accounts:two_factor_setup"), {"code": "000000"})
    assert wrong.status_code == 422
    assert "This code does not match" in wrong.content.decode()
    assert not two_factor.has_two_factor(owner)

    done = client.post(reverse("accounts:two_factor_setup"), {"code": code_for(device)})

    assert done.status_code == 201
    assert two_factor.has_two_factor(owner)
    codes = list(StaticToken.objects.filter(device__user=owner).values_list("token", flat=True))
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT
    assert all(code in done.content.decode() for code in codes)
    assert done["Cache-Control"] == "no-store"
    record = ChangeRecord.objects.get(message="Two-factor sign-in turned on")
    assert record.actor_id == owner.pk
    assert not any(code in str(record.after) for code in codes)


def test_the_account_page_says_whether_two_factor_is_on(owner, web_client_for):
    client = web_client_for(owner)
    assert "Set up two-factor sign-in" in client.get(reverse("accounts:account")).content.decode()

    with_authenticator(owner)

    page = client.get(reverse("accounts:account")).content.decode()
    assert "New recovery codes" in page and "Turn off" in page


# Signing in -----------------------------------------------------------------------------------


def test_a_right_password_alone_does_not_sign_in(owner):
    with_authenticator(owner)
    client = Client()

    response = password_step(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login_code")
    assert SESSION_KEY not in client.session
    assert client.get(reverse("accounts:account")).status_code == 302


def test_the_right_code_signs_in_and_goes_to_next(owner):
    device = with_authenticator(owner)
    client = Client()
    password_step(client, next_url="/accounts/me/")

    response = code_step(client, code_for(device))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/me/"
    assert client.session[SESSION_KEY] == str(owner.pk)
    assert LoginAttempt.objects.filter(username="owner", succeeded=True).count() == 1


def test_a_wrong_code_is_refused_beside_the_field_and_counted(owner):
    device = with_authenticator(owner)
    client = Client()
    password_step(client)

    response = code_step(client, code_for(device, steps_ahead=10))

    assert response.status_code == 400
    assert "This code is not right" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert LoginAttempt.objects.filter(username="owner", succeeded=False).count() == 1


def test_the_code_step_is_throttled_like_the_password(owner, settings):
    settings.RAPPORT_LOGIN_MAX_ATTEMPTS = 3
    device = with_authenticator(owner)
    client = Client()
    password_step(client)
    for _ in range(3):
        code_step(client, "123456" if code_for(device) != "123456" else "654321")

    response = code_step(client, code_for(device))

    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_recovery_code_works_once(owner):
    with_authenticator(owner)
    codes = two_factor.replace_recovery_codes(actor=owner)

    first = Client()
    password_step(first)
    assert code_step(first, codes[0].upper()).status_code == 302
    assert first.session[SESSION_KEY] == str(owner.pk)

    second = Client()
    password_step(second)
    assert code_step(second, codes[0]).status_code == 400


def test_the_code_step_times_out(owner):
    device = with_authenticator(owner)
    client = Client()
    password_step(client)
    session = client.session
    pending = session["rapport_two_factor_pending"]
    pending["at"] = (dt.datetime.fromisoformat(pending["at"]) - dt.timedelta(minutes=6)).isoformat()
    session["rapport_two_factor_pending"] = pending
    session.save()

    response = code_step(client, code_for(device))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert SESSION_KEY not in client.session


def test_without_two_factor_the_password_signs_in_as_before(owner):
    client = Client()

    assert password_step(client)["Location"] == reverse("core:home")
    assert client.session[SESSION_KEY] == str(owner.pk)


# Roles that require it ------------------------------------------------------------------------


def test_a_role_requiring_two_factor_sends_its_holders_to_set_up(owner, admin_user):
    update_role(actor=admin_user, role=owner.role, requires_two_factor=True)
    client = Client()

    response = password_step(client)

    assert response["Location"] == reverse("accounts:two_factor_setup")
    assert client.get(reverse("contacts:contact_list"))["Location"] == reverse(
        "accounts:two_factor_setup"
    )
    api = client.get("/api/v1/me")
    assert api.status_code == 403
    assert api.json()["detail"] == "Set up two-factor sign-in on My account first."
    page = client.get(reverse("accounts:two_factor_setup")).content.decode()
    assert "Your role requires two-factor sign-in" in page

    device = TOTPDevice.objects.get(user=owner, confirmed=False)
    client.post(reverse("accounts:two_factor_setup"), {"code": code_for(device)})

    assert client.get(reverse("contacts:contact_list")).status_code == 200


def test_a_required_two_factor_cannot_be_turned_off_by_its_holder(owner, admin_user):
    with_authenticator(owner)
    update_role(actor=admin_user, role=owner.role, requires_two_factor=True)
    client = Client()
    client.force_login(owner)

    response = client.post(reverse("accounts:two_factor_off"), follow=True)

    assert "Your role requires two-factor sign-in." in response.content.decode()
    assert two_factor.has_two_factor(owner)


def test_turning_two_factor_off(owner, web_client_for):
    with_authenticator(owner)
    two_factor.replace_recovery_codes(actor=owner)

    response = web_client_for(owner).post(reverse("accounts:two_factor_off"), follow=True)

    assert "Two-factor sign-in is off." in response.content.decode()
    assert not two_factor.has_two_factor(owner)
    assert not StaticToken.objects.filter(device__user=owner).exists()


def test_the_role_form_sets_the_requirement(admin_user, web_client_for):
    role = create_role(actor=admin_user, name="Finance", scopes={}, requires_two_factor=True)
    assert role.requires_two_factor

    page = web_client_for(admin_user).get(reverse("accounts:role_edit", args=[role.pk]))

    assert "Requires two-factor sign-in" in page.content.decode()
