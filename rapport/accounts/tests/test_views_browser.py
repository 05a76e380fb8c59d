"""Administration in a real browser: the pages work without inline script or style (the shared
fixture fails the test on any CSP violation or JavaScript error)."""

import re

import pytest

from rapport.accounts.models import ApiToken, User
from rapport.customfields.models import CustomFieldDefinition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_adds_a_custom_field_and_a_user(signed_in_page, admin_user, sales_team):
    page = signed_in_page(admin_user)

    page.goto("/accounts/admin/")
    page.get_by_role("link", name="Custom fields").first.click()
    page.get_by_role("link", name="Add a field").click()
    page.select_option("#id_field_type", "choice")
    page.fill("#id_key", "Customer Tier")
    page.fill("#id_label", "Customer tier")
    page.fill("#id_choices", "Gold\nSilver\nBronze")
    page.click("button[type=submit].primary")

    error = page.locator("#id_key_error")
    assert "lowercase letters" in error.inner_text()
    assert not CustomFieldDefinition.objects.exists()

    page.fill("#id_key", "tier")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/custom-fields/\?entity=contact$"))
    assert page.get_by_role("link", name="Customer tier").is_visible()
    assert CustomFieldDefinition.objects.get(key="tier").choices == ["Gold", "Silver", "Bronze"]

    page.goto("/accounts/admin/users/new/")
    page.fill("#id_username", "grace")
    page.fill("#id_email", "grace@example.com")
    page.fill("#id_first_name", "Grace")
    page.check(f"input[name=teams][value='{sales_team.pk}']")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/accounts/admin/users/\d+/$"))
    grace = User.objects.get(username="grace")
    assert list(grace.teams.all()) == [sales_team]


def test_a_user_creates_a_token_and_sees_it_once(signed_in_page, owner):
    page = signed_in_page(owner)

    page.goto("/accounts/me/")
    page.fill("#id_token-name", "Spreadsheet sync")
    page.get_by_role("button", name="Create token").click()

    secret = page.locator("#new-token-secret").input_value()
    assert secret.startswith("rpt_")
    assert ApiToken.objects.get(user=owner).key_hash == ApiToken.hash_key(secret)

    page.goto("/accounts/me/")
    assert page.locator("#new-token-secret").count() == 0
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke token Spreadsheet sync").click()
    page.wait_for_url(re.compile(r"/accounts/me/$"))
    assert ApiToken.objects.get(user=owner).revoked_at is not None


def test_a_user_turns_on_two_factor_sign_in(signed_in_page, owner, settings):
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page = signed_in_page(owner)
    page.goto("/accounts/me/")
    page.get_by_role("link", name="Set up two-factor sign-in").click()

    # The QR code is a data: image: the CSP allows it and it renders.
    qr = page.get_by_role("img", name="QR code to scan with your authenticator app")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    device = TOTPDevice.objects.get(user=owner, confirmed=False)
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    page.fill("#id_code", f"{code:06d}")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    assert page.get_by_role("heading", name="Your recovery codes").is_visible()
    assert page.locator(".recovery-codes li").count() == 10
    page.get_by_role("link", name="Done").click()
    assert page.get_by_role("button", name="New recovery codes").is_visible()
