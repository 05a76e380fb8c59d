"""Scheduled email of reports and dashboards: who may receive it, what each copy counts, and
the send through a real SMTP server (aiosmtpd), once per slot."""

import datetime as dt
import io
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from pypdf import PdfReader

from rapport.audit.models import ChangeRecord
from rapport.core import display
from rapport.mail.models import EmailMessage
from rapport.reports import dashboards, deliveries
from rapport.reports.models import Delivery
from rapport.reports.tests.delivery_fixtures import utc

pytestmark = pytest.mark.django_db

SLOT = utc(2026, 3, 10, 6, 30)  # 07:30 in Paris
SENT_ON = dt.date(2026, 3, 10)  # the day of SLOT in Paris, which dates the copy


def schedule(actor, report, **overrides):
    arguments = {
        "actor": actor,
        "report": report,
        "recipients": [actor.pk],
        "frequency": "daily",
        "time_of_day": "07:30",
        "time_zone": "Europe/Paris",
        "now": utc(2026, 3, 10, 5),
    }
    arguments.update(overrides)
    return deliveries.create_delivery(**arguments)


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


def attachments_of(message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def pdf_text(data: bytes) -> str:
    """The text a PDF draws, as a reader's PDF viewer would copy it."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def drawn_strings(data: bytes) -> list[str]:
    return [line.strip() for line in pdf_text(data).splitlines() if line.strip()]


# --------------------------------------------------------------------------- the send


def test_each_recipient_gets_their_own_figures_with_the_pdf_and_csv(
    manager, rep, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    delivery = schedule(manager, pipeline_report, recipients=[rep.pk, manager.pk], format="pdf_csv")
    assert delivery.next_run_at == SLOT

    with django_capture_on_commit_callbacks(execute=True):
        outcome = deliveries.send_due(now=utc(2026, 3, 10, 6, 31))

    assert outcome == {"sent": 1}
    received = {r.recipients[0]: r for r in smtp_server.wait_for(2)}
    assert set(received) == {"rep@example.com", "manager@example.com"}
    rep_mail = received["rep@example.com"].message
    assert received["rep@example.com"].envelope_from == "reports@rapport.example"
    assert rep_mail["Subject"] == f"Pipeline by stage · {display.day_text(SENT_ON)}"
    # The rep's copy counts the rep's deal only, never the manager's numbers.
    rep_html = html_of(rep_mail)
    assert f"For Ray Rep, {display.day_text(SENT_ON, 'full')}" in rep_html
    assert ">100<" in rep_html
    assert "1,000" not in rep_html and "1,100" not in rep_html
    files = attachments_of(rep_mail)
    stem = f"report-{pipeline_report.pk}-20260310"
    assert sorted(files) == [f"{stem}.csv", f"{stem}.pdf"]
    pdf = files[f"{stem}.pdf"]
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    assert "Pipeline by stage" in drawn_strings(pdf)
    assert re.search(r"(?<![\d,])100(?![\d,])", text)
    assert "1,100" not in text
    csv_text = files[f"{stem}.csv"]
    csv_text = csv_text.decode("utf-8-sig") if isinstance(csv_text, bytes) else csv_text
    assert "100.00" in csv_text and "1100" not in csv_text
    manager_html = html_of(received["manager@example.com"].message)
    assert ">1,100<" in manager_html

    delivery.refresh_from_db()
    assert delivery.last_sent_at == utc(2026, 3, 10, 6, 31)
    assert delivery.last_error == ""
    assert delivery.next_run_at == utc(2026, 3, 11, 6, 30)
    # Sent by the system: no copy is listed as the scheduler's sent mail.
    assert not EmailMessage.objects.visible_to(manager).exists()


def test_each_copy_is_written_in_its_readers_formats(
    manager, rep, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    manager.locale = "de_DE"
    manager.save(update_fields=["locale"])
    schedule(manager, pipeline_report, recipients=[rep.pk, manager.pk])

    with django_capture_on_commit_callbacks(execute=True):
        deliveries.send_due(now=utc(2026, 3, 10, 6, 31))

    received = {r.recipients[0]: r.message for r in smtp_server.wait_for(2)}
    with display.reading_as("de_DE"):
        german_day = display.day_text(SENT_ON)
    assert received["manager@example.com"]["Subject"].endswith(german_day)
    assert ">1.100<" in html_of(received["manager@example.com"])
    assert received["rep@example.com"]["Subject"].endswith(display.day_text(SENT_ON))


def test_a_recipient_who_is_also_a_contact_does_not_show_their_copy_on_its_timeline(
    manager, rep, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    from rapport.contacts.tests.factories import make_contact
    from rapport.interactions.models import Interaction

    # The manager's address is also a contact's, owned by the rep.
    contact = make_contact(owner=rep, emails=["manager@example.com"])
    schedule(manager, pipeline_report, recipients=[manager.pk])

    with django_capture_on_commit_callbacks(execute=True):
        deliveries.send_due(now=utc(2026, 3, 10, 6, 31))

    assert ">1,100<" in html_of(smtp_server.wait_for(1)[0].message)
    # The rep sees that contact, and must not see the manager's figures through it.
    assert not EmailMessage.objects.visible_to(rep).exists()
    assert not Interaction.objects.filter(contact=contact).exists()


def test_a_slot_is_sent_once_however_often_the_sweep_runs(
    manager, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    delivery = schedule(manager, pipeline_report)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries.send_due(now=utc(2026, 3, 10, 6, 31)) == {"sent": 1}
        assert deliveries.send_due(now=utc(2026, 3, 10, 6, 32)) == {}
        assert deliveries.send_delivery(delivery.pk, now=utc(2026, 3, 10, 6, 31)) == "skipped"
    assert len(smtp_server.wait_for(2, timeout=1)) == 1
    assert EmailMessage.objects.count() == 1


def test_the_worker_sweep_sends_what_is_due_and_is_a_registered_chain(
    manager, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    from rapport.core import schedules
    from rapport.reports import tasks

    assert tasks.CHAIN_NAME in schedules.registered()
    schedule(manager, pipeline_report)  # due since 10 March 2026
    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.send_due_deliveries.enqueue()
        second = tasks.send_due_deliveries.enqueue()
    assert (first.return_value, second.return_value) == ({"sent": 1}, {})
    assert len(smtp_server.wait_for(1)) == 1


def test_a_late_sweep_sends_the_missed_slot_once_and_plans_from_now(
    manager, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    delivery = schedule(manager, pipeline_report)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries.send_due(now=utc(2026, 3, 13, 9))  # the worker was down for three days
    delivery.refresh_from_db()
    assert len(smtp_server.wait_for(1)) == 1
    assert delivery.next_run_at == utc(2026, 3, 14, 6, 30)


def test_a_failing_schedule_is_recorded_and_the_others_still_go(
    manager, rep, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    broken = schedule(manager, pipeline_report)
    fine = schedule(manager, pipeline_report, recipients=[rep.pk])
    Delivery.objects.filter(pk=broken.pk).update(mailbox=None)  # its mailbox was disconnected

    with django_capture_on_commit_callbacks(execute=True):
        outcome = deliveries.send_due(now=utc(2026, 3, 10, 6, 31))

    assert outcome == {"failed": 1, "sent": 1}
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ("rep@example.com",)
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert "mailbox was disconnected" in broken.last_error
    assert broken.next_run_at == utc(2026, 3, 11, 6, 30)  # tried again at the next slot
    assert fine.last_error == ""


def test_a_recipient_who_lost_access_is_left_out_and_named(
    manager, rep, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    delivery = schedule(manager, pipeline_report, recipients=[rep.pk, manager.pk])
    rep.teams.clear()  # the report was shared with the rep's team only

    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries.send_due(now=utc(2026, 3, 10, 6, 31)) == {"partly": 1}

    assert [r.recipients for r in smtp_server.wait_for(2, timeout=1)] == [("manager@example.com",)]
    delivery.refresh_from_db()
    assert delivery.last_error == "Not sent to Ray Rep: they may no longer open it."


def test_send_now_sends_at_once_and_keeps_the_schedule(
    manager, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    delivery = schedule(manager, pipeline_report, now=None)  # next due tomorrow or today
    planned = delivery.next_run_at
    with django_capture_on_commit_callbacks(execute=True):
        deliveries.request_send_now(actor=manager, delivery=delivery)
    assert len(smtp_server.wait_for(1)) == 1
    delivery.refresh_from_db()
    assert delivery.send_requested_at is None
    assert delivery.next_run_at == planned
    assert delivery.last_sent_at is not None


def test_a_dashboard_goes_widget_by_widget_for_each_reader(
    manager, rep, pipeline_report, deals, mailbox, smtp_server, django_capture_on_commit_callbacks
):
    dashboard = dashboards.create_dashboard(actor=manager, name="東京 team", shared_teams=[
        rep.teams.first().pk])  # fmt: skip
    dashboards.add_widget(actor=manager, dashboard=dashboard, kind="report", report=pipeline_report)
    dashboards.add_widget(actor=manager, dashboard=dashboard, kind="list", list_key="my_open_tasks")
    deliveries.create_delivery(
        actor=manager,
        dashboard=dashboard,
        recipients=[rep.pk],
        frequency="weekly",
        weekday=2,  # Tuesday, the 10th
        time_of_day="07:30",
        time_zone="Europe/Paris",
        now=utc(2026, 3, 10, 5),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries.send_due(now=utc(2026, 3, 10, 6, 31)) == {"sent": 1}

    [received] = smtp_server.wait_for(1)
    message = received.message
    assert message["Subject"] == f"東京 team · {display.day_text(SENT_ON)}"
    html = html_of(message)
    assert "東京 team" in html and "Pipeline by stage" in html and ">100<" in html
    assert "1,100" not in html
    [(name, pdf)] = attachments_of(message).items()
    assert name == f"dashboard-{dashboard.pk}-20260310.pdf"
    assert pdf.startswith(b"%PDF")
    strings = drawn_strings(pdf)
    # The typeface has no kanji: shown as "?", and the PDF says so.
    assert "?? team" in strings
    assert any("cannot be shown in this PDF" in s for s in strings)


def test_the_pdf_prints_greek_and_cyrillic_as_written():
    from rapport.reports.delivery_content import Block, Copy
    from rapport.reports.delivery_pdf import render_pdf

    copy = Copy(
        title="Воронка продаж",
        subtitle="Ελλάδα · Müller",
        blocks=[Block(title="Ярослав", columns=["Stage", "Deals"], rows=[["Øre", "3"]])],
    )
    text = pdf_text(render_pdf(copy, subtitle="", footer="Rapport"))
    for written in ("Воронка продаж", "Ελλάδα · Müller", "Ярослав", "Øre"):
        assert written in text
    assert "cannot be shown" not in text


def test_merge_field_syntax_in_a_name_is_shown_not_run(
    manager, deals, mailbox, smtp_server, django_capture_on_commit_callbacks, sales_team
):
    from rapport.reports import services

    report = services.create_report(
        actor=manager, name="Deals {{ 7 * 7 }} {% if 1 %}x{% endif %}", source="deals",
        group_by="stage",
    )  # fmt: skip
    schedule(manager, report)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries.send_due(now=utc(2026, 3, 10, 6, 31)) == {"sent": 1}
    [received] = smtp_server.wait_for(1)
    assert "{{ 7 * 7 }}" in html_of(received.message)
    assert "49" not in received.message["Subject"]


# --------------------------------------------------------------------------- who and what


def test_a_recipient_who_may_not_open_the_report_is_refused(
    manager, stranger, pipeline_report, mailbox
):
    before = ChangeRecord.objects.count()
    with pytest.raises(ValidationError) as refused:
        schedule(manager, pipeline_report, recipients=[manager.pk, stranger.pk])
    assert refused.value.message_dict == {
        "recipients": ["Sam Stranger may not open this report: share it with them first."]
    }
    assert not Delivery.objects.exists()
    assert ChangeRecord.objects.count() == before


def test_a_team_is_refused_unless_each_member_may_open_it(
    manager, rep, stranger, pipeline_report, mailbox, sales_team, other_team
):
    with pytest.raises(ValidationError) as refused:
        schedule(manager, pipeline_report, recipients=[], recipient_teams=[other_team.pk])
    assert refused.value.message_dict["recipient_teams"] == [
        "Not everyone in Service South may open this report (Sam Stranger): share it with them "
        "first."
    ]
    delivery = schedule(manager, pipeline_report, recipients=[], recipient_teams=[sales_team.pk])
    assert {u.username for u in deliveries.recipients_of(delivery)} == {"manager", "rep"}


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"time_of_day": "25:00"}, "time_of_day", "Give a time of day such as 07:30."),
        ({"time_of_day": "7h30"}, "time_of_day", "Give a time of day such as 07:30."),
        ({"time_of_day": None}, "time_of_day", "Give a time of day such as 07:30."),
        ({"frequency": "hourly"}, "frequency", "Choose one of: Every day, Every week, Every month."),
        ({"frequency": "weekly"}, "weekday", "Choose a day of the week (1 is Monday)."),
        ({"frequency": "weekly", "weekday": 8}, "weekday", "Choose a day of the week (1 is Monday)."),
        ({"frequency": "monthly", "day_of_month": 32}, "day_of_month", "Choose a day of the month, 1 to 31."),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Choose a time zone such as Europe/Paris."),
        ({"format": "docx"}, "format", "Choose one of:"),
        ({"recipients": []}, "recipients", "Choose at least one person, team or role."),
        ({"recipients": [999999]}, "recipients", "No such person."),
    ],
)  # fmt: skip
def test_bad_input_is_a_field_error(manager, pipeline_report, mailbox, overrides, field, words):
    with pytest.raises(ValidationError) as refused:
        schedule(manager, pipeline_report, **overrides)
    assert refused.value.message_dict[field][0].startswith(words)
    assert not Delivery.objects.exists()


def test_a_dashboard_is_sent_as_pdf_only(manager, mailbox):
    dashboard = dashboards.create_dashboard(actor=manager, name="Mine")
    with pytest.raises(ValidationError) as refused:
        deliveries.create_delivery(
            actor=manager, dashboard=dashboard, recipients=[manager.pk], frequency="daily",
            time_of_day="08:00", format="pdf_xlsx",
        )  # fmt: skip
    assert "PDF only" in refused.value.message_dict["format"][0]


def test_only_who_may_change_the_report_schedules_it(rep, pipeline_report, mailbox):
    with pytest.raises(PermissionDenied):
        schedule(rep, pipeline_report)  # shared with the rep: they may open it, not change it
    assert not Delivery.objects.exists()


def test_without_a_shared_mailbox_the_field_says_what_to_do(manager, pipeline_report):
    with pytest.raises(ValidationError) as refused:
        schedule(manager, pipeline_report)
    assert "an administrator connects one" in refused.value.message_dict["mailbox"][0]


def test_pausing_and_resuming_plans_from_now_and_is_audited(manager, pipeline_report, mailbox):
    delivery = schedule(manager, pipeline_report)
    paused = deliveries.update_delivery(actor=manager, delivery=delivery, is_active=False)
    assert paused.next_run_at is None
    assert not Delivery.objects.due(utc(2030, 1, 1)).exists()
    resumed = deliveries.update_delivery(
        actor=manager, delivery=delivery, is_active=True, now=utc(2026, 3, 12, 12)
    )
    assert resumed.next_run_at == utc(2026, 3, 13, 6, 30)
    assert ChangeRecord.objects.filter(entity__icontains="delivery").count() >= 3
