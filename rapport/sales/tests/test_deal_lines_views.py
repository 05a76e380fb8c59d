"""The product lines editor on the deal page, and the product type-ahead it picks from."""

from decimal import Decimal

import pytest

from rapport.commerce.tests.factories import make_product
from rapport.sales.models import DealLine
from rapport.sales.services.deal_lines import add_deal_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea(admin_user):
    return make_product(actor=admin_user, name="Assam Tea", sku="TEA-1", price="12.50")


@pytest.fixture
def deal(make_deal, owner):
    return make_deal(owner=owner, name="Tea for Acme", amount="300.00")


def test_the_deal_page_offers_the_editor_to_who_may_change_the_deal(
    web_client_for, owner, read_only_user, deal, tea
):
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    html = web_client_for(owner).get(f"/sales/deals/{deal.pk}/").content.decode()
    assert 'id="deal-lines"' in html
    assert "Add a product" in html
    assert "Assam Tea" in html and "€25.00" in html
    assert 'data-suggest-url="/commerce/products/suggest/"' in html
    assert "<script>" not in html and "style=" not in html
    viewer = web_client_for(read_only_user).get(f"/sales/deals/{deal.pk}/").content.decode()
    assert "Assam Tea" in viewer
    assert "Add a product" not in viewer
    assert f"/sales/deals/{deal.pk}/lines/add/" not in viewer


def test_adding_a_line_with_htmx_answers_the_fragment_and_the_new_amount(
    web_client_for, owner, deal, tea
):
    response = web_client_for(owner).post(
        f"/sales/deals/{deal.pk}/lines/add/",
        {"product": str(tea.pk), "product_label": "Assam Tea", "quantity": "3", "discount": "10"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card deal-lines" id="deal-lines">')
    assert 'id="deal-amount" hx-swap-oob="true">€33.75' in html
    deal.refresh_from_db()
    assert deal.amount == Decimal("33.75")


def test_a_product_typed_by_name_without_javascript_and_a_bad_one(web_client_for, owner, deal, tea):
    client = web_client_for(owner)
    typed = client.post(
        f"/sales/deals/{deal.pk}/lines/add/",
        {"product": "", "product_label": "assam tea", "quantity": "1"},
    )
    assert typed.status_code == 302
    assert DealLine.objects.filter(deal=deal, product=tea).count() == 1
    unknown = client.post(
        f"/sales/deals/{deal.pk}/lines/add/",
        {"product": "", "product_label": "Coffee", "quantity": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert unknown.status_code == 422
    assert "No product of the catalogue has this name or SKU." in unknown.content.decode()
    bad_quantity = client.post(
        f"/sales/deals/{deal.pk}/lines/add/",
        {"product": str(tea.pk), "quantity": "0"},
    )
    assert bad_quantity.status_code == 422  # the deal page, the message beside the field
    assert "Ensure this value is greater than or equal to 1." in bad_quantity.content.decode()
    assert DealLine.objects.filter(deal=deal).count() == 1


def test_changing_and_removing_a_line_on_the_page(web_client_for, owner, deal, tea):
    line = add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    client = web_client_for(owner)
    changed = client.post(
        f"/sales/deals/{deal.pk}/lines/{line.pk}/",
        {f"line-{line.pk}-quantity": "4", f"line-{line.pk}-unit_price": "10.00"},
        HTTP_HX_REQUEST="true",
    )
    assert changed.status_code == 200
    line.refresh_from_db()
    assert (line.quantity, line.line_total) == (4, Decimal("40.00"))
    refused = client.post(
        f"/sales/deals/{deal.pk}/lines/{line.pk}/",
        {f"line-{line.pk}-quantity": "4", f"line-{line.pk}-discount": "101"},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 422
    assert "Ensure this value is less than or equal to 100." in refused.content.decode()
    removed = client.post(f"/sales/deals/{deal.pk}/lines/{line.pk}/remove/")
    assert removed.status_code == 302
    assert not DealLine.objects.exists()


def test_strangers_cannot_post_lines(web_client_for, read_only_user, outsider, deal, tea):
    url = f"/sales/deals/{deal.pk}/lines/add/"
    assert web_client_for(read_only_user).post(url, {"product": tea.pk}).status_code == 403
    assert web_client_for(outsider).post(url, {"product": tea.pk}).status_code == 404
    assert not DealLine.objects.exists()


def test_the_edit_form_leaves_the_amount_to_the_lines(web_client_for, owner, deal, tea):
    add_deal_line(actor=owner, deal=deal, product=tea, quantity=2)
    client = web_client_for(owner)
    page = client.get(f"/sales/deals/{deal.pk}/edit/").content.decode()
    assert 'name="amount"' not in page
    assert "the total of the product lines" in page


def test_product_suggestions_offer_active_products_by_name_or_sku(
    web_client_for, owner, admin_user, tea
):
    make_product(actor=admin_user, name="Old Tea", sku="TEA-OLD", is_active=False)
    client = web_client_for(owner)
    by_name = client.get("/commerce/products/suggest/?q=tea").json()
    assert by_name == [{"id": tea.pk, "label": "Assam Tea", "detail": "TEA-1 · 12.50 EUR"}]
    assert client.get("/commerce/products/suggest/?q=tea-1").json()[0]["id"] == tea.pk
    assert client.get("/commerce/products/suggest/?q=t").json() == []


def test_product_suggestions_pass_over_a_nul(web_client_for, owner, tea):
    # PostgreSQL refuses a NUL in a parameter: it is dropped, not sent.
    found = web_client_for(owner).get("/commerce/products/suggest/?q=Ass%00am").json()
    assert [item["id"] for item in found] == [tea.pk]
