from collections import defaultdict

import pytest

from rapport.core import events


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Uploaded import files land in a fresh directory per test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run a block and then what it deferred to commit (events, enqueued tasks), as a real
    commit would: `with commit(): ...`."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def subscriptions(monkeypatch):
    """`subscribe` for one test only: the subscriber registry is put back afterwards, so a
    test's handler never hears another test's events."""
    monkeypatch.setattr(
        events,
        "_subscribers",
        defaultdict(list, {t: list(h) for t, h in events._subscribers.items()}),
    )
    monkeypatch.setattr(events, "_takes_many", set(events._takes_many))
    return events.subscribe


def mark_detection_run(*entities: str) -> None:
    """Record a finished duplicate-detection run (of both kinds by default) without scanning,
    so pairs a test builds by hand count and are not removed by a real scan."""
    from django.utils import timezone

    from rapport.data_exchange.models import DuplicateScan

    now = timezone.now()
    for entity in entities or ("contact", "organization"):
        DuplicateScan.objects.create(
            entity=entity, trigger="manual", started_at=now, finished_at=now
        )


@pytest.fixture
def detection_ran(db):
    mark_detection_run()
