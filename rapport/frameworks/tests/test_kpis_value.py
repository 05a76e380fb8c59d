"""Revenue, concentration and retention KPIs on a hand-built purchase history with known answers.

Orders (days ago → amount), today being day 0:
    A: 10 → 100, 200 → 100, 500 → 100
    B: 20 → 300
    C: 400 → 50, 600 → 50
    D: 30 → 1000
    E: 100 → 40, 700 → 60
"""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.core import display
from rapport.frameworks.kpis import Measurement, NotMeasurable
from rapport.frameworks.tests.conftest import customer, measure

pytestmark = pytest.mark.django_db

HISTORY = {
    "A": [(10, 100), (200, 100), (500, 100)],
    "B": [(20, 300)],
    "C": [(400, 50), (600, 50)],
    "D": [(30, 1000)],
    "E": [(100, 40), (700, 60)],
}


@pytest.fixture
def book(owner):
    return {
        name: customer(name=name, orders=orders, owner=owner) for name, orders in HISTORY.items()
    }


def value(key, **context):
    result = measure(key, **context)
    assert isinstance(result, Measurement), result
    return result


def test_revenue_share_of_the_top_20_percent(book):
    # Last 12 months: A 200, B 300, D 1000, E 40 (C bought earlier). The top 20 % of four
    # customers is 0.8 of the best one: 0.8 × 1000 of 1540.
    result = value("top20_revenue_share")
    assert result.value == pytest.approx(100 * 800 / 1540)
    assert result.denominator == pytest.approx(1540)


def test_revenue_gini(book):
    # Ascending 40, 200, 300, 1000: G = 2 (1·40 + 2·200 + 3·300 + 4·1000) / (4 · 1540) − 5/4.
    assert value("revenue_gini").value == pytest.approx(2 * 5340 / (4 * 1540) - 1.25)


def test_revenue_per_customer(book):
    result = value("revenue_per_customer")
    assert (result.value, result.numerator, result.denominator) == pytest.approx((385, 1540, 4))


def test_repeat_purchase_rate(book):
    # A, C and E bought on more than one day; B and D once.
    result = value("repeat_purchase_rate")
    assert (result.numerator, result.denominator) == (3, 5)
    assert result.value == pytest.approx(60.0)


def test_retention_and_churn(book):
    # Bought 366–730 days ago: A (500), C (400, 600), E (700). Of those, A and E came back.
    retention = value("retention_rate_12m")
    churn = value("churn_rate_12m")
    assert (retention.numerator, retention.denominator) == (2, 3)
    assert retention.value == pytest.approx(200 / 3)
    assert (churn.numerator, churn.denominator) == (1, 3)
    assert churn.value == pytest.approx(100 / 3)


def test_new_customers_in_90_days(book):
    # First purchases within 90 days: B (20 days ago) and D (30).
    assert value("new_customers_90d").value == 2


def test_measured_as_of_a_past_day(book):
    # 100 days ago: A had bought on days 500 and 200, C on 600 and 400, E on 700 and 100 —
    # everyone who had bought had bought twice.
    past = timezone.localdate() - dt.timedelta(days=100)
    result = value("repeat_purchase_rate", as_of=past)
    assert (result.numerator, result.denominator) == (3, 3)
    assert value("new_customers_90d", as_of=past).value == 0


def test_measured_for_a_segment(book, admin_user):
    from rapport.analytics import services as analytics

    segment = analytics.create_segment(actor=admin_user, name="A and B", kind="static")
    analytics.add_to_list(
        actor=admin_user, segment=segment, contact_ids=[book["A"].pk, book["B"].pk]
    )
    result = value("repeat_purchase_rate", segment=segment)
    assert (result.numerator, result.denominator) == (1, 2)


def test_cancelled_orders_do_not_count_and_foreign_ones_convert_at_their_day(owner, admin_user):
    from rapport.commerce import rates
    from rapport.commerce.tests.factories import make_order
    from rapport.frameworks.tests.conftest import at

    today = timezone.localdate()
    rates.add_rate(
        actor=admin_user, currency="USD", rate="0.5", valid_on=today - dt.timedelta(days=30)
    )
    rates.add_rate(
        actor=admin_user, currency="USD", rate="0.9", valid_on=today - dt.timedelta(days=6)
    )
    buyer = customer(name="F", orders=[(5, 100)], owner=owner)
    make_order(contact=buyer, ordered_at=at(6), total="900", status="cancelled")
    make_order(contact=buyer, ordered_at=at(7), total="100", currency="USD")  # at 0.5
    make_order(contact=buyer, ordered_at=at(3), total="100", currency="USD")  # at 0.9
    result = value("revenue_per_customer")
    assert (result.value, result.denominator) == (pytest.approx(240), 1)
    assert value("top20_revenue_share").denominator == pytest.approx(240)
    assert value("repeat_purchase_rate").numerator == 1


def test_an_order_without_a_rate_makes_revenue_kpis_not_measurable(owner):
    from rapport.commerce.tests.factories import make_order
    from rapport.frameworks.tests.conftest import at

    buyer = customer(name="F", orders=[(5, 100)], owner=owner)
    make_order(contact=buyer, ordered_at=at(7), total="900", currency="USD")
    make_order(contact=buyer, ordered_at=at(9), total="50", currency="USD")
    day = (timezone.localdate() - dt.timedelta(days=9)).isoformat()
    for key in ("revenue_per_customer", "top20_revenue_share", "revenue_gini"):
        result = measure(key)
        assert isinstance(result, NotMeasurable), key
        assert result.reason == (
            "The revenue in EUR cannot be computed without every order's exchange rate: "
            f"No USD rate on or before {day} (2 orders, {display.money_text(950, 'USD')}). "
            "An administrator can add the rates."
        )
    # Counting buyers needs no rate: the dollar orders are purchases all the same.
    assert value("repeat_purchase_rate").denominator == 1


def test_no_revenue_is_not_measurable_with_the_reason(db):
    result = measure("top20_revenue_share")
    assert isinstance(result, NotMeasurable)
    assert "No revenue" in result.reason
    assert isinstance(measure("retention_rate_12m"), NotMeasurable)


def test_values_from_analytics_need_a_refresh(book):
    result = measure("value_tier_coverage")
    assert isinstance(result, NotMeasurable)
    assert result.reason.startswith("Not computed yet: no analytics refresh has run")
    assert result.capability == "Analytics refresh"


def test_tier_coverage_and_value_at_risk_after_a_refresh(book, owner):
    from rapport.frameworks.tests.conftest import refresh_analytics

    prospect = customer(name="G", owner=owner)  # a customer-stage contact with no order
    assert prospect.lifecycle_stage == "customer"
    refresh_analytics(owner)
    coverage = value("value_tier_coverage")
    assert (coverage.numerator, coverage.denominator) == (5, 6)
    at_risk = value("at_risk_value_share")
    assert at_risk.denominator == pytest.approx(100 + 100 + 100 + 300 + 50 + 50 + 1000 + 40 + 60)
    # Five customers are too few for the CLV model: the average CLV says why instead.
    clv = measure("average_clv")
    assert isinstance(clv, NotMeasurable)
    assert "needs at least" in clv.reason


def test_concentration_in_the_database_matches_the_analytics_definition(owner):
    """The top-20 % share and Gini computed with window functions equal analytics' own
    `metrics.pareto` on the same revenues — ties and a fractional edge customer included."""
    import random

    import numpy as np

    from rapport.analytics.metrics.pareto import gini_coefficient, top_share

    rng = random.Random(3)
    revenues = [rng.choice([50, 50, 120, 300, 999, 20, 75]) + rng.randint(0, 3) for _ in range(37)]
    for index, amount in enumerate(revenues):
        customer(name=f"P{index}", orders=[(5 + index % 200, amount)], owner=owner)
    share = value("top20_revenue_share").value / 100
    gini = value("revenue_gini").value
    assert share == pytest.approx(top_share(np.array(revenues, dtype=float), 0.2))
    assert gini == pytest.approx(gini_coefficient(np.array(revenues, dtype=float)))
