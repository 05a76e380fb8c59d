"""The worker's side: due steps sent through a real SMTP server (aiosmtpd), replies threaded,
task steps, the daily limits, and a step never run twice."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.core import display
from rapport.mail.choices import MessageStatus
from rapport.mail.mailboxes import update_mailbox
from rapport.sales.models import Task
from rapport.sales.services.work import complete_task
from rapport.sequences import runner, scheduling, services, tasks
from rapport.sequences.choices import EnrollmentStatus, StepOutcome
from rapport.sequences.models import StepRun
from rapport.sequences.tests.conftest import make_due, sent_messages

pytestmark = pytest.mark.django_db


def test_the_first_email_goes_out_from_the_mailbox_and_the_next_step_is_scheduled(
    enroll, ada, run_due, smtp_server
):
    enrollment = enroll(ada)
    make_due(enrollment)
    before = timezone.now()

    outcomes = run_due()

    assert outcomes == {"sent": 1}
    [received] = smtp_server.wait_for(1)
    assert received.envelope_from == "sales@rapport.example"
    assert received.recipients == ("ada@example.com",)
    assert received.message["Subject"] == "Hello Ada"
    assert "Dear Ada, shall we talk?" in received.message.get_body(("html",)).get_content()
    [message] = sent_messages(enrollment)
    assert message.status == MessageStatus.SENT
    assert message.contact == ada
    run = StepRun.objects.get(enrollment=enrollment)
    assert (run.position, run.outcome, run.message) == (1, StepOutcome.SENT, message)
    assert run.detail == "Sent “Hello Ada” from Sales."
    enrollment.refresh_from_db()
    assert enrollment.current_position == 2
    # Two business days later, inside the window, in Berlin (from Ada's phone number).
    assert enrollment.time_zone == "Europe/Berlin"
    local = enrollment.next_due_at.astimezone(scheduling.zone_named("Europe/Berlin"))
    assert local.weekday() < 5 and 9 <= local.hour < 17
    assert local.date() >= scheduling.add_business_days(before.astimezone(local.tzinfo).date(), 2)


def test_the_second_email_replies_in_the_thread_of_the_first(enroll, ada, run_due, smtp_server):
    enrollment = enroll(ada)
    make_due(enrollment)
    run_due()
    make_due(enrollment)

    assert run_due() == {"sent": 1}

    first, second = sent_messages(enrollment)
    assert second.subject == "Re: Hello Ada"
    assert second.in_reply_to == first.message_id
    assert second.thread_id == first.thread_id
    received = smtp_server.wait_for(2)[1].message
    assert received["In-Reply-To"] == f"<{first.message_id}>"
    assert received["Subject"] == "Re: Hello Ada"


def test_a_call_step_creates_a_task_and_waits_until_it_is_done(
    enroll, ada, owner, run_due, smtp_server, django_capture_on_commit_callbacks
):
    enrollment = enroll(ada)
    for _ in range(2):
        make_due(enrollment)
        run_due()
    make_due(enrollment)

    assert run_due() == {"task_created": 1}

    task = Task.objects.get(contact=ada)
    assert task.title == "Ask about the budget (Ada Lovelace)"
    assert task.assignee == owner
    assert "Step 3 of the sequence “New leads”." in task.description
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.next_due_at) == (EnrollmentStatus.ACTIVE, None)
    assert run_due() == {}

    with django_capture_on_commit_callbacks(execute=True):
        complete_task(actor=owner, task=task)

    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.FINISHED
    assert enrollment.status_detail == "all 3 steps done"
    assert list(
        StepRun.objects.filter(enrollment=enrollment).values_list("position", "outcome")
    ) == [(1, "sent"), (2, "sent"), (3, "task_created")]


def test_a_step_delivered_twice_sends_once(
    enroll, ada, run_due, smtp_server, django_capture_on_commit_callbacks
):
    enrollment = enroll(ada)
    make_due(enrollment)

    with django_capture_on_commit_callbacks(execute=True):
        first = runner.run_enrollment(enrollment.pk)
    with django_capture_on_commit_callbacks(execute=True):
        second = runner.run_enrollment(enrollment.pk)

    assert (first, second) == ("sent", "not_due")
    assert len(sent_messages(enrollment)) == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_a_step_already_recorded_is_not_sent_again_even_when_due_again(
    enroll, ada, run_due, smtp_server
):
    enrollment = enroll(ada)
    make_due(enrollment)
    run_due()
    # As if the move to step 2 had been lost: the enrollment waits at step 1 again.
    type(enrollment).objects.filter(pk=enrollment.pk).update(current_position=1)
    make_due(enrollment)

    assert run_due() == {"advanced": 1}

    assert len(sent_messages(enrollment)) == 1
    enrollment.refresh_from_db()
    assert enrollment.current_position == 2


def test_the_sweep_task_run_twice_sends_each_step_once(
    enroll, ada, owner, smtp_server, django_capture_on_commit_callbacks
):
    from rapport.contacts.tests.factories import make_contact

    grace = make_contact(actor=owner, owner=owner, first_name="Grace", emails=["grace@example.com"])
    enrollments = [enroll(ada), enroll(grace)]
    for enrollment in enrollments:
        make_due(enrollment)

    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.run_due_steps.enqueue()
    with django_capture_on_commit_callbacks(execute=True):
        second = tasks.run_due_steps.enqueue()

    assert first.return_value == {"sent": 2}
    assert second.return_value == {}
    assert sorted(m.recipients[0] for m in smtp_server.wait_for(2)) == [
        "ada@example.com",
        "grace@example.com",
    ]
    assert StepRun.objects.count() == 2


def test_over_the_mailboxs_daily_limit_the_step_moves_to_the_next_business_day(
    admin_user, mailbox, enroll, ada, owner, run_due, smtp_server
):
    from rapport.contacts.tests.factories import make_contact

    update_mailbox(actor=admin_user, mailbox=mailbox, check=False, daily_send_limit=1)
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", emails=["grace@example.com"])
    first, second = enroll(ada), enroll(grace)
    make_due(first)
    make_due(second)
    now = timezone.now()

    outcomes = run_due(now=now)

    assert outcomes == {"sent": 1, "deferred": 1}
    deferred = StepRun.objects.get(outcome=StepOutcome.DEFERRED)
    assert deferred.enrollment == second
    assert deferred.deferrals == 1
    second.refresh_from_db()
    expected = scheduling.next_window_after_today(now=now, zone_name=second.time_zone, start_hour=9)
    assert second.next_due_at == expected
    with timezone.override(scheduling.zone_named(second.time_zone)):
        moved_to = display.moment_text(expected, "weekday")
    assert deferred.detail == (
        f"Moved to {moved_to} ({second.time_zone}): Sales reached its daily limit of 1 emails."
    )
    assert second.current_position == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_the_sequences_own_daily_limit_holds_back_its_emails(
    owner, sequence, enroll, ada, run_due, smtp_server
):
    from rapport.contacts.tests.factories import make_contact

    services.update_sequence(actor=owner, sequence=sequence, daily_email_limit=1)
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", emails=["grace@example.com"])
    make_due(enroll(ada))
    make_due(enroll(grace))

    assert run_due() == {"sent": 1, "deferred": 1}
    deferred = StepRun.objects.get(outcome=StepOutcome.DEFERRED)
    assert deferred.detail.endswith(
        ": the sequence reached its limit of 1 emails a day from Sales."
    )


def test_a_deleted_template_skips_its_step_with_the_reason(
    admin_user, enroll, ada, intro, run_due, smtp_server
):
    from rapport.mail.templating import delete_template

    enrollment = enroll(ada)
    delete_template(actor=admin_user, template=intro)
    make_due(enrollment)

    assert run_due() == {"skipped": 1}
    run = StepRun.objects.get(enrollment=enrollment)
    assert run.outcome == StepOutcome.SKIPPED
    assert run.detail == "Its email template was deleted or archived, so nothing was sent."
    assert smtp_server.messages == []
    enrollment.refresh_from_db()
    assert enrollment.current_position == 2


def test_a_switched_off_sequence_sends_nothing(owner, sequence, enroll, ada, run_due, smtp_server):
    enrollment = enroll(ada)
    make_due(enrollment)
    services.update_sequence(actor=owner, sequence=sequence, is_active=False)

    assert run_due() == {}
    assert sent_messages(enrollment) == []


def test_a_paused_enrollment_waits_and_resumes_in_the_next_window(
    owner, enroll, ada, run_due, smtp_server
):
    enrollment = enroll(ada)
    make_due(enrollment)
    services.pause_enrollment(actor=owner, enrollment=enrollment)
    assert run_due() == {}

    now = timezone.now()
    resumed = services.resume_enrollment(actor=owner, enrollment=enrollment, now=now)

    assert resumed.status == EnrollmentStatus.ACTIVE
    local = now.astimezone(scheduling.zone_named("Europe/Berlin"))
    assert resumed.next_due_at == scheduling.fit_window(local, 9, 17).astimezone(dt.UTC)


def test_the_sweep_is_a_registered_chain_of_the_worker():
    from rapport.core import schedules

    assert "sequence steps" in schedules.registered()
    # The test backend runs tasks at once and cannot run one later: the chain says so.
    assert tasks.schedule_sweep() is False
