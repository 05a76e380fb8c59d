"""Scorecards from stored values: statuses against the targets in force, stage health, the
assessed stages' maturity, populations, trends and objectives — in a fixed number of queries."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.data_exchange.tests.conftest import mark_detection_run
from rapport.frameworks import scorecards, services, snapshots
from rapport.frameworks.tests.conftest import customer, touch

pytestmark = pytest.mark.django_db


@pytest.fixture
def measured(owner):
    mark_detection_run()
    ann = customer(name="Ann", orders=[(10, 100), (200, 80)], owner=owner)
    customer(name="Ben", orders=[(20, 50)], owner=owner)
    touch(ann, 3, actor=owner)
    snapshots.backfill(days=60, every=30)
    snapshots.take_snapshot()


def _card(scorecard, stage):
    return next(card for card in scorecard.stages if card.stage.key == stage)


def _row(card, kpi):
    return next(row for row in card.kpis if row.kpi.key == kpi)


def test_statuses_against_the_catalogue_targets(measured):
    identify = _card(scorecards.build("idic"), "identify")
    assert _row(identify, "identification_rate").status == "on_track"  # 100 % vs 90
    assert _row(identify, "duplicate_rate").status == "on_track"  # 0 % vs at most 2
    assert _row(identify, "consent_coverage").status == "off_track"  # 0 % vs 80
    assert identify.health.rated == 5
    differentiate = _card(scorecards.build("idic"), "differentiate")
    assert _row(differentiate, "top20_revenue_share").status == "informational"


def test_a_manager_target_replaces_the_catalogues(measured, manager):
    services.set_stage_target(
        actor=manager, model_key="idic", stage_key="identify", kpi="consent_coverage", target=None
    )
    services.set_stage_target(
        actor=manager,
        model_key="idic",
        stage_key="identify",
        kpi="identification_rate",
        target=100,
        tolerance=0.01,
    )
    identify = _card(scorecards.build("idic"), "identify")
    consent = _row(identify, "consent_coverage")
    assert (consent.status, consent.overridden, consent.default_target) == (
        "informational",
        True,
        80,
    )
    assert _row(identify, "identification_rate").status == "on_track"
    assert identify.health.rated == 4


def test_not_measurable_kpis_are_shown_with_their_reason(measured):
    experience = _card(scorecards.build("gartner"), "customer_experience")
    nps = _row(experience, "nps")
    assert nps.status == "no_value"
    assert nps.value is None
    assert "surveys" in nps.reason
    assert nps.kpi.capability.startswith("Service")


def test_email_engagement_without_tracked_mail_says_why(measured):
    interact = _card(scorecards.build("idic"), "interact")
    engagement = _row(interact, "email_engagement_rate")
    assert engagement.status == "no_value"
    assert "No tracked email was sent" in engagement.reason


def test_value_chain_stages_are_measured_on_significant_customers(measured):
    card = scorecards.build("value_chain")
    intimacy = _card(card, "customer_intimacy")
    assert _row(intimacy, "profile_completeness").population == "significant"
    # Already about the significant customers: measured once, over them.
    assert _row(intimacy, "interactions_per_significant_customer_90d").population == ""
    assert "population=significant" in _row(intimacy, "profile_completeness").records_url
    portfolio = _card(card, "portfolio_analysis")
    assert {row.population for row in portfolio.kpis} == {""}


def test_trends_come_from_the_stored_days(measured):
    value_creation = _card(scorecards.build("payne_frow"), "value_creation")
    repeat = _row(value_creation, "repeat_purchase_rate")
    assert [day for day, _value in repeat.trend][-1] == timezone.localdate()
    # Backfilled 31 days ago and yesterday, measured today.
    assert [value for _day, value in repeat.trend] == [0.0, 50.0, 50.0]
    assert scorecards.sparkline_data(scorecards.build("payne_frow"))


def test_assessed_stage_shows_the_latest_completed_assessment(measured, manager, owner):
    first = services.create_assessment(
        actor=manager, model_key="gartner", at=timezone.now() - dt.timedelta(days=100)
    )
    services.answer_assessment(
        actor=owner,
        assessment=first,
        answers={"vision.vision_written": 1},
        at=timezone.now() - dt.timedelta(days=95),
    )
    services.complete_assessment(
        actor=manager, assessment=first, at=timezone.now() - dt.timedelta(days=90)
    )
    second = services.create_assessment(actor=manager, model_key="gartner")
    services.answer_assessment(
        actor=owner,
        assessment=second,
        answers={"vision.vision_written": 4, "vision.vision_leadership": 5},
    )
    services.answer_assessment(
        actor=manager, assessment=second, answers={"vision.vision_written": 2}
    )
    open_one = services.create_assessment(actor=manager, model_key="gartner")
    services.answer_assessment(
        actor=owner, assessment=open_one, answers={"vision.vision_written": 5}
    )
    services.complete_assessment(actor=manager, assessment=second)
    card = scorecards.build("gartner")
    vision = _card(card, "vision")
    assert card.assessment == second
    assert vision.maturity.mean == pytest.approx((3 + 5) / 2)
    assert vision.status == "on_track"  # 4.0: managed
    assert not vision.is_measured


def test_objectives_appear_on_their_stage(measured, manager):
    services.create_objective(
        actor=manager,
        model_key="payne_frow",
        stage_key="value_creation",
        kpi="repeat_purchase_rate",
        target_kind="change",
        target_input=10,
        deadline=timezone.localdate() + dt.timedelta(days=90),
    )
    card = scorecards.build("payne_frow")
    assert len(_card(card, "value_creation").objectives) == 1
    assert not _card(card, "strategy_development").objectives


def test_idic_funnel_comes_with_the_snapshot(measured):
    card = scorecards.build("idic")
    assert [step["count"] for step in card.funnel][:1] == [2]
    assert scorecards.build("qci").funnel == []


def test_scorecard_query_budget(measured, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        scorecards.build("qci")


def test_a_single_point_trend_says_why(measured):
    idic = scorecards.build("idic")
    # The customers were all added today: past days had nobody to measure, and the row says so.
    row = _row(_card(idic, "identify"), "identification_rate")
    assert len(row.trend) == 1
    assert row.trend_note.startswith("No past values: ")
    assert row.trend_note.endswith("There are no contacts to measure.")
    # The repeat purchase rate reads the dated orders: a trend, no note needed.
    assert len(_row(_card(idic, "customize"), "repeat_purchase_rate").trend) >= 2
