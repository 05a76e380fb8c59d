"""Real Chromium: a rep quotes a deal, the customer's acceptance is recorded, the deal is won."""

import os

import pytest

from rapport.commerce.tests.factories import make_product
from rapport.sales.models import Quote
from rapport.sales.services.deal_lines import add_deal_line

pytestmark = pytest.mark.browser


def test_quote_a_deal_record_the_acceptance_and_win_the_deal(
    transactional_db, signed_in_page, owner, admin_user, make_deal
):
    tea = make_product(actor=admin_user, name="Assam Tea", sku="TEA-1", price="12.50")
    deal = make_deal(owner=owner, name="Tea for Acme")
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=4, discount="10")
    page = signed_in_page(owner)
    page.goto(f"/sales/deals/{deal.pk}/")

    page.locator("#deal-quotes").get_by_role("link", name="New quote").click()
    page.get_by_label("Notes to the customer").fill("Delivery in May.")
    page.get_by_role("button", name="Create quote").click()
    quote = Quote.objects.get()
    page.wait_for_url(f"**/sales/quotes/{quote.pk}/")
    page.locator(".quote-document", has_text="Delivery in May.").wait_for()
    if os.environ.get("RAPPORT_SCREENSHOTS"):
        page.screenshot(path=os.environ["RAPPORT_SCREENSHOTS"] + "/quote.png", full_page=True)

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Mark accepted").click()
    page.wait_for_url(f"**/sales/deals/{deal.pk}/")
    offer = page.locator(".quote-won-offer")
    offer.wait_for()
    if os.environ.get("RAPPORT_SCREENSHOTS"):
        page.locator("#deal-quotes").screenshot(
            path=os.environ["RAPPORT_SCREENSHOTS"] + "/deal-quotes.png"
        )
    offer.get_by_role("button", name="Move to Won").click()
    page.locator(".badge.deal-status-won").wait_for()
    deal.refresh_from_db()
    quote.refresh_from_db()
    assert (deal.status, quote.status) == ("won", "accepted")
