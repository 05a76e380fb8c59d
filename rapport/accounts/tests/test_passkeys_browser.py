"""Passkeys in a real browser: Chromium's virtual authenticator (set up through the DevTools
protocol, as a platform authenticator with a PIN or fingerprint that always verifies) stands in
for the user's device, so static/js/passkeys.js, the WebAuthn API and the server's checks all run
for real. The shared fixture fails the test on any CSP violation or JavaScript error."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from rapport.accounts.models import LoginAttempt, Passkey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_virtual_authenticator(page, *, user_verified: bool = True) -> str:
    """A platform authenticator (like a laptop's fingerprint reader) on this page; its id."""
    session = page.context.new_cdp_session(page)
    session.send("WebAuthn.enable")
    answer = session.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": user_verified,
                "automaticPresenceSimulation": True,
            }
        },
    )
    page.rapport_webauthn = session
    return answer["authenticatorId"]


def stored_credentials(page, authenticator_id: str) -> list[dict]:
    answer = page.rapport_webauthn.send(
        "WebAuthn.getCredentials", {"authenticatorId": authenticator_id}
    )
    return answer["credentials"]


def sign_out(page) -> None:
    page.locator("details.usermenu summary").click()
    with page.expect_navigation():
        page.locator("details.usermenu").get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))


def add_passkey_on_account_page(page, name: str) -> None:
    page.goto("/accounts/me/")
    page.fill("#id_passkey_name", name)
    with page.expect_navigation():
        page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url(re.compile(r"/accounts/me/$"))


def test_a_user_adds_a_passkey_signs_out_and_signs_in_with_it(signed_in_page, owner):
    page = signed_in_page(owner)
    authenticator = add_virtual_authenticator(page)

    # A name is asked before the device is.
    page.goto("/accounts/me/")
    page.get_by_role("button", name="Add a passkey").click()
    error = page.locator("#passkey-add-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "Give the passkey a name, such as “Work laptop”."
    assert page.locator("#id_passkey_name").get_attribute("aria-invalid") == "true"
    assert not Passkey.objects.exists()

    add_passkey_on_account_page(page, "This laptop")

    assert page.get_by_text("Your passkey “This laptop” is added.").is_visible()
    row = page.locator("table.passkeys tbody tr")
    assert row.count() == 1
    assert row.locator("td").nth(0).inner_text() == "This laptop"
    assert row.locator("td").nth(2).inner_text() == "never"
    passkey = Passkey.objects.get(user=owner)
    assert passkey.transports == ["internal"]
    # The device keeps it as a discoverable credential for this site and this account.
    [credential] = stored_credentials(page, authenticator)
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"

    sign_out(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in with a passkey").click()

    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("details.usermenu").is_visible()
    passkey.refresh_from_db()
    assert passkey.last_used_at is not None
    assert passkey.sign_count == stored_credentials(page, authenticator)[0]["signCount"] > 0
    assert LoginAttempt.objects.filter(username="owner", succeeded=True).count() == 2

    page.goto("/accounts/me/")
    assert page.locator("table.passkeys tbody tr td").nth(2).inner_text() != "never"


def test_a_device_that_cannot_verify_the_user_does_not_sign_in(signed_in_page, owner):
    page = signed_in_page(owner)
    authenticator = add_virtual_authenticator(page)
    add_passkey_on_account_page(page, "This laptop")
    sign_out(page)
    # The fingerprint no longer matches: the device says the user was not verified.
    page.rapport_webauthn.send(
        "WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False}
    )

    page.get_by_role("button", name="Sign in with a passkey").click()

    error = page.locator("#passkey-sign-in [data-passkey-error]")
    error.wait_for(state="visible")
    assert "cancelled or timed out" in error.inner_text()
    assert "/accounts/login/" in page.url
    assert LoginAttempt.objects.filter(username="owner", succeeded=True).count() == 1


def test_a_passkey_answers_the_code_step_and_is_removed_with_the_password(signed_in_page, owner):
    page = signed_in_page(owner)
    add_virtual_authenticator(page)
    add_passkey_on_account_page(page, "This laptop")
    TOTPDevice.objects.create(user=owner, name="Authenticator app", confirmed=True)
    sign_out(page)

    page.fill("#id_username", "owner")
    page.fill("#id_password", "secret-pass-123")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/accounts/login/code/$"))
    with page.expect_navigation():
        page.get_by_role("button", name="Use a passkey instead").click()
    page.wait_for_url(re.compile(r"/$"))

    # Signed in minutes ago: a removal does not ask the password again.
    page.goto("/accounts/me/")
    page.get_by_role("link", name="Remove the passkey This laptop").click()
    page.wait_for_url(re.compile(r"/accounts/me/passkeys/\d+/remove/$"))
    assert page.locator("#id_password").count() == 0
    with page.expect_navigation():
        page.get_by_role("button", name="Remove the passkey").click()
    page.wait_for_url(re.compile(r"/accounts/me/$"))
    assert page.get_by_text("The passkey “This laptop” no longer signs you in.").is_visible()
    assert not Passkey.objects.exists()
