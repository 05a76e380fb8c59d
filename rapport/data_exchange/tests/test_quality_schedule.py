"""The daily data-quality snapshot: taken by the worker once a day, whatever the chains."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from rapport.contacts.tests.factories import make_contact
from rapport.core import schedules
from rapport.data_exchange import tasks
from rapport.data_exchange.models import QualitySchedule, QualitySnapshot

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def test_the_daily_task_takes_todays_snapshot(owner):
    make_contact(actor=owner, first_name="Ada", last_name="Lovelace", emails=["ada@example.org"])
    result = tasks.daily_quality_snapshot.enqueue().return_value
    snapshot = QualitySnapshot.objects.get()
    assert snapshot.taken_on == timezone.localdate()
    assert result == {"taken_on": snapshot.taken_on.isoformat(), "figures": len(snapshot.figures)}
    assert snapshot.figures["identification_rate"]["value"] == 1.0


def test_a_second_chain_the_same_day_does_nothing(owner):
    make_contact(actor=owner, first_name="Ada", last_name="Lovelace", emails=["ada@example.org"])
    tasks.daily_quality_snapshot.enqueue()
    first = QualitySnapshot.objects.get()
    make_contact(actor=owner, first_name="No", last_name="Email")
    second = tasks.daily_quality_snapshot.enqueue().return_value
    assert second == {"skipped": True}
    # Today's figures are still the first run's: the second chain measured nothing.
    assert QualitySnapshot.objects.get().figures == first.figures
    schedule = QualitySchedule.objects.get()
    assert schedule.next_run_at > timezone.now()


def test_the_run_is_due_again_the_next_day(owner):
    tasks.daily_quality_snapshot.enqueue()
    QualitySchedule.objects.update(next_run_at=timezone.now() - dt.timedelta(minutes=1))
    assert "taken_on" in tasks.daily_quality_snapshot.enqueue().return_value


def test_next_run_is_at_the_hour_today_or_tomorrow():
    late = timezone.make_aware(dt.datetime(2026, 3, 10, 5, 0))
    assert tasks.next_snapshot_time(late, hour=1) == timezone.make_aware(
        dt.datetime(2026, 3, 11, 1, 0)
    )
    early = timezone.make_aware(dt.datetime(2026, 3, 10, 0, 30))
    assert tasks.next_snapshot_time(early, hour=1) == timezone.make_aware(
        dt.datetime(2026, 3, 10, 1, 0)
    )


def test_the_worker_starts_one_chain_however_often_it_starts(settings):
    settings.TASKS = DATABASE_TASKS
    assert "daily data-quality snapshot" in schedules.registered()
    schedules.start_all()
    schedules.start_all()
    waiting = DBTaskResult.objects.filter(
        task_path=tasks.daily_quality_snapshot.module_path, status="READY"
    )
    assert waiting.count() == 1
    assert waiting.get().run_after == tasks.next_snapshot_time(timezone.now())


def test_tomorrows_run_is_queued_even_when_todays_snapshot_fails(settings, monkeypatch):
    settings.TASKS = DATABASE_TASKS

    def broken(day=None):
        raise RuntimeError("database went away")

    monkeypatch.setattr(tasks.quality, "take_snapshot", broken)
    context = SimpleNamespace(task_result=SimpleNamespace(id="daily-quality-1"))
    with pytest.raises(RuntimeError):
        tasks.daily_quality_snapshot.func(context)
    assert DBTaskResult.objects.filter(
        task_path=tasks.daily_quality_snapshot.module_path, status="READY"
    ).exists()
