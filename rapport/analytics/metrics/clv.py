"""Probabilistic customer lifetime value: BG/NBD for repeat purchases, Gamma-Gamma for spend.

Models
    BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing
    Science 24(2)): while alive a customer buys as a Poisson process with rate lambda ~
    Gamma(r, alpha); after each purchase they drop out with probability p ~ Beta(a, b).
    Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42(4); Fader & Hardie,
    "The Gamma-Gamma model of monetary value", 2013): each spend ~ Gamma(p, nu) with
    nu ~ Gamma(q, gamma) across customers, independent of the purchase process.

Inputs, per customer, in the paper's notation
    frequency  x    repeat purchases: purchase *days* after the first one (same-day orders are
                    one purchase, as in the CDNOW data the paper uses)
    recency    t_x  time from the first to the last purchase (0 when x == 0)
    age        T    time from the first purchase to the end of the observation period
    monetary        mean value of the repeat purchases (first purchase excluded)

Time unit
    Any unit works (days, weeks, ...) as long as recency, age and every horizon ``t`` use the
    same one. The fit rescales time internally so the optimiser sees ages of order 10 and
    reports ``alpha`` (a time scale) back in the caller's unit; ``r``, ``a`` and ``b`` are
    unit-free. ``customer_lifetime_value`` is the one place that needs months, so it takes
    ``periods_per_month`` (e.g. ``DAYS_PER_MONTH`` or ``WEEKS_PER_MONTH``).

Speed
    Customers are compressed to unique (x, t_x, T) rows with counts before fitting, and the
    likelihood is minimised over log-parameters with an analytic gradient, so a fit costs a few
    milliseconds per thousand distinct rows regardless of how many customers share them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import optimize, special

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - scikit-learn, a project dependency, brings it in
    ThreadpoolController = None

__all__ = [
    "DAYS_PER_MONTH",
    "WEEKS_PER_MONTH",
    "BgNbdParams",
    "GammaGammaParams",
    "HoldoutComparison",
    "RepeatPurchaseSummary",
    "compare_holdout",
    "customer_lifetime_value",
    "expected_average_spend",
    "expected_purchases",
    "fit_bg_nbd",
    "fit_gamma_gamma",
    "frequency_spend_correlation",
    "probability_alive",
    "summarize_repeat_purchases",
]

DAYS_PER_MONTH = 365.25 / 12
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7

# Log-parameters are boxed so exp() can never overflow while the optimiser explores; a fit that
# ends on the box is reported as not converged.
_LOG_PARAM_BOUND = 18.0
# Ages are rescaled to this maximum before fitting, the same conditioning trick lifetimes uses.
_SCALED_MAX_AGE = 10.0
_OPTIMISER_OPTIONS = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
# Mean log-likelihood gradient below which a fit counts as converged even when the line search
# reports it could not improve further (which happens at the optimum, in rounding noise).
_CONVERGED_GRADIENT = 1e-6


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters; ``alpha`` is in the time unit of the data it was fitted on."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    converged: bool


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters; ``gamma`` is in the currency unit of the spend data."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    n_customers: int
    converged: bool

    @property
    def population_mean_spend(self) -> float:
        """E[spend] for a customer we know nothing about: p * gamma / (q - 1), inf if q <= 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")


@dataclass(frozen=True)
class RepeatPurchaseSummary:
    """Per-customer (x, t_x, T, mean repeat spend) built from raw orders; see module docstring.

    Arrays are indexed by customer. Customers with no order on or before the cut-off have
    ``has_orders`` False, frequency 0 and NaN recency, age and monetary.
    """

    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    monetary: np.ndarray
    has_orders: np.ndarray


@dataclass(frozen=True)
class HoldoutComparison:
    """Mean predicted vs actual holdout repeat purchases, by calibration frequency.

    Row k holds the customers with k calibration repeat purchases; the last row holds every
    customer with ``calibration_frequency[-1]`` or more.
    """

    calibration_frequency: np.ndarray
    n_customers: np.ndarray
    predicted_mean: np.ndarray
    actual_mean: np.ndarray
    predicted_total: float
    actual_total: float


# --------------------------------------------------------------------------- input checks


def _as_float_array(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_rfm_triples(frequency, recency, age) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _as_float_array("frequency", frequency)
    t_x = _as_float_array("recency", recency)
    big_t = _as_float_array("age", age)
    if not (x.shape == t_x.shape == big_t.shape):
        raise ValueError("frequency, recency and age must have the same length")
    if x.size == 0:
        raise ValueError("at least one customer is needed")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must hold non-negative whole numbers of repeat purchases")
    if np.any(t_x < 0) or np.any(t_x > big_t):
        raise ValueError("recency must lie between 0 and age")
    if np.any(big_t < 0):
        raise ValueError("age must be non-negative")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 for customers without repeat purchases")
    return x, t_x, big_t


def _check_repeat_spend(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    x = _as_float_array("frequency", frequency)
    spend = np.asarray(monetary_value, dtype=float)
    if spend.shape != x.shape:
        raise ValueError("frequency and monetary_value must have the same length")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must hold non-negative whole numbers of repeat purchases")
    # One-time buyers have no repeat spend; whatever stands there (0, NaN) is never read.
    if not np.all(np.isfinite(spend[x > 0])):
        raise ValueError("monetary_value contains NaN or infinite values for repeat customers")
    return x, spend


def _check_weights(weights, size: int) -> np.ndarray:
    if weights is None:
        return np.ones(size)
    w = _as_float_array("weights", weights)
    if w.shape != (size,):
        raise ValueError("weights must have one entry per customer")
    if np.any(w < 0) or np.any(w != np.round(w)):
        raise ValueError("weights must be non-negative whole numbers (customers per row)")
    return w


def _unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of equal-length columns and, per input row, the index of its distinct row.

    A lexsort plus a break mask: several times faster than np.unique(axis=0), which matters when
    compressing a million customers.
    """
    order = np.lexsort(columns[::-1])
    sorted_columns = [column[order] for column in columns]
    is_new = np.zeros(order.size, dtype=bool)
    is_new[:1] = True
    for column in sorted_columns:
        is_new[1:] |= column[1:] != column[:-1]
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.cumsum(is_new) - 1
    return [column[is_new] for column in sorted_columns], inverse


def _compress_rows(
    *columns: np.ndarray, weights: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of the columns with summed weights (the paper's "observed combinations")."""
    unique_columns, inverse = _unique_rows(*columns)
    counts = np.bincount(inverse, weights=weights, minlength=unique_columns[0].size)
    keep = counts > 0
    return [column[keep] for column in unique_columns], counts[keep]


@functools.cache
def _blas_controller():
    return ThreadpoolController() if ThreadpoolController is not None else None


def _single_threaded_blas():
    """One BLAS thread while fitting: L-BFGS-B calls BLAS on 4x4 problems, and a threaded OpenBLAS
    on busy CPUs (a web server, the test suite) makes its workers wait on each other, turning a
    5 ms fit into 50 ms. The limit is process-wide for the duration of the fit, so BLAS work in
    other threads of the process runs single-threaded meanwhile."""
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def _minimise(objective, start: np.ndarray) -> optimize.OptimizeResult:
    bounds = [(-_LOG_PARAM_BOUND, _LOG_PARAM_BOUND)] * len(start)
    with _single_threaded_blas():
        return optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options=_OPTIMISER_OPTIONS,
        )


def _is_converged(result: optimize.OptimizeResult) -> bool:
    on_bound = np.any(np.abs(result.x) >= _LOG_PARAM_BOUND - 1e-6)
    flat = np.all(np.isfinite(result.jac)) and np.max(np.abs(result.jac)) < _CONVERGED_GRADIENT
    return bool((result.success or flat) and np.all(np.isfinite(result.x)) and not on_bound)


# --------------------------------------------------------------------------- BG/NBD fit


class _BgNbdData(NamedTuple):
    """Customers compressed for the BG/NBD likelihood, with every per-eval constant cached.

    Rows are the distinct (x, t_x, T) with their counts. Every gamma-function term depends on x
    alone, and customers share a few dozen distinct x; every log(alpha + time) on one of a few
    thousand distinct times. Those are evaluated on the distinct values and gathered, so a
    likelihood evaluation costs a few arithmetic passes over the rows.
    """

    x: np.ndarray
    counts: np.ndarray
    x_levels: np.ndarray
    level: np.ndarray
    customers_per_level: np.ndarray
    times: np.ndarray
    recency_index: np.ndarray
    age_index: np.ndarray
    is_repeat_level: np.ndarray

    @classmethod
    def from_customers(cls, x, t_x, big_t, weights) -> _BgNbdData:
        (x_u, t_x_u, big_t_u), counts = _compress_rows(x, t_x, big_t, weights=weights)
        x_levels, level = np.unique(x_u, return_inverse=True)
        times, time_index = np.unique(np.concatenate([t_x_u, big_t_u]), return_inverse=True)
        return cls(
            x=x_u,
            counts=counts,
            x_levels=x_levels,
            level=level,
            customers_per_level=np.bincount(level, weights=counts, minlength=x_levels.size),
            times=times,
            recency_index=time_index[: x_u.size],
            age_index=time_index[x_u.size :],
            is_repeat_level=x_levels > 0,
        )


def _bg_nbd_log_likelihood(log_params: np.ndarray, data: _BgNbdData) -> tuple[float, np.ndarray]:
    """Total log-likelihood (FHL 2005 eq. 6, weighted by counts) and its log-parameter gradient.

    Per customer LL = log G(r+x) - log G(r) + r log(alpha) + log(A + D) with
        A = B(a, b+x)/B(a, b) / (alpha+T)**(r+x)               (alive at T)
        D = B(a+1, b+x-1)/B(a, b) / (alpha+t_x)**(r+x), x > 0   (dropped out right after t_x)
    d log(A + D) is the A- and D-derivatives weighted by their shares of A + D.
    """
    r, alpha, a, b = np.exp(log_params)
    levels, repeat = data.x_levels, data.is_repeat_level
    psi = special.digamma
    beta_ab, psi_ab = special.betaln(a, b), psi(a + b)
    # b + x - 1 only matters for repeat buyers; x = 1 keeps the x = 0 level finite.
    x_repeat = np.maximum(levels, 1.0)
    psi_abx = psi(a + b + levels)
    beta_alive = special.betaln(a, b + levels) - beta_ab
    beta_dropped = np.where(repeat, special.betaln(a + 1.0, b + x_repeat - 1.0) - beta_ab, -np.inf)

    log_alpha_time = np.log(alpha + data.times)
    inverse_alpha_time = 1.0 / (alpha + data.times)
    log_alpha_t = log_alpha_time[data.age_index]
    log_alpha_tx = log_alpha_time[data.recency_index]
    exponent = r + data.x
    term_alive = beta_alive[data.level] - exponent * log_alpha_t
    term_dropped = beta_dropped[data.level] - exponent * log_alpha_tx
    log_mix = np.logaddexp(term_alive, term_dropped)
    share_dropped = np.exp(term_dropped - log_mix)
    share_alive = 1.0 - share_dropped

    counts, per_level = data.counts, data.customers_per_level
    n = per_level.sum()
    dropped_per_level = np.bincount(
        data.level, weights=counts * share_dropped, minlength=levels.size
    )
    alive_per_level = per_level - dropped_per_level
    count_term = special.gammaln(r + levels) - special.gammaln(r)

    log_likelihood = per_level @ count_term + n * r * np.log(alpha) + counts @ log_mix
    d_r = (
        per_level @ (psi(r + levels) - psi(r))
        + n * np.log(alpha)
        - counts @ (share_alive * log_alpha_t + share_dropped * log_alpha_tx)
    )
    d_alpha = n * r / alpha - (counts * exponent) @ (
        share_alive * inverse_alpha_time[data.age_index]
        + share_dropped * inverse_alpha_time[data.recency_index]
    )
    d_a = alive_per_level @ (psi_ab - psi_abx) + dropped_per_level[repeat] @ (
        psi(a + 1.0) - psi_abx[repeat] - psi(a) + psi_ab
    )
    d_b = alive_per_level @ (psi(b + levels) - psi_abx - psi(b) + psi_ab) + dropped_per_level[
        repeat
    ] @ (psi(b + x_repeat[repeat] - 1.0) - psi_abx[repeat] - psi(b) + psi_ab)
    # Chain rule for theta = exp(log theta).
    return float(log_likelihood), np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


def fit_bg_nbd(frequency, recency, age, weights=None) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for the given customers.

    Guarantees: the returned ``log_likelihood`` is the paper's LL (eq. 6 summed with weights) in
    the caller's time unit, so it is comparable with published values; ``converged`` is False if
    the optimiser stopped early, a parameter ran to its bound, or the data cannot identify the
    model (no repeat buyers at all). ``weights`` are whole numbers of identical customers per
    row. Raises ValueError on inconsistent input (recency > age, fractional frequency, NaN, ...).
    """
    x, t_x, big_t = _check_rfm_triples(frequency, recency, age)
    w = _check_weights(weights, x.size)
    if big_t.max() == 0:
        raise ValueError("age is 0 for every customer: there is no observation time to fit")
    if w.sum() == 0:
        raise ValueError("weights sum to zero: no customers to fit")
    time_scale = _SCALED_MAX_AGE / big_t.max()
    data = _BgNbdData.from_customers(x, t_x * time_scale, big_t * time_scale, w)
    total = data.counts.sum()

    def negative_mean_log_likelihood(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        log_likelihood, gradient = _bg_nbd_log_likelihood(log_params, data)
        return -log_likelihood / total, -gradient / total

    result = _minimise(negative_mean_log_likelihood, np.zeros(4))
    r, scaled_alpha, a, b = np.exp(result.x)
    # Rescaling time by c multiplies each customer's likelihood by c**-x (it is a density in the
    # x purchase times), so the caller-unit LL adds x * log(c) back.
    log_likelihood = -result.fun * total + np.log(time_scale) * float(data.counts @ data.x)
    return BgNbdParams(
        r=float(r),
        alpha=float(scaled_alpha / time_scale),
        a=float(a),
        b=float(b),
        log_likelihood=float(log_likelihood),
        n_customers=round(float(total)),
        # Without a single repeat purchase the likelihood only grows towards r -> 0 and nothing
        # identifies a or b: whatever the optimiser stopped on is not an estimate.
        converged=_is_converged(result) and bool(np.any(data.is_repeat_level)),
    )


# --------------------------------------------------------------------------- Gamma-Gamma fit


class _GammaGammaData(NamedTuple):
    """Repeat customers compressed to distinct (x, mean spend) with the constant sums cached."""

    x: np.ndarray
    spend: np.ndarray
    counts: np.ndarray
    x_levels: np.ndarray
    customers_per_level: np.ndarray
    x_weighted_counts: np.ndarray
    # sum of counts * log(spend), and of counts * x * (log(spend) + log(x))
    sum_log_spend: float
    sum_x_log_spend_x: float

    @classmethod
    def from_customers(cls, x, spend, weights) -> _GammaGammaData:
        (x_u, spend_u), counts = _compress_rows(x, spend, weights=weights)
        x_levels, level = np.unique(x_u, return_inverse=True)
        return cls(
            x=x_u,
            spend=spend_u,
            counts=counts,
            x_levels=x_levels,
            customers_per_level=np.bincount(level, weights=counts, minlength=x_levels.size),
            x_weighted_counts=counts * x_u,
            sum_log_spend=float(counts @ np.log(spend_u)),
            sum_x_log_spend_x=float((counts * x_u) @ (np.log(spend_u) + np.log(x_u))),
        )


def _gamma_gamma_log_likelihood(
    log_params: np.ndarray, data: _GammaGammaData
) -> tuple[float, np.ndarray]:
    """Total log density of the mean spends (Fader & Hardie 2013, eq. 3) and its gradient.

    Per customer: log G(px+q) - log G(px) - log G(q) + q log(gamma) + (px-1) log(m) + px log(x)
    - (px+q) log(gamma + m x).
    """
    p, q, gamma = np.exp(log_params)
    levels, per_level = data.x_levels, data.customers_per_level
    n = per_level.sum()
    log_total = np.log(gamma + data.spend * data.x)
    inverse_total = 1.0 / (gamma + data.spend * data.x)
    x_log_total = data.x_weighted_counts @ log_total
    plain_log_total = data.counts @ log_total

    px = p * levels
    log_likelihood = (
        per_level @ (special.gammaln(px + q) - special.gammaln(px))
        - n * special.gammaln(q)
        + n * q * np.log(gamma)
        + p * data.sum_x_log_spend_x
        - data.sum_log_spend
        - p * x_log_total
        - q * plain_log_total
    )
    psi_pxq = special.digamma(px + q)
    d_p = (
        (per_level * levels) @ (psi_pxq - special.digamma(px))
        + data.sum_x_log_spend_x
        - x_log_total
    )
    d_q = per_level @ psi_pxq - n * special.digamma(q) + n * np.log(gamma) - plain_log_total
    d_gamma = (
        n * q / gamma
        - p * (data.x_weighted_counts @ inverse_total)
        - q * (data.counts @ inverse_total)
    )
    return float(log_likelihood), np.array([d_p * p, d_q * q, d_gamma * gamma])


def fit_gamma_gamma(frequency, monetary_value, weights=None) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from repeat customers' mean repeat spend.

    Only customers with frequency > 0 enter the fit (one-time buyers carry no repeat spend, so
    their ``monetary_value`` is ignored and may be NaN); repeat customers' must be positive. ``log_likelihood`` is in the caller's currency
    unit. Check ``frequency_spend_correlation`` first: the model assumes spend and frequency
    are independent.
    """
    x, spend = _check_repeat_spend(frequency, monetary_value)
    w = _check_weights(weights, x.size)
    repeat = (x > 0) & (w > 0)
    if not np.any(repeat):
        raise ValueError("Gamma-Gamma needs at least one customer with a repeat purchase")
    if np.any(spend[repeat] <= 0):
        raise ValueError("monetary_value must be positive for every repeat customer")

    money_scale = 1.0 / spend[repeat].mean()
    data = _GammaGammaData.from_customers(x[repeat], spend[repeat] * money_scale, w[repeat])
    total = data.counts.sum()

    def negative_mean_log_likelihood(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        log_likelihood, gradient = _gamma_gamma_log_likelihood(log_params, data)
        return -log_likelihood / total, -gradient / total

    result = _minimise(negative_mean_log_likelihood, np.zeros(3))
    p, q, scaled_gamma = np.exp(result.x)
    # The likelihood is a density in spend: rescaling spend by c divides it by c.
    log_likelihood = -result.fun * total + np.log(money_scale) * total
    return GammaGammaParams(
        p=float(p),
        q=float(q),
        gamma=float(scaled_gamma / money_scale),
        log_likelihood=float(log_likelihood),
        n_customers=round(float(total)),
        converged=_is_converged(result),
    )


def frequency_spend_correlation(frequency, monetary_value) -> float:
    """Pearson correlation of frequency and mean spend over repeat customers.

    Gamma-Gamma assumes the two are independent; values far from 0 (say |rho| > 0.3) mean its
    spend predictions are biased. NaN when fewer than two repeat customers or no variation.
    """
    x, spend = _check_repeat_spend(frequency, monetary_value)
    repeat = x > 0
    if repeat.sum() < 2:
        return float("nan")
    x_r, spend_r = x[repeat], spend[repeat]
    if np.ptp(x_r) == 0 or np.ptp(spend_r) == 0:
        return float("nan")
    return float(np.corrcoef(x_r, spend_r)[0, 1])


# --------------------------------------------------------------------------- predictions


def _log_odds_dropped(params: BgNbdParams, x, t_x, big_t) -> np.ndarray:
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))**(r+x): odds that a repeat buyer is gone."""
    x_repeat = np.where(x > 0, x, 1.0)
    return (
        np.log(params.a)
        - np.log(params.b + x_repeat - 1.0)
        + (params.r + x) * (np.log(params.alpha + big_t) - np.log(params.alpha + t_x))
    )


def probability_alive(params: BgNbdParams, frequency, recency, age) -> np.ndarray:
    """P(customer still active at the end of the observation period | x, t_x, T), in [0, 1].

    FHL 2005 eq. 11 (the Fader-Hardie note on P(alive)); customers without repeat purchases get
    exactly 1, a known property of BG/NBD (they cannot have dropped out after a repeat purchase
    they never made). Evaluated as a logistic of log-odds so it never overflows.
    """
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(age, dtype=float)
    alive = special.expit(-_log_odds_dropped(params, x, t_x, big_t))
    return np.where(x > 0, alive, 1.0)


# The closed form is used where it is accurate (see _expected_purchases_if_alive).
_CLOSED_FORM_MAX_A = 1e3
_CANCELLATION_ULP = 1e-16
# Relative size below which a neglected term cannot change a float64 result.
_NEGLIGIBLE = 1e-17
# log-density drop beyond which the Beta mixing distribution's tail mass is below ~1e-19.
_TAIL_LOG_DROP = 45.0


def _purchases_if_alive_by_quadrature(k, b_x, a, s) -> np.ndarray:
    """E[(1 - (1 + p s)**-k) / p] over p ~ Beta(a, b_x): the same quantity as the closed form,
    computed by integrating over the customer's dropout probability p.

    Given alive with purchase rate lambda and dropout probability p, a customer makes
    (1 - exp(-lambda p t)) / p expected purchases in t; averaging over the posterior lambda ~
    Gamma(r + x, alpha + T) gives the integrand, with k = r + x, b_x = b + x, s = t / (alpha + T).
    It is a weighted mean of values in [h(1), h(0) = k s], so it is finite and non-negative for
    any parameters, where the hypergeometric closed form can overflow or cancel.

    The integral runs over u = logit(p), where the Beta density is log-concave and smooth; the
    range is cut where either the density has dropped by e**-45 or the integrand is flat to
    double precision, the flat tails are added exactly through the incomplete Beta function, and
    the middle is integrated by Gauss-Legendre with enough nodes for the integrand's width.
    """
    k, b_x, a, s = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(k, b_x, a, s))
    shape = k.shape
    k, b_x, a, s = k.ravel(), b_x.ravel(), a.ravel(), s.ravel()
    result = np.zeros(k.size)

    def log_density(u, a_, b_):
        # log of the Beta(a, b) density over u = logit(p), without its normalising constant.
        return a_ * special.log_expit(u) + b_ * special.log_expit(-u)

    def h(u, k_, s_):
        # (1 - (1 + p s)**-k) / p with p = expit(u), to full precision for tiny p s.
        p = special.expit(u)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = -np.expm1(-k_ * np.log1p(p * s_)) / p
        return np.where(p * s_ * (k_ + 1.0) < _NEGLIGIBLE, k_ * s_, value)

    todo = s > 0
    if not np.any(todo):
        return result.reshape(shape)
    k, b_x, a, s = k[todo], b_x[todo], a[todo], s[todo]
    norm = special.betaln(a, b_x)
    mode = np.log(a) - np.log(b_x)
    peak = log_density(mode, a, b_x)
    # Width of the peak: the log-density's curvature at the mode is -a b_x / (a + b_x).
    spread = np.sqrt(1.0 / a + 1.0 / b_x)
    # Widen each side by doubling until the log-density has dropped enough: it is concave, so
    # the mass beyond is at most ~e**-45. The slowest tail (slope a or b_x) sets the width.
    cuts = []
    for sign in (-1.0, 1.0):
        width = spread.copy()
        for _ in range(80):
            short = peak - log_density(mode + sign * width, a, b_x) < _TAIL_LOG_DROP
            if not np.any(short):
                break
            width = np.where(short, 2.0 * width, width)
        cuts.append(mode + sign * width)
    mass_low, mass_high = cuts
    # h(p) equals h(0) = k s to double precision for p s (k + 1) / 2 below _NEGLIGIBLE (the
    # binomial series of (1 + p s)**-k alternates), and h(1) for 1 - p below it (p h(p) rises,
    # so |h'| <= h / p).
    flat_low = special.logit(np.minimum(2.0 * _NEGLIGIBLE / ((k + 1.0) * s), 0.5))
    flat_high = -special.logit(_NEGLIGIBLE)
    low = np.maximum(mass_low, flat_low)
    high = np.minimum(mass_high, flat_high)

    values = np.empty(k.size)
    degenerate = low >= high
    # The whole mass sits where h is flat: h at the mode is the answer.
    values[degenerate] = h(mode, k, s)[degenerate]
    rows = np.flatnonzero(~degenerate)
    if rows.size:
        lo, hi = low[rows], high[rows]
        # Tails beyond the cuts, where h is flat or the mass negligible.
        below = special.betainc(a[rows], b_x[rows], special.expit(lo))
        above = special.betainc(b_x[rows], a[rows], special.expit(-hi))
        tails = below * h(lo, k[rows], s[rows]) + above * h(hi, k[rows], s[rows])
        # The integrand is analytic in a strip of half-width ~pi about the real axis (the poles
        # of expit, the branch point of log1p(p s)); Gauss-Legendre needs about 3 nodes per
        # unit of length for double precision there, and 64 resolve the Gaussian-like peak of
        # a concentrated Beta.
        nodes_needed = np.maximum(64, np.ceil(4.0 * (hi - lo) / np.minimum(spread[rows], 1.0)))
        bucket = np.exp2(np.ceil(np.log2(nodes_needed))).astype(int)
        middle = np.empty(rows.size)
        for n in np.unique(bucket):
            chosen = bucket == n
            x_nodes, w_nodes = _gauss_legendre(int(n))
            lo_c, hi_c = lo[chosen, None], hi[chosen, None]
            half = (hi_c - lo_c) / 2.0
            u = lo_c + half * (x_nodes[None, :] + 1.0)
            r_ = rows[chosen, None]
            weight = np.exp(log_density(u, a[r_], b_x[r_]) - norm[r_])
            middle[chosen] = half[:, 0] * ((weight * h(u, k[r_], s[r_])) @ w_nodes)
        values[rows] = tails + middle
    result[todo] = values
    return result.reshape(shape)


@functools.cache
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _expected_purchases_if_alive(params: BgNbdParams, t, x, big_t) -> np.ndarray:
    """Numerator of FHL 2005 eq. 10: expected purchases in (T, T+t] for a customer alive at T.

    The paper writes (a+b+x-1)/(a-1) * (1 - (1-z)**(r+x) * 2F1(r+x, b+x; a+b+x-1; z)) with
    z = t/(alpha+T+t). Euler's transformation turns the tail into (1-z)**(a-1) *
    2F1(a+b-1-r, a-1; a+b+x-1; z), an identical value whose series has small upper parameters
    and converges fast for large x and z near 1. scipy's hyp2f1 still fails on some parameter
    sets (NaN or overflow for large a, or a tiny a with z near 1; cancellation in 1 - tail for
    tiny t), so every value is checked against bounds the true one must meet, h(1) <= E <=
    h(0) (see `_purchases_if_alive_by_quadrature`), and for cancellation; those that fail are
    recomputed by quadrature, as is every value when a is very large: slower (about 0.2 ms a
    value) but accurate to ~1e-14 and unable to overflow.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t, x, big_t = np.broadcast_arrays(
        np.asarray(t, dtype=float), np.asarray(x, dtype=float), np.asarray(big_t, dtype=float)
    )
    k, b_x, s = r + x, b + x, t / (alpha + big_t)
    if a > _CLOSED_FORM_MAX_A:
        return _purchases_if_alive_by_quadrature(k, b_x, a, s)
    z = t / (alpha + big_t + t)
    c = a + b + x - 1.0
    with np.errstate(all="ignore"):
        hypergeometric = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
        tail = np.exp((a - 1.0) * np.log1p(-z)) * hypergeometric
        closed = c / (a - 1.0) * (1.0 - tail)
        upper = k * s
        lower = -np.expm1(-k * np.log1p(s))
        # 1 - tail cancels when the tail is near 1 (tiny t) and c / (a - 1) is large: the
        # rounding of the tail, magnified. hyp2f1's own relative error grows with the size of
        # its parameters (a series with a first parameter of -664 keeps only ~11 digits), so
        # the rounding is taken as one ulp per unit of the largest of them.
        digits_lost = np.maximum(np.maximum(abs(a + b - 1.0 - r), np.abs(c)), 1.0)
        cancellation = (
            np.abs(c / (a - 1.0)) * np.maximum(np.abs(tail), 1.0) * _CANCELLATION_ULP * digits_lost
        )
    # Inside the bounds (1e-9 leaves room for rounding), with little cancellation and a up to
    # _CLOSED_FORM_MAX_A (above it scipy's hyp2f1 loses digits: quadrature throughout), the
    # closed form agrees with the quadrature to about 1e-7 (checked over random parameters
    # spanning 1e-3..1e6).
    trusted = (
        np.isfinite(closed)
        & (closed >= lower * (1.0 - 1e-9))
        & (closed <= upper * (1.0 + 1e-9))
        & (cancellation <= 1e-10 * closed)
    )
    if np.all(trusted):
        return closed
    result = np.array(closed, copy=True)
    redo = ~trusted
    result[redo] = _purchases_if_alive_by_quadrature(k[redo], b_x[redo], a, s[redo])
    return result


def _conditional_expectation_if_alive(params: BgNbdParams, t, x, big_t) -> np.ndarray:
    # At a == 1 the closed form is 0/0 although the function is smooth in a: near it, interpolate
    # linearly between a = 1 -+ h, where the closed form has lost only eps/h of its precision.
    half_width = 1e-4
    if abs(params.a - 1.0) >= half_width:
        return _expected_purchases_if_alive(params, t, x, big_t)
    below = _expected_purchases_if_alive(
        dataclasses.replace(params, a=1.0 - half_width), t, x, big_t
    )
    above = _expected_purchases_if_alive(
        dataclasses.replace(params, a=1.0 + half_width), t, x, big_t
    )
    share_above = (params.a - (1.0 - half_width)) / (2.0 * half_width)
    return below + share_above * (above - below)


def expected_purchases(params: BgNbdParams, t, frequency, recency, age) -> np.ndarray:
    """E[number of purchases in the next ``t`` time units | x, t_x, T] (FHL 2005 eq. 10).

    ``t`` is a scalar or an array broadcastable against the customer arrays, in the same unit as
    recency and age. Guarantees: non-negative, 0 at t = 0, non-decreasing in t; finite for any
    finite t (it grows without bound as t -> inf when a <= 1, as the model implies).
    """
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(age, dtype=float)
    t = np.asarray(t, dtype=float)
    if np.any(t < 0):
        raise ValueError("t must be non-negative")
    if t.ndim == 0 and x.ndim == 1 and x.shape == big_t.shape and x.size > 1:
        # One horizon for many customers: the if-alive part depends on (x, T) only, and
        # customers share those, so evaluate it once per distinct pair.
        (x_pairs, age_pairs), inverse = _unique_rows(x, big_t)
        if_alive = _conditional_expectation_if_alive(params, t, x_pairs, age_pairs)[inverse]
    else:
        if_alive = _conditional_expectation_if_alive(params, t, x, big_t)
    # Rounding in 1 - tail can leave -1e-16 for tiny t; the true value is >= 0.
    return np.maximum(if_alive, 0.0) * probability_alive(params, x, t_x, big_t)


def expected_average_spend(gg_params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[mean spend per future purchase | x, observed mean repeat spend] (Gamma-Gamma eq. 5).

    A weighted average of the population mean p*gamma/(q-1) and the customer's own mean, the
    customer's weight growing with x. One-time buyers (x == 0) get the population mean.
    Requires q > 1 (a finite population mean).
    """
    if gg_params.q <= 1.0:
        raise ValueError("Gamma-Gamma q <= 1: the population mean spend is infinite")
    p, q, gamma = gg_params.p, gg_params.q, gg_params.gamma
    x = np.asarray(frequency, dtype=float)
    spend = np.where(x > 0, np.asarray(monetary, dtype=float), 0.0)
    return (gamma + spend * x) * p / (p * x + q - 1.0)


def customer_lifetime_value(
    bg_params: BgNbdParams,
    gg_params: GammaGammaParams,
    frequency,
    recency,
    age,
    monetary,
    *,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    periods_per_month: float,
) -> np.ndarray:
    """Discounted expected spend over the next ``horizon_months`` months, per customer.

    Same construction as lifetimes' ``customer_lifetime_value``: for each month m = 1..H the
    expected purchases in that month, E[Y(m * periods_per_month)] - E[Y((m-1) *
    periods_per_month)], times the Gamma-Gamma expected spend, divided by (1 + rate) ** m.
    ``periods_per_month`` says how many of the data's time units make a month (30.44 days,
    4.35 weeks, ... see ``DAYS_PER_MONTH`` / ``WEEKS_PER_MONTH``). Money is in the unit of
    ``monetary``. Guarantees: non-negative, non-decreasing in the horizon.
    """
    if horizon_months < 1:
        raise ValueError("horizon_months must be at least 1")
    if monthly_discount_rate <= -1.0:
        raise ValueError("monthly_discount_rate must be greater than -1")
    if periods_per_month <= 0:
        raise ValueError("periods_per_month must be positive")
    x = np.asarray(frequency, dtype=float).ravel()
    t_x = np.asarray(recency, dtype=float).ravel()
    big_t = np.asarray(age, dtype=float).ravel()
    spend = expected_average_spend(gg_params, x, np.asarray(monetary, dtype=float).ravel())

    # The if-alive expectation depends on (x, T) only; many customers share those, so evaluate
    # the costly hypergeometric once per distinct pair and month.
    (x_pairs, age_pairs), inverse = _unique_rows(x, big_t)
    months = np.arange(horizon_months + 1, dtype=float)
    cumulative = _conditional_expectation_if_alive(
        bg_params, months[None, :] * periods_per_month, x_pairs[:, None], age_pairs[:, None]
    )
    cumulative = np.maximum.accumulate(np.maximum(cumulative, 0.0), axis=1)
    discount = (1.0 + monthly_discount_rate) ** -months[1:]
    discounted_purchases = np.diff(cumulative, axis=1) @ discount
    return discounted_purchases[inverse] * probability_alive(bg_params, x, t_x, big_t) * spend


def compare_holdout(
    params: BgNbdParams,
    frequency,
    recency,
    age,
    holdout_frequency,
    holdout_length: float,
    *,
    max_frequency: int = 7,
) -> HoldoutComparison:
    """Predicted vs actual purchases in a holdout period, grouped by calibration frequency.

    The check of FHL 2005 fig. 4: fit on a calibration period, count each customer's purchases
    in the following ``holdout_length`` time units, and compare with ``expected_purchases``.
    Groups are x = 0, 1, ..., max_frequency - 1 and "max_frequency or more"; empty groups have
    NaN means.
    """
    x, t_x, big_t = _check_rfm_triples(frequency, recency, age)
    actual = _as_float_array("holdout_frequency", holdout_frequency)
    if actual.shape != x.shape:
        raise ValueError("holdout_frequency must have one entry per customer")
    if holdout_length <= 0:
        raise ValueError("holdout_length must be positive")
    predicted = expected_purchases(params, holdout_length, x, t_x, big_t)
    group = np.minimum(x, max_frequency).astype(np.intp)
    n = np.bincount(group, minlength=max_frequency + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted_mean = np.bincount(group, weights=predicted, minlength=max_frequency + 1) / n
        actual_mean = np.bincount(group, weights=actual, minlength=max_frequency + 1) / n
    return HoldoutComparison(
        calibration_frequency=np.arange(max_frequency + 1),
        n_customers=n,
        predicted_mean=predicted_mean,
        actual_mean=actual_mean,
        predicted_total=float(predicted.sum()),
        actual_total=float(actual.sum()),
    )


# --------------------------------------------------------------------------- from raw orders


def summarize_repeat_purchases(
    customer_index,
    order_day,
    amount,
    *,
    as_of_day: int,
    n_customers: int | None = None,
    days_per_period: float = 1.0,
) -> RepeatPurchaseSummary:
    """Build (x, t_x, T, mean repeat spend) per customer from raw orders up to ``as_of_day``.

    Orders are rows of (customer index 0..n-1, integer day number, amount); orders after
    ``as_of_day`` are ignored. Orders on the same day count as one purchase whose value is their
    sum, as in the CDNOW data. Times are divided by ``days_per_period`` (7 for weeks). Fully
    vectorised (bincount, ufunc.at and one integer sort), so 10 million orders take about a
    second.
    """
    customers = np.asarray(customer_index)
    days = np.asarray(order_day)
    values = np.asarray(amount, dtype=float)
    if not (customers.shape == days.shape == values.shape) or customers.ndim != 1:
        raise ValueError("customer_index, order_day and amount must be 1-D of the same length")
    if not np.issubdtype(customers.dtype, np.integer) or not np.issubdtype(days.dtype, np.integer):
        raise ValueError("customer_index and order_day must be integer arrays")
    if customers.size and customers.min() < 0:
        raise ValueError("customer_index must be non-negative")
    n = int(
        n_customers if n_customers is not None else (customers.max() + 1 if customers.size else 0)
    )
    if customers.size and customers.max() >= n:
        raise ValueError("customer_index has values >= n_customers")

    in_window = days <= as_of_day
    if not in_window.all():
        customers, days, values = customers[in_window], days[in_window], values[in_window]
    days = days.astype(np.int64, copy=False)

    orders = np.bincount(customers, minlength=n)
    has_orders = orders > 0
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, customers, days)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, customers, days)

    # Distinct purchase days per customer: sort a (customer, day) key, count the breaks.
    if customers.size:
        day_span = int(days.max() - days.min()) + 1
        keys = customers.astype(np.int64) * day_span + (days - days.min())
        keys.sort()
        distinct = keys[np.r_[True, keys[1:] != keys[:-1]]]
        purchase_days = np.bincount(distinct // day_span, minlength=n)
    else:
        purchase_days = np.zeros(n, dtype=np.int64)

    total_spend = np.bincount(customers, weights=values, minlength=n)
    first_day_spend = np.bincount(
        customers, weights=np.where(days == first[customers], values, 0.0), minlength=n
    )
    frequency = np.maximum(purchase_days - 1, 0)
    monetary = np.full(n, np.nan)
    monetary[has_orders] = 0.0
    repeat = frequency > 0
    monetary[repeat] = (total_spend[repeat] - first_day_spend[repeat]) / frequency[repeat]
    recency = np.full(n, np.nan)
    recency[has_orders] = (last[has_orders] - first[has_orders]) / days_per_period
    age = np.full(n, np.nan)
    age[has_orders] = (as_of_day - first[has_orders]) / days_per_period
    return RepeatPurchaseSummary(
        frequency=frequency, recency=recency, age=age, monetary=monetary, has_orders=has_orders
    )
