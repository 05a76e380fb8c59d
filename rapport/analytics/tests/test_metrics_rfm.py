"""RFM measures, quintile scores (ties!) and segments, checked by hand and with Hypothesis."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rapport.analytics.metrics import rfm


def test_distinct_values_fall_into_exact_quintiles():
    scores = rfm.score_quintiles([3, 1, 4, 10, 5, 9, 2, 6, 8, 7])

    assert scores.tolist() == [2, 1, 2, 5, 3, 5, 1, 3, 4, 4]


def test_ties_are_never_split_across_scores():
    # 6 of 10 customers bought once: none of them is better than another, so all score 1; the
    # next value has 6/10 strictly below it -> 1 + floor(5 * 0.6) = 4.
    scores = rfm.score_quintiles([1, 1, 1, 1, 1, 1, 2, 2, 3, 4])

    assert scores.tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_all_equal_values_all_score_one():
    assert rfm.score_quintiles([7.5] * 9).tolist() == [1] * 9


def test_recency_scores_recent_customers_highest():
    scores = rfm.score_quintiles([0, 10, 10, 30, 90], higher_is_better=False)

    assert scores.tolist() == [5, 3, 3, 2, 1]


def test_score_rfm_scores_and_segments_customers_with_orders():
    recency = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    frequency = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    monetary = np.array([100.0, 90, 80, 70, 60, 50, 40, 30, 20, 10])

    scores = rfm.score_rfm(recency, frequency, monetary)

    assert scores.r.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scores.f.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scores.m.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scores.segment.tolist() == [
        "Champions",
        "Champions",
        "Loyal",
        "Loyal",
        "Need attention",
        "Need attention",
        "Hibernating",
        "Hibernating",
        "Lost",
        "Lost",
    ]


def test_customers_without_orders_are_not_scored():
    scores = rfm.score_rfm(
        recency_days=[np.nan, 5.0, 50.0],
        frequency=[0, 3, 1],
        monetary=[np.nan, 20.0, 10.0],
    )

    # Of two buyers the better one has half the scored base below it: 1 + floor(5 / 2) = 3.
    assert scores.r.tolist() == [0, 3, 1]
    assert scores.f.tolist() == [0, 3, 1]
    assert scores.m.tolist() == [0, 3, 1]
    assert scores.segment.tolist() == ["No orders", "Need attention", "Lost"]


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "Champions"),
        (5, 1, 1, "New"),
        (4, 1, 1, "Promising"),
        (4, 4, 5, "Champions"),
        (4, 4, 3, "Loyal"),
        (4, 2, 3, "Potential loyalist"),
        (3, 3, 3, "Need attention"),
        (3, 1, 2, "About to sleep"),
        (2, 1, 2, "Hibernating"),
        (2, 3, 4, "At risk"),
        (2, 5, 4, "Can't lose them"),
        (1, 5, 3, "Can't lose them"),
        (1, 1, 2, "Lost"),
        (0, 3, 3, "No orders"),
    ],
)
def test_segment_of_score_triple(r, f, m, segment):
    assert rfm.rfm_segment([r], [f], [m]).tolist() == [segment]


def test_segment_grid_matches_the_documented_table():
    table = {}
    for line in rfm.__doc__.splitlines():
        match = re.match(r"\s+([1-5])\s{2,}(.+)$", line)
        if match:
            table[int(match.group(1))] = re.split(r"\s{2,}", match.group(2).strip())
    assert sorted(table) == [1, 2, 3, 4, 5]

    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                fm = (f + m + 1) // 2
                assert rfm.rfm_segment([r], [f], [m])[0] == table[r][fm - 1], (r, f, m)


def test_every_named_segment_is_reachable():
    r, f, m = np.meshgrid(*[np.arange(1, 6)] * 3, indexing="ij")
    segments = set(rfm.rfm_segment(r.ravel(), f.ravel(), m.ravel()).tolist())

    assert segments == set(rfm.SEGMENT_NAMES) - {rfm.NO_ORDERS}


def test_summarize_orders_over_a_window():
    customer = np.array([0, 0, 1, 2, 0, 1])
    day = np.array([10, 20, 5, 1, 31, 29])
    amount = np.array([10.0, 30.0, 100.0, 7.0, 999.0, 50.0])

    summary = rfm.summarize_orders(
        customer, day, amount, as_of_day=30, window_days=28, n_customers=4
    )

    # Window is days 3..30: customer 2's only order (day 1) and the day-31 order fall outside.
    assert summary.frequency.tolist() == [2, 2, 0, 0]
    np.testing.assert_array_equal(summary.recency_days, [10.0, 1.0, np.nan, np.nan])
    np.testing.assert_array_equal(summary.monetary, [20.0, 75.0, np.nan, np.nan])
    np.testing.assert_array_equal(summary.total_amount, [40.0, 150.0, 0.0, 0.0])
    assert summary.has_orders.tolist() == [True, True, False, False]


def test_summarize_orders_rejects_float_customer_index():
    with pytest.raises(ValueError, match="integer"):
        rfm.summarize_orders([0.0, 1.0], [1, 2], [1.0, 1.0], as_of_day=5)


def test_score_rfm_rejects_missing_recency_for_a_buyer():
    with pytest.raises(ValueError, match="finite"):
        rfm.score_rfm([np.nan], [2], [10.0])


values = hnp.arrays(
    np.float64,
    st.integers(1, 60),
    elements=st.sampled_from([0.0, 1.0, 2.0, 2.5, 3.0, 10.0, 11.0, 50.0, 1e6]),
)


@settings(deadline=None)
@given(values, st.booleans())
def test_scores_are_in_range_monotone_and_keep_ties(array, higher_is_better):
    scores = rfm.score_quintiles(array, higher_is_better=higher_is_better)

    assert scores.min() >= 1
    assert scores.max() <= 5
    order = np.argsort(array if higher_is_better else -array, kind="stable")
    assert np.all(np.diff(scores[order].astype(int)) >= 0)
    for value in np.unique(array):
        assert np.unique(scores[array == value]).size == 1
    worst = array.min() if higher_is_better else array.max()
    assert np.all(scores[array == worst] == 1)


@settings(deadline=None)
@given(values)
def test_distinct_values_fill_each_quintile_evenly(array):
    distinct = np.unique(array)
    scores = rfm.score_quintiles(distinct)

    counts = np.bincount(scores, minlength=6)[1:]
    assert counts.max() - counts.min() <= 1
