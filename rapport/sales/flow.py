"""How deals flow through a pipeline: conversion stage to stage, time in stage, the bottleneck,
stalled deals and win rates. Pure: plain values and NumPy, no Django.

Definitions (the analytics page states them too):

- A deal *reached* an open stage if it ever entered it or any later open stage (skipping a
  stage still means passing it); a won deal reached every open stage.
- Conversion of stage *i* = deals that reached a later stage (or won) ÷ deals *decided* at
  *i*: those that reached *i* and either went further or were lost with *i* as their furthest
  stage. Deals still open with *i* as their furthest stage have not decided yet and are left
  out, so a young pipeline does not look like a leaky one.
- Time in a stage is measured from entering it to the next change of the same deal; a visit
  still going on is not counted (it has no end yet) but its age decides whether it stalls.
- The bottleneck is the open stage with the lowest conversion among those with at least
  `min_decided` decided deals; ties go to the stage where deals wait longest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

DAY = 86400.0


@dataclass(frozen=True)
class StageSpec:
    id: int
    name: str
    position: int
    kind: str  # "open", "won", "lost"
    stall_days: int | None = None


@dataclass(frozen=True)
class DealPath:
    """One deal's visits, oldest first: (stage id, entered at)."""

    deal_id: int
    visits: tuple[tuple[int, dt.datetime], ...]
    status: str  # "open", "won", "lost"
    source: str = ""
    owner_id: int | None = None


@dataclass(frozen=True)
class StageConversion:
    stage_id: int
    name: str
    next_name: str  # the next open stage, or "Won" after the last one
    reached: int
    advanced: int
    decided: int
    open_here: int

    @property
    def rate(self) -> float | None:
        return self.advanced / self.decided if self.decided else None


@dataclass(frozen=True)
class StageTime:
    stage_id: int
    name: str
    completed_visits: int
    median_days: float | None
    mean_days: float | None
    open_deals: int  # deals sitting in this stage now
    oldest_open_days: float | None


@dataclass(frozen=True)
class Bottleneck:
    stage_id: int
    name: str
    rate: float
    median_days: float | None
    reason: str


@dataclass(frozen=True)
class WinRate:
    key: Hashable
    won: int
    lost: int

    @property
    def rate(self) -> float | None:
        closed = self.won + self.lost
        return self.won / closed if closed else None


def _open_stages(stages: Sequence[StageSpec]) -> list[StageSpec]:
    return sorted((s for s in stages if s.kind == "open"), key=lambda s: (s.position, s.id))


def _furthest(path: DealPath, index_of: dict[int, int], won_index: int) -> int | None:
    if path.status == "won":
        return won_index
    reached = [index_of[stage_id] for stage_id, _ in path.visits if stage_id in index_of]
    return max(reached) if reached else None


def conversion(stages: Sequence[StageSpec], paths: Sequence[DealPath]) -> list[StageConversion]:
    """Stage-to-stage conversion for every open stage, in pipeline order."""
    open_stages = _open_stages(stages)
    index_of = {s.id: i for i, s in enumerate(open_stages)}
    k = len(open_stages)
    furthest = []
    for path in paths:
        r = _furthest(path, index_of, won_index=k)
        if r is not None:
            furthest.append((r, path.status))
    result = []
    for i, stage in enumerate(open_stages):
        reached = sum(1 for r, _ in furthest if r >= i)
        advanced = sum(1 for r, _ in furthest if r >= i + 1)
        open_here = sum(1 for r, status in furthest if r == i and status == "open")
        result.append(
            StageConversion(
                stage_id=stage.id,
                name=stage.name,
                next_name=open_stages[i + 1].name if i + 1 < k else "Won",
                reached=reached,
                advanced=advanced,
                decided=reached - open_here,
                open_here=open_here,
            )
        )
    return result


def _visit_spans(path: DealPath, now: dt.datetime):
    """(stage id, seconds, finished) per visit; the last visit of an open deal is unfinished."""
    visits = path.visits
    for j, (stage_id, entered) in enumerate(visits):
        if j + 1 < len(visits):
            yield stage_id, (visits[j + 1][1] - entered).total_seconds(), True
        elif path.status == "open":
            yield stage_id, (now - entered).total_seconds(), False


def time_in_stage(
    stages: Sequence[StageSpec], paths: Sequence[DealPath], now: dt.datetime
) -> list[StageTime]:
    """Median and mean days per open stage over finished visits; current occupancy and age."""
    open_stages = _open_stages(stages)
    finished: dict[int, list[float]] = defaultdict(list)
    current: dict[int, list[float]] = defaultdict(list)
    for path in paths:
        for stage_id, seconds, is_finished in _visit_spans(path, now):
            (finished if is_finished else current)[stage_id].append(seconds / DAY)
    result = []
    for stage in open_stages:
        spans = np.asarray(finished.get(stage.id, []), dtype=float)
        ages = current.get(stage.id, [])
        result.append(
            StageTime(
                stage_id=stage.id,
                name=stage.name,
                completed_visits=int(spans.size),
                median_days=float(np.median(spans)) if spans.size else None,
                mean_days=float(spans.mean()) if spans.size else None,
                open_deals=len(ages),
                oldest_open_days=max(ages) if ages else None,
            )
        )
    return result


def bottleneck(
    conversions: Sequence[StageConversion], times: Sequence[StageTime], *, min_decided: int = 5
) -> Bottleneck | None:
    """The open stage that loses the most deals (lowest conversion), or None without data."""
    median = {t.stage_id: t.median_days for t in times}
    candidates = [c for c in conversions if c.decided >= min_decided and c.rate is not None]
    if not candidates:
        return None
    worst = min(candidates, key=lambda c: (c.rate, -(median.get(c.stage_id) or 0.0)))
    waited = median.get(worst.stage_id)
    wait_text = f"; deals wait a median {waited:.1f} days here" if waited is not None else ""
    return Bottleneck(
        stage_id=worst.stage_id,
        name=worst.name,
        rate=worst.rate,
        median_days=waited,
        reason=(
            f"Only {worst.rate:.0%} of the {worst.decided} deals decided in {worst.name} "
            f"moved on to {worst.next_name}{wait_text}."
        ),
    )


def stalled(
    stages: Sequence[StageSpec],
    paths: Sequence[DealPath],
    times: Sequence[StageTime],
    now: dt.datetime,
    *,
    factor: float = 2.0,
) -> dict[int, float]:
    """Open deals stuck in their stage: {deal id: days there}.

    A stage's `stall_days` is the limit when set; otherwise `factor` times its median time.
    """
    limit: dict[int, float] = {}
    median = {t.stage_id: t.median_days for t in times}
    for stage in _open_stages(stages):
        if stage.stall_days:
            limit[stage.id] = float(stage.stall_days)
        elif median.get(stage.id):
            limit[stage.id] = factor * float(median[stage.id])
    result = {}
    for path in paths:
        if path.status != "open" or not path.visits:
            continue
        stage_id, entered = path.visits[-1]
        days = (now - entered).total_seconds() / DAY
        if stage_id in limit and days > limit[stage_id]:
            result[path.deal_id] = days
    return result


def win_rates(paths: Sequence[DealPath], key: Callable[[DealPath], Hashable]) -> list[WinRate]:
    """Won ÷ (won + lost) per group of closed deals, largest groups first."""
    counts: dict[Hashable, list[int]] = defaultdict(lambda: [0, 0])
    for path in paths:
        if path.status == "won":
            counts[key(path)][0] += 1
        elif path.status == "lost":
            counts[key(path)][1] += 1
    rates = [WinRate(key=k, won=won, lost=lost) for k, (won, lost) in counts.items()]
    return sorted(rates, key=lambda r: (-(r.won + r.lost), str(r.key)))
