"""Scheduled email in the API: CRUD under a report or a dashboard, field errors, and who may."""

import json

import pytest

from rapport.audit.models import ChangeRecord
from rapport.reports import dashboards, deliveries, services
from rapport.reports.models import Delivery

pytestmark = pytest.mark.django_db

BODY = {"frequency": "weekly", "weekday": 1, "time_of_day": "07:30", "time_zone": "Europe/Paris"}


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, data=json.dumps(body or {}), content_type="application/json"
    )


def test_create_read_change_pause_and_delete(
    manager, rep, pipeline_report, mailbox, api_client_for
):
    client = api_client_for(manager)
    url = f"/api/v1/reports/{pipeline_report.pk}/deliveries"
    created = send(client, "post", url, {**BODY, "recipients": [rep.pk], "format": "pdf_xlsx"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["schedule"] == "Every Monday at 7:30\u202fAM (Europe/Paris)"
    assert (body["recipients"], body["mailbox_id"], body["owner_id"]) == (
        [rep.pk], mailbox.pk, manager.pk
    )  # fmt: skip
    assert body["next_run_at"] is not None
    assert [d["id"] for d in client.get(url).json()] == [body["id"]]

    patched = send(
        client, "patch", f"{url}/{body['id']}", {"frequency": "monthly", "day_of_month": 31}
    )
    assert patched.status_code == 200, patched.content
    assert (
        patched.json()["schedule"]
        == "On day 31 of every month (or its last day) at 7:30\u202fAM (Europe/Paris)"
    )
    assert patched.json()["weekday"] is None
    paused = send(client, "patch", f"{url}/{body['id']}", {"is_active": False})
    assert (paused.json()["is_active"], paused.json()["next_run_at"]) == (False, None)
    assert client.delete(f"{url}/{body['id']}").status_code == 204
    assert not Delivery.objects.exists()


def test_send_now_answers_202_and_the_mail_goes(
    manager, pipeline_report, deals, mailbox, smtp_server, api_client_for,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    delivery = deliveries.create_delivery(
        actor=manager, report=pipeline_report, recipients=[manager.pk], **BODY
    )
    client = api_client_for(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/reports/{pipeline_report.pk}/deliveries/{delivery.pk}/send"
        )
    assert response.status_code == 202, response.content
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ("manager@example.com",)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_of_day": "24:01"}, "time_of_day"),
        ({"time_of_day": "noon"}, "time_of_day"),
        ({"weekday": None}, "weekday"),
        ({"frequency": "yearly"}, "frequency"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"mailbox_id": 999999}, "mailbox_id"),
        ({"recipients": []}, "recipients"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    manager, pipeline_report, mailbox, api_client_for, body, field
):
    response = send(
        api_client_for(manager),
        "post",
        f"/api/v1/reports/{pipeline_report.pk}/deliveries",
        {**BODY, "recipients": [manager.pk], **body},
    )
    assert response.status_code == 422, response.content
    assert field in {error["field"].split(".")[-1] for error in response.json()["errors"]}
    assert not Delivery.objects.exists()


def test_a_recipient_who_may_not_open_it_is_refused(
    manager, stranger, pipeline_report, mailbox, api_client_for
):
    response = send(
        api_client_for(manager),
        "post",
        f"/api/v1/reports/{pipeline_report.pk}/deliveries",
        {**BODY, "recipients": [stranger.pk]},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        "Sam Stranger may not open this report: share it with them first."
    )


def test_a_report_of_another_user_not_shared_is_404(rep, stranger, mailbox, api_client_for):
    theirs = services.create_report(
        actor=stranger, name="Theirs", source="contacts", group_by="source"
    )
    client = api_client_for(rep)
    url = f"/api/v1/reports/{theirs.pk}/deliveries"
    assert client.get(url).status_code == 404
    assert send(client, "post", url, {**BODY, "recipients": [rep.pk]}).status_code == 404
    assert not Delivery.objects.exists()


def test_someone_elses_schedules_are_out_of_reach(
    manager, rep, stranger, pipeline_report, mailbox, api_client_for
):
    delivery = deliveries.create_delivery(
        actor=manager, report=pipeline_report, recipients=[manager.pk], **BODY
    )
    dashboard = dashboards.create_dashboard(actor=manager, name="Mine")
    on_dashboard = deliveries.create_delivery(
        actor=manager, dashboard=dashboard, recipients=[manager.pk], **BODY
    )
    stranger_client, rep_client = api_client_for(stranger), api_client_for(rep)
    before = ChangeRecord.objects.count()
    # The stranger cannot see the report or the dashboard: 404, as if they did not exist.
    for base in (
        f"/api/v1/reports/{pipeline_report.pk}/deliveries",
        f"/api/v1/dashboards/{dashboard.pk}/deliveries",
    ):
        assert stranger_client.get(base).status_code == 404
        assert (
            send(stranger_client, "post", base, {**BODY, "recipients": [stranger.pk]}).status_code
            == 404
        )
    one = f"/api/v1/dashboards/{dashboard.pk}/deliveries/{on_dashboard.pk}"
    assert stranger_client.get(one).status_code == 404
    assert send(stranger_client, "patch", one, {"is_active": False}).status_code == 404
    assert stranger_client.delete(one).status_code == 404
    # The rep may open the shared report but not change it, so not schedule it: 403.
    base = f"/api/v1/reports/{pipeline_report.pk}/deliveries"
    assert rep_client.get(base).status_code == 403
    assert send(rep_client, "post", base, {**BODY, "recipients": [rep.pk]}).status_code == 403
    assert (
        send(rep_client, "patch", f"{base}/{delivery.pk}", {"is_active": False}).status_code == 403
    )
    assert rep_client.delete(f"{base}/{delivery.pk}").status_code == 403
    assert rep_client.post(f"{base}/{delivery.pk}/send").status_code == 403
    # A schedule is reached only under its own report or dashboard.
    assert ChangeRecord.objects.count() == before
    manager_client = api_client_for(manager)
    assert manager_client.get(f"{base}/{on_dashboard.pk}").status_code == 404
    assert Delivery.objects.filter(is_active=True).count() == 2
    assert Delivery.objects.get(pk=delivery.pk).send_requested_at is None
