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
