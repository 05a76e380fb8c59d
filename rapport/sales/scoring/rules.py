"""Scoring rules evaluated on one lead's facts: which fired, and their points after decay.

Conditions are the core rule language evaluated in memory (`conditions.matches`) against a
`LeadFacts`, so a rule sees exactly the facts the learned model sees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rapport.core.conditions import OPERATORS, FieldSet, matches
from rapport.sales.scoring.decay import decay_factor
from rapport.sales.scoring.features import LeadFacts


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    condition: dict
    points: int
    half_life_days: int | None = None
    decay_anchor: str = "none"


@dataclass(frozen=True)
class RuleHit:
    rule_id: int
    name: str
    points: int
    decayed: float
    age_days: float | None


def anchor_moment(facts: LeadFacts, anchor: str) -> dt.datetime | None:
    return {
        "created": facts.lead_since or facts.created_at,
        "last_form_submission": facts.last_form_submission_at,
        "last_inbound": facts.last_inbound_at,
        "last_touch": facts.last_touch_at,
    }.get(anchor)


def evaluate(rules: Sequence[RuleSpec], facts: LeadFacts, fields: FieldSet):
    """(total points, hits). A rule whose anchor moment is unknown keeps its full points."""
    total = 0.0
    hits = []
    for rule in rules:
        if not matches(rule.condition, facts, fields):
            continue
        age = None
        factor = 1.0
        if rule.decay_anchor != "none" and rule.half_life_days:
            age = facts.days_since(anchor_moment(facts, rule.decay_anchor))
            if age is not None:
                factor = decay_factor(age, rule.half_life_days)
        decayed = round(rule.points * factor, 2)
        total += decayed
        hits.append(
            RuleHit(
                rule_id=rule.id,
                name=rule.name,
                points=rule.points,
                decayed=decayed,
                age_days=round(age, 2) if age is not None else None,
            )
        )
    return round(total, 2), hits


def describe(condition: dict, fields: FieldSet) -> str:
    """A condition in words: 'country equals "DE" and postcode between "10000" and "19999"'."""
    if not condition:
        return "always"
    if "all" in condition:
        parts = [describe(part, fields) for part in condition["all"]]
        return " and ".join(f"({p})" if " or " in p else p for p in parts) or "always"
    if "any" in condition:
        parts = [describe(part, fields) for part in condition["any"]]
        return " or ".join(parts) or "never"
    if "not" in condition:
        return f"not ({describe(condition['not'], fields)})"
    name = condition.get("field", "?")
    field = fields.get(name)
    label = (field.label if field and field.label else name).lower()
    op = condition.get("op", "")
    words = OPERATORS.get(op, op)
    if op in {"is_empty", "is_not_empty"}:
        return f"{label} {words}"
    value = condition.get("value")
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{label} between {_show(value[0])} and {_show(value[1])}"
    if isinstance(value, list):
        return f"{label} {words} {', '.join(_show(v) for v in value)}"
    return f"{label} {words} {_show(value)}"


def _show(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)
