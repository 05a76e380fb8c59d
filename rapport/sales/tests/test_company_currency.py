"""The board and the forecast in one company currency, with the originals and missing rates."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from rapport.commerce import rates
from rapport.sales.services.deals import move_deal

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def usd_rate(admin_user):
    # Valid since well before any deal the tests make.
    return rates.add_rate(
        actor=admin_user,
        currency="USD",
        rate="0.9",
        valid_on=timezone.localdate() - dt.timedelta(days=400),
    )


def test_the_board_shows_one_open_total_with_originals_and_the_missing_rate(
    web_client_for, owner, make_deal, stages, pipeline, usd_rate, django_assert_max_num_queries
):
    close = timezone.localdate() + dt.timedelta(days=20)
    make_deal(owner=owner, name="Euro deal", amount="1000.00", expected_close_date=close)
    make_deal(owner=owner, name="Dollar deal", amount="200.00", currency="USD")
    make_deal(owner=owner, name="Dollar deal 2", amount="50.50", currency="USD")
    make_deal(owner=owner, name="Pound deal", amount="300.00", currency="GBP")
    won = make_deal(owner=owner, name="Won dollars", amount="9999.00", currency="USD")
    move_deal(actor=owner, deal=won, stage=stages["Won"])
    client = web_client_for(owner)
    with django_assert_max_num_queries(20):
        response = client.get(f"/sales/pipelines/{pipeline.pk}/")
    total = response.context["open_total"]
    # 1000 + (200 + 50.50) × 0.9; the pound deal has no rate and the won deal is not open.
    assert (total.currency, total.amount) == ("EUR", D("1225.45"))
    assert total.originals == [("EUR", D("1000.00")), ("GBP", D("300.00")), ("USD", D("250.50"))]
    html = response.content.decode()
    assert "Open pipeline: €1,225.45" in html
    assert "= €1,000.00 + £300.00 + $250.50, each converted at its expected close date" in html
    assert (
        f"Left out of the total: No GBP rate on or before {close.isoformat()} "
        "(1 deal, £300.00). An administrator can add the rates."
    ) in html


def test_the_board_total_in_the_company_currency_alone_shows_no_originals_or_note(
    web_client_for, owner, admin_user, make_deal, pipeline
):
    make_deal(owner=owner, name="Euro deal", amount="1000.00")
    html = web_client_for(admin_user).get(f"/sales/pipelines/{pipeline.pk}/").content.decode()
    assert "Open pipeline: €1,000.00</strong></p>" in html
    assert "data-missing-rates" not in html


def test_the_board_converts_to_the_currency_the_administrator_chose(
    web_client_for, owner, admin_user, make_deal, pipeline
):
    make_deal(owner=owner, name="Euro deal", amount="1000.00")
    make_deal(owner=owner, name="Pound deal", amount="100.00", currency="GBP")
    rates.set_company_currency(actor=admin_user, code="GBP")
    rates.add_rate(actor=admin_user, currency="EUR", rate="0.85", valid_on="2000-01-01")
    html = web_client_for(admin_user).get(f"/sales/pipelines/{pipeline.pk}/").content.decode()
    assert "Open pipeline: £950.00</strong>" in html
    assert "data-missing-rates" not in html


def test_the_forecast_adds_a_company_currency_table_and_names_missing_rates(
    web_client_for, owner, admin_user, make_deal, stages, pipeline, usd_rate
):
    close = timezone.localdate() + dt.timedelta(days=20)
    make_deal(owner=owner, name="Euro", amount="1000.00", expected_close_date=close)
    make_deal(
        owner=owner, name="Dollars", amount="1000.00", currency="USD", expected_close_date=close
    )
    make_deal(
        owner=owner, name="Pounds", amount="400.00", currency="GBP", expected_close_date=close
    )
    won = make_deal(owner=owner, name="Won dollars", amount="100.00", currency="USD")
    move_deal(actor=owner, deal=won, stage=stages["Won"])
    response = web_client_for(admin_user).get(f"/sales/pipelines/{pipeline.pk}/analytics/")
    report = response.context["report"]
    assert report["company_currency"] == "EUR"
    probability = D(stages["Qualification"].weight) / 100
    close_month = close.replace(day=1)
    row = next(r for r in report["forecast_company"] if r.month == close_month)
    assert row.currency == "EUR"
    assert row.open_total == D("1900.00")  # 1000 + 1000 × 0.9
    assert row.weighted_open == (D("1900") * probability).quantize(D("0.01"))
    this_month = next(
        r for r in report["forecast_company"] if r.month == timezone.localdate().replace(day=1)
    )
    assert this_month.won == D("90.00")  # won today, converted at today's rate
    # The per-currency breakdown is still there.
    assert {r.currency for r in report["forecast"]} == {"EUR", "GBP", "USD"}
    assert [m.text for m in report["forecast_missing"]] == [
        f"No GBP rate on or before {close.isoformat()}"
    ]
    html = response.content.decode()
    assert "All currencies in EUR" in html and "By original currency" in html
    assert "€1,900.00" in html
    assert f"No GBP rate on or before {close.isoformat()} (1 deal, £400.00)." in html
    assert 'href="/commerce/exchange-rates/?currency=GBP">Add a GBP rate</a>' in html
    assert response.context["chart_data"]["currency"] == "EUR"
