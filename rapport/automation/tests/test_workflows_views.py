"""The Workflows pages: administrators only, the editor's add/remove/reorder without saving,
errors beside the field (422), the dry run on the workflow's page, the record's panel."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from rapport.audit.models import ChangeRecord
from rapport.automation import workflows
from rapport.automation.models import Workflow, WorkflowRun
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db

CONDITION = {"all": [{"field": "country", "op": "eq", "value": "DE"}]}


@pytest.fixture
def workflow(admin_user):
    made = workflows.create_workflow(
        actor=admin_user,
        name="Welcome",
        record_type="contact",
        trigger={"type": "contact_created"},
        conditions=CONDITION,
        steps=[{"type": "add_tag", "tag": "Welcome"}],
    )
    return workflows.activate_workflow(actor=admin_user, workflow=made)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _pages(workflow, run_pk):
    return [
        ("get", reverse("automation:workflow_list")),
        ("get", reverse("automation:workflow_create")),
        ("post", reverse("automation:workflow_create")),
        ("get", reverse("automation:workflow_detail", args=[workflow.pk])),
        ("get", reverse("automation:workflow_edit", args=[workflow.pk])),
        ("post", reverse("automation:workflow_edit", args=[workflow.pk])),
        ("post", reverse("automation:workflow_switch", args=[workflow.pk])),
        ("get", reverse("automation:workflow_delete", args=[workflow.pk])),
        ("post", reverse("automation:workflow_delete", args=[workflow.pk])),
        ("get", reverse("automation:workflow_run", args=[run_pk])),
        ("get", reverse("automation:workflow_deal_suggestions")),
    ]


def test_every_page_refuses_non_administrators_and_writes_nothing(
    client, owner, workflow, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_contact(actor=owner, owner=owner, country="DE")
    run = WorkflowRun.objects.get()
    client.force_login(owner)
    changes = ChangeRecord.objects.count()
    for method, url in _pages(workflow, run.pk):
        response = getattr(client, method)(url, {"name": "Hijacked", "is_active": "false"})
        assert response.status_code == 403, url
    workflow.refresh_from_db()
    assert (workflow.name, workflow.is_active, workflow.is_deleted) == ("Welcome", True, False)
    assert ChangeRecord.objects.count() == changes


def test_list_shows_trigger_in_words_and_runs(
    admin_client, workflow, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_contact(actor=owner, owner=owner, country="DE")
    page = admin_client.get(reverse("automation:workflow_list")).content.decode()
    assert "A contact is created" in page
    assert "<td>1</td>" in page


def _form(**extra):
    data = {
        "name": "Onboarding",
        "description": "",
        "record_type": "contact",
        "trigger-type": "contact_created",
        "conditions": json.dumps(CONDITION),
    }
    data.update(extra)
    return data


def test_the_editor_adds_moves_and_removes_steps_without_saving(admin_client):
    url = reverse("automation:workflow_create")
    data = _form(**{"action": "add:", "add-type:": "add_tag"})
    page = admin_client.post(url, data).content.decode()
    assert 'name="step-0-type" value="add_tag"' in page
    assert not Workflow.objects.exists()
    data = _form(
        **{
            "step-0-type": "add_tag",
            "step-0-tag": "First",
            "step-1-type": "branch",
            "step-1-condition": json.dumps(CONDITION),
            "action": "up:1",
        }
    )
    page = admin_client.post(url, data).content.decode()
    assert page.index('name="step-0-type" value="branch"') < page.index(
        'name="step-1-type" value="add_tag"'
    )
    # A branch offers its own "add step here" for each path.
    assert 'name="add-type:0.yes"' in page and 'name="add-type:0.no"' in page
    data = _form(
        **{
            "step-0-type": "add_tag",
            "step-0-tag": "First",
            "step-1-type": "wait",
            "step-1-days": "1",
            "action": "remove:0",
        }
    )
    page = admin_client.post(url, data).content.decode()
    assert 'name="step-0-type" value="wait"' in page
    assert 'name="step-1-type"' not in page


def test_saving_makes_the_workflow_with_nested_steps(admin_client):
    data = _form(
        **{
            "step-0-type": "branch",
            "step-0-condition": json.dumps(CONDITION),
            "step-0.yes.0-type": "add_tag",
            "step-0.yes.0-tag": "German",
            "step-1-type": "wait",
            "step-1-hours": "2",
            "action": "save",
        }
    )
    response = admin_client.post(reverse("automation:workflow_create"), data)
    workflow = Workflow.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("automation:workflow_detail", args=[workflow.pk])
    assert workflow.is_active is False
    assert workflow.current_version.steps == [
        {
            "type": "branch",
            "condition": CONDITION,
            "yes": [{"type": "add_tag", "tag": "German"}],
            "no": [],
        },
        {"type": "wait", "days": 0, "hours": 2, "minutes": 0},
    ]


def test_errors_are_shown_beside_their_field(admin_client):
    data = _form(
        name="",
        conditions=json.dumps({"all": [{"field": "shoe_size", "op": "eq", "value": 1}]}),
        **{"step-0-type": "add_tag", "action": "save"},
    )
    response = admin_client.post(reverse("automation:workflow_create"), data)
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="id_name_error"' in page and "Give the workflow a name." in page
    assert "Condition 1, field: unknown field &#x27;shoe_size&#x27;" in page
    assert 'id="id_step-0-tag_error"' in page and "Tag: this is required." in page
    assert not Workflow.objects.exists()


def test_editing_keeps_the_record_type_and_makes_a_version(admin_client, workflow):
    url = reverse("automation:workflow_edit", args=[workflow.pk])
    assert "Welcome" in admin_client.get(url).content.decode()
    data = _form(
        name="Welcome",
        record_type="deal",
        **{"step-0-type": "add_tag", "step-0-tag": "Hello", "action": "save"},
    )
    assert admin_client.post(url, data).status_code == 302
    workflow.refresh_from_db()
    assert (workflow.record_type, workflow.current_version.number) == ("contact", 2)
    assert workflow.current_version.steps == [{"type": "add_tag", "tag": "Hello"}]


def test_detail_runs_a_dry_run_on_a_chosen_contact(admin_client, workflow, owner):
    ada = make_contact(actor=owner, owner=owner, country="DE")
    url = reverse("automation:workflow_detail", args=[workflow.pk])
    response = admin_client.get(url, {"record": ada.pk})
    page = response.content.decode()
    # The secret the webhook steps sign with, for the administrator's receiver.
    assert workflows.signing_secret(actor=workflow.created_by, workflow=workflow) in page
    assert response["Cache-Control"] == "no-store"
    assert "For Ada Lovelace" in page
    assert "Would add the tag “Welcome”" in page
    assert not ada.tags.exists()
    missing = admin_client.get(url, {"record": "999999"})
    assert missing.status_code == 422
    assert "No such contact (or it is archived)." in missing.content.decode()


def test_switch_and_delete(admin_client, workflow):
    admin_client.post(
        reverse("automation:workflow_switch", args=[workflow.pk]), {"is_active": "false"}
    )
    workflow.refresh_from_db()
    assert workflow.is_active is False
    admin_client.post(reverse("automation:workflow_delete", args=[workflow.pk]))
    workflow.refresh_from_db()
    assert workflow.is_deleted is True
    assert (
        admin_client.get(reverse("automation:workflow_detail", args=[workflow.pk])).status_code
        == 404
    )


def test_the_contact_page_shows_the_runs_to_administrators_only(
    client, admin_user, owner, workflow, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ada = make_contact(actor=owner, owner=owner, country="DE")
    run = WorkflowRun.objects.get()
    # The side panel loads after the page, from its own URL.
    panel_url = reverse("contacts:contact_panel", args=[ada.pk, "automation_workflows"])
    client.force_login(admin_user)
    assert panel_url in client.get(ada.get_absolute_url()).content.decode()
    page = client.get(panel_url).content.decode()
    assert 'id="panel-automation_workflows"' in page
    assert reverse("automation:workflow_run", args=[run.pk]) in page
    assert "Add the tag “Welcome”: Done — Tag “Welcome” added" in page
    client.force_login(owner)
    assert client.get(panel_url).content.decode() == ""
    run_page = client.get(reverse("automation:workflow_run", args=[run.pk]))
    assert run_page.status_code == 403


def test_without_javascript_the_dry_run_finds_the_typed_email(admin_client, workflow, owner):
    ada = make_contact(actor=owner, owner=owner, country="DE", emails=["ada@example.com"])
    url = reverse("automation:workflow_detail", args=[workflow.pk])
    page = admin_client.get(url, {"record": "", "record_label": "ADA@example.com"})
    assert page.status_code == 200
    assert "For Ada Lovelace" in page.content.decode()
    assert not ada.tags.exists()


def test_the_deal_page_shows_its_runs(
    admin_client, admin_user, owner, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.utils import timezone

    from rapport.sales.services.deals import create_deal
    from rapport.sales.services.pipelines import create_pipeline

    made = workflows.create_workflow(
        actor=admin_user,
        name="Deal welcome",
        record_type="deal",
        trigger={"type": "deal_created"},
        steps=[{"type": "add_tag", "tag": "New"}],
    )
    workflows.activate_workflow(actor=admin_user, workflow=made)
    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    with django_capture_on_commit_callbacks(execute=True):
        deal = create_deal(
            actor=owner,
            owner=owner,
            name="Big deal",
            pipeline=pipeline,
            expected_close_date=timezone.localdate() + dt.timedelta(days=5),
        )
    page = admin_client.get(reverse("sales:deal_detail", args=[deal.pk])).content.decode()
    assert 'id="panel-automation_workflows"' in page
    assert "Deal welcome" in page and "Tag “New” added" in page


def test_the_dry_run_picker_finds_deals_by_name(admin_client, admin_user, owner):
    import datetime as dt

    from django.utils import timezone

    from rapport.sales.services.deals import create_deal
    from rapport.sales.services.pipelines import create_pipeline

    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    deal = create_deal(
        actor=owner,
        owner=owner,
        name="Analytical engine renewal",
        pipeline=pipeline,
        expected_close_date=timezone.localdate() + dt.timedelta(days=5),
    )
    answer = admin_client.get(
        reverse("automation:workflow_deal_suggestions"), {"q": "engine"}
    ).json()
    assert answer == [
        {"id": deal.pk, "label": "Analytical engine renewal", "detail": "Qualification"}
    ]
