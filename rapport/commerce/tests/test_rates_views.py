"""The administration page for the company currency and exchange rates."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rapport.commerce import rates
from rapport.commerce.models import CompanyCurrency, ExchangeRate

pytestmark = pytest.mark.django_db

URL = "/commerce/exchange-rates/"
ECB_FILE = Path(__file__).parent / "data" / "ecb_rates.csv"


def test_an_administrator_adds_a_rate_and_sees_it_listed(web_client_for, admin_user):
    client = web_client_for(admin_user)
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Company currency: EUR" in html and "No rates to EUR yet" in html
    assert 'aria-current="page">Currency</a>' in html
    answer = client.post(
        URL, {"action": "add", "currency": "USD", "rate": "0.92", "valid_on": "2026-03-01"}
    )
    assert answer.status_code == 302
    row = ExchangeRate.objects.get()
    assert (row.currency, row.rate, row.valid_on) == ("USD", Decimal("0.92"), dt.date(2026, 3, 1))
    html = client.get(URL).content.decode()
    assert "Added the rate 1 USD = 0.92 EUR from 2026-03-01." in html
    assert '<td class="num mono">0.92</td>' in html


def test_a_rate_of_zero_is_refused_beside_the_field(web_client_for, admin_user):
    answer = web_client_for(admin_user).post(
        URL, {"action": "add", "currency": "USD", "rate": "0", "valid_on": "2026-03-01"}
    )
    assert answer.status_code == 422
    assert answer.context["rate_form"].errors == {"rate": ["Must be greater than zero."]}
    assert "Must be greater than zero." in answer.content.decode()
    assert not ExchangeRate.objects.exists()


def test_an_administrator_imports_an_ecb_file_and_sees_the_skipped_rows(web_client_for, admin_user):
    upload = SimpleUploadedFile("eurofxref-hist.csv", ECB_FILE.read_bytes(), "text/csv")
    answer = web_client_for(admin_user).post(URL, {"action": "import", "file": upload})
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "7 new rates, 0 replaced, 2 rows skipped." in html
    assert "Line 4: Not a positive rate: USD “one”; the row was skipped." in html
    assert "Line 5: “yesterday” is not a date as YYYY-MM-DD." in html
    assert ExchangeRate.objects.count() == 7


def test_an_administrator_changes_the_company_currency_and_deletes_a_rate(
    web_client_for, admin_user
):
    rate = rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    client = web_client_for(admin_user)
    assert client.post(f"{URL}{rate.pk}/delete/").status_code == 302
    assert not ExchangeRate.objects.exists()
    rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    assert client.post(URL, {"action": "currency", "code": "GBP"}).status_code == 302
    assert rates.company_currency() == "GBP"
    html = client.get(URL).content.decode()
    assert "Company currency: GBP" in html
    assert "1 rate given for an earlier company currency is kept but not used." in html


def test_people_who_do_not_administer_are_refused_and_nothing_is_written(
    web_client_for, admin_user, owner
):
    rate = rates.add_rate(actor=admin_user, currency="USD", rate="0.9", valid_on="2026-01-01")
    client = web_client_for(owner)
    assert client.get(URL).status_code == 403
    posts = [
        {"action": "add", "currency": "GBP", "rate": "1.2", "valid_on": "2026-01-01"},
        {"action": "currency", "code": "GBP"},
        {"action": "import", "file": SimpleUploadedFile("r.csv", ECB_FILE.read_bytes())},
    ]
    for data in posts:
        assert client.post(URL, data).status_code == 403
    assert client.post(f"{URL}{rate.pk}/delete/").status_code == 403
    assert list(ExchangeRate.objects.values_list("currency", flat=True)) == ["USD"]
    assert not CompanyCurrency.objects.exists()


def test_a_missing_rate_link_offers_its_currency_even_one_no_picker_lists(
    web_client_for, admin_user
):
    client = web_client_for(admin_user)
    form = client.get(URL + "?currency=nzd").context["rate_form"]
    assert form["currency"].value() == "NZD"
    assert ("NZD", "NZD") in form.fields["currency"].choices
    plain = client.get(URL + "?currency=EUR").context["rate_form"]
    assert ("EUR", "EUR") not in plain.fields["currency"].choices  # the company currency
    assert ("NZD", "NZD") not in plain.fields["currency"].choices
    added = client.post(
        URL + "?currency=NZD",
        {"action": "add", "currency": "NZD", "rate": "0.55", "valid_on": "2026-03-01"},
    )
    assert added.status_code == 302
    assert list(ExchangeRate.objects.values_list("currency", "rate")) == [("NZD", Decimal("0.55"))]
