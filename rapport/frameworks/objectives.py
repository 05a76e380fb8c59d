"""Objective maths: the target from a relative goal, progress, the trend and its projection.
Pure: plain numbers and NumPy, no Django.

Definitions
    target      absolute: the value given; change: baseline + amount; percent: baseline ×
                (1 + percent / 100).
    progress    (current − baseline) ÷ (target − baseline): 0 at the baseline, 1 at the target,
                negative when the KPI moved the wrong way (not clipped, so it says so).
    trend       the least-squares line value = a + b · day through the measured days; needs at
                least two different days.
    projection  the trend's value on the deadline.
    track       achieved when the current value meets the target; otherwise on track when the
                projection meets it by the deadline, at risk when the projection closes at
                least 75 % of the gap from the baseline, off track below that; no data without
                a trend. Past the deadline without meeting it: missed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

ACHIEVED = "achieved"
MISSED = "missed"
ON_TRACK = "on_track"
AT_RISK = "at_risk"
OFF_TRACK = "off_track"
NO_DATA = "no_data"
AT_RISK_SHARE = 0.75


def target_from(kind: str, amount: float, baseline: float) -> float:
    """The absolute target of a goal given as a value, a change, or a percentage change."""
    if kind == "absolute":
        return float(amount)
    if kind == "change":
        return float(baseline) + float(amount)
    if kind == "percent":
        return float(baseline) * (1.0 + float(amount) / 100.0)
    raise ValueError(f"unknown target kind {kind!r}")


def wants_increase(baseline: float, target: float, direction: str) -> bool:
    """Whether reaching the target means going up (from the KPI's direction, or for a KPI
    without one, from where the target lies)."""
    if direction == "higher":
        return True
    if direction == "lower":
        return False
    return target >= baseline


def meets(value: float, target: float, *, increase: bool) -> bool:
    return value >= target if increase else value <= target


def progress(baseline: float, target: float, current: float | None) -> float | None:
    if current is None:
        return None
    gap = target - baseline
    if gap == 0:
        return 1.0
    return (current - baseline) / gap


@dataclass(frozen=True)
class Trend:
    """value ≈ intercept + slope · (day − origin), from `points` measured days."""

    origin: dt.date
    intercept: float
    slope_per_day: float
    points: int

    def at(self, day: dt.date) -> float:
        return self.intercept + self.slope_per_day * (day - self.origin).days


def fit_trend(days: list[dt.date], values: list[float]) -> Trend | None:
    """Least-squares line through (day, value); None with fewer than two distinct days."""
    pairs = [(d, v) for d, v in zip(days, values, strict=True) if v is not None]
    if len({d for d, _ in pairs}) < 2:
        return None
    origin = min(d for d, _ in pairs)
    x = np.asarray([(d - origin).days for d, _ in pairs], dtype=float)
    y = np.asarray([v for _, v in pairs], dtype=float)
    x_mean, y_mean = x.mean(), y.mean()
    slope = float(((x - x_mean) * (y - y_mean)).sum() / ((x - x_mean) ** 2).sum())
    return Trend(
        origin=origin,
        intercept=float(y_mean - slope * x_mean),
        slope_per_day=slope,
        points=len(pairs),
    )


@dataclass(frozen=True)
class Assessment:
    track: str
    projected: float | None
    progress: float | None
    reason: str


def assess(
    *,
    baseline: float,
    target: float,
    direction: str,
    current: float | None,
    trend: Trend | None,
    today: dt.date,
    deadline: dt.date,
    lowest: float | None = None,
    highest: float | None = None,
) -> Assessment:
    """Where an objective stands today (see the module docstring for the rules). The projection
    stays within [lowest, highest], the values the KPI can take (a share cannot pass 100 %)."""
    increase = wants_increase(baseline, target, direction)
    done = progress(baseline, target, current)
    if current is not None and meets(current, target, increase=increase):
        return Assessment(ACHIEVED, current, done, "The target is reached.")
    if today > deadline:
        return Assessment(
            MISSED, current, done, "The deadline passed before the target was reached."
        )
    if trend is None:
        return Assessment(
            NO_DATA,
            None,
            done,
            "A projection needs values measured on at least two different days.",
        )
    projected = trend.at(deadline)
    if highest is not None:
        projected = min(projected, highest)
    if lowest is not None:
        projected = max(projected, lowest)
    if meets(projected, target, increase=increase):
        return Assessment(
            ON_TRACK, projected, done, "At the current trend the target is met in time."
        )
    closes = progress(baseline, target, projected)
    if closes is not None and closes >= AT_RISK_SHARE:
        return Assessment(
            AT_RISK,
            projected,
            done,
            f"At the current trend {closes:.0%} of the gap is closed by the deadline.",
        )
    return Assessment(
        OFF_TRACK,
        projected,
        done,
        "At the current trend the target is missed"
        + (
            f": only {max(closes, 0):.0%} of the gap closes by the deadline."
            if closes is not None
            else "."
        ),
    )
