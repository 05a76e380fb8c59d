"""The KPI catalogue: every KPI the CRM models measure, with its formula over the database.

`KPIS` maps key → Kpi; `evaluate(kpi, ctx)` measures one. Each area module declares its own
(identity, engagement, sales, value, retention) and `not_measurable` those whose data Rapport
does not hold yet.
"""

from __future__ import annotations

from rapport.frameworks.kpis import engagement, identity, not_measurable, retention, sales, value
from rapport.frameworks.kpis.base import (
    Direction,
    EvaluationContext,
    History,
    Kpi,
    Measurement,
    NotMeasurable,
    Population,
    RecordsBehind,
    SeeAlso,
    Unit,
    Unmeasurable,
    evaluate,
)

AREAS = {
    "identity": "Customer data",
    "engagement": "Interaction",
    "sales": "Sales and process",
    "value": "Customer value",
    "retention": "Retention",
    "experience": "Customer experience",
}

KPIS: dict[str, Kpi] = {}
for _module in (identity, engagement, sales, value, retention, not_measurable):
    for _kpi in _module.KPIS:
        if _kpi.key in KPIS:
            raise ValueError(f"KPI {_kpi.key!r} is declared twice")
        KPIS[_kpi.key] = _kpi


def get_kpi(key: str) -> Kpi:
    return KPIS[key]


def measurable_kpis() -> list[Kpi]:
    return [kpi for kpi in KPIS.values() if kpi.is_measurable]


__all__ = [
    "AREAS",
    "KPIS",
    "Direction",
    "EvaluationContext",
    "History",
    "Kpi",
    "Measurement",
    "NotMeasurable",
    "Population",
    "RecordsBehind",
    "SeeAlso",
    "Unit",
    "Unmeasurable",
    "evaluate",
    "get_kpi",
    "measurable_kpis",
]
