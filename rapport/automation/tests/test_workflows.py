"""Workflows end to end through the real services: each trigger fires, each step does what it
says, conditions filter, loops stop, versions pin, waits resume, dry runs write nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.automation import clock, runner, workflows
from rapport.automation.models import (
    RunStatus,
    StepStatus,
    Workflow,
    WorkflowRun,
    WorkflowStepRun,
    WorkflowVersion,
)
from rapport.contacts.models import Contact
from rapport.contacts.services import set_lifecycle_stage, update_contact
from rapport.contacts.tests.factories import make_contact
from rapport.core import display
from rapport.sales.models import Notification, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_workflow(admin_user):
    """make_workflow(trigger, steps, conditions=None, record_type="contact", active=True)."""

    def make(trigger, steps, *, conditions=None, record_type="contact", active=True, name=None):
        workflow = workflows.create_workflow(
            actor=admin_user,
            name=name or f"Workflow {Workflow.objects.count() + 1}",
            record_type=record_type,
            trigger=trigger,
            conditions=conditions,
            steps=steps,
        )
        if active:
            workflow = workflows.activate_workflow(actor=admin_user, workflow=workflow)
        return workflow

    return make


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run the block's after-commit work (events, then the runs' tasks) as a commit would."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


def _steps(run: WorkflowRun) -> list[tuple[str, str, str]]:
    return [(s.step_key, s.status, s.outcome) for s in run.step_runs.order_by("id")]


# --- triggers and conditions -----------------------------------------------------------------


def test_contact_created_runs_its_steps_with_the_real_services(make_workflow, owner, on_commit):
    workflow = make_workflow(
        {"type": "contact_created"},
        [
            {"type": "add_tag", "tag": "Welcome"},
            {"type": "create_task", "title": "Call the new contact", "due_in_days": 2},
            {"type": "notify_user", "user": "owner", "title": "New contact"},
        ],
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner, country="DE")
    run = WorkflowRun.objects.get(workflow=workflow)
    assert run.status == RunStatus.COMPLETED
    assert run.contact == ada
    assert run.version == workflow.current_version
    assert _steps(run) == [
        ("1", StepStatus.DONE, "Tag “Welcome” added"),
        ("2", StepStatus.DONE, f"Task “Call the new contact” created for {owner}"),
        ("3", StepStatus.DONE, f"{owner} notified"),
    ]
    assert list(ada.tags.values_list("name", flat=True)) == ["Welcome"]
    task = Task.objects.get(title="Call the new contact")
    assert (task.assignee, task.contact) == (owner, ada)
    assert (
        Notification.objects.filter(recipient=owner, kind="workflow", title="New contact").count()
        == 1
    )
    # The services' own audit records are stamped with the run, and the record says who did it.
    stamped = ChangeRecord.objects.filter(task_id=f"workflow-run-{run.pk}", source="workflow")
    assert stamped.filter(entity="contacts.contact", actor__isnull=True).exists()
    notes = ChangeRecord.objects.filter(
        entity="contacts.contact", object_id=str(ada.pk), message__startswith="By workflow"
    )
    assert notes.count() == 3


def test_conditions_filter_who_enters(make_workflow, owner, on_commit):
    workflow = make_workflow(
        {"type": "contact_created"},
        [{"type": "add_tag", "tag": "German"}],
        conditions={"all": [{"field": "country", "op": "eq", "value": "DE"}]},
    )
    with on_commit():
        german = make_contact(actor=owner, owner=owner, country="DE")
        french = make_contact(actor=owner, owner=owner, first_name="Marie", country="FR")
    assert list(
        WorkflowRun.objects.filter(workflow=workflow).values_list("contact", flat=True)
    ) == [german.pk]
    assert not french.tags.exists()


def test_an_inactive_workflow_does_not_run(make_workflow, owner, on_commit):
    make_workflow({"type": "contact_created"}, [{"type": "add_tag", "tag": "x"}], active=False)
    with on_commit():
        make_contact(actor=owner, owner=owner)
    assert not WorkflowRun.objects.exists()


def test_field_changed_to_fires_only_on_that_field_and_value(make_workflow, owner, on_commit):
    workflow = make_workflow(
        {"type": "contact_updated", "field": "country", "to": "FR"},
        [{"type": "add_tag", "tag": "Moved to France"}],
    )
    ada = make_contact(actor=owner, owner=owner, country="DE")
    with on_commit():
        update_contact(actor=owner, contact=ada, job_title="CTO")  # another field
    with on_commit():
        update_contact(actor=owner, contact=ada, country="AT")  # another value
    assert not WorkflowRun.objects.filter(workflow=workflow).exists()
    with on_commit():
        update_contact(actor=owner, contact=ada, country="FR")
    run = WorkflowRun.objects.get(workflow=workflow)
    assert run.status == RunStatus.COMPLETED
    assert "Moved to France" in ada.tags.values_list("name", flat=True)


def test_lifecycle_stage_trigger_with_a_chosen_stage(make_workflow, owner, on_commit):
    workflow = make_workflow(
        {"type": "lifecycle_changed", "to_stage": "customer"},
        [{"type": "update_field", "field": "job_title", "value": "Customer contact"}],
    )
    ada = make_contact(actor=owner, owner=owner)
    with on_commit():
        set_lifecycle_stage(actor=owner, contact=ada, stage="marketing_qualified")
    assert not WorkflowRun.objects.exists()
    with on_commit():
        set_lifecycle_stage(actor=owner, contact=ada, stage="customer")
    assert WorkflowRun.objects.get(workflow=workflow).status == RunStatus.COMPLETED
    ada.refresh_from_db()
    assert ada.job_title == "Customer contact"


def test_a_condition_naming_an_unknown_field_is_refused(admin_user):
    with pytest.raises(ValidationError) as caught:
        workflows.create_workflow(
            actor=admin_user,
            name="Bad",
            record_type="contact",
            trigger={"type": "contact_created"},
            conditions={"all": [{"field": "shoe_size", "op": "eq", "value": 42}]},
            steps=[{"type": "add_tag", "tag": "x"}],
        )
    assert caught.value.message_dict == {
        "conditions": ["Condition 1, field: unknown field 'shoe_size'"]
    }
    assert not Workflow.objects.exists()


def test_bad_steps_and_triggers_name_the_field(admin_user, settings):
    with pytest.raises(ValidationError) as caught:
        workflows.create_workflow(
            actor=admin_user,
            name="",
            record_type="contact",
            trigger={"type": "deal_stage_changed"},
            steps=[
                {"type": "send_email", "template": "999999", "mailbox": "1"},
                {"type": "call_webhook", "url": "http://169.254.169.254/latest"},
                {"type": "move_deal", "stage": "1"},
                {"type": "wait"},
            ],
        )
    errors = caught.value.message_dict
    assert set(errors) == {
        "name",
        "trigger.type",
        "steps[0].template",
        "steps[0].mailbox",
        "steps[1].url",
        "steps[2].type",
        "steps[3].days",
    }
    assert errors["steps[0].template"] == ["Template: choose one of the offered values."]
    assert errors["steps[3].days"] == ["Wait at least one minute."]


def test_non_administrators_may_not_make_or_change_workflows(owner, admin_user, make_workflow):
    workflow = make_workflow({"type": "contact_created"}, [{"type": "add_tag", "tag": "x"}])
    before = ChangeRecord.objects.count()
    with pytest.raises(PermissionDenied):
        workflows.create_workflow(
            actor=owner,
            name="Mine",
            record_type="contact",
            trigger={"type": "contact_created"},
            steps=[],
        )
    for call in (
        lambda: workflows.update_workflow(actor=owner, workflow=workflow, name="x"),
        lambda: workflows.deactivate_workflow(actor=owner, workflow=workflow),
        lambda: workflows.delete_workflow(actor=owner, workflow=workflow),
        lambda: workflows.dry_run(actor=owner, workflow=workflow, record_id=1),
    ):
        with pytest.raises(PermissionDenied):
            call()
    workflow.refresh_from_db()
    assert (workflow.name, workflow.is_active, workflow.is_deleted) == (
        workflow.name,
        True,
        False,
    )
    assert Workflow.objects.count() == 1
    assert ChangeRecord.objects.count() == before


# --- the loop guard and versions ---------------------------------------------------------------


def test_a_workflow_re_triggering_itself_is_stopped_and_says_why(make_workflow, owner, on_commit):
    # Each run adds and removes a tag: two updates of the contact, each starting it again.
    workflow = make_workflow(
        {"type": "contact_updated"},
        [{"type": "add_tag", "tag": "Ping"}, {"type": "remove_tag", "tag": "Ping"}],
    )
    ada = make_contact(actor=owner, owner=owner)
    with on_commit():
        update_contact(actor=owner, contact=ada, job_title="CTO")
    runs = WorkflowRun.objects.filter(workflow=workflow).order_by("id")
    statuses = [run.status for run in runs]
    assert statuses[:3] == [RunStatus.COMPLETED] * 3
    assert set(statuses[3:]) == {RunStatus.LOOP_STOPPED}
    stopped = runs.filter(status=RunStatus.LOOP_STOPPED).first()
    assert stopped.outcome.startswith(
        "Not run: this workflow already ran 3 times for this contact in the last hour (at most 3)"
    )
    assert not stopped.step_runs.exists()
    assert list(ada.tags.all()) == []


def test_a_waiting_run_finishes_on_the_version_it_started_with(
    make_workflow, admin_user, owner, on_commit
):
    workflow = make_workflow(
        {"type": "contact_created"},
        [{"type": "wait", "days": 2}, {"type": "add_tag", "tag": "Version one"}],
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner)
    run = WorkflowRun.objects.get()
    assert run.status == RunStatus.WAITING
    assert run.resume_at > timezone.now() + dt.timedelta(days=1, hours=23)
    workflows.update_workflow(
        actor=admin_user,
        workflow=workflow,
        steps=[{"type": "add_tag", "tag": "Version two"}],
    )
    assert list(
        WorkflowVersion.objects.filter(workflow=workflow).values_list("number", flat=True)
    ) == [
        2,
        1,
    ]
    # Not yet due: nothing happens.
    assert runner.advance(run.pk) is None
    later = timezone.now() + dt.timedelta(days=2, minutes=1)
    assert clock.tick(now=later) == {
        "resumed": 1,
        "enrolled": 0,
        "segments": {"segments": 0, "entered": 0, "left": 0},
    }
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert list(ada.tags.values_list("name", flat=True)) == ["Version one"]
    assert _steps(run)[0][:2] == ("1", StepStatus.DONE)
    assert _steps(run)[0][2] == f"Waited until {display.moment_text(later, 'dated')}"
    # A repeated delivery of the resume task does nothing more.
    assert runner.advance(run.pk, now=later) is None
    assert run.step_runs.count() == 2


def test_a_wait_queues_its_resume_for_later(make_workflow, owner, settings, on_commit):
    from django_tasks_db.models import DBTaskResult

    from rapport.automation import tasks

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    make_workflow({"type": "contact_created"}, [{"type": "wait", "hours": 3}])
    with on_commit():
        make_contact(actor=owner, owner=owner)
    run = WorkflowRun.objects.get()
    # Runs an event enrols are queued together; the first task is waiting to start this one.
    started = DBTaskResult.objects.get(task_path=tasks.run_workflows.module_path)
    assert started.args_kwargs["kwargs"] == {"workflow_run_ids": [run.pk]}
    # Run it as the worker would.
    assert runner.advance(run.pk) == RunStatus.WAITING
    run.refresh_from_db()
    queued = DBTaskResult.objects.filter(task_path=tasks.run_workflow.module_path)
    resume = queued.get(run_after=run.resume_at)
    assert resume.args_kwargs["kwargs"] == {"workflow_run_id": run.pk}


# --- branches --------------------------------------------------------------------------------


def test_branch_and_continue_if_record_why(make_workflow, owner, on_commit):
    make_workflow(
        {"type": "contact_created"},
        [
            {
                "type": "branch",
                "condition": {"all": [{"field": "country", "op": "eq", "value": "DE"}]},
                "yes": [{"type": "add_tag", "tag": "DACH"}],
                "no": [{"type": "add_tag", "tag": "Elsewhere"}],
            },
            {
                "type": "continue_if",
                "condition": {"all": [{"field": "job_title", "op": "contains", "value": "CTO"}]},
            },
            {"type": "add_tag", "tag": "Technical"},
        ],
    )
    with on_commit():
        marie = make_contact(actor=owner, owner=owner, first_name="Marie", country="FR")
    run = WorkflowRun.objects.get(contact=marie)
    assert run.status == RunStatus.STOPPED
    assert _steps(run) == [
        ("1", StepStatus.CONDITION_NOT_MET, "Not met: Country (ISO code) is DE"),
        ("1.no.1", StepStatus.DONE, "Tag “Elsewhere” added"),
        ("2", StepStatus.CONDITION_NOT_MET, "Not met: Job title contains CTO"),
    ]
    assert run.outcome == "Stopped at step 2: Not met: Job title contains CTO"
    assert list(marie.tags.values_list("name", flat=True)) == ["Elsewhere"]
    with on_commit():
        ada = make_contact(actor=owner, owner=owner, country="DE", job_title="CTO")
    run = WorkflowRun.objects.get(contact=ada)
    assert [key for key, _s, _o in _steps(run)] == ["1", "1.yes.1", "2", "3"]
    assert sorted(ada.tags.values_list("name", flat=True)) == ["DACH", "Technical"]


# --- the dry run -----------------------------------------------------------------------------


def test_dry_run_says_what_would_happen_and_writes_nothing(make_workflow, admin_user, owner):
    workflow = make_workflow(
        {"type": "contact_created"},
        [
            {"type": "add_tag", "tag": "VIP"},
            {"type": "wait", "days": 1},
            {
                "type": "branch",
                "condition": {"all": [{"field": "country", "op": "eq", "value": "DE"}]},
                "yes": [{"type": "create_task", "title": "Call"}],
                "no": [],
            },
        ],
        conditions={"all": [{"field": "last_name", "op": "eq", "value": "Lovelace"}]},
    )
    ada = make_contact(actor=owner, owner=owner, country="DE")
    other = make_contact(actor=owner, owner=owner, last_name="Byron")
    counts = (ChangeRecord.objects.count(), Task.objects.count(), WorkflowRun.objects.count())
    report = workflows.dry_run(actor=admin_user, workflow=workflow, record_id=ada.pk)
    assert report["enters"] is True
    assert [(s["key"], s["would"].split(" (")[0]) for s in report["steps"]] == [
        ("1", "Would add the tag “VIP”"),
        ("2", report["steps"][1]["would"]),
        ("3", "Would take the “yes” path"),
        ("3.yes.1", f"Would create the task “Call” for {owner}"),
    ]
    assert report["steps"][1]["would"].startswith("Would wait until ")
    refused = workflows.dry_run(actor=admin_user, workflow=workflow, record_id=other.pk)
    assert (refused["enters"], refused["misses"], refused["steps"]) == (
        False,
        ["Last name is Lovelace"],
        [],
    )
    assert (
        ChangeRecord.objects.count(),
        Task.objects.count(),
        WorkflowRun.objects.count(),
    ) == counts
    assert list(ada.tags.all()) == []
    with pytest.raises(ValidationError) as caught:
        workflows.dry_run(actor=admin_user, workflow=workflow, record_id=10**9)
    assert caught.value.message_dict == {"record_id": ["No such contact (or it is archived)."]}


def test_deleting_cancels_waiting_runs(make_workflow, admin_user, owner, on_commit):
    workflow = make_workflow({"type": "contact_created"}, [{"type": "wait", "days": 1}])
    with on_commit():
        make_contact(actor=owner, owner=owner)
    assert workflows.delete_workflow(actor=admin_user, workflow=workflow) == 1
    run = WorkflowRun.objects.get()
    assert (run.status, run.outcome) == (
        RunStatus.CANCELLED,
        "Cancelled: the workflow was deleted.",
    )
    assert clock.tick(now=timezone.now() + dt.timedelta(days=2)) == {
        "resumed": 0,
        "enrolled": 0,
        "segments": {"segments": 0, "entered": 0, "left": 0},
    }
    assert Contact.objects.count() == 1
    assert WorkflowStepRun.objects.filter(run=run).count() == 1


def test_a_run_whose_worker_died_resumes_after_its_last_recorded_step(
    make_workflow, owner, on_commit
):
    workflow = make_workflow(
        {"type": "contact_created"},
        [{"type": "add_tag", "tag": "One"}, {"type": "add_tag", "tag": "Two"}],
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner)
    run = WorkflowRun.objects.get(workflow=workflow)
    # As if a worker had taken step 1 and died before step 2: step 1's record and position
    # committed together, the run still leased to the dead worker.
    run.step_runs.filter(step_key="2").delete()
    update_contact(actor=owner, contact=ada, tags=["One"])
    WorkflowRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        position=1,
        finished_at=None,
        lease_token="dead",
        lease_until=timezone.now() + runner.LEASE,
    )
    # Not taken while the dead worker's lease lasts.
    assert clock.tick()["resumed"] == 0
    with on_commit():
        assert clock.tick(now=timezone.now() + runner.LEASE + dt.timedelta(seconds=1)) == {
            "resumed": 1,
            "enrolled": 0,
            "segments": {"segments": 0, "entered": 0, "left": 0},
        }
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert list(run.step_runs.order_by("id").values_list("step_key", flat=True)) == ["1", "2"]
    assert sorted(ada.tags.values_list("name", flat=True)) == ["One", "Two"]
