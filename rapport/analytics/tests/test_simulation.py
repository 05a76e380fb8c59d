"""The demo's order process must be what it claims: fitting its output finds its parameters."""

import numpy as np
import pytest

from rapport.analytics.metrics import clv
from rapport.analytics.simulation import PurchaseProcess, simulate_history


@pytest.fixture(scope="module")
def history():
    process = PurchaseProcess(seasonal_amplitude=0.0)
    return simulate_history(
        np.random.default_rng(42), 30_000, start_day=19_000, end_day=20_000, process=process
    )


def test_history_is_well_formed(history):
    assert history.customer.size == history.day.size == history.amount.size
    assert np.all(np.diff(history.customer) >= 0)
    # Each customer's first purchase is their acquisition day, and nothing is in the future.
    first = np.full(30_000, np.iinfo(np.int64).max)
    np.minimum.at(first, history.customer, history.day)
    assert np.array_equal(first, history.acquisition_day)
    assert history.day.max() <= 20_000
    assert np.all(history.amount >= 0.01)


def test_fitting_the_simulated_history_recovers_the_parameters(history):
    process = history.process
    summary = clv.summarize_repeat_purchases(
        history.customer, history.day, history.amount, as_of_day=20_000, days_per_period=7.0
    )
    bg = clv.fit_bg_nbd(summary.frequency, summary.recency, summary.age)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(bg, name) == pytest.approx(getattr(process, name), rel=0.15), name
    repeat = summary.frequency > 0
    gg = clv.fit_gamma_gamma(summary.frequency[repeat], summary.monetary[repeat])
    for name in ("p", "q", "gamma"):
        assert getattr(gg, name) == pytest.approx(getattr(process, name), rel=0.2), name


def test_fixed_acquisition_days_are_kept():
    days = np.array([19_500, 19_900, 20_000])
    history = simulate_history(
        np.random.default_rng(1), 3, start_day=19_000, end_day=20_000, acquisition_day=days
    )
    assert np.array_equal(history.acquisition_day, days)
