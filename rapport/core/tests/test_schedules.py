"""Periodic jobs: the worker starts every registered chain, once, whatever the restarts."""

import pytest
from django_tasks_db.models import DBTaskResult

from rapport.core import schedules
from rapport.frameworks.tasks import daily_kpi_snapshot

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.mark.django_db
def test_starting_twice_leaves_one_waiting_run_of_each_chain(settings):
    settings.TASKS = DATABASE_TASKS
    assert "daily KPI snapshot" in schedules.registered()

    first = schedules.start_all()
    second = schedules.start_all()

    assert set(first.values()) == set(second.values()) == {"started"}
    waiting = DBTaskResult.objects.filter(status="READY")
    assert waiting.filter(task_path=daily_kpi_snapshot.module_path).count() == 1
    per_task = {
        path: waiting.filter(task_path=path).count()
        for path in waiting.values_list("task_path", flat=True)
    }
    assert set(per_task.values()) == {1}


@pytest.mark.django_db
def test_a_broken_starter_is_reported_and_the_others_still_start(settings, monkeypatch):
    settings.TASKS = DATABASE_TASKS

    def broken():
        raise RuntimeError("no queue today")

    monkeypatch.setitem(schedules._starters, "broken job", broken)
    outcome = schedules.start_all()

    assert outcome["broken job"] == "failed: no queue today"
    assert outcome["daily KPI snapshot"] == "started"
    assert DBTaskResult.objects.filter(task_path=daily_kpi_snapshot.module_path).exists()


@pytest.mark.django_db
def test_the_immediate_backend_runs_no_chain_at_once():
    # The tests' inline backend cannot run a task later: a starter that enqueued anyway would run
    # its job now (and, chained, again and again) instead of at its hour.
    from rapport.analytics.models import RefreshRun
    from rapport.data_exchange.models import QualitySnapshot
    from rapport.frameworks.models import SnapshotRun
    from rapport.sales.models import PeriodicJob

    assert set(schedules.start_all().values()) == {"started"}
    assert not SnapshotRun.objects.exists()
    assert not QualitySnapshot.objects.exists()
    assert not RefreshRun.objects.exists()
    assert not PeriodicJob.objects.exists()  # the sales scheduler's claims
