"""Churn risk flags from two independent signals, each with its own reason code.

LOW_P_ALIVE  the BG/NBD probability that the customer is still active (``clv.probability_alive``)
             is below ``p_alive_threshold`` (default 0.5: more likely gone than not).
OVERDUE      the time since the last purchase (T - t_x) exceeds ``overdue_factor`` times the
             customer's own mean gap between purchases (t_x / x, x repeat purchases spanning
             t_x). Default factor 3: if purchases came at a steady random rate, a silence three
             mean gaps long happens by chance only e**-3 = 5 % of the time.

BG/NBD gives P(alive) = 1 to every one-time buyer, so the first signal can never flag them, and
they have no gap of their own. They are compared with ``gap_for_one_time_buyers`` instead,
by default the median of the repeat buyers' mean gaps in the same arrays.

Reason codes are bit flags: 0 none, 1 LOW_P_ALIVE, 2 OVERDUE, 3 both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LOW_P_ALIVE", "OVERDUE", "ChurnRisk", "assess_churn_risk", "describe_reasons"]

LOW_P_ALIVE = 1
OVERDUE = 2
_REASON_TEXT = ("", "low P(alive)", "overdue", "low P(alive), overdue")


@dataclass(frozen=True)
class ChurnRisk:
    """Per-customer churn assessment, aligned with the input arrays.

    ``risk_score`` is 1 - P(alive), in [0, 1]; ``overdue_ratio`` is the time since the last
    purchase in units of the expected gap (NaN where no gap is known); ``reason`` holds the bit
    flags and ``is_at_risk`` is ``reason != 0``.
    """

    is_at_risk: np.ndarray
    reason: np.ndarray
    risk_score: np.ndarray
    overdue_ratio: np.ndarray


def describe_reasons(reason) -> np.ndarray:
    """Readable text per reason code ("" when not at risk)."""
    codes = np.asarray(reason, dtype=np.intp)
    if np.any((codes < 0) | (codes > LOW_P_ALIVE + OVERDUE)):
        raise ValueError("reason codes must be between 0 and 3")
    return np.asarray(_REASON_TEXT)[codes]


def assess_churn_risk(
    p_alive,
    frequency,
    recency,
    age,
    *,
    p_alive_threshold: float = 0.5,
    overdue_factor: float = 3.0,
    gap_for_one_time_buyers: float | None = None,
) -> ChurnRisk:
    """Flag customers at risk of churning and say why (rules in the module docstring).

    ``frequency``, ``recency`` and ``age`` are the BG/NBD inputs (x, t_x, T) in one time unit;
    ``gap_for_one_time_buyers`` is in that unit too (pass ``inf`` to never flag them as overdue).
    Guarantees: a customer is flagged exactly when at least one rule fires, and the reason says
    which.
    """
    alive = np.asarray(p_alive, dtype=float)
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(age, dtype=float)
    if alive.ndim != 1 or not (alive.shape == x.shape == t_x.shape == big_t.shape):
        raise ValueError("p_alive, frequency, recency and age must be 1-D of the same length")
    if not np.all((alive >= 0) & (alive <= 1)):
        raise ValueError("p_alive must lie in [0, 1]")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > big_t):
        raise ValueError("need frequency >= 0 and 0 <= recency <= age")
    if not 0.0 <= p_alive_threshold <= 1.0:
        raise ValueError("p_alive_threshold must be between 0 and 1")
    if overdue_factor <= 0:
        raise ValueError("overdue_factor must be positive")

    repeat = x > 0
    mean_gap = np.full(x.shape, np.nan)
    mean_gap[repeat] = t_x[repeat] / x[repeat]
    if gap_for_one_time_buyers is None:
        # Repeat buyers whose purchases all fell on one day have gap 0 and say nothing here.
        known = mean_gap[repeat & (mean_gap > 0)]
        gap_for_one_time_buyers = float(np.median(known)) if known.size else float("nan")
    elif gap_for_one_time_buyers <= 0:
        raise ValueError("gap_for_one_time_buyers must be positive")
    mean_gap[~repeat] = gap_for_one_time_buyers

    silence = big_t - t_x
    overdue_ratio = np.full(x.shape, np.nan)
    has_gap = mean_gap > 0
    # A vanishing gap overflows to an infinite ratio, which is the right answer: long overdue.
    with np.errstate(over="ignore"):
        overdue_ratio[has_gap] = silence[has_gap] / mean_gap[has_gap]

    reason = np.where(alive < p_alive_threshold, LOW_P_ALIVE, 0) | np.where(
        overdue_ratio > overdue_factor, OVERDUE, 0
    )
    reason = reason.astype(np.int8)
    return ChurnRisk(
        is_at_risk=reason != 0,
        reason=reason,
        risk_score=1.0 - alive,
        overdue_ratio=overdue_ratio,
    )
