"""Workflow runs as webhook events: a subscription hears a run start, end and fail, and a step
fail, with ids and statuses only (nothing of the record)."""

from __future__ import annotations

import json

import pytest

from rapport.automation import catalogue
from rapport.automation.events import WorkflowRunFinished
from rapport.automation.models import RunStatus, WorkflowRun
from rapport.automation.tests import test_workflows as shared
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db

make_workflow = shared.make_workflow
on_commit = shared.on_commit

WORKFLOW_EVENTS = (
    "workflow.run_started",
    "workflow.run_finished",
    "workflow.run_failed",
    "workflow.step_failed",
)


def test_workflow_events_are_in_the_catalogue():
    assert set(WORKFLOW_EVENTS) <= set(catalogue.names())
    assert catalogue.name_of(WorkflowRunFinished(1, 2, 1, "contact", 3, "completed")) == (
        "workflow.run_finished"
    )
    assert [kind.name for kind in dict(catalogue.groups())["Workflows"]] == list(WORKFLOW_EVENTS)


def test_a_subscription_receives_a_run_that_completes_and_one_that_fails(
    make_workflow, owner, subscribe, receiver, on_commit
):
    subscribe(events=WORKFLOW_EVENTS)
    welcome = make_workflow(
        {"type": "contact_created"}, [{"type": "add_tag", "tag": "Welcome"}], name="Welcome"
    )
    broken = make_workflow(
        {"type": "contact_created"},
        [{"type": "update_field", "field": "lifecycle_stage", "value": "not-a-stage"}],
        name="Broken",
    )
    with on_commit():
        ada = make_contact(
            actor=owner, owner=owner, first_name="Augusta", emails=["augusta@example.com"]
        )
    good_run = WorkflowRun.objects.get(workflow=welcome)
    bad_run = WorkflowRun.objects.get(workflow=broken)
    assert (good_run.status, bad_run.status) == (RunStatus.COMPLETED, RunStatus.FAILED)

    arrivals = receiver.record.arrivals
    assert all(arrival.verified for arrival in arrivals)
    received = sorted(
        (arrival.payload["type"], arrival.payload["data"]["run_id"]) for arrival in arrivals
    )
    assert received == sorted(
        [
            ("workflow.run_started", good_run.pk),
            ("workflow.run_finished", good_run.pk),
            ("workflow.run_started", bad_run.pk),
            ("workflow.step_failed", bad_run.pk),
            ("workflow.run_failed", bad_run.pk),
        ]
    )
    by_type = {
        (arrival.payload["type"], arrival.payload["data"]["run_id"]): arrival.payload["data"]
        for arrival in arrivals
    }
    common = {"workflow_id": broken.pk, "version": 1, "record_type": "contact"}
    assert by_type[("workflow.step_failed", bad_run.pk)] == {
        "run_id": bad_run.pk,
        **common,
        "record_id": ada.pk,
        "step_key": "1",
        "step_type": "update_field",
    }
    assert by_type[("workflow.run_failed", bad_run.pk)] == {
        "run_id": bad_run.pk,
        **common,
        "record_id": ada.pk,
        "step_key": "1",
    }
    assert by_type[("workflow.run_finished", good_run.pk)]["status"] == "completed"
    # Nothing of the contact nor the step's error words (which may quote it) leaves Rapport.
    sent = json.dumps([arrival.payload for arrival in arrivals])
    assert "Augusta" not in sent and "augusta@example.com" not in sent
    assert "Choose one of" not in sent and "Broken" not in sent


def test_a_subscription_to_other_events_gets_no_workflow_event(
    make_workflow, owner, subscribe, receiver, on_commit
):
    subscribe(events=("deal.created",))
    make_workflow({"type": "contact_created"}, [{"type": "add_tag", "tag": "Welcome"}])
    with on_commit():
        make_contact(actor=owner, owner=owner)
    assert WorkflowRun.objects.get().status == RunStatus.COMPLETED
    assert receiver.record.arrivals == []
