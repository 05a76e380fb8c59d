"""Churn-risk flags and reason codes against a hand-worked book of five customers."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.analytics.metrics import churn


def five_customers():
    p_alive = np.array([0.9, 0.3, 0.9, 1.0, 1.0])
    frequency = np.array([4, 2, 2, 0, 0])
    recency = np.array([20.0, 10.0, 10.0, 0.0, 0.0])
    age = np.array([25.0, 30.0, 50.0, 30.0, 5.0])
    return p_alive, frequency, recency, age


def test_reasons_by_hand():
    # Mean gaps 5, 5, 5 for the repeat buyers, so one-time buyers are measured against 5 too.
    # Silences: 5, 20, 40, 30, 5 -> overdue ratios 1, 4, 8, 6, 1; threshold 3.
    risk = churn.assess_churn_risk(*five_customers())

    np.testing.assert_array_equal(risk.overdue_ratio, [1.0, 4.0, 8.0, 6.0, 1.0])
    assert risk.reason.tolist() == [0, churn.LOW_P_ALIVE | churn.OVERDUE, 2, 2, 0]
    assert risk.is_at_risk.tolist() == [False, True, True, True, False]
    np.testing.assert_allclose(risk.risk_score, [0.1, 0.7, 0.1, 0.0, 0.0])
    assert churn.describe_reasons(risk.reason).tolist() == [
        "",
        "low P(alive), overdue",
        "overdue",
        "overdue",
        "",
    ]


def test_one_time_buyers_can_be_left_out_of_the_overdue_rule():
    risk = churn.assess_churn_risk(*five_customers(), gap_for_one_time_buyers=math.inf)

    assert risk.reason.tolist() == [0, 3, 2, 0, 0]


def test_thresholds_are_configurable():
    risk = churn.assess_churn_risk(*five_customers(), p_alive_threshold=0.95, overdue_factor=10)

    assert risk.reason.tolist() == [1, 1, 1, 0, 0]


def test_without_repeat_buyers_one_time_buyers_have_no_gap():
    risk = churn.assess_churn_risk(
        np.array([1.0, 1.0]), np.array([0, 0]), np.array([0.0, 0.0]), np.array([3.0, 90.0])
    )

    assert np.isnan(risk.overdue_ratio).all()
    assert risk.reason.tolist() == [0, 0]


def test_p_alive_outside_zero_one_is_rejected():
    with pytest.raises(ValueError, match="p_alive"):
        churn.assess_churn_risk(np.array([1.2]), np.array([1]), np.array([1.0]), np.array([2.0]))


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 20), st.floats(0, 1), st.floats(0.01, 500)),
        min_size=1,
        max_size=50,
    ),
    st.floats(0, 1),
    st.floats(0.1, 10),
)
def test_flag_is_exactly_the_union_of_the_two_rules(rows, threshold, factor):
    p_alive, frequency, share, age = (np.array(column) for column in zip(*rows, strict=True))
    recency = np.where(frequency > 0, share * age, 0.0)

    risk = churn.assess_churn_risk(
        p_alive, frequency, recency, age, p_alive_threshold=threshold, overdue_factor=factor
    )

    low = p_alive < threshold
    overdue = np.nan_to_num(risk.overdue_ratio, nan=0.0) > factor
    assert np.array_equal(risk.reason & churn.LOW_P_ALIVE > 0, low)
    assert np.array_equal(risk.reason & churn.OVERDUE > 0, overdue)
    assert np.array_equal(risk.is_at_risk, low | overdue)
    assert np.all((risk.risk_score >= 0) & (risk.risk_score <= 1))
