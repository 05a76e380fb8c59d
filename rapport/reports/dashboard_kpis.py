"""A KPI tile: the CRM models' KPI as the frameworks stored it (its latest daily value), the
target it is held to and where that target comes from, and its trend over the last 90 days.

KPI values are aggregate figures every signed-in user may see (`frameworks.permissions`); the
tile reads stored values only, so it never waits for a KPI to be computed. A KPI that has no
value says why, in the frameworks' own words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone

from rapport.core import display
from rapport.frameworks import rating, scorecards, services, snapshots
from rapport.frameworks.catalog import MODELS
from rapport.frameworks.choices import ObjectiveStatus
from rapport.frameworks.kpis import KPIS, Kpi
from rapport.frameworks.kpis.base import missing_value_text
from rapport.frameworks.models import Objective

TREND_DAYS = 90


@dataclass
class KpiTile:
    kpi: Kpi
    value: float | None
    reason: str
    measured_on: dt.date | None
    target: float | None
    target_basis: str
    status: str
    change: float | None  # since the first value of the trend window
    since: dt.date | None
    url: str

    @property
    def status_label(self) -> str:
        return rating.STATUS_LABELS[self.status]

    @property
    def missing_text(self) -> str:
        return missing_value_text(self.reason) if self.value is None else ""


def kpi_choices() -> list[tuple[str, str]]:
    return sorted(((kpi.key, kpi.name) for kpi in KPIS.values()), key=lambda pair: pair[1])


def _target(kpi: Kpi) -> tuple[float | None, float, str]:
    """An active objective's target (the nearest deadline) first; else the stage target of the
    model the business works by, with an administrator's override; else none."""
    objective = (
        Objective.objects.filter(
            kpi=kpi.key, status=ObjectiveStatus.ACTIVE, population="", segment__isnull=True
        )
        .order_by("deadline", "id")
        .first()
    )
    if objective is not None:
        return (
            objective.target,
            0.15,
            f"Objective “{objective.title}”, by {display.day_text(objective.deadline)}",
        )
    choice = services.current_choice()
    if choice is not None and choice.model_key in MODELS:
        model = MODELS[choice.model_key]
        overrides = scorecards.stage_targets(model.key)
        for stage in model.stages:
            for stage_kpi in stage.kpis:
                if stage_kpi.kpi != kpi.key:
                    continue
                target, tolerance, _overridden = scorecards.resolve_target(
                    stage_kpi, overrides.get((stage.key, kpi.key))
                )
                if target is not None:
                    return target, tolerance, f"{model.name} target for {stage.name}"
    return None, 0.15, ""


def build_tile(key: str, *, today: dt.date | None = None) -> KpiTile | None:
    """The tile of KPI `key`, or None for a key the catalogue no longer has."""
    kpi = KPIS.get(key)
    if kpi is None:
        return None
    today = today or timezone.localdate()
    series = snapshots.Series(kpi.key)
    rows = [
        row
        for row in snapshots.trends([series], since=today - dt.timedelta(days=TREND_DAYS)).get(
            series, []
        )
        if row.value is not None
    ]
    latest = snapshots.latest([series]).get(series) if kpi.is_measurable else None
    value = latest.value if latest is not None else None
    if not kpi.is_measurable:
        reason = kpi.not_measurable_reason
    elif latest is None:
        reason = "Not measured yet: the daily snapshot has not run since this KPI was added."
    else:
        reason = latest.reason
    target, tolerance, basis = _target(kpi)
    first = rows[0] if len(rows) >= 2 else None
    return KpiTile(
        kpi=kpi,
        value=value,
        reason=reason,
        measured_on=latest.day if latest is not None else None,
        target=target,
        target_basis=basis,
        status=rating.kpi_status(value, target, direction=kpi.direction, tolerance=tolerance),
        change=(value - first.value) if (first is not None and value is not None) else None,
        since=first.day if first is not None else None,
        url=reverse("frameworks:kpi_detail", args=[kpi.key]),
    )
