"""The daily snapshot stores every KPI (and per population), is safe to run twice, keeps going
when one formula fails; the backfill fills past days from dated history without overwriting."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.core import display
from rapport.frameworks import snapshots
from rapport.frameworks.kpis import KPIS
from rapport.frameworks.models import KpiSnapshot, SnapshotRun
from rapport.frameworks.tests.conftest import customer, touch

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(owner):
    people = [
        customer(name="Ann", orders=[(10, 100), (400, 80)], owner=owner),
        customer(name="Ben", orders=[(200, 50), (450, 50)], owner=owner),
    ]
    touch(people[0], 3, actor=owner)
    return people


def test_daily_snapshot_stores_every_measurable_kpi(shop):
    run = snapshots.take_snapshot()
    today = timezone.localdate()
    stored = set(KpiSnapshot.objects.filter(day=today, population="").values_list("kpi", flat=True))
    assert stored == {kpi.key for kpi in KPIS.values() if kpi.is_measurable}
    assert run.status == "succeeded" and not run.failed
    assert run.measured + run.not_measurable == len(snapshots.series_to_measure())
    # The Value Chain's stages are also measured on the significant customers.
    assert KpiSnapshot.objects.filter(day=today, population="significant").exists()
    # The IDIC funnel of the day rides along.
    assert [step["key"] for step in run.funnel] == [
        "identify",
        "differentiate",
        "interact",
        "customize",
    ]
    assert run.funnel[0]["total"] == 2


def test_a_kpi_without_data_is_stored_with_its_reason(shop):
    snapshots.take_snapshot()
    row = KpiSnapshot.objects.get(kpi="win_rate", population="", day=timezone.localdate())
    assert row.value is None
    assert row.reason == "No deal was won or lost in the 12 months to this day."


def test_running_twice_replaces_the_days_values(shop, owner):
    snapshots.take_snapshot()
    customer(name="Cat", orders=[(1, 500)], owner=owner)
    snapshots.take_snapshot()
    rows = KpiSnapshot.objects.filter(
        kpi="repeat_purchase_rate", population="", day=timezone.localdate()
    )
    assert rows.count() == 1
    assert rows.get().denominator == 3


def test_one_failing_formula_does_not_stop_the_others(shop, monkeypatch):
    from rapport.frameworks.kpis import base

    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setitem(
        KPIS, "win_rate", base.Kpi(**{**KPIS["win_rate"].__dict__, "formula": broken})
    )
    run = snapshots.take_snapshot()
    assert run.status == "failed"
    assert "win_rate" in run.failed and "boom" in run.failed["win_rate"]
    assert KpiSnapshot.objects.filter(kpi="repeat_purchase_rate").exists()


def test_backfill_fills_dated_kpis_and_keeps_measured_days(shop):
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    KpiSnapshot.objects.create(
        kpi="repeat_purchase_rate", day=yesterday, value=12.5, source="daily"
    )
    run = snapshots.backfill(days=30, every=7)
    days = sorted(
        KpiSnapshot.objects.filter(kpi="revenue_per_customer", population="").values_list(
            "day", flat=True
        )
    )
    assert days == [yesterday - dt.timedelta(days=7 * k) for k in range(4, -1, -1)]
    # A value measured on the day is kept; a past day without data is left a gap, and the run
    # says why (the customers were all added today).
    assert KpiSnapshot.objects.get(kpi="repeat_purchase_rate", day=yesterday).value == 12.5
    assert not KpiSnapshot.objects.filter(kpi="needs_captured_share").exists()
    assert run.gaps["needs_captured_share"] == (
        f"{display.day_text(yesterday, 'dated')}: There are no customers (customer, loyal or advocate stage) yet."
    )
    assert snapshots.backfill_gaps() == run.gaps
    assert run.source == "backfill" and run.measured > 0
    # Running it again adds nothing.
    count = KpiSnapshot.objects.count()
    snapshots.backfill(days=30, every=7)
    assert KpiSnapshot.objects.count() == count


def test_backfilled_values_are_the_past_values(shop):
    snapshots.backfill(days=400, every=100)
    day = timezone.localdate() - dt.timedelta(days=301)
    row = KpiSnapshot.objects.get(kpi="repeat_purchase_rate", population="", day=day)
    # 301 days ago Ann had bought once (400 days ago) and Ben once (450 days ago; his order
    # of 200 days ago came later).
    assert (row.numerator, row.denominator) == (0, 2)


def test_latest_run_ignores_backfills(shop):
    snapshots.backfill(days=14, every=7)
    assert snapshots.latest_run() is None
    snapshots.take_snapshot()
    assert snapshots.latest_run().source == "daily"
    assert SnapshotRun.objects.count() == 2
