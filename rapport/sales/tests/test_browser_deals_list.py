"""Real Chromium: the deals table filters, sorts and acts on a selection, without scrolling
sideways on a laptop or a phone (and, through `browser_page`, without a CSP violation or a
JavaScript error)."""

import os
import tempfile

import pytest
from playwright.sync_api import expect

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.sales.models import Deal

pytestmark = pytest.mark.browser

# Screenshots for a person to look at after a run.
SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOT_DIR", tempfile.gettempdir())

SIDEWAYS = """() => {
  const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  const wrap = document.querySelector('.table-wrap');
  return [page, wrap ? wrap.scrollWidth - wrap.clientWidth : 0];
}"""


def test_filter_sort_and_move_the_selected_deals_at_laptop_and_phone_widths(
    transactional_db, signed_in_page, owner, make_deal, stages
):
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")
    navy = make_organization(
        actor=owner, owner=owner, name="United States Navy Bureau of Ordnance Computation"
    )
    make_deal(
        owner=owner,
        name="Harvard Mark I compiler rollout for the whole fleet",
        amount="125000.00",
        contact=grace,
        organization=navy,
    )
    make_deal(owner=owner, name="Small pilot", amount="900.00", contact=grace)
    make_deal(owner=owner, name="Unrelated", amount="50.00")
    page = signed_in_page(owner)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/sales/deals/")
    rows = page.locator("#deal-results tbody tr")
    expect(rows).to_have_count(3)
    assert page.evaluate(SIDEWAYS) == [0, 0]

    page.locator("#deal-q").fill("hopper")
    expect(rows).to_have_count(2)
    expect(page.locator("[data-deal-count]")).to_have_text("2 deals match")
    page.get_by_role("link", name="Amount", exact=True).click()
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Amount▲")
    expect(rows.first).to_contain_text("Small pilot")

    page.locator("#deal-results thead input[type=checkbox]").check()
    page.screenshot(path=os.path.join(SCREENSHOTS, "deals-list-laptop.png"), full_page=True)
    bar = page.locator("[data-bulk-bar]")
    expect(bar.locator("[data-bulk-summary]")).to_have_text("2 deals selected")
    bar.get_by_label("Action").select_option("move_to_stage")
    stage = bar.locator("select[name=params-stage]")
    expect(stage).to_be_visible()
    stage.select_option(str(stages["Proposal"].pk))
    with page.expect_navigation():
        bar.get_by_role("button", name="Apply to selection").click()
    expect(page.locator("[data-bulk-changed]")).to_have_text("2")
    assert set(Deal.objects.filter(stage=stages["Proposal"]).values_list("name", flat=True)) == {
        "Harvard Mark I compiler rollout for the whole fleet",
        "Small pilot",
    }

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/sales/deals/?sort=-amount")
    expect(rows).to_have_count(3)
    assert page.evaluate(SIDEWAYS) == [0, 0]
    page.screenshot(path=os.path.join(SCREENSHOTS, "deals-list-phone.png"), full_page=True)
    # The hidden columns' stage and organization ride on the deal's second line.
    expect(rows.first.locator(".deal-narrow")).to_contain_text("Proposal")
    expect(rows.first.locator(".deal-narrow")).to_be_visible()
