"""Each step does what it says through the owning app's services (and says so on the run):
email with its consent refusal, owner, stage, list, webhook, waits until a date, failures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.automation import clock, workflows
from rapport.automation.models import RunStatus, StepStatus, WorkflowRun
from rapport.automation.tests import conftest as automation_fixtures
from rapport.automation.tests import test_workflows as shared
from rapport.contacts.tests.factories import make_contact
from rapport.mail import secrets as stored_secrets
from rapport.mail.models import EmailMessage
from rapport.mail.tests.servers import SmtpServer

pytestmark = pytest.mark.django_db

make_workflow = shared.make_workflow
on_commit = shared.on_commit
receiver = automation_fixtures.receiver
webhook_settings = automation_fixtures.webhook_settings


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(admin_user, smtp_server):
    from rapport.mail.mailboxes import create_mailbox

    return create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Sales",
        email_address="sales@rapport.example",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
    )


def _template(admin_user, purpose="personal", name="Welcome"):
    from rapport.mail.templating import create_template

    return create_template(
        actor=admin_user,
        name=name,
        subject="Hello {{ contact.first_name }}",
        body_html="<p>Welcome aboard.</p>",
        purpose=purpose,
        shared=True,
    )


def _only_run():
    run = WorkflowRun.objects.get()
    return run, [(s.step_key, s.status, s.outcome, s.error) for s in run.step_runs.order_by("id")]


def test_send_email_sends_a_personal_template(make_workflow, admin_user, owner, mailbox, on_commit):
    template = _template(admin_user)
    make_workflow(
        {"type": "contact_created"},
        [{"type": "send_email", "template": str(template.pk), "mailbox": str(mailbox.pk)}],
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    run, steps = _only_run()
    message = EmailMessage.objects.get(contact=ada)
    assert run.status == RunStatus.COMPLETED
    assert steps == [("1", StepStatus.DONE, f"Sent “Welcome” (message {message.pk}, queued)", "")]
    assert (message.subject, message.template, message.mailbox) == ("Hello Ada", template, mailbox)


def test_send_email_records_the_consent_refusal_and_goes_on(
    make_workflow, admin_user, owner, mailbox, on_commit
):
    template = _template(admin_user, purpose="marketing", name="Offer")
    make_workflow(
        {"type": "contact_created"},
        [
            {"type": "send_email", "template": str(template.pk), "mailbox": str(mailbox.pk)},
            {"type": "add_tag", "tag": "Offered"},
        ],
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    run, steps = _only_run()
    assert run.status == RunStatus.COMPLETED
    assert steps[0][:2] == ("1", StepStatus.REFUSED)
    assert steps[0][2].startswith("Not sent: ")
    assert "consent" in steps[0][2].lower()
    assert steps[1][:2] == ("2", StepStatus.DONE)
    assert not EmailMessage.objects.filter(contact=ada).exists()


def test_a_step_whose_template_was_deleted_fails_the_run_with_the_reason(
    make_workflow, admin_user, owner, mailbox, on_commit
):
    from rapport.mail.templating import delete_template

    template = _template(admin_user)
    make_workflow(
        {"type": "contact_created"},
        [
            {"type": "send_email", "template": str(template.pk), "mailbox": str(mailbox.pk)},
            {"type": "add_tag", "tag": "Never"},
        ],
    )
    delete_template(actor=admin_user, template=template)
    with on_commit():
        ada = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    run, steps = _only_run()
    assert (run.status, run.outcome) == (
        RunStatus.FAILED,
        "Step 1 failed: The email template was deleted; choose another in the workflow.",
    )
    assert steps == [
        (
            "1",
            StepStatus.FAILED,
            "",
            "The email template was deleted; choose another in the workflow.",
        )
    ]
    assert not ada.tags.exists()


def test_assign_owner_and_update_the_lifecycle_stage(make_workflow, owner, teammate, on_commit):
    make_workflow(
        {"type": "contact_created"},
        [
            {"type": "assign_owner", "user": str(teammate.pk)},
            {"type": "update_field", "field": "lifecycle_stage", "value": "sales_qualified"},
        ],
        name="Qualify",
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner)
    ada.refresh_from_db()
    assert (ada.owner, ada.lifecycle_stage) == (teammate, "sales_qualified")
    change = ada.lifecycle_changes.order_by("-id").first()
    assert change.reason == "by workflow “Qualify”"
    _run, steps = _only_run()
    assert [s[2] for s in steps] == [
        f"Given to {teammate}",
        "Lifecycle stage set to “sales_qualified”",
    ]


def test_a_refused_service_call_fails_the_step_and_writes_nothing(make_workflow, owner, on_commit):
    make_workflow(
        {"type": "contact_created"},
        [{"type": "update_field", "field": "lifecycle_stage", "value": "not-a-stage"}],
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner)
    run, steps = _only_run()
    assert run.status == RunStatus.FAILED
    assert steps[0][1] == StepStatus.FAILED
    assert steps[0][3].startswith("Choose one of: ")
    ada.refresh_from_db()
    assert ada.lifecycle_stage == "lead"
    assert not ChangeRecord.objects.filter(message__startswith="By workflow").exists()


def test_move_deal_and_a_stage_of_another_pipeline(make_workflow, admin_user, owner, on_commit):
    from rapport.sales.services.deals import create_deal
    from rapport.sales.services.pipelines import create_pipeline

    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    other = create_pipeline(actor=admin_user, name="Renewals", currency="EUR")
    proposal = pipeline.stages.get(name="Proposal")
    make_workflow(
        {"type": "deal_created"},
        [
            {"type": "move_deal", "stage": str(proposal.pk)},
            {"type": "move_deal", "stage": str(other.stages.get(name="Proposal").pk)},
        ],
        record_type="deal",
    )
    with on_commit():
        deal = create_deal(
            actor=owner,
            owner=owner,
            name="Big deal",
            pipeline=pipeline,
            expected_close_date=timezone.localdate() + dt.timedelta(days=10),
        )
    deal.refresh_from_db()
    assert deal.stage == proposal
    run, steps = _only_run()
    assert run.status == RunStatus.FAILED
    assert steps == [
        ("1", StepStatus.DONE, "Moved to Proposal", ""),
        ("2", StepStatus.FAILED, "", "The stage Proposal is in another pipeline than the deal."),
    ]


def test_add_to_a_static_list(make_workflow, admin_user, owner, on_commit):
    from rapport.analytics.models import SegmentMember
    from rapport.analytics.services import create_segment

    vip = create_segment(actor=admin_user, name="VIP", kind="static")
    make_workflow({"type": "contact_created"}, [{"type": "add_to_list", "list": str(vip.pk)}])
    with on_commit():
        ada = make_contact(actor=owner, owner=owner)
    assert list(SegmentMember.objects.filter(segment=vip).values_list("contact", flat=True)) == [
        ada.pk
    ]
    _run, steps = _only_run()
    assert steps == [("1", StepStatus.DONE, "Added to “VIP”", "")]


def test_call_a_webhook_signed_with_the_workflows_secret(
    make_workflow,
    owner,
    receiver,
    webhook_settings,
    on_commit,
):
    workflow = make_workflow(
        {"type": "contact_created"}, [{"type": "call_webhook", "url": receiver.url("/ok")}]
    )
    receiver.record.secret = stored_secrets.decrypt(workflow.signing_secret_encrypted)
    with on_commit():
        ada = make_contact(actor=owner, owner=owner)
    run, steps = _only_run()
    assert steps == [("1", StepStatus.DONE, "The receiver answered 200", "")]
    (arrival,) = receiver.record.arrivals
    assert arrival.verified is True
    assert arrival.webhook_id == f"wfrun_{run.pk}_1"
    assert arrival.payload["data"]["record_id"] == ada.pk
    assert arrival.payload["data"]["workflow"] == workflow.name


def test_a_failing_webhook_fails_the_run(
    make_workflow, owner, receiver, webhook_settings, on_commit
):
    workflow = make_workflow(
        {"type": "contact_created"}, [{"type": "call_webhook", "url": receiver.url("/fail")}]
    )
    receiver.record.secret = stored_secrets.decrypt(workflow.signing_secret_encrypted)
    with on_commit():
        make_contact(actor=owner, owner=owner)
    run, steps = _only_run()
    assert run.status == RunStatus.FAILED
    assert steps == [("1", StepStatus.FAILED, "", "The receiver answered 500.")]


def test_wait_until_a_date_field_then_resume(make_workflow, admin_user, owner, on_commit):
    from rapport.customfields.services import create_definition

    create_definition(
        actor=admin_user, entity="contact", key="renewal", label="Renewal", field_type="date"
    )
    renewal = timezone.localdate() + dt.timedelta(days=10)
    make_workflow(
        {"type": "contact_created"},
        [
            {
                "type": "wait_until_date",
                "date_field": "custom.renewal",
                "days": 3,
                "when": "before",
            },
            {"type": "add_tag", "tag": "Renewal soon"},
        ],
    )
    with on_commit():
        ada = make_contact(actor=owner, owner=owner, custom_fields={"renewal": renewal.isoformat()})
    run = WorkflowRun.objects.get()
    expected = timezone.make_aware(
        dt.datetime.combine(renewal - dt.timedelta(days=3), dt.time(9, 0))
    )
    assert (run.status, run.resume_at) == (RunStatus.WAITING, expected)
    with on_commit():
        assert clock.tick(now=expected - dt.timedelta(minutes=1))["resumed"] == 0
        assert clock.tick(now=expected)["resumed"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert list(ada.tags.values_list("name", flat=True)) == ["Renewal soon"]


def test_steps_not_for_the_record_type_are_refused(admin_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        workflows.create_workflow(
            actor=admin_user,
            name="Objective",
            record_type="objective",
            trigger={"type": "objective_off_track"},
            steps=[{"type": "add_tag", "tag": "x"}],
        )
    assert list(caught.value.message_dict) == ["steps[0].type"]


def test_a_hanging_webhook_receiver_fails_the_step_instead_of_holding_the_worker(
    make_workflow, owner, receiver, webhook_settings, on_commit
):
    workflow = make_workflow(
        {"type": "contact_created"}, [{"type": "call_webhook", "url": receiver.url("/hang")}]
    )
    receiver.record.secret = stored_secrets.decrypt(workflow.signing_secret_encrypted)
    with on_commit():
        make_contact(actor=owner, owner=owner)
    run, steps = _only_run()
    assert run.status == RunStatus.FAILED
    assert steps[0][:3] == ("1", StepStatus.FAILED, "")
    assert "time" in steps[0][3].lower()
