"""Each trigger fires from the real service that emits its event (or, where the event's source
needs a mail client or a KPI projection, from the event itself), and only with its settings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rapport.automation import clock
from rapport.automation.models import RunStatus, WorkflowRun
from rapport.automation.tests import test_workflows as shared
from rapport.commerce.tests.factories import make_order
from rapport.contacts.services import update_contact
from rapport.contacts.tests.factories import make_contact
from rapport.core import events
from rapport.customfields.services import create_definition
from rapport.sales.services.deals import create_deal, move_deal
from rapport.sales.services.pipelines import create_pipeline

pytestmark = pytest.mark.django_db

make_workflow = shared.make_workflow
on_commit = shared.on_commit

TAG = [{"type": "add_tag", "tag": "Fired"}]


@pytest.fixture
def pipeline(admin_user):
    return create_pipeline(actor=admin_user, name="New business", currency="EUR")


def _deal(owner, pipeline, **fields):
    fields.setdefault("expected_close_date", timezone.localdate() + dt.timedelta(days=20))
    return create_deal(
        actor=owner, owner=owner, name=fields.pop("name", "Big deal"), pipeline=pipeline, **fields
    )


def _fired(workflow) -> list:
    return list(
        WorkflowRun.objects.filter(workflow=workflow)
        .order_by("id")
        .values_list("record_key", "status")
    )


def test_deal_created_and_deal_stage_changed_to_a_chosen_stage(
    make_workflow, owner, pipeline, on_commit
):
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    created = make_workflow({"type": "deal_created"}, TAG, record_type="deal")
    to_proposal = make_workflow(
        {"type": "deal_stage_changed", "stage": str(stages["Proposal"].pk)},
        TAG,
        record_type="deal",
    )
    with on_commit():
        deal = _deal(owner, pipeline)
    assert _fired(created) == [(f"deal:{deal.pk}", RunStatus.COMPLETED)]
    with on_commit():
        move_deal(actor=owner, deal=deal, stage=stages["Needs analysis"])
    assert _fired(to_proposal) == []
    with on_commit():
        move_deal(actor=owner, deal=deal, stage=stages["Proposal"])
    assert _fired(to_proposal) == [(f"deal:{deal.pk}", RunStatus.COMPLETED)]
    assert list(deal.tags.values_list("name", flat=True)) == ["Fired"]


def test_a_web_form_submission(make_workflow, admin_user, on_commit):
    from rapport.sales.services.webforms import create_webform, submit_web_form

    form = create_webform(
        actor=admin_user, name="Contact us", fields=[{"target": "email", "label": "Email"}]
    )
    other = create_webform(
        actor=admin_user, name="Newsletter", fields=[{"target": "email", "label": "Email"}]
    )
    workflow = make_workflow({"type": "form_submitted", "form": str(form.pk)}, TAG)
    with on_commit():
        submit_web_form(form=other, data={"email": "eve@example.com"})
    assert _fired(workflow) == []
    with on_commit():
        result = submit_web_form(form=form, data={"email": "ada@example.com"})
    assert _fired(workflow) == [(f"contact:{result.contact.pk}", RunStatus.COMPLETED)]


def test_an_order_placed(make_workflow, owner, on_commit):
    workflow = make_workflow({"type": "order_placed"}, TAG)
    ada = make_contact(actor=owner, owner=owner)
    with on_commit():
        make_order(actor=owner, contact=ada, total="99.00")
    assert _fired(workflow) == [(f"contact:{ada.pk}", RunStatus.COMPLETED)]
    assert WorkflowRun.objects.get().trigger_summary == "Order placed (99.00 EUR)"


def test_email_replied_opened_and_clicked(make_workflow, owner, on_commit):
    from rapport.mail.events import EmailLinkClicked, EmailOpened, EmailReplied
    from rapport.mail.mailboxes import local_sink_mailbox
    from rapport.mail.models import EmailMessage

    ada = make_contact(actor=owner, owner=owner)
    mailbox = local_sink_mailbox()
    sent = EmailMessage.objects.create(
        mailbox=mailbox,
        direction="outbound",
        status="sent",
        message_id="<1@rapport.test>",
        subject="Hello",
        contact=ada,
        occurred_at=timezone.now(),
    )
    replied = make_workflow({"type": "email_replied"}, TAG, name="Replied")
    opened = make_workflow({"type": "email_opened"}, TAG, name="Opened")
    clicked = make_workflow({"type": "email_clicked"}, TAG, name="Clicked")
    with on_commit():
        events.emit(EmailOpened(message_id=sent.pk, first_open=True))
        events.emit(EmailOpened(message_id=sent.pk, first_open=False))  # not news
        events.emit(EmailLinkClicked(message_id=sent.pk, url="https://x.test", first_click=True))
        events.emit(EmailReplied(message_id=sent.pk + 1, replied_to_id=sent.pk, contact_id=ada.pk))
    key = f"contact:{ada.pk}"
    assert _fired(opened) == [(key, RunStatus.COMPLETED)]
    assert _fired(clicked) == [(key, RunStatus.COMPLETED)]
    assert _fired(replied) == [(key, RunStatus.COMPLETED)]


def test_an_objective_going_off_track_notifies_its_owner(make_workflow, owner, on_commit):
    from rapport.frameworks.catalog import MODELS
    from rapport.frameworks.events import ObjectiveOffTrack
    from rapport.frameworks.models import Objective
    from rapport.sales.models import Notification

    model = MODELS["idic"]
    stage = next(stage for stage in model.stages if stage.kpis)
    objective = Objective.objects.create(
        model_key="idic",
        stage_key=stage.key,
        kpi=stage.kpis[0].kpi,
        title="Grow retention",
        baseline=1,
        baseline_day=timezone.localdate(),
        target_kind="absolute",
        target_input=2,
        target=2,
        deadline=timezone.localdate() + dt.timedelta(days=90),
        owner=owner,
    )
    workflow = make_workflow(
        {"type": "objective_off_track"},
        [{"type": "notify_user", "user": "owner", "title": "Off track: act now"}],
        record_type="objective",
    )
    with on_commit():
        events.emit(
            ObjectiveOffTrack(
                objective_id=objective.pk, kpi=objective.kpi, owner_id=owner.pk, projected=1.2
            )
        )
    assert _fired(workflow) == [(f"objective:{objective.pk}", RunStatus.COMPLETED)]
    assert Notification.objects.filter(recipient=owner, title="Off track: act now").count() == 1


def test_a_date_field_trigger_fires_once_on_its_day(make_workflow, admin_user, owner, on_commit):
    create_definition(
        actor=admin_user, entity="contact", key="renewal", label="Renewal", field_type="date"
    )
    today = timezone.localdate()
    due = make_contact(
        actor=owner,
        owner=owner,
        custom_fields={"renewal": (today + dt.timedelta(days=30)).isoformat()},
    )
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Later",
        custom_fields={"renewal": (today + dt.timedelta(days=31)).isoformat()},
    )
    workflow = make_workflow(
        {
            "type": "date",
            "date_field": "custom.renewal",
            "days": 30,
            "when": "before",
            "time": "08:00",
        },
        TAG,
    )
    due_at = workflow.next_fire_at
    assert timezone.localtime(due_at).time() == dt.time(8, 0)
    assert clock.tick(now=due_at - dt.timedelta(minutes=1))["enrolled"] == 0
    # Fired at its hour: `now` is the moment the clock ticks, so "today" is that day.
    with on_commit():
        fired = clock.fire(workflow, now=timezone.now())
    assert fired == 1
    assert clock.fire(workflow, now=timezone.now()) == 0  # once per day
    assert _fired(workflow) == [(f"contact:{due.pk}", RunStatus.COMPLETED)]


def test_a_schedule_runs_over_the_matching_records(make_workflow, owner):
    german = make_contact(actor=owner, owner=owner, country="DE")
    make_contact(actor=owner, owner=owner, first_name="Marie", country="FR")
    workflow = make_workflow(
        {"type": "schedule", "every": "day", "time": "07:30"},
        TAG,
        conditions={"all": [{"field": "country", "op": "eq", "value": "DE"}]},
    )
    due_at = workflow.next_fire_at
    assert (timezone.localtime(due_at).hour, timezone.localtime(due_at).minute) == (7, 30)
    result = clock.tick(now=due_at + dt.timedelta(seconds=1))
    assert result["enrolled"] == 1
    workflow.refresh_from_db()
    assert workflow.next_fire_at == due_at + dt.timedelta(days=1)
    # A second tick in the same minute finds it taken.
    assert clock.tick(now=due_at + dt.timedelta(seconds=2))["enrolled"] == 0
    runs = WorkflowRun.objects.filter(workflow=workflow)
    assert [run.record_key for run in runs] == [f"contact:{german.pk}"]
    # The run was queued; the tick after it (or the task) takes it.
    clock.tick(now=due_at + dt.timedelta(minutes=2))
    assert runs.get().status == RunStatus.COMPLETED


def test_an_update_without_the_watched_field_does_not_fire(make_workflow, owner, on_commit):
    workflow = make_workflow(
        {"type": "contact_updated", "field": "tags"},
        [{"type": "update_field", "field": "job_title", "value": "Tagged"}],
    )
    ada = make_contact(actor=owner, owner=owner)
    with on_commit():
        update_contact(actor=owner, contact=ada, city="Berlin")
    assert _fired(workflow) == []
    with on_commit():
        update_contact(actor=owner, contact=ada, tags=["New"])
    assert _fired(workflow) == [(f"contact:{ada.pk}", RunStatus.COMPLETED)]


def test_deal_updated_with_a_field_changed_to(make_workflow, owner, pipeline, on_commit):
    from rapport.sales.services.deals import update_deal

    workflow = make_workflow(
        {"type": "deal_updated", "field": "amount", "to": "5000"},
        [{"type": "add_tag", "tag": "Big"}],
        record_type="deal",
    )
    deal = _deal(owner, pipeline, amount="1000.00")
    with on_commit():
        update_deal(actor=owner, deal=deal, name="Renamed")
    with on_commit():
        update_deal(actor=owner, deal=deal, amount="4000.00")
    assert _fired(workflow) == []
    with on_commit():
        update_deal(actor=owner, deal=deal, amount="5000.00")
    assert _fired(workflow) == [(f"deal:{deal.pk}", RunStatus.COMPLETED)]
    assert list(deal.tags.values_list("name", flat=True)) == ["Big"]


def test_field_changed_to_is_tested_for_a_whole_batch_in_the_one_query(make_workflow, owner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rapport.automation import triggers
    from rapport.contacts.events import ContactUpdated

    workflow = make_workflow({"type": "contact_updated", "field": "country", "to": "FR"}, TAG)
    people = [make_contact(actor=owner, owner=owner, country="DE") for _ in range(5)]
    handle = triggers._HANDLERS["contact_updated"]

    def batch(size):
        return [
            ContactUpdated(contact_id=person.pk, actor_id=owner.pk, changed_fields=("country",))
            for person in people[:size]
        ]

    handle(batch(1))  # nobody has moved to France: nobody enters
    with CaptureQueriesContext(connection) as one:
        handle(batch(1))
    with CaptureQueriesContext(connection) as five:
        handle(batch(5))
    assert len(five.captured_queries) == len(one.captured_queries)
    assert _fired(workflow) == []

    # Outside a captured commit the service's own event stays unsent: the batch below is it.
    update_contact(actor=owner, contact=people[3], country="FR")
    handle(batch(5))
    assert [key for key, _status in _fired(workflow)] == [f"contact:{people[3].pk}"]
