"""Revenue concentration: the Pareto (80/20) curve, the top-20 % share, Gini and value tiers.

Definitions (n customers, revenues y_1 >= y_2 >= ... >= y_n >= 0, total Y > 0)
    Pareto curve        the points (k / n, (y_1 + ... + y_k) / Y), k = 0..n, joined by straight
                        lines: the share of revenue carried by the best k customers. It is the
                        Lorenz curve read from the top, concave and non-decreasing.
    top share s(f)      the curve at customer share f, interpolating within a customer when
                        f * n is fractional (top 20 % of 12 customers = 2.4 customers =
                        y_1 + y_2 + 0.4 * y_3). Continuous in f and well defined for any n.
    Gini                G = sum_i sum_j |y_i - y_j| / (2 * n**2 * mean(y)),
                        computed as 2 * sum_k k * y_(k) / (n * Y) - (n + 1) / n with y_(k)
                        ascending. 0 when every customer brings the same revenue, (n - 1) / n
                        when one customer brings it all; always in [0, 1).
    Value tiers         platinum = top 1 %, gold = next 4 % (to 5 %), silver = next 15 % (to
                        20 %), bronze = the rest, by default. A customer is in the top f if the
                        customers worth at least as much as them are at most f * n: equal values
                        stay in one tier, and a tie straddling a cut drops to the lower tier (so
                        a tier is never over-filled and zero-value customers are bronze).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TIER_NAMES",
    "RevenueConcentration",
    "assign_value_tiers",
    "gini_coefficient",
    "revenue_concentration",
    "top_share",
]

TIER_NAMES: tuple[str, ...] = ("platinum", "gold", "silver", "bronze")


@dataclass(frozen=True)
class RevenueConcentration:
    """Pareto curve (downsampled for a chart), top-20 % share and Gini of a revenue array."""

    customer_share: np.ndarray
    revenue_share: np.ndarray
    top_20_share: float
    gini: float
    n_customers: int
    total_revenue: float


def _check_revenue(revenue) -> np.ndarray:
    array = np.asarray(revenue, dtype=float)
    if array.ndim != 1:
        raise ValueError("revenue must be one-dimensional")
    if not np.all(np.isfinite(array)):
        raise ValueError("revenue contains NaN or infinite values")
    if np.any(array < 0):
        raise ValueError("revenue must be non-negative (net refunds out before measuring)")
    return array


def _pareto_points(descending: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = descending.size
    cumulative = np.concatenate([[0.0], np.cumsum(descending)])
    # Pin the last point to exactly 1 so rounding in cumsum cannot push a share above it.
    shares = np.minimum(cumulative / cumulative[-1], 1.0)
    shares[-1] = 1.0
    return np.arange(n + 1) / n, np.maximum.accumulate(shares)


def top_share(revenue, fraction: float = 0.2) -> float:
    """Share of total revenue from the top ``fraction`` of customers (see module docstring).

    Guarantees: in [fraction, 1] (the best customers carry at least their head-count share),
    non-decreasing in ``fraction``; NaN if there is no revenue at all.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be between 0 and 1")
    array = _check_revenue(revenue)
    if array.size == 0 or array.sum() == 0:
        return float("nan")
    customer_share, revenue_share = _pareto_points(np.sort(array)[::-1])
    return float(np.interp(fraction, customer_share, revenue_share))


def gini_coefficient(revenue) -> float:
    """Gini coefficient of the revenue distribution (definition in the module docstring).

    Guarantees: 0 for equal revenues, (n - 1) / n when one customer has all, in [0, 1);
    NaN if there is no revenue at all.
    """
    array = _check_revenue(revenue)
    n = array.size
    total = array.sum()
    if n == 0 or total == 0:
        return float("nan")
    ascending = np.sort(array)
    ranks = np.arange(1, n + 1)
    gini = 2.0 * (ranks @ ascending) / (n * total) - (n + 1.0) / n
    return float(min(max(gini, 0.0), (n - 1.0) / n))


def revenue_concentration(revenue, *, curve_points: int = 101) -> RevenueConcentration:
    """Pareto curve, top-20 % share and Gini for per-customer revenue.

    The curve is sampled at ``curve_points`` evenly spaced customer shares from 0 to 1 by exact
    linear interpolation of the full curve, so a chart needs no more points whatever n is.
    With no revenue at all the shares and Gini are NaN.
    """
    if curve_points < 2:
        raise ValueError("curve_points must be at least 2")
    array = _check_revenue(revenue)
    customer_share = np.linspace(0.0, 1.0, curve_points)
    total = float(array.sum())
    if array.size == 0 or total == 0:
        nan_curve = np.full(curve_points, np.nan)
        return RevenueConcentration(
            customer_share, nan_curve, float("nan"), float("nan"), array.size, total
        )
    full_customer_share, full_revenue_share = _pareto_points(np.sort(array)[::-1])
    revenue_share = np.interp(customer_share, full_customer_share, full_revenue_share)
    return RevenueConcentration(
        customer_share=customer_share,
        revenue_share=revenue_share,
        top_20_share=float(np.interp(0.2, full_customer_share, full_revenue_share)),
        gini=gini_coefficient(array),
        n_customers=int(array.size),
        total_revenue=total,
    )


def assign_value_tiers(
    value,
    *,
    platinum: float = 0.01,
    gold: float = 0.05,
    silver: float = 0.20,
) -> np.ndarray:
    """Tier name per customer from a value array (revenue, CLV, ...), by cumulative head count.

    ``platinum``, ``gold`` and ``silver`` are the cumulative top shares where each tier ends
    (defaults: top 1 %, next 4 %, next 15 %; bronze is the rest). Rule in the module docstring:
    equal values always share a tier, and the tiers are monotone in value.
    """
    if not 0.0 <= platinum <= gold <= silver <= 1.0:
        raise ValueError("tier thresholds must satisfy 0 <= platinum <= gold <= silver <= 1")
    array = np.asarray(value, dtype=float)
    if array.ndim != 1:
        raise ValueError("value must be one-dimensional")
    if not np.all(np.isfinite(array)):
        raise ValueError("value contains NaN or infinite values")
    n = array.size
    if n == 0:
        return np.asarray([], dtype="<U8")
    at_least_as_good = n - np.searchsorted(np.sort(array), array, side="left")
    # Compare head counts with the integer part of f * n, plus a hair for float noise
    # (0.05 * 100 is 5.000000000000001).
    tier = np.full(n, 3, dtype=np.int8)
    for code, share in ((2, silver), (1, gold), (0, platinum)):
        tier[at_least_as_good <= np.floor(share * n + 1e-9)] = code
    return np.asarray(TIER_NAMES)[tier]
