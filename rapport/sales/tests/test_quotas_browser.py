"""Real Chromium: a manager fills the quota grid and sees the attainment bar, under the strict
Content-Security-Policy (the page fails on any inline style or script)."""

import pytest
from django.utils import timezone

from rapport.sales import quota_periods
from rapport.sales.models import Quota

pytestmark = pytest.mark.browser


def test_a_manager_fills_the_grid_and_sees_the_bar(
    transactional_db, signed_in_page, admin_user, owner, make_deal, stages
):
    today = timezone.localdate()
    month = quota_periods.key_of(*quota_periods.month_bounds(today))
    make_deal(
        owner=owner,
        amount="750.00",
        stage=stages["Won"],
        expected_close_date=today,
    )
    page = signed_in_page(admin_user)
    page.goto(f"/sales/quotas/?period={month}")

    page.get_by_label(f"{owner}, {quota_periods.label(*quota_periods.month_bounds(today))}").fill(
        "3000"
    )
    page.get_by_role("button", name="Save quotas").click()
    page.get_by_text("Quotas saved: 1 set, 0 removed.").wait_for()

    bar = page.locator("table.quota-table meter.quota-bar").first
    assert bar.get_attribute("value") == "750.00"
    assert bar.get_attribute("max") == "3000.00"
    page.get_by_text("25.0 %").first.wait_for()
    assert Quota.objects.get().user == owner
