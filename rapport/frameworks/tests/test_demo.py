"""The demo business fills all five scorecards: values with trends, an objective per model, a
completed assessment, and a model chosen through the recommendation."""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from rapport.data_exchange.models import DuplicateScan
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
    # Duplicate detection ran before the KPIs were measured: the rate is a value, not 0 by
    # default, and the Duplicates page has its pairs.
    assert set(DuplicateScan.objects.values_list("trigger", flat=True)) == {"demo"}
    information = next(c for c in gartner.stages if c.stage.key == "information")
    assert next(r for r in information.kpis if r.kpi.key == "duplicate_rate").value is not None
    _assert_dates_in_order()


def _assert_dates_in_order():
    """Nothing the demo built happened before what it follows, or after now."""
    from django.db.models import F
    from django.utils import timezone

    from rapport.commerce.models import Order
    from rapport.contacts.models import LifecycleChange
    from rapport.frameworks.models import AssessmentResponse
    from rapport.interactions.models import Interaction
    from rapport.sales.models import Deal, DealStageChange, Task

    now = timezone.now()
    wrong = {
        "assessment completed before opened": Assessment.objects.filter(
            completed_at__lt=F("created_at")
        ),
        "assessment answered before opened": AssessmentResponse.objects.filter(
            answered_at__lt=F("assessment__created_at")
        ),
        "assessment answered after completed": AssessmentResponse.objects.filter(
            answered_at__gt=F("assessment__completed_at")
        ),
        "deal closed before created": Deal.objects.filter(closed_at__lt=F("created_at")),
        "deal closed in the future": Deal.objects.filter(closed_at__gt=now),
        "deal stage change before the deal": DealStageChange.objects.filter(
            changed_at__lt=F("deal__created_at")
        ),
        "order before its contact": Order.objects.filter(ordered_at__lt=F("contact__created_at")),
        "order in the future": Order.objects.filter(ordered_at__gt=now),
        "interaction in the future": Interaction.objects.filter(occurred_at__gt=now),
        # A contact's first change is stamped a few microseconds before the row's own
        # created_at (create_contact takes its moment first): not an order anyone can see.
        "lifecycle change before its contact": LifecycleChange.objects.filter(
            changed_at__lt=F("contact__created_at") - dt.timedelta(seconds=1)
        ),
        "task completed before created": Task.objects.filter(completed_at__lt=F("created_at")),
    }
    assert {name: rows.count() for name, rows in wrong.items() if rows.exists()} == {}


def _context(admin, users=()):
    import random

    from django.utils import timezone
    from faker import Faker
    from rich.console import Console

    from rapport.demo.context import DemoContext

    return DemoContext(
        rng=random.Random(7),
        faker=Faker(),
        now=timezone.now(),
        scale=10,
        admin=admin,
        console=Console(quiet=True),
        users=list(users),
        show_progress=False,
    )


@pytest.mark.django_db
def test_the_demo_opens_answers_and_completes_each_assessment_in_that_order(admin_user, owner):
    from rapport.demo import frameworks as demo_frameworks
    from rapport.frameworks.models import AssessmentResponse

    demo_frameworks._assessments(_context(admin_user, [owner]))

    assessments = list(Assessment.objects.all())
    assert len(assessments) == 3
    for assessment in assessments:
        answered = AssessmentResponse.objects.filter(assessment=assessment).values_list(
            "answered_at", flat=True
        )
        assert answered
        assert all(
            assessment.created_at <= moment <= assessment.completed_at for moment in answered
        )
        assert assessment.created_at < assessment.completed_at


@pytest.mark.django_db
def test_the_demo_detects_duplicates_once_it_is_built(admin_user):
    from rapport.contacts.tests.factories import make_contact
    from rapport.data_exchange.models import ContactDuplicate, DuplicateScan
    from rapport.demo.builder import detect_duplicates

    for _ in range(2):
        make_contact(actor=admin_user, first_name="Ada", last_name="Lovelace", emails=["a@a.org"])
    ContactDuplicate.objects.all().delete()
    ctx = _context(admin_user)

    detect_duplicates(ctx)
    assert sorted(DuplicateScan.objects.values_list("entity", "trigger")) == [
        ("contact", "demo"),
        ("organization", "demo"),
    ]
    assert ContactDuplicate.objects.count() == 1
    # A part that already detected (the CRM models' part, before measuring) is not repeated.
    detect_duplicates(ctx)
    assert DuplicateScan.objects.count() == 2
