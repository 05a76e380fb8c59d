"""Fit and score every customer from order facts: the numerical heart of the refresh.

No Django here (arrays in, arrays and plain dicts out), so the benchmark and the tests drive it
directly. The models themselves live in `metrics/`; this module decides which of them the data
can support, runs them in order and says plainly when one could not be used.

Time unit: the purchase models are fitted in weeks (alpha reads like the paper's); RFM recency
is in days.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from rapport.analytics import portfolio
from rapport.analytics.metrics import churn, clv, cohorts, pareto, rfm

DAYS_PER_WEEK = 7.0
# Below these the estimates are noise: the run says so instead of storing invented numbers.
MIN_CUSTOMERS_FOR_MODEL = 30
MIN_REPEAT_BUYERS_FOR_MODEL = 10
MIN_HISTORY_DAYS_FOR_MODEL = 28
MIN_REPEAT_BUYERS_FOR_SPEND = 10
MIN_HOLDOUT_DAYS = 28
FREQUENCY_SPEND_WARNING = 0.3


@dataclass
class FitOutcome:
    """What happened to one model: fitted, not converged, too little data or unusable."""

    model: str
    status: str
    reason: str = ""
    parameters: dict = field(default_factory=dict)
    log_likelihood: float | None = None
    n_customers: int = 0
    seconds: float = 0.0
    diagnostics: dict = field(default_factory=dict)

    @property
    def is_usable(self) -> bool:
        return self.status == "fitted"


@dataclass
class CustomerScores:
    """Per-customer results aligned with the input's customer index."""

    first_day: np.ndarray
    last_day: np.ndarray
    orders_count: np.ndarray
    revenue: np.ndarray
    average_order_value: np.ndarray
    recency_days: np.ndarray
    repeat_purchases: np.ndarray
    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    fm: np.ndarray
    segment: np.ndarray
    segment_code: np.ndarray
    p_alive: np.ndarray
    expected_purchases: np.ndarray
    clv: np.ndarray
    tier: np.ndarray
    is_at_risk: np.ndarray
    churn_reason: np.ndarray
    overdue_ratio: np.ndarray
    cohort_month: np.ndarray

    @property
    def size(self) -> int:
        return int(self.orders_count.size)


@dataclass
class ScoringResult:
    scores: CustomerScores
    fits: list[FitOutcome]
    portfolio: dict
    tier_basis: str
    timings: dict
    messages: list[str] = field(default_factory=list)


def _clean_params(params) -> dict:
    return {
        key: float(getattr(params, key))
        for key in params.__dataclass_fields__
        if key not in {"log_likelihood", "n_customers", "converged"}
    }


def _fit_bg_nbd(
    summary, has_orders, *, history_days: float, label: str
) -> tuple[FitOutcome, object]:
    customers = int(has_orders.sum())
    repeat = int((summary.frequency[has_orders] > 0).sum())
    outcome = FitOutcome(model=label, status="insufficient_data", n_customers=customers)
    if customers < MIN_CUSTOMERS_FOR_MODEL:
        outcome.reason = (
            f"{customers} customers with orders; the purchase model needs at least "
            f"{MIN_CUSTOMERS_FOR_MODEL}."
        )
        return outcome, None
    if repeat < MIN_REPEAT_BUYERS_FOR_MODEL:
        outcome.reason = (
            f"{repeat} customers bought more than once; the purchase model needs at least "
            f"{MIN_REPEAT_BUYERS_FOR_MODEL} repeat buyers."
        )
        return outcome, None
    if history_days < MIN_HISTORY_DAYS_FOR_MODEL:
        outcome.reason = (
            f"The order history spans {history_days:.0f} days; the purchase model needs at "
            f"least {MIN_HISTORY_DAYS_FOR_MODEL}."
        )
        return outcome, None
    started = time.perf_counter()
    params = clv.fit_bg_nbd(
        summary.frequency[has_orders], summary.recency[has_orders], summary.age[has_orders]
    )
    outcome.seconds = time.perf_counter() - started
    outcome.parameters = {**_clean_params(params), "time_unit": "weeks"}
    outcome.log_likelihood = params.log_likelihood
    outcome.diagnostics = {"repeat_buyers": repeat}
    if not params.converged or not all(
        math.isfinite(v) for v in (params.r, params.alpha, params.a, params.b)
    ):
        outcome.status = "not_converged"
        outcome.reason = (
            "The likelihood maximisation did not converge (a parameter ran to its bound); "
            "P(alive), expected purchases and CLV are left empty."
        )
        return outcome, None
    outcome.status = "fitted"
    return outcome, params


def _fit_gamma_gamma(summary, has_orders) -> tuple[FitOutcome, object]:
    x = summary.frequency[has_orders]
    spend = summary.monetary[has_orders]
    repeat = (x > 0) & (spend > 0)
    n_repeat = int(repeat.sum())
    outcome = FitOutcome(model="gamma_gamma", status="insufficient_data", n_customers=n_repeat)
    if n_repeat < MIN_REPEAT_BUYERS_FOR_SPEND:
        outcome.reason = (
            f"{n_repeat} repeat buyers with spend; the spend model needs at least "
            f"{MIN_REPEAT_BUYERS_FOR_SPEND}."
        )
        return outcome, None
    correlation = clv.frequency_spend_correlation(x[repeat], spend[repeat])
    started = time.perf_counter()
    params = clv.fit_gamma_gamma(x[repeat], spend[repeat])
    outcome.seconds = time.perf_counter() - started
    outcome.parameters = {**_clean_params(params), "money_unit": "currency"}
    outcome.log_likelihood = params.log_likelihood
    outcome.diagnostics = {
        "frequency_spend_correlation": None if math.isnan(correlation) else correlation,
        "correlation_warning": bool(
            not math.isnan(correlation) and abs(correlation) > FREQUENCY_SPEND_WARNING
        ),
        "population_mean_spend": None
        if not math.isfinite(params.population_mean_spend)
        else params.population_mean_spend,
        "observed_mean_spend": float(spend[repeat].mean()),
    }
    if not params.converged:
        outcome.status = "not_converged"
        outcome.reason = "The spend model did not converge; CLV is left empty."
        return outcome, None
    if params.q <= 1.0:
        outcome.status = "unusable"
        outcome.reason = (
            f"q = {params.q:.3f} ≤ 1 implies an infinite mean spend; CLV is left empty."
        )
        return outcome, None
    outcome.status = "fitted"
    return outcome, params


def _holdout_check(
    customer_index, day, amount, *, n_customers, as_of_day, history_days, holdout_days
) -> FitOutcome:
    """Fit on a calibration period and compare predicted with actual holdout purchases."""
    length = min(holdout_days, int(history_days // 3))
    if length < MIN_HOLDOUT_DAYS:
        return FitOutcome(
            model="bg_nbd_holdout",
            status="insufficient_data",
            reason=(
                f"The history ({history_days:.0f} days) is too short for a holdout period of "
                f"at least {MIN_HOLDOUT_DAYS} days (a third of the history is used at most)."
            ),
        )
    cut = as_of_day - length
    calibration = clv.summarize_repeat_purchases(
        customer_index,
        day,
        amount,
        as_of_day=cut,
        n_customers=n_customers,
        days_per_period=DAYS_PER_WEEK,
    )
    has_orders = calibration.has_orders
    cal_history = (
        float(np.nanmax(calibration.age[has_orders]) * DAYS_PER_WEEK) if has_orders.any() else 0.0
    )
    outcome, params = _fit_bg_nbd(
        calibration, has_orders, history_days=cal_history, label="bg_nbd_holdout"
    )
    outcome.diagnostics.update({"calibration_end_day": int(cut), "holdout_days": int(length)})
    if params is None:
        return outcome
    # Rows are one per customer and purchase day, so counting rows counts purchase days.
    after = day > cut
    actual = np.bincount(customer_index[after], minlength=n_customers)[has_orders]
    comparison = clv.compare_holdout(
        params,
        calibration.frequency[has_orders],
        calibration.recency[has_orders],
        calibration.age[has_orders],
        actual,
        holdout_length=length / DAYS_PER_WEEK,
    )
    outcome.diagnostics["holdout"] = {
        "calibration_frequency": [int(v) for v in comparison.calibration_frequency],
        "customers": [int(v) for v in comparison.n_customers],
        "predicted_mean": [
            None if not math.isfinite(v) else float(v) for v in comparison.predicted_mean
        ],
        "actual_mean": [None if not math.isfinite(v) else float(v) for v in comparison.actual_mean],
        "predicted_total": comparison.predicted_total,
        "actual_total": comparison.actual_total,
    }
    return outcome


def score_customers(
    customer_index: np.ndarray,
    day: np.ndarray,
    orders: np.ndarray,
    amount: np.ndarray,
    *,
    n_customers: int,
    as_of_day: int,
    settings: dict,
    month_label=None,
) -> ScoringResult:
    """RFM, segments, BG/NBD + Gamma-Gamma, P(alive), expected purchases, CLV, value tiers,
    churn risk, cohorts and the portfolio figures, for customers 0..n_customers - 1.

    Rows are (customer, purchase day, orders that day, amount that day) with day numbers in
    days. Every customer must have at least one row. `settings` is
    AnalyticsConfiguration.as_dict(). Model-based arrays are NaN where the data could not
    support the model; `fits` says why.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    customer_index = np.asarray(customer_index, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    orders = np.asarray(orders, dtype=np.int64)
    amount = np.asarray(amount, dtype=float)
    messages: list[str] = []

    # The purchase-model view: x, t_x, T in weeks, same-day orders as one purchase.
    summary = clv.summarize_repeat_purchases(
        customer_index,
        day,
        amount,
        as_of_day=as_of_day,
        n_customers=n_customers,
        days_per_period=DAYS_PER_WEEK,
    )
    has_orders = summary.has_orders
    if not has_orders.all():
        raise ValueError("every customer needs at least one order on or before as_of_day")
    age_days = np.rint(summary.age * DAYS_PER_WEEK).astype(np.int64)
    first_day = as_of_day - age_days
    last_day = first_day + np.rint(summary.recency * DAYS_PER_WEEK).astype(np.int64)
    orders_count = np.bincount(customer_index, weights=orders, minlength=n_customers).astype(
        np.int64
    )
    revenue = np.bincount(customer_index, weights=amount, minlength=n_customers)
    history_days = float(age_days.max()) if n_customers else 0.0

    # RFM counts orders, not purchase days: spread each day's amount over its orders.
    window = settings.get("rfm_window_days")
    if np.all(orders == 1):
        rfm_rows = (customer_index, day, amount)
    else:
        rfm_rows = (
            np.repeat(customer_index, orders),
            np.repeat(day, orders),
            np.repeat(amount / orders, orders),
        )
    rfm_summary = rfm.summarize_orders(
        *rfm_rows, as_of_day=as_of_day, window_days=window, n_customers=n_customers
    )
    rfm_scores = rfm.score_rfm(
        rfm_summary.recency_days, rfm_summary.frequency, rfm_summary.monetary
    )
    timings["summarize"] = time.perf_counter() - started

    # Fit.
    started = time.perf_counter()
    fits: list[FitOutcome] = []
    bg_outcome, bg_params = _fit_bg_nbd(
        summary, has_orders, history_days=history_days, label="bg_nbd"
    )
    fits.append(bg_outcome)
    gg_outcome, gg_params = _fit_gamma_gamma(summary, has_orders)
    fits.append(gg_outcome)
    fits.append(
        _holdout_check(
            customer_index,
            day,
            amount,
            n_customers=n_customers,
            as_of_day=as_of_day,
            history_days=history_days,
            holdout_days=int(settings.get("holdout_days", 182)),
        )
    )
    timings["fit"] = time.perf_counter() - started

    # Score.
    started = time.perf_counter()
    nan = np.full(n_customers, np.nan)
    x, t_x, big_t = summary.frequency, summary.recency, summary.age
    horizon_weeks = settings["expected_purchases_days"] / DAYS_PER_WEEK
    p_alive, expected, value = nan.copy(), nan.copy(), nan.copy()
    if bg_params is not None:
        p_alive = clv.probability_alive(bg_params, x, t_x, big_t)
        expected = clv.expected_purchases(bg_params, horizon_weeks, x, t_x, big_t)
        if gg_params is not None:
            value = clv.customer_lifetime_value(
                bg_params,
                gg_params,
                x,
                t_x,
                big_t,
                summary.monetary,
                horizon_months=int(settings["clv_horizon_months"]),
                monthly_discount_rate=float(settings["monthly_discount_rate"]),
                periods_per_month=clv.WEEKS_PER_MONTH,
            )
        # The predictions are finite for every positive parameter set (a property test of
        # metrics.clv); should that ever break, say where instead of storing NaN or inf.
        broken = ~(np.isfinite(p_alive) & np.isfinite(expected))
        if gg_params is not None:
            broken |= ~np.isfinite(value)
        if broken.any():
            bg_outcome.status = "unusable"
            first = int(np.flatnonzero(broken)[0])
            bg_outcome.reason = (
                f"The fitted purchase model gives no finite prediction for {int(broken.sum())} "
                f"customers (the first: {int(x[first])} repeat purchases, recency "
                f"{t_x[first]:.2f} and age {big_t[first]:.2f} weeks); P(alive), expected "
                "purchases and CLV are left empty rather than shown wrong."
            )
            bg_params = None
            p_alive, expected, value = nan.copy(), nan.copy(), nan.copy()
    if bg_params is None:
        messages.append("P(alive) and expected purchases are empty: " + bg_outcome.reason)
    if bg_params is not None and gg_params is not None:
        value = np.round(value, 2)
        tier_basis = "clv"
        tier_values = value
    else:
        reason = gg_outcome.reason if bg_params is not None else bg_outcome.reason
        messages.append("CLV is empty and tiers use historical revenue: " + reason)
        tier_basis = "revenue"
        tier_values = revenue
    tier = pareto.assign_value_tiers(
        tier_values,
        platinum=float(settings["platinum_share"]),
        gold=float(settings["gold_share"]),
        silver=float(settings["silver_share"]),
    )
    risk = churn.assess_churn_risk(
        np.clip(np.nan_to_num(p_alive, nan=1.0), 0.0, 1.0),
        x,
        t_x,
        big_t,
        p_alive_threshold=float(settings["p_alive_threshold"]),
        overdue_factor=float(settings["overdue_factor"]),
    )
    months = np.asarray(day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64))
    first_month = first_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    last_month = int(np.datetime64(int(as_of_day), "D").astype("datetime64[M]").astype(np.int64))
    cohort = cohorts.build_cohorts(customer_index, months, amount, last_month=last_month)
    timings["score"] = time.perf_counter() - started

    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(orders_count > 0, revenue / np.maximum(orders_count, 1), 0.0)
    scores = CustomerScores(
        first_day=first_day,
        last_day=last_day,
        orders_count=orders_count,
        revenue=np.round(revenue, 2),
        average_order_value=np.round(average, 2),
        recency_days=as_of_day - last_day,
        repeat_purchases=x.astype(np.int64),
        r=rfm_scores.r,
        f=rfm_scores.f,
        m=rfm_scores.m,
        fm=rfm_scores.fm,
        segment=rfm_scores.segment,
        segment_code=rfm_scores.segment_code,
        p_alive=p_alive,
        expected_purchases=expected,
        clv=value,
        tier=tier,
        is_at_risk=risk.is_at_risk,
        churn_reason=risk.reason.astype(np.int64),
        overdue_ratio=risk.overdue_ratio,
        cohort_month=first_month,
    )
    started = time.perf_counter()
    label = month_label or (lambda m: f"{1970 + m // 12:04d}-{m % 12 + 1:02d}")
    figures = build_portfolio(scores, tier_basis=tier_basis)
    figures["cohorts"] = portfolio.cohort_summary(cohort, label)
    timings["portfolio"] = time.perf_counter() - started
    return ScoringResult(
        scores=scores,
        fits=fits,
        portfolio=figures,
        tier_basis=tier_basis,
        timings=timings,
        messages=messages,
    )


def build_portfolio(scores: CustomerScores, *, tier_basis: str) -> dict:
    """Every whole-book figure except cohorts (which need the order rows)."""
    tier_values = scores.clv if tier_basis == "clv" else scores.revenue
    at_risk = scores.is_at_risk
    return {
        "customers": scores.size,
        "revenue": round(float(scores.revenue.sum()), 2),
        "orders": int(scores.orders_count.sum()),
        "rfm_grid": portfolio.rfm_grid(scores.r, scores.fm, scores.revenue),
        "segments": portfolio.segment_table(
            scores.segment, scores.revenue, scores.clv if tier_basis == "clv" else None
        ),
        "pareto": portfolio.pareto_summary(scores.revenue),
        "clv": portfolio.clv_distribution(scores.clv),
        "tiers": portfolio.tier_table(scores.tier, tier_values, scores.revenue, basis=tier_basis),
        "at_risk": {
            "customers": int(at_risk.sum()),
            "clv": None if tier_basis != "clv" else round(float(np.nansum(scores.clv[at_risk])), 2),
            "revenue": round(float(scores.revenue[at_risk].sum()), 2),
        },
    }
