"""Tasks, reminders, notifications and the My day page."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from rapport.core import display
from rapport.sales.models import Notification, PeriodicJob, Task
from rapport.sales.services import work
from rapport.sales.services.schedule import claim, run_due_jobs

pytestmark = pytest.mark.django_db


def soon(hours=2):
    return timezone.now() + dt.timedelta(hours=hours)


def test_a_hand_off_to_another_team_lands_in_their_day(outsider, owner, lead, web_client_for):
    # A service agent (other team) notes "considering an upgrade" for the rep who owns the lead.
    task = work.create_task(
        actor=outsider,
        title="Considering an upgrade: call back",
        due_at=timezone.localtime().replace(hour=23, minute=0),
        assignee=owner,
        contact=lead,
        priority="high",
    )
    assert task.created_by == outsider
    note = Notification.objects.get(recipient=owner)
    assert note.kind == "task_assigned" and "Considering an upgrade" in note.title
    page = web_client_for(owner).get("/sales/my-day/")
    assert page.status_code == 200
    assert "Considering an upgrade: call back" in page.content.decode()
    assert f"from {outsider}" in page.content.decode()
    # the creator sees what they handed off
    assert "Handed to others" in web_client_for(outsider).get("/sales/my-day/").content.decode()


def test_my_day_sorts_overdue_today_and_upcoming(owner, web_client_for):
    now = timezone.localtime()
    work.create_task(actor=owner, title="Late one", due_at=now - dt.timedelta(days=2))
    work.create_task(actor=owner, title="Today one", due_at=now.replace(hour=23, minute=59))
    work.create_task(actor=owner, title="Next week one", due_at=now + dt.timedelta(days=3))
    work.create_task(actor=owner, title="Far one", due_at=now + dt.timedelta(days=30))
    response = web_client_for(owner).get("/sales/my-day/")
    context = response.context
    assert [t.title for t in context["overdue"]] == ["Late one"]
    assert [t.title for t in context["today"]] == ["Today one"]
    assert [t.title for t in context["upcoming"]] == ["Next week one"]


def test_quick_complete_with_htmx_returns_the_done_row(owner, web_client_for):
    task = work.create_task(actor=owner, title="Send proposal", due_at=soon())
    response = web_client_for(owner).post(
        f"/sales/tasks/{task.pk}/complete/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'class="task-row priority-normal is-done"' in response.content.decode()
    task.refresh_from_db()
    assert task.status == "done" and task.completed_by == owner
    # twice is harmless
    work.complete_task(actor=owner, task=task)
    assert Task.objects.get(pk=task.pk).completed_at == task.completed_at


def test_others_cannot_see_or_complete_a_task_outside_their_scope(owner, outsider, web_client_for):
    task = work.create_task(actor=owner, title="Private", due_at=soon())
    client = web_client_for(outsider)
    assert client.post(f"/sales/tasks/{task.pk}/complete/").status_code == 404
    assert client.get(f"/sales/tasks/{task.pk}/").status_code == 404
    task.refresh_from_db()
    assert task.status == "open"


def test_read_only_users_cannot_complete(owner, read_only_user, web_client_for):
    task = work.create_task(actor=owner, title="Mine", due_at=soon())
    assert (
        web_client_for(read_only_user).post(f"/sales/tasks/{task.pk}/complete/").status_code == 403
    )
    task.refresh_from_db()
    assert task.status == "open"


def test_task_input_is_checked(owner):
    with pytest.raises(ValidationError) as caught:
        work.create_task(actor=owner, title="", due_at=dt.datetime(2030, 1, 1), priority="whenever")
    assert set(caught.value.message_dict) == {"title", "due_at", "priority"}
    assert not Task.objects.exists()


def test_reminders_become_notifications_exactly_once(owner):
    due = timezone.now() + dt.timedelta(hours=1)
    task = work.create_task(actor=owner, title="Call Ada", due_at=due, remind_at=timezone.now())
    later = work.create_task(
        actor=owner, title="Later", due_at=due, remind_at=timezone.now() + dt.timedelta(days=1)
    )
    assert work.send_due_reminders() == 1
    assert work.send_due_reminders() == 0
    note = Notification.objects.get(kind="task_reminder")
    assert note.recipient == owner and note.title == "Reminder: Call Ada"
    assert note.body == f"Due {display.moment_text(due)}"
    task.refresh_from_db()
    assert task.reminder_sent_at is not None
    # a new reminder time arms it again
    work.update_task(actor=owner, task=task, remind_at=timezone.now())
    assert work.send_due_reminders() == 1
    assert Notification.objects.filter(kind="task_reminder").count() == 2
    later.refresh_from_db()
    assert later.reminder_sent_at is None


def test_notifications_are_read_by_their_recipient_only(owner, teammate, web_client_for):
    work.create_task(actor=teammate, title="For you", due_at=soon(), assignee=owner)
    note = Notification.objects.get(recipient=owner)
    assert web_client_for(teammate).post(f"/sales/notifications/{note.pk}/read/").status_code == 404
    response = web_client_for(owner).post(f"/sales/notifications/{note.pk}/read/")
    assert response.status_code == 302 and response["Location"] == "/sales/my-day/"
    note.refresh_from_db()
    assert note.read_at is not None


def test_periodic_jobs_run_once_per_interval(db):
    now = timezone.now()
    first = run_due_jobs(now=now)
    assert first == [
        "send_reminders",
        "rescore_leads",
        "retrain_model",
        "requeue_web_form_submissions",
        "expire_quotes",
    ]
    assert run_due_jobs(now=now + dt.timedelta(seconds=30)) == []
    assert run_due_jobs(now=now + dt.timedelta(minutes=2)) == ["send_reminders"]
    assert PeriodicJob.objects.get(name="retrain_model").next_run_at == now + dt.timedelta(days=7)
    assert claim("x", every=dt.timedelta(minutes=1), now=now)
    assert not claim("x", every=dt.timedelta(minutes=1), now=now)


def test_the_schedule_command_runs_due_jobs(db, capsys):
    from django.core.management import call_command

    call_command("sales_schedule")
    assert "send_reminders" in capsys.readouterr().out


def test_the_scheduler_chain_starts_at_once_and_comes_back_a_tick_later(settings):
    from django_tasks import task_backends

    from rapport.sales import tasks

    # A backend that runs tasks at once cannot hold the next tick: nothing is started.
    assert tasks.schedule_next_tick() is False
    assert not PeriodicJob.objects.exists()
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    later = timezone.now() + tasks.SCHEDULER_TICK
    assert tasks.schedule_next_tick() is True
    assert tasks.schedule_next_tick(later) is True
    queued = [(r.task.module_path, r.task.run_after) for r in task_backends["default"].results]
    path = tasks.run_sales_schedule.module_path
    assert queued == [(path, None), (path, later)]
