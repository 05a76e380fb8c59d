"""Runs taken together (`chunks.advance_many`, what a task does with the runs enrolled at once)
leave exactly what runs taken one by one (`runner.advance`) leave: the same step records,
history entries stamped with each run, notifications, tasks, webhook outbox rows and run
outcomes; a batch one record refuses goes one by one; a chunk whose worker died half-way acts
on no record twice when it is taken up again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.automation import chunks, runner
from rapport.automation.models import RunStatus, StepStatus, WebhookDelivery, WorkflowRun
from rapport.automation.steps import NotifyUser
from rapport.automation.tests import conftest as automation_fixtures
from rapport.automation.tests import test_workflows as shared
from rapport.contacts.tests.factories import make_contact
from rapport.sales.models import Notification, Task

pytestmark = pytest.mark.django_db

make_workflow = shared.make_workflow
receiver = automation_fixtures.receiver
webhook_settings = automation_fixtures.webhook_settings
subscribe = automation_fixtures.subscribe

GERMAN = {"all": [{"field": "country", "op": "eq", "value": "DE"}]}
HEARD = (
    "workflow.run_started",
    "workflow.run_finished",
    "workflow.run_failed",
    "workflow.step_failed",
    "contact.updated",
    "task.created",
)
# Keys whose values may be one record's or run's own ids, which differ between the twins.
OWN_IDS = {"id", "run_id", "record_id", "contact_id", "task_id", "object_id"}
# When each twin was made, not what the workflow did.
MADE_AT = {"lifecycle_changed_at", "created_at"}


def _people(owner):
    """The same five people each time: one per path through the workflow."""
    return [
        make_contact(actor=owner, owner=owner, first_name="Ada", country="DE"),
        make_contact(actor=owner, owner=owner, first_name="Bea", country="DE", tags=["Spring"]),
        make_contact(actor=owner, owner=owner, first_name="Cem", country="FR", tags=["Spring"]),
        make_contact(actor=owner, owner=None, first_name="Dan", country="FR"),
        # Past the "yes" path's jump, then failing: the run stands where the single path leaves it.
        make_contact(actor=owner, owner=None, first_name="Eva", country="DE"),
    ]


def _enrol(workflow, people, now):
    return [
        runner.enrol(workflow=workflow, record_id=person.pk, summary="Test", now=now)
        for person in people
    ]


def _plain(value, own: set[tuple[str, int]]):
    if isinstance(value, dict):
        return {
            key: ("own" if key in OWN_IDS and (key, item) in own else _plain(item, own))
            for key, item in value.items()
            if key not in MADE_AT
        }
    if isinstance(value, list):
        return [_plain(item, own) for item in value]
    return value


def _left_by(run: WorkflowRun) -> dict:
    """Everything the run left, with its own ids (record, run, task) made alike."""
    run.refresh_from_db()
    contact = run.contact
    tasks = list(Task.objects.filter(contact=contact).order_by("id"))
    own = {
        *((key, contact.pk) for key in ("id", "object_id", "contact_id", "record_id")),
        ("run_id", run.pk),
        *((key, task.pk) for task in tasks for key in ("id", "object_id", "task_id")),
    }
    stamped = ChangeRecord.objects.filter(task_id=f"workflow-run-{run.pk}").order_by("id")
    deliveries = [
        d
        for d in WebhookDelivery.objects.order_by("id")
        if own & {(key, d.payload["data"].get(key)) for key in OWN_IDS}
    ]
    return {
        "run": (run.status, run.outcome, run.position, run.resume_at, run.lease_token),
        "steps": [
            (s.step_key, s.step_type, s.label, s.status, s.outcome, s.error, s.finished_at is None)
            for s in run.step_runs.order_by("id")
        ],
        "tags": sorted(contact.tags.values_list("name", flat=True)),
        "history": [
            (
                r.entity,
                r.action,
                r.actor_id,
                r.actor_label,
                r.source,
                r.message,
                _plain({"object_id": int(r.object_id), "before": r.before, "after": r.after}, own),
            )
            for r in stamped
        ],
        "unstamped_history": ChangeRecord.objects.filter(
            object_id=str(contact.pk), entity="contacts.contact"
        )
        .exclude(task_id=f"workflow-run-{run.pk}")
        .count(),
        "notifications": [
            (n.recipient_id, n.kind, n.title, n.body, n.url.replace(str(contact.pk), "own"))
            for n in Notification.objects.filter(dedupe_key__startswith=f"workflow-run:{run.pk}:")
        ],
        "tasks": [
            (t.title, t.assignee_id, t.description, t.due_at, t.priority, t.status) for t in tasks
        ],
        "outbox": [(d.event_type, _plain(d.payload["data"], own)) for d in deliveries],
    }


def test_runs_taken_together_leave_what_runs_taken_one_by_one_leave(
    make_workflow, owner, subscribe
):
    subscribe(events=HEARD)
    workflow = make_workflow(
        {"type": "contact_created"},
        [
            {
                "type": "branch",
                "condition": GERMAN,
                "yes": [{"type": "add_tag", "tag": "Spring"}],
                "no": [{"type": "remove_tag", "tag": "Spring"}],
            },
            {"type": "notify_user", "user": "owner", "title": "Entered the campaign"},
            # Taken run by run inside the chunk (no batch form): the two kinds mix.
            {"type": "create_task", "title": "Call them", "due_in_days": 2},
            {"type": "wait", "hours": 1},
            {"type": "continue_if", "condition": GERMAN},
            {"type": "add_tag", "tag": "Followed up"},
        ],
    )
    now = timezone.now()
    later = now + dt.timedelta(hours=2)
    one_by_one = _enrol(workflow, _people(owner), now)
    together = _enrol(workflow, _people(owner), now)

    for run in one_by_one:
        runner.advance(run.pk, now=now)
    assert chunks.advance_many([run.pk for run in together], now=now) == 5
    for run in one_by_one:
        runner.advance(run.pk, now=later)
    assert chunks.advance_many([run.pk for run in together], now=later) == 3

    singles = [_left_by(run) for run in one_by_one]
    assert [left["run"][0] for left in singles] == [
        RunStatus.COMPLETED,
        RunStatus.COMPLETED,
        RunStatus.STOPPED,
        RunStatus.FAILED,
        RunStatus.FAILED,
    ]
    assert singles[0]["tags"] == ["Followed up", "Spring"]
    assert [step[3] for step in singles[1]["steps"]][:2] == [
        StepStatus.CONDITION_MET,
        StepStatus.SKIPPED,
    ]
    assert len(singles[0]["history"]) == 7  # 2 tag changes, the task, 4 "By workflow" notes
    assert [event for event, _data in singles[3]["outbox"]] == [
        "workflow.run_started",
        "workflow.step_failed",
        "workflow.run_failed",
    ]
    for single, chunked in zip(singles, [_left_by(run) for run in together], strict=True):
        assert chunked == single


def test_a_batch_one_record_refuses_is_taken_one_by_one_with_its_failure(
    make_workflow, owner, subscribe
):
    subscribe(events=HEARD)
    workflow = make_workflow(
        {"type": "contact_created"},
        [
            {"type": "add_tag", "tag": "Spring"},
            {"type": "notify_user", "user": "owner", "title": "Tagged"},
        ],
    )
    crowded = [f"Tag {number}" for number in range(50)]  # the most a contact may have

    def people():
        return [
            make_contact(actor=owner, owner=owner, first_name="Ada"),
            make_contact(actor=owner, owner=owner, first_name="Bea", tags=crowded),
            make_contact(actor=owner, owner=owner, first_name="Cem"),
        ]

    now = timezone.now()
    one_by_one = _enrol(workflow, people(), now)
    together = _enrol(workflow, people(), now)
    for run in one_by_one:
        runner.advance(run.pk, now=now)
    chunks.advance_many([run.pk for run in together], now=now)

    singles = [_left_by(run) for run in one_by_one]
    assert [left["run"][0] for left in singles] == [
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.COMPLETED,
    ]
    assert singles[1]["steps"][0][3:6] == (StepStatus.FAILED, "", "At most 50 tags.")
    for single, chunked in zip(singles, [_left_by(run) for run in together], strict=True):
        for key in single:
            assert (key, chunked[key]) == (key, single[key])
        assert chunked == single


def test_a_chunk_whose_worker_died_half_way_acts_on_no_record_twice(
    make_workflow, owner, monkeypatch
):
    workflow = make_workflow(
        {"type": "contact_created"},
        [
            {"type": "add_tag", "tag": "Spring"},
            {"type": "notify_user", "user": "owner", "title": "Tagged"},
        ],
    )
    people = [make_contact(actor=owner, owner=owner, first_name=f"P{n}") for n in range(5)]
    now = timezone.now()
    run_ids = [run.pk for run in _enrol(workflow, people, now)]

    def killed(self, contexts):
        raise KeyboardInterrupt  # the worker is stopped between the two steps

    monkeypatch.setattr(NotifyUser, "run_many", killed)
    monkeypatch.setattr(chunks, "LEASE_RENEWAL", dt.timedelta(0))  # renewed at every step
    with pytest.raises(KeyboardInterrupt):
        chunks.advance_many(run_ids, now=now)
    monkeypatch.undo()
    runs = WorkflowRun.objects.filter(pk__in=run_ids)
    assert set(runs.values_list("status", "position")) == {(RunStatus.RUNNING, 1)}
    # The lease taken at `now` was renewed before the second step, from then on.
    assert min(runs.values_list("lease_until", flat=True)) > now + runner.LEASE

    # The task delivered again while the dead worker's lease holds: nothing is taken.
    assert chunks.advance_many(run_ids, now=now + dt.timedelta(minutes=1)) == 0
    # Once the lease is over, the runs go on from the step they stood at.
    assert chunks.advance_many(run_ids, now=now + runner.LEASE + dt.timedelta(minutes=1)) == 5

    assert set(runs.values_list("status", flat=True)) == {RunStatus.COMPLETED}
    for run, person in zip(runs.order_by("pk"), people, strict=True):
        assert [(s.step_key, s.status) for s in run.step_runs.order_by("id")] == [
            ("1", StepStatus.DONE),
            ("2", StepStatus.DONE),
        ]
        history = ChangeRecord.objects.filter(
            entity="contacts.contact", object_id=str(person.pk), task_id=f"workflow-run-{run.pk}"
        )
        assert history.filter(message="").count() == 1  # the tag change, once
        assert history.filter(message__startswith="By workflow").count() == 2
        assert list(person.tags.values_list("name", flat=True)) == ["Spring"]
    assert Notification.objects.filter(title="Tagged").count() == 5


def test_a_wait_resumes_together_and_is_recorded_as_waited(make_workflow, owner):
    workflow = make_workflow(
        {"type": "contact_created"},
        [{"type": "wait", "minutes": 30}, {"type": "add_tag", "tag": "Later"}],
    )
    people = [make_contact(actor=owner, owner=owner, first_name=f"P{n}") for n in range(3)]
    now = timezone.now()
    run_ids = [run.pk for run in _enrol(workflow, people, now)]
    chunks.advance_many(run_ids, now=now)
    runs = WorkflowRun.objects.filter(pk__in=run_ids)
    assert set(runs.values_list("status", "resume_at")) == {
        (RunStatus.WAITING, now + dt.timedelta(minutes=30))
    }
    assert chunks.advance_many(run_ids, now=now + dt.timedelta(minutes=10)) == 0  # not due
    assert runner.resume_due(now=now + dt.timedelta(minutes=31)) == 3
    for run in runs:
        assert [(s.step_key, s.status, s.finished_at is None) for s in run.step_runs.all()] == [
            ("1", StepStatus.DONE, False),
            ("2", StepStatus.DONE, False),
        ]
    assert set(runs.values_list("status", flat=True)) == {RunStatus.COMPLETED}


def test_a_chunk_costs_the_same_statements_for_few_runs_as_for_many(make_workflow, owner):
    workflow = make_workflow(
        {"type": "contact_created"},
        [
            {"type": "add_tag", "tag": "Spring"},
            {"type": "notify_user", "user": "owner", "title": "Tagged"},
        ],
    )
    now = timezone.now()
    few = [make_contact(actor=owner, owner=owner, first_name=f"F{n}") for n in range(3)]
    many = [make_contact(actor=owner, owner=owner, first_name=f"M{n}") for n in range(30)]
    few_ids = [run.pk for run in _enrol(workflow, few, now)]
    many_ids = [run.pk for run in _enrol(workflow, many, now)]
    chunks.advance_many(few_ids[:1], now=now)  # the tag is made once, by the first
    with CaptureQueriesContext(connection) as for_few:
        chunks.advance_many(few_ids[1:], now=now)
    with CaptureQueriesContext(connection) as for_many:
        chunks.advance_many(many_ids, now=now)
    assert len(for_many) == len(for_few)
    assert WorkflowRun.objects.filter(status=RunStatus.COMPLETED).count() == 33
