"""Cohort retention and revenue matrices against a hand-built example."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.analytics.metrics import cohorts

NAN = np.nan


def small_book():
    # customer 0: acquired month 0, buys again in month 2 (two orders in month 0)
    # customer 1: acquired month 0, buys again in month 1
    # customer 2: acquired month 1, buys again in month 3
    # customer 3: acquired month 3
    customer = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    month = np.array([0, 0, 2, 0, 1, 1, 3, 3])
    amount = np.array([10.0, 5.0, 20.0, 7.0, 3.0, 50.0, 1.0, 4.0])
    return customer, month, amount


def test_retention_and_revenue_by_hand():
    matrices = cohorts.build_cohorts(*small_book())

    # Month 2 acquired nobody, so it has no row.
    assert matrices.cohort_month.tolist() == [0, 1, 3]
    assert matrices.cohort_size.tolist() == [2, 1, 1]
    assert matrices.active_customers.tolist() == [[2, 1, 1, 0], [1, 0, 1, 0], [1, 0, 0, 0]]
    np.testing.assert_array_equal(
        matrices.retention,
        [[1.0, 0.5, 0.5, 0.0], [1.0, 0.0, 1.0, NAN], [1.0, NAN, NAN, NAN]],
    )
    np.testing.assert_array_equal(
        matrices.revenue,
        [[22.0, 3.0, 20.0, 0.0], [50.0, 0.0, 1.0, NAN], [4.0, NAN, NAN, NAN]],
    )
    np.testing.assert_array_equal(
        matrices.revenue_per_customer,
        [[11.0, 1.5, 10.0, 0.0], [50.0, 0.0, 1.0, NAN], [4.0, NAN, NAN, NAN]],
    )


def test_last_month_cuts_later_orders_and_sets_the_observation_edge():
    matrices = cohorts.build_cohorts(*small_book(), last_month=2)

    assert matrices.cohort_month.tolist() == [0, 1]
    np.testing.assert_array_equal(matrices.retention, [[1.0, 0.5, 0.5], [1.0, 0.0, NAN]])
    np.testing.assert_array_equal(matrices.revenue, [[22.0, 3.0, 20.0], [50.0, 0.0, NAN]])


def test_quiet_months_after_the_data_still_count_as_observed():
    matrices = cohorts.build_cohorts(*small_book(), last_month=4)

    assert matrices.retention[2].tolist()[:2] == [1.0, 0.0]
    assert matrices.retention.shape == (3, 5)


def test_no_orders_gives_empty_matrices():
    matrices = cohorts.build_cohorts(np.array([], dtype=int), np.array([], dtype=int), np.array([]))

    assert matrices.retention.shape == (0, 0)


def test_float_months_are_rejected():
    with pytest.raises(ValueError, match="integer"):
        cohorts.build_cohorts(np.array([0]), np.array([1.5]), np.array([1.0]))


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 24), st.floats(0, 1000)),
        min_size=1,
        max_size=200,
    )
)
def test_cohort_invariants(orders):
    customer, month, amount = (np.array(column) for column in zip(*orders, strict=True))

    matrices = cohorts.build_cohorts(customer, month, amount)

    assert np.all(matrices.retention[:, 0] == 1.0)
    observed = ~np.isnan(matrices.retention)
    assert np.all((matrices.retention[observed] >= 0) & (matrices.retention[observed] <= 1))
    assert np.array_equal(observed, ~np.isnan(matrices.revenue))
    assert matrices.cohort_size.sum() == np.unique(customer).size
    assert np.nansum(matrices.revenue) == pytest.approx(amount.sum(), rel=1e-9, abs=1e-9)
    assert np.all(np.diff(matrices.cohort_month) > 0)
