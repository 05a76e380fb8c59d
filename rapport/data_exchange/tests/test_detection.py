"""Duplicate detection runs by itself (after an import, after the demo, nightly) and the
Duplicates page says when it last ran, whether one is running, and never "nothing to review"
before anyone looked."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from rapport.contacts.tests.factories import make_contact
from rapport.core import schedules
from rapport.data_exchange import detection, tasks
from rapport.data_exchange.importing import jobs
from rapport.data_exchange.models import ContactDuplicate, DetectionSchedule, DuplicateScan

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
CSV = (
    b"First Name,Last Name,Email,Phone\r\n"
    b"Ada,Lovelace,ada@engines.org,+442079460000\r\n"
    b"Grace,Hopper,grace@navy.example.org,\r\n"
)


@pytest.fixture
def twins(owner):
    """Two records of one person, written before any detection ran (as the demo does)."""
    first = make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", emails=["ada@a.org"]
    )
    second = make_contact(
        actor=owner, owner=owner, first_name="Ada", last_name="Lovelace", emails=["ada@a.org"]
    )
    # Checked one by one as they were created; only a full run says everything was compared.
    ContactDuplicate.objects.all().delete()
    return first, second


def test_the_page_says_detection_has_not_run_instead_of_nothing_to_review(
    twins, web_client_for, owner
):
    content = web_client_for(owner).get("/data/duplicates/").content.decode()
    assert "Nothing to review" not in content
    assert "Not checked yet" in content
    assert "Detection has not run over all contacts yet." in content
    assert "It runs by itself after each import and every night." in content


def test_a_finished_import_sets_off_a_full_detection_in_the_worker(
    twins, owner, web_client_for, django_capture_on_commit_callbacks
):
    # Given an import started as the UI and the API start it (run by the task backend)
    upload = SimpleUploadedFile("people.csv", CSV, content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.create_import(actor=owner, entity="contact", upload=upload)
        jobs.start_import(actor=owner, job=job)
    # Then detection ran over everything, the contacts written before the import included
    runs = DuplicateScan.objects.order_by("entity")
    assert [(run.entity, run.trigger) for run in runs] == [
        ("contact", "import"),
        ("organization", "import"),
    ]
    assert all(run.finished_at and not run.failure for run in runs)
    first, second = twins
    assert ContactDuplicate.objects.filter(contact_a=first, contact_b=second).exists()
    content = web_client_for(owner).get("/data/duplicates/").content.decode()
    assert "Detection last ran just now (after an import)" in content
    assert "suspected pair" in content


def test_a_dry_run_sets_off_no_detection(owner, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("people.csv", CSV, content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.create_import(actor=owner, entity="contact", upload=upload, dry_run=True)
        jobs.start_import(actor=owner, job=job)
    assert not DuplicateScan.objects.exists()


def test_the_scan_button_records_a_run_the_page_reports(twins, admin_user, web_client_for):
    client = web_client_for(admin_user)
    client.post("/data/duplicates/scan/", {"entity": "contact"})
    run = DuplicateScan.objects.get()
    assert (run.entity, run.trigger, run.records, run.suspected) == ("contact", "manual", 2, 1)
    content = client.get("/data/duplicates/").content.decode()
    assert (
        "Detection last ran just now (started by hand): 2 contacts compared, 1 suspected pair."
        in (" ".join(content.split()))
    )


def test_the_page_says_when_a_run_is_going(twins, owner, web_client_for):
    DuplicateScan.objects.create(
        entity="contact", trigger="nightly", started_at=timezone.now() - dt.timedelta(minutes=5)
    )
    content = " ".join(web_client_for(owner).get("/data/duplicates/").content.decode().split())
    assert "Detection is running now (started 5 min ago, nightly run)" in content
    # A run lost with its worker long ago is not "running" forever.
    DuplicateScan.objects.update(started_at=timezone.now() - dt.timedelta(days=1))
    assert detection.state("contact").running is None


def test_a_failed_run_does_not_count_as_run(twins, monkeypatch):
    def broken(entity):
        raise RuntimeError("database went away")

    monkeypatch.setattr(detection.matching, "scan", broken)
    with pytest.raises(RuntimeError):
        detection.run("contact")
    run = DuplicateScan.objects.get()
    assert run.failure == "RuntimeError: database went away"
    assert not detection.has_run("contact")
    assert detection.state("contact").failed == run


def test_the_nightly_chain_detects_once_a_night(twins):
    first = tasks.nightly_duplicate_detection.enqueue().return_value
    assert first == {"contact": 1, "organization": 0}
    assert set(DuplicateScan.objects.values_list("trigger", flat=True)) == {"nightly"}
    assert tasks.nightly_duplicate_detection.enqueue().return_value == {"skipped": True}
    assert DetectionSchedule.objects.get().next_run_at > timezone.now()


def test_the_worker_starts_the_chain_at_once_on_a_new_installation(settings):
    settings.TASKS = DATABASE_TASKS
    assert "nightly duplicate detection" in schedules.registered()
    schedules.start_all()
    schedules.start_all()
    waiting = DBTaskResult.objects.filter(
        task_path=tasks.nightly_duplicate_detection.module_path, status="READY"
    )
    # Never run here: the first run is due now, not at midnight.
    assert waiting.count() == 1
    assert waiting.get().run_after == get_date_max()  # the queue's "no later than now"


def test_once_detection_has_run_the_chain_waits_for_the_night(settings):
    settings.TASKS = DATABASE_TASKS
    detection.run("contact", trigger="manual")
    schedules.start_all()
    waiting = DBTaskResult.objects.get(task_path=tasks.nightly_duplicate_detection.module_path)
    assert waiting.run_after == schedules.next_daily_time(timezone.now(), tasks.DETECTION_HOUR)


def test_the_next_night_is_queued_even_when_tonights_run_fails(settings, monkeypatch):
    settings.TASKS = DATABASE_TASKS

    def broken(*, trigger):
        raise RuntimeError("database went away")

    monkeypatch.setattr(tasks.detection, "run_all", broken)
    context = SimpleNamespace(task_result=SimpleNamespace(id="nightly-detection-1"))
    with pytest.raises(RuntimeError):
        tasks.nightly_duplicate_detection.func(context)
    waiting = DBTaskResult.objects.get(task_path=tasks.nightly_duplicate_detection.module_path)
    assert waiting.run_after == schedules.next_daily_time(timezone.now(), tasks.DETECTION_HOUR)


def test_an_import_queues_one_detection_while_one_waits(settings):
    settings.TASKS = DATABASE_TASKS
    assert tasks.queue_detection(trigger="import") is True
    assert tasks.queue_detection(trigger="import") is False
    assert DBTaskResult.objects.filter(task_path=tasks.detect_duplicates.module_path).count() == 1
