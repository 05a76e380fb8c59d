"""Points that fade: exponential decay with a half-life. Pure NumPy.

factor(age) = 0.5 ** (age / half_life): full points at age 0, half after one half-life. A
negative age (an anchor in the future, e.g. clock skew) counts as 0; no half-life means the
points never fade.
"""

from __future__ import annotations

import numpy as np


def decay_factor(age_days, half_life_days: float | None):
    """The share of points left after `age_days` (scalar or array)."""
    age = np.maximum(np.asarray(age_days, dtype=float), 0.0)
    if half_life_days is None or half_life_days <= 0:
        factor = np.ones_like(age)
    else:
        factor = np.power(0.5, age / float(half_life_days))
    return float(factor) if factor.ndim == 0 else factor


def decayed_points(points: float, age_days, half_life_days: float | None):
    """`points` after decay, rounded to 1/100 of a point (scalar or array)."""
    value = np.round(np.asarray(points, dtype=float) * decay_factor(age_days, half_life_days), 2)
    return float(value) if value.ndim == 0 else value
