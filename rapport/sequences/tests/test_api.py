"""The sequences API: CRUD with steps, enrollments, figures, access, and 422s that name the
field (never a 500)."""

import pytest

from rapport.sequences.models import Enrollment, Sequence
from rapport.sequences.tests.conftest import make_due

pytestmark = pytest.mark.django_db

BASE = "/api/v1/sequences/"


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def errors(response):
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def test_create_read_update_and_delete_a_sequence(api_client_for, owner, mailbox, intro):
    client = api_client_for(owner)
    created = post(
        client,
        BASE,
        {
            "name": "Trial follow-up",
            "mailbox_id": mailbox.pk,
            "steps": [
                {"kind": "email", "template_id": intro.pk},
                {"kind": "call", "delay_amount": 3, "delay_unit": "days", "task_title": "Ring"},
            ],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Trial follow-up"
    assert body["owner_id"] == owner.pk
    assert [(s["position"], s["kind"], s["delay_amount"]) for s in body["steps"]] == [
        (1, "email", 0),
        (2, "call", 3),
    ]
    sequence_id = body["id"]

    changed = client.patch(
        f"{BASE}{sequence_id}",
        {"name": "Trial", "steps": [{"id": body["steps"][1]["id"], "kind": "call"}]},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "Trial"
    assert [s["id"] for s in changed.json()["steps"]] == [body["steps"][1]["id"]]

    assert client.get(f"{BASE}{sequence_id}").json()["name"] == "Trial"
    assert [s["id"] for s in client.get(BASE).json()] == [sequence_id]
    assert client.delete(f"{BASE}{sequence_id}").status_code == 204
    assert not Sequence.objects.exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "X", "steps": [{"kind": "fax"}]}, "body.steps[0].kind"),
        (
            {"name": "X", "steps": [{"kind": "call", "delay_amount": 10**30}]},
            "body.steps[0].delay_amount",
        ),
        ({"name": "X", "mailbox_id": 2**64}, "body.mailbox_id"),
        ({"name": "X", "mailbox_id": 987654}, "body.mailbox_id"),
        (
            {"name": "X", "steps": [{"kind": "email", "template_id": 987654}]},
            "body.steps[0].template_id",
        ),
        ({"name": "X", "steps": [{"kind": "email"}]}, "body.steps[0].template_id"),
        ({"name": "", "steps": []}, "body.name"),
        ({"name": "X", "daily_email_limit": 0}, "body.daily_email_limit"),
        ({"name": "X", "surprise": 1}, "body.surprise"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api_client_for, owner, mailbox, body, expected):
    response = post(api_client_for(owner), BASE, body)
    assert response.status_code == 422, response.content
    assert expected in errors(response)
    assert not Sequence.objects.exists()


def test_path_ids_out_of_range_are_422_or_404(api_client_for, owner):
    client = api_client_for(owner)
    assert client.get(f"{BASE}{2**64}").status_code == 422
    assert client.get(f"{BASE}0").status_code == 422
    assert client.get(f"{BASE}987654").status_code == 404
    assert client.post(f"{BASE}enrollments/{2**64}/pause").status_code == 422


def test_enroll_pause_resume_stop_and_list(api_client_for, owner, sequence, ada):
    client = api_client_for(owner)
    created = post(
        client, f"{BASE}enrollments/", {"sequence_id": sequence.pk, "contact_id": ada.pk}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["status"], body["current_position"], body["time_zone"]) == (
        "active",
        1,
        "Europe/Berlin",
    )
    assert body["time_zone_source"] == "from the phone number +49301234567"
    enrollment_id = body["id"]

    again = post(client, f"{BASE}enrollments/", {"sequence_id": sequence.pk, "contact_id": ada.pk})
    assert again.status_code == 422
    assert errors(again) == {"body.contact_id": "Ada Lovelace is already in “New leads”."}

    paused = client.post(f"{BASE}enrollments/{enrollment_id}/pause")
    assert paused.json()["status"] == "paused"
    assert client.post(f"{BASE}enrollments/{enrollment_id}/pause").status_code == 422
    assert client.post(f"{BASE}enrollments/{enrollment_id}/resume").json()["status"] == "active"
    stopped = client.post(f"{BASE}enrollments/{enrollment_id}/stop").json()
    assert (stopped["status"], stopped["stop_reason"]) == ("stopped", "by_user")

    listed = client.get(f"{BASE}enrollments/?sequence_id={sequence.pk}").json()
    assert [item["id"] for item in listed["items"]] == [enrollment_id]
    assert client.get(f"{BASE}enrollments/?status=bogus").status_code == 422
    assert client.get(f"{BASE}enrollments/?colour=red").status_code == 422


def test_outsiders_and_read_only_seats(
    api_client_for, outsider, read_only_user, enroll, ada, sequence
):
    enrollment = enroll(ada)
    outside = api_client_for(outsider)
    assert outside.get(f"{BASE}{sequence.pk}").status_code == 404
    assert outside.get(f"{BASE}enrollments/{enrollment.pk}").status_code == 404
    assert outside.post(f"{BASE}enrollments/{enrollment.pk}/stop").status_code == 404
    assert outside.get(f"{BASE}enrollments/").json()["items"] == []

    viewer = api_client_for(read_only_user)
    assert viewer.get(f"{BASE}enrollments/{enrollment.pk}").status_code == 200
    assert viewer.post(f"{BASE}enrollments/{enrollment.pk}/stop").status_code == 403
    refused = post(
        viewer, f"{BASE}enrollments/", {"sequence_id": sequence.pk, "contact_id": ada.pk}
    )
    assert refused.status_code == 403
    assert post(viewer, BASE, {"name": "Mine"}).status_code == 403
    enrollment.refresh_from_db()
    assert enrollment.status == "active"
    assert Enrollment.objects.count() == 1


def test_figures_per_sequence_and_step(
    api_client_for, owner, enroll, ada, sequence, run_due, smtp_server
):
    from django.utils import timezone

    from rapport.contacts.tests.factories import make_contact
    from rapport.mail.models import EmailMessage

    grace = make_contact(actor=owner, owner=owner, first_name="Grace", emails=["grace@example.com"])
    first, second = enroll(ada), enroll(grace)
    make_due(first)
    make_due(second)
    run_due()
    # Ada opened and replied to hers; Grace's stays unread.
    ada_message = EmailMessage.objects.get(sequence_step_runs__enrollment=first)
    EmailMessage.objects.filter(pk=ada_message.pk).update(
        first_opened_at=timezone.now(), replied_at=timezone.now()
    )
    enroll_stop = make_contact(actor=owner, owner=owner, first_name="Sam", emails=["s@example.com"])
    from rapport.sequences import services

    services.stop_enrollment(actor=owner, enrollment=enroll(enroll_stop))

    figures = api_client_for(owner).get(f"{BASE}{sequence.pk}/figures").json()

    assert {k: figures[k] for k in ("enrolled", "active", "finished", "stopped")} == {
        "enrolled": 3,
        "active": 2,
        "finished": 0,
        "stopped": 1,
    }
    assert figures["stopped_by_reason"] == {"Stopped by a person": 1}
    assert (figures["sent"], figures["opened"], figures["clicked"], figures["replied"]) == (
        2,
        1,
        0,
        1,
    )
    assert figures["reply_rate"] == 50.0
    assert [
        (s["position"], s["sent"], s["replied"], s["reply_rate"]) for s in figures["steps"]
    ] == [
        (1, 2, 1, 50.0),
        (2, 0, 0, None),
        (3, 0, 0, None),
    ]
