"""Two workers on one enrollment: the second skips the row the first holds (PostgreSQL's
SELECT … FOR UPDATE SKIP LOCKED), so a step is never run twice at once."""

import threading

import pytest
from django.db import connection, connections, transaction

from rapport.sequences import runner
from rapport.sequences.models import Enrollment, StepRun
from rapport.sequences.tests.conftest import make_due

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(
    not connection.features.has_select_for_update_skip_locked,
    reason="SQLite has no row locks: its writers take turns on the whole database",
)
def test_an_enrollment_held_by_another_worker_is_skipped(enroll, ada, smtp_server):
    enrollment = enroll(ada)
    make_due(enrollment)
    held, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                Enrollment.objects.select_for_update().get(pk=enrollment.pk)
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert held.wait(10)
        assert runner.run_enrollment(enrollment.pk) == "not_due"
        assert not StepRun.objects.exists()
    finally:
        release.set()
        worker.join(10)
    assert runner.run_enrollment(enrollment.pk) == "sent"
    assert StepRun.objects.count() == 1
