"""How a KPI value is rated against its target, and a stage's health from its KPIs. Pure.

A higher-is-better KPI is on track at or above its target, at risk within `tolerance` (a fraction
of the target) below it, off track further below; mirrored for lower-is-better. A KPI without a
target (or without a direction) is informational; one without a value is not rated. A stage's
one status (`stage_status`) is the worse of its measured health and its assessed maturity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ON_TRACK = "on_track"
AT_RISK = "at_risk"
OFF_TRACK = "off_track"
INFORMATIONAL = "informational"
NO_VALUE = "no_value"

STATUS_LABELS = {
    ON_TRACK: "On track",
    AT_RISK: "At risk",
    OFF_TRACK: "Off track",
    INFORMATIONAL: "Informational",
    NO_VALUE: "Not measured",
}
RATED = (ON_TRACK, AT_RISK, OFF_TRACK)


def kpi_status(
    value: float | None, target: float | None, *, direction: str, tolerance: float = 0.15
) -> str:
    """The status of `value` against `target` ("higher" / "lower" is better, or "neutral")."""
    if value is None:
        return NO_VALUE
    if target is None or direction not in ("higher", "lower"):
        return INFORMATIONAL
    band = abs(target) * max(tolerance, 0.0)
    if direction == "higher":
        if value >= target:
            return ON_TRACK
        return AT_RISK if value >= target - band else OFF_TRACK
    if value <= target:
        return ON_TRACK
    return AT_RISK if value <= target + band else OFF_TRACK


@dataclass(frozen=True)
class StageHealth:
    """Share of a stage's rated KPIs that are on track (None when none is rated)."""

    on_track: int
    at_risk: int
    off_track: int

    @property
    def rated(self) -> int:
        return self.on_track + self.at_risk + self.off_track

    @property
    def share(self) -> float | None:
        return self.on_track / self.rated if self.rated else None

    @property
    def status(self) -> str:
        """The stage's overall status: on track when at least 75 % of its rated KPIs are, off
        track when fewer than 40 % are, at risk in between."""
        share = self.share
        if share is None:
            return NO_VALUE
        if share >= 0.75:
            return ON_TRACK
        return AT_RISK if share >= 0.4 else OFF_TRACK


def stage_health(statuses: Iterable[str]) -> StageHealth:
    statuses = list(statuses)
    return StageHealth(
        on_track=statuses.count(ON_TRACK),
        at_risk=statuses.count(AT_RISK),
        off_track=statuses.count(OFF_TRACK),
    )


def maturity_status(score: float | None) -> str:
    """A 1–5 maturity score as a status: 4+ (managed) on track, 3+ (defined) at risk, below off."""
    if score is None:
        return NO_VALUE
    if score >= 4.0:
        return ON_TRACK
    return AT_RISK if score >= 3.0 else OFF_TRACK


def stage_status(health: StageHealth, maturity: float | None) -> str:
    """A stage's one status from everything rated about it: the worse of its measured health
    and its assessed maturity (whichever exist). A stage is on track only when neither its KPIs
    nor its own assessment say otherwise, so no part of a scorecard contradicts the stage."""
    rated = [status for status in (health.status, maturity_status(maturity)) if status in RATED]
    if not rated:
        return NO_VALUE
    return max(rated, key=RATED.index)
