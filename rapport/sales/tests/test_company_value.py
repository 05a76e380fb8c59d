"""Won value, average deal, pipeline by stage and the forecast API in the company currency."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from rapport.commerce import rates
from rapport.sales.services.deals import move_deal

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def usd_rates(admin_user):
    """0.5 long ago, 0.9 from ten days ago: a deal converts with the rate of its own date."""
    today = timezone.localdate()
    rates.add_rate(
        actor=admin_user, currency="USD", rate="0.5", valid_on=today - dt.timedelta(days=400)
    )
    rates.add_rate(
        actor=admin_user, currency="USD", rate="0.9", valid_on=today - dt.timedelta(days=10)
    )


@pytest.fixture
def deals(owner, make_deal, stages, usd_rates):
    today = timezone.localdate()
    long_ago = today - dt.timedelta(days=100)
    make_deal(owner=owner, name="Open euros", amount="1000.00")
    make_deal(owner=owner, name="Open dollars", amount="200.00", currency="USD")
    make_deal(owner=owner, name="Open pounds", amount="300.00", currency="GBP")
    for name, amount, currency in (
        ("Won euros", "500.00", "EUR"),
        ("Won dollars", "1000.00", "USD"),
        ("Won pounds", "50.00", "GBP"),
    ):
        deal = make_deal(
            owner=owner, name=name, amount=amount, currency=currency, expected_close_date=long_ago
        )
        move_deal(actor=owner, deal=deal, stage=stages["Won"])


def test_the_analytics_page_gives_won_value_average_and_stages_in_the_company_currency(
    web_client_for, owner, pipeline, stages, deals
):
    response = web_client_for(owner).get(f"/sales/pipelines/{pipeline.pk}/analytics/")
    value = response.context["report"]["value"]
    assert value.currency == "EUR"
    # Closed today: the dollars convert at 0.9, not at the 0.5 of their expected close date.
    assert value.won.amount == D("1400.00")
    assert value.won.originals == [("EUR", D("500.00")), ("GBP", D("50.00")), ("USD", D("1000.00"))]
    assert value.won_deals == 2
    assert value.average_won == D("700.00")
    first = next(row for row in value.by_stage if row.stage_id == stages["Qualification"].pk)
    assert (first.open_deals, first.total.amount) == (3, D("1180.00"))
    assert [(gap.currency, gap.count, gap.amount) for gap in value.missing] == [
        ("GBP", 2, D("350.00"))
    ]
    owner_row = response.context["report"]["win_by_owner"][0]
    assert owner_row["won_value"].amount == D("1400.00")
    html = response.content.decode()
    assert "Value in EUR" in html
    assert "€1,400.00" in html and "€700.00" in html
    assert "Left out of the EUR figures: No GBP rate on or before" in html
    assert "(2 deals, £350.00)" in html


def test_the_analytics_api_gives_the_value_and_won_value_per_owner(
    api_client_for, owner, pipeline, deals
):
    body = api_client_for(owner).get(f"/api/v1/pipelines/{pipeline.pk}/analytics").json()
    value = body["value"]
    assert value["currency"] == "EUR"
    assert D(value["won_value"]) == D("1400.00")
    assert D(value["average_won"]) == D("700.00")
    assert {o["currency"] for o in value["won_originals"]} == {"EUR", "GBP", "USD"}
    assert [(m["currency"], m["count"]) for m in value["missing_rates"]] == [("GBP", 2)]
    assert value["missing_rates"][0]["text"].startswith("No GBP rate on or before ")
    assert D(body["win_rate_by_owner"][0]["won_value"]) == D("1400.00")


def test_nothing_converted_gives_no_average(web_client_for, owner, make_deal, stages, pipeline):
    deal = make_deal(owner=owner, name="Won pounds", amount="50.00", currency="GBP")
    move_deal(actor=owner, deal=deal, stage=stages["Won"])
    value = (
        web_client_for(owner)
        .get(f"/sales/pipelines/{pipeline.pk}/analytics/")
        .context["report"]["value"]
    )
    assert (value.won.amount, value.won_deals, value.average_won) == (D("0.00"), 0, None)
    assert [gap.currency for gap in value.missing] == ["GBP"]


def test_the_forecast_api_gives_company_currency_months_beside_the_per_currency_rows(
    api_client_for, owner, make_deal, pipeline, stages, usd_rates
):
    close = timezone.localdate() + dt.timedelta(days=20)
    make_deal(owner=owner, name="Euros", amount="1000.00", expected_close_date=close)
    make_deal(
        owner=owner, name="Dollars", amount="100.00", currency="USD", expected_close_date=close
    )
    make_deal(
        owner=owner, name="Pounds", amount="400.00", currency="GBP", expected_close_date=close
    )
    month = close.strftime("%Y-%m")
    response = api_client_for(owner).get(
        f"/api/v1/pipelines/{pipeline.pk}/forecast/company-currency?start={month}&months=1"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "EUR"
    (row,) = body["months"]
    assert row["month"] == month and D(row["open_total"]) == D("1090.00")
    assert row["open_deals"] == 2
    assert body["missing_rates"] == [
        {
            "currency": "GBP",
            "earliest": close.isoformat(),
            "count": 1,
            "amount": "400.00",
            "text": f"No GBP rate on or before {close.isoformat()}",
        }
    ]
    assert {r["currency"] for r in body["by_currency"]} == {"EUR", "GBP", "USD"}


def test_the_company_forecast_api_refuses_a_bad_month(api_client_for, owner, pipeline):
    response = api_client_for(owner).get(
        f"/api/v1/pipelines/{pipeline.pk}/forecast/company-currency?start=0000-01"
    )
    assert response.status_code == 422
    assert "start" in response.content.decode()
