"""The "Schedule email" pages: offered only to who may change the report or dashboard, people
picked by name, errors beside their fields, pause, send now and delete."""

import pytest

from rapport.reports import dashboards, deliveries
from rapport.reports.models import Delivery

pytestmark = pytest.mark.django_db

FORM = {
    "frequency": "weekly",
    "weekday": "1",
    "day_of_month": "",
    "time_of_day": "07:30",
    "time_zone": "Europe/Paris",
    "format": "pdf",
}


def test_the_button_is_shown_only_to_who_may_change_the_report(
    manager, rep, pipeline_report, web_client_for
):
    url = pipeline_report.get_absolute_url()
    schedules = f"/reports/{pipeline_report.pk}/schedules/"
    assert schedules in web_client_for(manager).get(url).content.decode()
    assert schedules not in web_client_for(rep).get(url).content.decode()


def test_the_dashboard_page_offers_it_to_its_owner_only(manager, rep, sales_team, web_client_for):
    dashboard = dashboards.create_dashboard(actor=manager, name="Team", shared_teams=[sales_team])
    schedules = f"/reports/dashboards/{dashboard.pk}/schedules/"
    assert schedules in web_client_for(manager).get(dashboard.get_absolute_url()).content.decode()
    assert schedules not in web_client_for(rep).get(dashboard.get_absolute_url()).content.decode()
    assert web_client_for(rep).get(schedules).status_code == 403


def test_who_may_not_manage_gets_403_or_404(rep, stranger, pipeline_report, web_client_for):
    url = f"/reports/{pipeline_report.pk}/schedules/"
    assert web_client_for(rep).get(url).status_code == 403  # may open it, not change it
    assert web_client_for(stranger).get(url).status_code == 404  # may not even open it
    assert (
        web_client_for(stranger).post(url, {**FORM, "add_recipient": str(stranger.pk)}).status_code
        == 404
    )
    assert not Delivery.objects.exists()


def test_a_schedule_is_added_with_people_picked_by_name(
    manager, rep, pipeline_report, mailbox, sales_team, web_client_for
):
    client = web_client_for(manager)
    url = f"/reports/{pipeline_report.pk}/schedules/"
    page = client.get(url)
    assert page.status_code == 200
    assert "Reports" in page.content.decode()  # the only shared mailbox, chosen already
    response = client.post(
        url, {**FORM, "recipients": [str(manager.pk)], "add_recipient": str(rep.pk)}
    )
    assert response.status_code == 302, response.content.decode()
    delivery = Delivery.objects.get()
    assert {u.username for u in delivery.recipients.all()} == {"manager", "rep"}
    assert (delivery.frequency, delivery.weekday, delivery.mailbox) == ("weekly", 1, mailbox)
    listed = client.get(url).content.decode()
    assert "Every Monday at 7:30\u202fAM (Europe/Paris)" in listed
    assert "Mia Manager, Ray Rep" in listed


def test_without_javascript_a_name_typed_in_full_is_found(
    manager, rep, pipeline_report, mailbox, web_client_for
):
    response = web_client_for(manager).post(
        f"/reports/{pipeline_report.pk}/schedules/",
        {**FORM, "add_recipient": "", "add_recipient_label": "Ray Rep"},
    )
    assert response.status_code == 302
    assert [u.username for u in Delivery.objects.get().recipients.all()] == ["rep"]


def test_errors_show_beside_their_fields_and_nothing_is_saved(
    manager, stranger, pipeline_report, mailbox, web_client_for
):
    client = web_client_for(manager)
    url = f"/reports/{pipeline_report.pk}/schedules/"
    response = client.post(url, {**FORM, "time_of_day": "25:99", "add_recipient": str(manager.pk)})
    assert response.status_code == 422
    assert "Give a time of day such as 07:30." in response.content.decode()
    response = client.post(url, {**FORM, "add_recipient": str(stranger.pk)})
    assert response.status_code == 422
    page = response.content.decode()
    assert "Sam Stranger may not open this report: share it with them first." in page
    # The person picked stays on the form, to untick.
    assert f'value="{stranger.pk}" checked' in page
    response = client.post(url, {**FORM, "add_recipient_label": "Nobody Atall"})
    assert "No such person" in response.content.decode()
    assert not Delivery.objects.exists()


def test_the_picker_suggests_only_people_who_may_open_it(
    manager, rep, stranger, pipeline_report, web_client_for
):
    client = web_client_for(manager)
    url = f"/reports/{pipeline_report.pk}/schedules/people"
    assert [p["label"] for p in client.get(url, {"q": "Ra"}).json()] == ["Ray Rep"]
    assert client.get(url, {"q": "Sam"}).json() == []
    assert client.get(url, {"q": "r"}).json() == []  # two letters at least
    assert web_client_for(rep).get(url, {"q": "Ra"}).status_code == 403


def test_pause_resume_send_now_edit_and_delete(
    manager, rep, pipeline_report, deals, mailbox, smtp_server, web_client_for,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    delivery = deliveries.create_delivery(
        actor=manager, report=pipeline_report, recipients=[rep.pk], frequency="daily",
        time_of_day="08:00", time_zone="Europe/Paris",
    )  # fmt: skip
    client = web_client_for(manager)
    base = f"/reports/{pipeline_report.pk}/schedules/{delivery.pk}"
    assert client.post(f"{base}/pause").status_code == 302
    delivery.refresh_from_db()
    assert (delivery.is_active, delivery.next_run_at) == (False, None)
    client.post(f"{base}/pause")
    delivery.refresh_from_db()
    assert delivery.is_active and delivery.next_run_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/send").status_code == 302
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ("rep@example.com",)

    edit = client.get(f"{base}/")
    assert edit.status_code == 200 and "Ray Rep" in edit.content.decode()
    saved = client.post(
        f"{base}/",
        {**FORM, "frequency": "monthly", "day_of_month": "15", "recipients": [str(rep.pk)],
         "mailbox": str(mailbox.pk)},
    )  # fmt: skip
    assert saved.status_code == 302, saved.content.decode()
    delivery.refresh_from_db()
    assert (delivery.frequency, delivery.day_of_month, delivery.weekday) == ("monthly", 15, None)

    assert client.post(f"{base}/delete").status_code == 302
    assert not Delivery.objects.exists()
    # Someone who may open the report but not change it reaches none of this.
    assert web_client_for(rep).post(f"{base}/delete").status_code in (403, 404)
