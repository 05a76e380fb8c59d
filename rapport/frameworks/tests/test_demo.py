"""The demo business fills all five scorecards: values with trends, an objective per model, a
completed assessment, and a model chosen through the recommendation."""

import io

import pytest
from django.core.management import call_command

from rapport.frameworks import scorecards
from rapport.frameworks.catalog import MODELS
from rapport.frameworks.models import Assessment, KpiSnapshot, ModelChoice, Objective


@pytest.mark.django_db
def test_demo_fills_every_scorecard():
    out = io.StringIO()
    call_command("demo", "--contacts", "150", "--seed", "5", "--no-progress", stdout=out)
    assert "Demo ready" in out.getvalue()

    choice = ModelChoice.objects.get()
    assert choice.model_key == choice.recommended_key
    assert set(Objective.objects.values_list("model_key", flat=True)) == set(MODELS)
    assert Assessment.objects.filter(status="completed").count() >= 2

    for key in MODELS:
        card = scorecards.build(key)
        rows = [row for stage in card.stages for row in stage.kpis if row.kpi.is_measurable]
        measured = [row for row in rows if row.value is not None]
        with_trend = [row for row in rows if len(row.trend) >= 2]
        assert len(measured) >= 0.7 * len(rows), (key, [r.kpi.key for r in rows if r.value is None])
        assert len(with_trend) >= 0.5 * len(rows), key
    # Value and churn-risk KPIs read their past from the analytics month-end snapshots.
    assert KpiSnapshot.objects.filter(kpi="average_clv", source="backfill").exists() or (
        KpiSnapshot.objects.filter(kpi="at_risk_value_share", source="backfill").exists()
    )
    gartner = scorecards.build("gartner")
    assert gartner.assessment is not None
    assert next(c for c in gartner.stages if c.stage.key == "vision").maturity.mean is not None
