"""The business currency is the company currency: one source for defaults and analytics."""

import pytest
from django.utils import timezone

from rapport.analytics import refresh
from rapport.commerce import rates, services
from rapport.commerce.tests.factories import make_order
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db


def test_rapport_currency_is_only_the_default_until_an_administrator_chooses(settings, admin_user):
    settings.RAPPORT_CURRENCY = "CHF"
    assert services.business_currency() == "CHF"
    rates.set_company_currency(actor=admin_user, code="GBP")
    # The environment no longer decides once the administrator has.
    settings.RAPPORT_CURRENCY = "SEK"
    assert services.business_currency() == "GBP"


def test_new_products_and_orders_default_to_the_administrators_choice(admin_user, owner):
    rates.set_company_currency(actor=admin_user, code="GBP")
    product = services.create_product(actor=admin_user, name="Tea", sku="TEA-1", price="4.00")
    assert product.currency == "GBP"
    contact = make_contact(owner=owner, first_name="Ada")
    order = services.place_order(actor=admin_user, contact=contact, total="9.00", status="paid")
    assert order.currency == "GBP"


def test_the_analytics_refresh_measures_in_the_administrators_choice(admin_user, owner):
    rates.set_company_currency(actor=admin_user, code="GBP")
    contact = make_contact(owner=owner, first_name="Ada")
    make_order(contact=contact, actor=admin_user, status="paid", total="30.00", currency="GBP")
    run = refresh.refresh_now(actor=admin_user, as_of=timezone.localdate())
    assert run.currency == "GBP"
    assert run.n_orders == 1
