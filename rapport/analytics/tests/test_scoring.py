"""score_customers on simulated histories: every model-based value is finite, and the guard
that would catch a non-finite prediction says which customers and why instead of storing NaN."""

import numpy as np
import pytest

from rapport.analytics import scoring
from rapport.analytics.metrics import clv
from rapport.analytics.simulation import PurchaseProcess, simulate_history

SETTINGS = {
    "rfm_window_days": None,
    "expected_purchases_days": 90,
    "clv_horizon_months": 12,
    "monthly_discount_rate": 0.01,
    "platinum_share": 0.01,
    "gold_share": 0.04,
    "silver_share": 0.15,
    "p_alive_threshold": 0.3,
    "overdue_factor": 3.0,
    "holdout_days": 182,
}
END_DAY = 20_000


def score(process, customers=3000, seed=11, history_days=720):
    history = simulate_history(
        np.random.default_rng(seed),
        customers,
        start_day=END_DAY - history_days,
        end_day=END_DAY,
        process=process,
    )
    # One row per customer and purchase day, as the refresh's load delivers them.
    keys = history.customer.astype(np.int64) * (END_DAY + 1) + history.day
    distinct, first, orders = np.unique(keys, return_index=True, return_counts=True)
    amount = np.bincount(np.searchsorted(distinct, keys), weights=history.amount)
    return scoring.score_customers(
        history.customer[first],
        history.day[first],
        orders,
        amount,
        n_customers=customers,
        as_of_day=END_DAY,
        settings=SETTINGS,
    )


@pytest.mark.parametrize(
    "process",
    [
        PurchaseProcess(r=1.5, alpha=4.0, a=1.2, b=12.0, p=4.0, q=4.0, gamma=35.0),
        # Thin histories: rare buyers who mostly stop after one repeat purchase.
        PurchaseProcess(r=0.05, alpha=30.0, a=3.0, b=0.5, p=2.0, q=3.0, gamma=20.0),
        # Nearly homogeneous dropout: a and b large, the regime where scipy's hyp2f1 breaks.
        PurchaseProcess(r=2.0, alpha=2.0, a=300.0, b=900.0, p=6.0, q=4.0, gamma=15.0),
    ],
    ids=["busy", "thin", "homogeneous-dropout"],
)
def test_model_values_are_finite_whenever_the_models_fit(process):
    result = score(process)

    bg = next(fit for fit in result.fits if fit.model == "bg_nbd")
    scores = result.scores
    if bg.status == "fitted":
        assert np.all(np.isfinite(scores.p_alive))
        assert np.all((scores.p_alive >= 0) & (scores.p_alive <= 1))
        assert np.all(np.isfinite(scores.expected_purchases))
        assert np.all(scores.expected_purchases >= 0)
    else:
        assert bg.reason
        assert np.all(np.isnan(scores.p_alive))
    if result.tier_basis == "clv":
        assert np.all(np.isfinite(scores.clv))
        assert np.all(scores.clv >= 0)
    assert not any("no finite prediction" in message for message in result.messages)


def test_a_non_finite_prediction_is_reported_not_stored(monkeypatch):
    real = clv.expected_purchases

    def breaks_for_the_first_customer(*args, **kwargs):
        values = np.array(real(*args, **kwargs), dtype=float)
        values[0] = np.nan
        return values

    monkeypatch.setattr(clv, "expected_purchases", breaks_for_the_first_customer)
    result = score(PurchaseProcess(r=1.5, alpha=4.0, a=1.2, b=12.0, p=4.0, q=4.0, gamma=35.0))

    bg = next(fit for fit in result.fits if fit.model == "bg_nbd")
    assert bg.status == "unusable"
    assert "no finite prediction for 1 customers" in bg.reason
    assert result.tier_basis == "revenue"
    assert np.all(np.isnan(result.scores.expected_purchases))
    assert np.all(np.isnan(result.scores.clv))
    assert any("no finite prediction" in message for message in result.messages)
