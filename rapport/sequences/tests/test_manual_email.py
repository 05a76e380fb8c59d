"""A manual email step: its task opens compose with the step's template for the contact, in the
sequence's thread; sending completes the task, the sequence goes on, and the message is the
step's own (a reply stops the sequence, the step's figures count it)."""

import html

import pytest

from rapport.mail.choices import MessageDirection
from rapport.mail.models import EmailMessage
from rapport.sales.choices import TaskStatus
from rapport.sales.models import Task
from rapport.sales.services.work import complete_task
from rapport.sequences import manual_email, services
from rapport.sequences.choices import EnrollmentStatus, StepOutcome
from rapport.sequences.models import StepRun
from rapport.sequences.tests.conftest import make_due, sent_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def written_by_hand(owner, mailbox, intro, follow_up):
    return services.create_sequence(
        actor=owner,
        name="Warm intros",
        mailbox=mailbox,
        steps=[
            {"kind": "email", "template": intro.pk, "delay_amount": 0},
            {
                "kind": "manual_email",
                "template": follow_up.pk,
                "delay_amount": 1,
                "task_title": "Write to her personally",
            },
        ],
    )


@pytest.fixture
def waiting_task(written_by_hand, enroll, ada, run_due):
    enrollment = enroll(ada, on=written_by_hand)
    make_due(enrollment)
    assert run_due() == {"sent": 1}
    make_due(enrollment)
    assert run_due() == {"task_created": 1}
    return Task.objects.get(contact=ada, status=TaskStatus.OPEN)


def test_the_task_offers_the_draft_and_sending_it_finishes_the_step(
    waiting_task,
    ada,
    owner,
    mailbox,
    web_client_for,
    smtp_server,
    django_capture_on_commit_callbacks,
):
    client = web_client_for(owner)
    day = client.get("/sales/my-day/").content.decode()
    write_url = f"/mail/compose/?contact={ada.pk}&amp;sequence_task={waiting_task.pk}"
    assert write_url in day
    assert "Write the email" in day

    page = client.get(f"/mail/compose/?contact={ada.pk}&sequence_task={waiting_task.pk}")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'value="Re: Hello Ada"' in text  # in the thread of the sequence's first email
    assert "Any thoughts, {{ contact.first_name }}?" in html.unescape(
        text
    )  # the template, merged on sending
    assert f'name="sequence_task" value="{waiting_task.pk}"' in text
    assert "completes your task" in text

    first = EmailMessage.objects.get(direction=MessageDirection.OUTBOUND)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/mail/compose/",
            {
                "contact": ada.pk,
                "sequence_task": waiting_task.pk,
                "reply_to": str(first.uuid),
                "mode": "reply",
                "mailbox": mailbox.pk,
                "to": "ada@example.com",
                "subject": "Re: Hello Ada",
                "body_html": "<p>Any thoughts, {{ contact.first_name }}? I met your CTO.</p>",
                "purpose": "personal",
            },
        )
    assert response.status_code == 302

    run = StepRun.objects.get(task=waiting_task)
    assert run.outcome == StepOutcome.SENT
    assert run.message.subject == "Re: Hello Ada"
    assert run.message.in_reply_to == first.message_id
    waiting_task.refresh_from_db()
    assert waiting_task.status == TaskStatus.DONE
    enrollment = run.enrollment
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.FINISHED
    assert [m.subject for m in sent_messages(enrollment)] == ["Hello Ada", "Re: Hello Ada"]
    delivered = smtp_server.wait_for(2)
    assert "I met your CTO" in delivered[1].message.get_body(("html",)).get_content()
    assert "Write the email" not in client.get("/sales/my-day/").content.decode()


def test_another_teams_rep_cannot_open_the_draft(waiting_task, ada, outsider, web_client_for):
    client = web_client_for(outsider)
    page = client.get(f"/mail/compose/?sequence_task={waiting_task.pk}")
    assert page.status_code == 404
    assert manual_email.write_url(outsider, waiting_task) == ""


def test_a_task_done_by_hand_has_no_draft_any_more(
    waiting_task, owner, web_client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        complete_task(actor=owner, task=waiting_task)
    waiting_task.refresh_from_db()
    assert manual_email.write_url(owner, waiting_task) == ""
    page = web_client_for(owner).get(f"/mail/compose/?sequence_task={waiting_task.pk}")
    assert page.status_code == 404
    assert StepRun.objects.get(task=waiting_task).outcome == StepOutcome.TASK_CREATED


def test_an_ordinary_task_is_not_a_draft(ada, owner, web_client_for):
    from rapport.sales.services.work import create_task

    task = create_task(
        actor=owner, title="Call Ada", due_at=ada.created_at, assignee=owner, contact=ada
    )
    assert manual_email.write_url(owner, task) == ""
    assert web_client_for(owner).get(f"/mail/compose/?sequence_task={task.pk}").status_code == 404


def test_my_day_asks_once_which_tasks_wait_for_an_email(waiting_task, ada, owner, web_client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rapport.sales.services.work import create_task

    for n in range(5):
        create_task(
            actor=owner, title=f"Call Ada {n}", due_at=ada.created_at, assignee=owner, contact=ada
        )
    client = web_client_for(owner)
    with CaptureQueriesContext(connection) as captured:
        day = client.get("/sales/my-day/").content.decode()
    assert day.count("Write the email") == 1
    step_run_reads = [q for q in captured.captured_queries if '"sequences_steprun"' in q["sql"]]
    assert len(step_run_reads) == 1
    tasks = list(Task.objects.filter(contact=ada))
    manual_email.mark_awaiting(tasks)
    assert {task.pk for task in tasks if task.awaits_manual_email} == {waiting_task.pk}
