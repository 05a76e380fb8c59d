"""Whose turn is it: round robin within a team, skipping people away or at capacity. Pure.

The rotation is the team's members in a fixed order (by user id). The next person is the
first member after the one who got the previous lead who may own records (not a read-only
seat), is not away and does not hold as many open leads as their capacity allows. Nobody
eligible → None (the caller falls back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    user_id: int
    is_away: bool = False
    open_leads: int = 0
    capacity: int | None = None  # None: no limit
    may_own: bool = True  # False for a read-only seat: it could not work the lead

    @property
    def at_capacity(self) -> bool:
        return self.capacity is not None and self.open_leads >= self.capacity

    @property
    def is_eligible(self) -> bool:
        return self.may_own and not self.is_away and not self.at_capacity


@dataclass(frozen=True)
class Pick:
    chosen: Candidate | None
    skipped: tuple[tuple[Candidate, str], ...]  # (member, why) passed over before the choice


def rotation(candidates: Sequence[Candidate], last_user_id: int | None) -> list[Candidate]:
    """Members in turn order, starting with the one after `last_user_id`."""
    ordered = sorted(candidates, key=lambda c: c.user_id)
    if last_user_id is None:
        return ordered
    start = next((i for i, c in enumerate(ordered) if c.user_id > last_user_id), 0)
    return ordered[start:] + ordered[:start]


def pick_next(candidates: Sequence[Candidate], last_user_id: int | None) -> Pick:
    """The next eligible member after `last_user_id`, and who was skipped on the way and why.

    A `last_user_id` that left the team still positions the turn (the next id after it), so
    removing someone does not send the rotation back to the start.
    """
    skipped: list[tuple[Candidate, str]] = []
    for candidate in rotation(candidates, last_user_id):
        if not candidate.may_own:
            skipped.append((candidate, "has a read-only role"))
            continue
        if candidate.is_away:
            skipped.append((candidate, "away"))
            continue
        if candidate.at_capacity:
            skipped.append((candidate, f"at capacity {candidate.open_leads}/{candidate.capacity}"))
            continue
        return Pick(chosen=candidate, skipped=tuple(skipped))
    return Pick(chosen=None, skipped=tuple(skipped))
