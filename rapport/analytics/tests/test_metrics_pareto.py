"""Pareto curve, top-20 % share, Gini and value tiers against hand-computed values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rapport.analytics.metrics import pareto


def test_equal_revenues_have_gini_zero_and_a_diagonal_curve():
    concentration = pareto.revenue_concentration([50.0] * 10, curve_points=11)

    assert concentration.gini == 0.0
    assert concentration.top_20_share == pytest.approx(0.2, abs=1e-12)
    np.testing.assert_allclose(concentration.revenue_share, np.linspace(0, 1, 11), atol=1e-12)


def test_one_customer_with_all_revenue_has_gini_n_minus_one_over_n():
    concentration = pareto.revenue_concentration([0.0, 0.0, 120.0, 0.0], curve_points=5)

    assert concentration.gini == pytest.approx(0.75, abs=1e-12)
    # The top 20 % of 4 customers is 0.8 of the one who carries everything.
    assert concentration.top_20_share == pytest.approx(0.8, abs=1e-12)
    assert concentration.revenue_share.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert concentration.n_customers == 4
    assert concentration.total_revenue == 120.0


def test_gini_of_one_to_four():
    # Mean absolute difference over all 16 ordered pairs is 20 / 16; G = 20 / (2 * 16 * 2.5).
    assert pareto.gini_coefficient([3.0, 1.0, 4.0, 2.0]) == pytest.approx(0.25, abs=1e-12)


def test_top_share_counts_whole_customers_when_twenty_percent_is_whole():
    revenue = np.arange(1.0, 11.0)

    assert pareto.top_share(revenue) == pytest.approx(19 / 55, abs=1e-12)


def test_top_share_interpolates_within_a_customer():
    revenue = [5.0, 4.0, 3.0, 2.0, 1.0]

    assert pareto.top_share(revenue, 0.2) == pytest.approx(5 / 15, abs=1e-12)
    assert pareto.top_share(revenue, 0.3) == pytest.approx(7 / 15, abs=1e-12)


def test_curve_downsampled_points_lie_on_the_exact_curve():
    revenue = [5.0, 4.0, 3.0, 2.0, 1.0]

    concentration = pareto.revenue_concentration(revenue, curve_points=3)

    assert concentration.customer_share.tolist() == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(concentration.revenue_share, [0.0, 10.5 / 15, 1.0], atol=1e-12)


def test_no_revenue_gives_undefined_concentration():
    concentration = pareto.revenue_concentration([0.0, 0.0])

    assert math.isnan(concentration.gini)
    assert math.isnan(concentration.top_20_share)
    assert math.isnan(pareto.top_share([]))


def test_negative_revenue_is_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        pareto.gini_coefficient([10.0, -1.0])


def test_default_tiers_on_distinct_values():
    value = np.arange(100.0, 0.0, -1.0)

    tiers = pareto.assign_value_tiers(value)

    assert tiers[:1].tolist() == ["platinum"]
    assert tiers[1:5].tolist() == ["gold"] * 4
    assert tiers[5:20].tolist() == ["silver"] * 15
    assert tiers[20:].tolist() == ["bronze"] * 80


def test_tied_values_straddling_a_cut_stay_together_in_the_lower_tier():
    value = np.r_[[1000.0, 1000.0, 1000.0], np.arange(97.0, 0.0, -1.0)]

    tiers = pareto.assign_value_tiers(value)

    # Three customers tie for first: together they exceed the top 1 %, so all three are gold.
    assert tiers[:3].tolist() == ["gold"] * 3
    assert tiers[3:5].tolist() == ["gold"] * 2
    assert (tiers == "platinum").sum() == 0


def test_zero_value_customers_are_bronze_even_when_most_are_zero():
    tiers = pareto.assign_value_tiers([0.0] * 99 + [10.0])

    assert tiers[-1] == "platinum"
    assert set(tiers[:-1].tolist()) == {"bronze"}


def test_custom_tier_thresholds():
    tiers = pareto.assign_value_tiers([4.0, 3.0, 2.0, 1.0], platinum=0.25, gold=0.5, silver=0.75)

    assert tiers.tolist() == ["platinum", "gold", "silver", "bronze"]


revenues = hnp.arrays(
    np.float64,
    st.integers(1, 80),
    elements=st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False),
).filter(lambda array: array.sum() > 0)


@settings(deadline=None)
@given(revenues)
def test_gini_is_in_zero_one_and_below_the_single_customer_maximum(revenue):
    gini = pareto.gini_coefficient(revenue)

    assert 0.0 <= gini < 1.0
    assert gini <= (revenue.size - 1) / revenue.size + 1e-12


@settings(deadline=None)
@given(revenues)
def test_gini_ignores_order_and_scale(revenue):
    shuffled = np.random.default_rng(0).permutation(revenue)

    assert pareto.gini_coefficient(shuffled) == pytest.approx(
        pareto.gini_coefficient(revenue), abs=1e-9
    )
    assert pareto.gini_coefficient(revenue * 3.5) == pytest.approx(
        pareto.gini_coefficient(revenue), abs=1e-9
    )


@settings(deadline=None)
@given(revenues, st.integers(2, 50))
def test_pareto_curve_is_monotone_from_zero_to_one_above_the_diagonal(revenue, points):
    concentration = pareto.revenue_concentration(revenue, curve_points=points)

    assert concentration.revenue_share[0] == 0.0
    assert concentration.revenue_share[-1] == 1.0
    assert np.all(np.diff(concentration.revenue_share) >= 0)
    assert np.all(concentration.revenue_share >= concentration.customer_share - 1e-9)


@settings(deadline=None)
@given(revenues, st.floats(0, 1), st.floats(0, 1))
def test_top_share_is_monotone_in_the_fraction(revenue, first, second):
    low, high = sorted((first, second))

    assert pareto.top_share(revenue, low) <= pareto.top_share(revenue, high)
    assert pareto.top_share(revenue, low) >= low - 1e-9


@settings(deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 300), elements=st.sampled_from([0.0, 1.0, 5.0, 9.0])))
def test_tiers_are_monotone_in_value_and_keep_ties(value):
    tiers = pareto.assign_value_tiers(value)
    rank = np.array([pareto.TIER_NAMES.index(tier) for tier in tiers])

    order = np.argsort(-value, kind="stable")
    assert np.all(np.diff(rank[order]) >= 0)
    for level in np.unique(value):
        assert np.unique(tiers[value == level]).size == 1
    assert (rank <= 0).sum() <= 0.01 * value.size
    assert (rank <= 1).sum() <= 0.05 * value.size + 1e-9
    assert (rank <= 2).sum() <= 0.20 * value.size + 1e-9
