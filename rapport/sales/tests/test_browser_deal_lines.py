"""Real Chromium: products are added to a deal by name with type-ahead, and changed in place."""

import pytest

from rapport.commerce.tests.factories import make_product
from rapport.sales.models import DealLine

pytestmark = pytest.mark.browser


def test_add_a_product_by_name_then_change_its_quantity(
    transactional_db, signed_in_page, owner, admin_user, make_deal
):
    tea = make_product(actor=admin_user, name="Assam Tea", sku="TEA-1", price="12.50")
    deal = make_deal(owner=owner, name="Tea for Acme", amount="300.00")
    page = signed_in_page(owner)
    page.goto(f"/sales/deals/{deal.pk}/")

    lines = page.locator("#deal-lines")
    lines.get_by_role("combobox", name="Product").fill("assam")
    lines.locator("#id_product_options [role=option]", has_text="Assam Tea").click()
    lines.locator("#id_quantity").fill("4")
    lines.locator("#id_discount").fill("10")
    lines.get_by_role("button", name="Add product").click()
    # The fragment comes back with the line, and the header's amount follows (out of band).
    page.locator("#deal-amount", has_text="€45.00").wait_for()

    line = DealLine.objects.get(deal=deal)
    assert (line.product, line.quantity, str(line.line_total)) == (tea, 4, "45.00")
    lines.locator(f"#id_line-{line.pk}-quantity").fill("2")
    lines.get_by_role("button", name="Save").click()
    page.locator("#deal-amount", has_text="€22.50").wait_for()
    line.refresh_from_db()
    assert line.quantity == 2
