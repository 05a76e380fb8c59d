"""The daily snapshot task and command: measure, check the objectives, run once a day."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rapport.frameworks import tasks
from rapport.frameworks.models import KpiSnapshot, SnapshotRun
from rapport.frameworks.tests.conftest import customer

pytestmark = pytest.mark.django_db


def test_on_demand_task_measures_and_checks(owner):
    customer(name="Ann", orders=[(10, 100)], owner=owner)
    result = tasks.take_kpi_snapshot.enqueue().return_value
    assert result["failed"] == [] and result["measured"] > 0
    assert result["checked"] == 0
    assert KpiSnapshot.objects.filter(kpi="revenue_per_customer", value=100.0).exists()


def test_daily_task_runs_once_a_day(owner):
    customer(name="Ann", orders=[(10, 100)], owner=owner)
    first = tasks.daily_kpi_snapshot.enqueue().return_value
    second = tasks.daily_kpi_snapshot.enqueue().return_value
    assert first["measured"] > 0
    assert second == {"skipped": True}
    assert SnapshotRun.objects.filter(source="daily").count() == 1


def test_command_measures_and_backfills(owner):
    customer(name="Ann", orders=[(10, 100), (100, 50)], owner=owner)
    out = io.StringIO()
    call_command("kpi_snapshot", "--backfill", "30", "--every", "10", stdout=out)
    text = out.getvalue()
    assert "Backfill:" in text and "Snapshot of" in text
    assert KpiSnapshot.objects.filter(source="backfill").exists()
    with pytest.raises(CommandError):
        call_command("kpi_snapshot", "--every", "0", stdout=io.StringIO())
    with pytest.raises(CommandError):
        # The test backend runs tasks at once: it cannot keep a daily schedule.
        call_command("kpi_snapshot", "--schedule", stdout=io.StringIO())


def test_next_run_is_tomorrow_at_the_hour():
    import datetime as dt

    from django.utils import timezone

    now = timezone.make_aware(dt.datetime(2026, 3, 10, 5, 0))
    assert tasks.next_run_time(now) == timezone.make_aware(dt.datetime(2026, 3, 11, 3, 0))
    early = timezone.make_aware(dt.datetime(2026, 3, 10, 1, 0))
    assert tasks.next_run_time(early) == timezone.make_aware(dt.datetime(2026, 3, 10, 3, 0))
