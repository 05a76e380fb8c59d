"""The workflows API: administrators only (nothing written for anyone else), 422 naming the
field for bad input, runs with their steps, dry runs that write nothing."""

from __future__ import annotations

import pytest

from rapport.audit.models import ChangeRecord
from rapport.automation import workflows
from rapport.automation.models import RunStatus, Workflow, WorkflowRun, WorkflowVersion
from rapport.contacts.tests.factories import make_contact
from rapport.core.tests.api_matrix import ACTORS, Call, admin_write, assert_answer, send

pytestmark = pytest.mark.django_db

BASE = "/api/v1/workflows"
BODY = {
    "name": "Welcome",
    "record_type": "contact",
    "trigger": {"type": "contact_created"},
    "conditions": {"all": [{"field": "country", "op": "eq", "value": "DE"}]},
    "steps": [{"type": "add_tag", "tag": "Welcome"}],
}


@pytest.fixture
def ran(admin_user, owner, django_capture_on_commit_callbacks):
    workflow = workflows.create_workflow(actor=admin_user, **BODY)
    workflows.activate_workflow(actor=admin_user, workflow=workflow)
    with django_capture_on_commit_callbacks(execute=True):
        contact = make_contact(actor=owner, owner=owner, country="DE")
    return workflow, WorkflowRun.objects.get(), contact


def endpoints(workflow, run, contact):
    wid = workflow.pk
    return {
        "list": (Call("GET", BASE), admin_write(200)),
        "create": (Call("POST", BASE, BODY), admin_write(201)),
        "get": (Call("GET", f"{BASE}/{wid}"), admin_write(200)),
        "patch": (Call("PATCH", f"{BASE}/{wid}", {"name": "Renamed"}), admin_write(200)),
        "deactivate": (Call("POST", f"{BASE}/{wid}/deactivate"), admin_write(200)),
        "activate": (Call("POST", f"{BASE}/{wid}/activate"), admin_write(200)),
        "dry_run": (
            Call("POST", f"{BASE}/{wid}/dry-run", {"record_id": contact.pk}),
            admin_write(200),
        ),
        "runs": (Call("GET", f"{BASE}/{wid}/runs"), admin_write(200)),
        "run": (Call("GET", f"/api/v1/workflow-runs/{run.pk}"), admin_write(200)),
        "delete": (Call("DELETE", f"{BASE}/{wid}"), admin_write(204)),
    }


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    "endpoint",
    [
        "list",
        "create",
        "get",
        "patch",
        "deactivate",
        "activate",
        "dry_run",
        "runs",
        "run",
        "delete",
    ],
)
def test_permission_matrix(ran, client_as, endpoint, actor):
    call, answers = endpoints(*ran)[endpoint]
    # (Making the actor's API token is audited too: count only what workflows write.)
    written = ChangeRecord.objects.exclude(entity="accounts.apitoken")
    changes = written.count()
    versions = WorkflowVersion.objects.count()
    assert_answer(client_as, actor, call, answers[actor])
    if actor != "admin":
        # A refusal writes nothing.
        assert written.count() == changes
        assert WorkflowVersion.objects.count() == versions
        assert Workflow.objects.get().name == "Welcome"
        assert Workflow.objects.get().is_active is True


def test_create_then_read_back(client_as):
    client = client_as("admin")
    response = send(client, Call("POST", BASE, BODY))
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["version"], created["is_active"]) == (1, False)
    assert created["trigger_words"] == "A contact is created"
    assert created["steps"] == [{"type": "add_tag", "tag": "Welcome"}]
    activated = send(client, Call("POST", f"{BASE}/{created['id']}/activate")).json()
    assert activated["is_active"] is True
    patched = send(
        client,
        Call("PATCH", f"{BASE}/{created['id']}", {"steps": [{"type": "wait", "hours": 1}]}),
    ).json()
    assert (patched["version"], patched["steps"]) == (
        2,
        [{"type": "wait", "days": 0, "hours": 1, "minutes": 0}],
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"record_type": "planet"}, "body.record_type", "Input should be"),
        ({"trigger": {"type": "moon_rise"}}, "body.trigger.type", "Choose a trigger"),
        (
            {"conditions": {"all": [{"field": "nope", "op": "eq", "value": 1}]}},
            "body.conditions",
            "unknown field 'nope'",
        ),
        ({"steps": [{"type": "add_tag"}]}, "body.steps[0].tag", "Tag: this is required."),
        (
            {"steps": [{"type": "call_webhook", "url": "http://127.0.0.1/x"}]},
            "body.steps[0].url",
            "127.0.0.1",
        ),
        (
            {"steps": [{"type": "send_email", "template": "12345", "mailbox": "1"}]},
            "body.steps[0].template",
            "choose one of the offered values",
        ),
        ({"name": ""}, "body.name", "Give the workflow a name."),
    ],
)
def test_bad_input_is_a_422_naming_the_field(client_as, change, field, words):
    response = send(client_as("admin"), Call("POST", BASE, {**BODY, **change}))
    assert response.status_code == 422, response.content
    fields = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert field in fields, fields
    assert words in fields[field]
    assert not Workflow.objects.exists()


def test_dry_run_of_a_missing_record_is_a_422(ran, client_as):
    workflow, _run, _contact = ran
    response = send(
        client_as("admin"), Call("POST", f"{BASE}/{workflow.pk}/dry-run", {"record_id": 999999})
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body.record_id", "message": "No such contact (or it is archived)."}
    ]


def test_runs_list_and_detail_with_steps(ran, client_as):
    workflow, run, contact = ran
    client = client_as("admin")
    page = send(client, Call("GET", f"{BASE}/{workflow.pk}/runs")).json()
    assert [(item["id"], item["status"], item["record_id"]) for item in page["items"]] == [
        (run.pk, RunStatus.COMPLETED, contact.pk)
    ]
    assert (
        send(client, Call("GET", f"{BASE}/{workflow.pk}/runs?status=failed")).json()["items"] == []
    )
    detail = send(client, Call("GET", f"/api/v1/workflow-runs/{run.pk}")).json()
    assert [(s["step_key"], s["status"], s["outcome"]) for s in detail["steps"]] == [
        ("1", "done", "Tag “Welcome” added")
    ]


def test_dry_run_answers_in_words(ran, client_as, owner):
    workflow, _run, _contact = ran
    french = make_contact(actor=owner, owner=owner, first_name="Marie", country="FR")
    answer = send(
        client_as("admin"), Call("POST", f"{BASE}/{workflow.pk}/dry-run", {"record_id": french.pk})
    ).json()
    assert answer == {
        "record": "Marie Lovelace",
        "trigger": "A contact is created",
        "enters": False,
        "misses": ["Country (ISO code) is DE"],
        "steps": [],
    }


@pytest.mark.parametrize(
    "change",
    [
        {"trigger": {"type": "date", "days": "soon", "date_field": "created"}},
        {"trigger": {"type": "schedule", "every": "hour", "time": "25:99"}},
        {"conditions": {"all": "country"}},
        {"conditions": {"field": "country", "op": "explodes", "value": 1}},
        {"steps": ["add_tag"]},
        {"steps": [{"type": "branch", "condition": "yes", "yes": "no", "no": [1]}]},
        {"steps": [{"type": "wait", "days": -1}]},
        {"steps": [{"type": "add_tag", "tag": "x", "colour": "red"}]},
        {"steps": [{"type": "notify_user", "user": "nobody", "title": "t" * 300}]},
    ],
)
def test_malformed_definitions_are_422s_never_500s(client_as, change):
    response = send(client_as("admin"), Call("POST", BASE, {**BODY, **change}))
    assert response.status_code == 422, response.content
    assert all(error["field"].startswith("body.") for error in response.json()["errors"])
    assert not Workflow.objects.exists()
