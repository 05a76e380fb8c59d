"""The real task path: a task enqueued on the database backend and run by `rapport worker`.

The rest of the suite runs tasks inline (the immediate backend); this test proves that the
database queue, the worker command and the task's audit stamping work end to end.
"""

import pytest
from django.core.management import call_command
from django_tasks import task_backends
from django_tasks_db.models import DBTaskResult

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact
from rapport.demo.tasks import build_demo_if_empty

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_task_queued_in_the_database(settings):
    settings.TASKS = DATABASE_TASKS
    assert type(task_backends["default"]).__name__ == "DatabaseBackend"

    result = build_demo_if_empty.enqueue(contacts=4, seed=3, parts=["people"])
    # Queued, not run: nothing happens until a worker picks it up.
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    assert not Contact.objects.exists()

    call_command("worker", batch=True)

    result.refresh()
    assert result.status == "SUCCESSFUL"
    assert result.return_value["built"] is True
    assert Contact.objects.count() == result.return_value["contacts"] >= 4
    stamped = ChangeRecord.objects.filter(entity="contacts.contact", action="create")
    assert set(stamped.values_list("task_id", flat=True)) == {str(result.id)}
    assert set(stamped.values_list("source", flat=True)) == {"task"}


@pytest.mark.django_db(transaction=True)
def test_a_second_delivery_of_the_demo_task_changes_nothing(settings):
    settings.TASKS = DATABASE_TASKS
    first = build_demo_if_empty.enqueue(contacts=3, seed=4, parts=["people"])
    call_command("db_worker", batch=True)
    count = Contact.objects.count()

    again = build_demo_if_empty.enqueue(contacts=3, seed=4, parts=["people"])
    call_command("db_worker", batch=True)

    first.refresh()
    again.refresh()
    assert again.status == "SUCCESSFUL"
    assert again.return_value == {"built": False, "reason": "the database already has contacts"}
    assert Contact.objects.count() == count


def test_serve_refuses_a_port_already_in_use():
    import socket

    from django.core.management.base import CommandError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # Nothing is started: the check comes before gunicorn and the worker.
        with pytest.raises(CommandError, match=f"Port {port} is already in use"):
            call_command("serve", port=port, no_worker=True)


def test_the_worker_refuses_a_backend_without_a_queue(settings):
    from django.core.management.base import CommandError

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    with pytest.raises(CommandError, match="runs tasks without a worker"):
        call_command("worker", batch=True)


def test_serve_collects_static_files_that_were_never_collected(settings, tmp_path):
    from rapport.core.management.commands.serve import Command

    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    manifest = settings.STATIC_ROOT / "staticfiles.json"
    assert not manifest.exists()

    Command()._collect_static_if_missing()

    assert manifest.exists()
    assert (settings.STATIC_ROOT / "css").is_dir()
