"""The pages: list with figures, the editor's buttons, the detail, enrolling from the contact's
page, pause/resume/stop, and what read-only seats and outsiders get."""

import pytest

from rapport.sequences.models import Enrollment, Sequence

pytestmark = pytest.mark.django_db


def editor_data(mailbox, steps, **extra):
    data = {
        "name": "Webinar guests",
        "mailbox": mailbox.pk,
        "is_active": "on",
        "stop_on_meeting": "on",
        "step-count": str(len(steps)),
        **extra,
    }
    for index, step in enumerate(steps):
        for key, value in step.items():
            data[f"step-{index}-{key}"] = value
    return data


EMAIL = {
    "kind": "email",
    "delay_amount": "0",
    "delay_unit": "business_days",
    "window_start_hour": "9",
    "window_end_hour": "17",
    "reply_in_thread": "on",
}
CALL = {
    "kind": "call",
    "delay_amount": "2",
    "delay_unit": "business_days",
    "window_start_hour": "10",
    "window_end_hour": "16",
    "task_title": "Ring them",
}


def test_the_editor_adds_moves_and_removes_steps_without_saving(
    web_client_for, owner, mailbox, intro
):
    client = web_client_for(owner)
    data = editor_data(mailbox, [{**EMAIL, "template": intro.pk}, CALL], op="up-1")

    moved = client.post("/sequences/new/", data)

    assert moved.status_code == 200
    steps = moved.context["step_forms"]
    assert [form.initial["kind"] for form in steps] == ["call", "email"]
    assert not Sequence.objects.exists()

    added = client.post("/sequences/new/", editor_data(mailbox, [CALL], op="add-email"))
    assert [form.initial["kind"] for form in added.context["step_forms"]] == ["call", "email"]

    removed = client.post("/sequences/new/", editor_data(mailbox, [CALL, EMAIL], op="remove-0"))
    assert [form.initial["kind"] for form in removed.context["step_forms"]] == ["email"]


def test_saving_creates_the_sequence_and_shows_its_detail(web_client_for, owner, mailbox, intro):
    client = web_client_for(owner)
    data = editor_data(mailbox, [{**EMAIL, "template": intro.pk}, CALL], op="save")

    response = client.post("/sequences/new/", data)

    sequence = Sequence.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sequences/{sequence.pk}/"
    assert list(sequence.steps.values_list("kind", "window_start_hour", "task_title")) == [
        ("email", 9, ""),
        ("call", 10, "Ring them"),
    ]
    detail = client.get(f"/sequences/{sequence.pk}/")
    assert detail.status_code == 200
    assert "1. Automatic email: Intro" in detail.content.decode()


def test_an_email_step_without_template_shows_the_message_beside_it(web_client_for, owner, mailbox):
    client = web_client_for(owner)

    response = client.post("/sequences/new/", editor_data(mailbox, [EMAIL], op="save"))

    assert response.status_code == 422
    [step] = response.context["step_forms"]
    assert step.errors == {"template": ["Choose the email template to send."]}
    assert "Choose the email template to send." in response.content.decode()
    assert not Sequence.objects.exists()


def test_the_list_shows_figures_and_read_only_seats_get_no_editor(
    web_client_for, owner, read_only_user, sequence, enroll, ada
):
    enroll(ada)
    page = web_client_for(owner).get("/sequences/")
    assert page.status_code == 200
    assert page.context["rows"][0]["figures"].enrolled == 1
    assert 'href="/sequences/new/"' in page.content.decode()

    viewer = web_client_for(read_only_user)
    assert 'href="/sequences/new/"' not in viewer.get("/sequences/").content.decode()
    assert viewer.get("/sequences/new/").status_code == 403


def test_enrolling_from_the_contacts_page(web_client_for, owner, sequence, ada):
    client = web_client_for(owner)
    assert 'id="panel-sequences"' in client.get(f"/contacts/{ada.pk}/").content.decode()
    panel = client.get(f"/contacts/{ada.pk}/panels/sequences/").content.decode()
    assert f'action="/sequences/enroll/contact/{ada.pk}/"' in panel
    assert "Not in any sequence." in panel

    response = client.post(f"/sequences/enroll/contact/{ada.pk}/", {"sequence": sequence.pk})

    assert response.status_code == 302
    enrollment = Enrollment.objects.get()
    assert (enrollment.contact, enrollment.enrolled_by) == (ada, owner)
    panel = client.get(f"/contacts/{ada.pk}/panels/sequences/").content.decode()
    assert "New leads" in panel and "Active" in panel


def test_a_read_only_seat_sees_no_enroll_form_and_is_refused(
    web_client_for, read_only_user, sequence, ada
):
    client = web_client_for(read_only_user)
    panel = client.get(f"/contacts/{ada.pk}/panels/sequences/")
    assert panel.status_code == 200
    assert "/sequences/enroll/contact/" not in panel.content.decode()

    response = client.post(f"/sequences/enroll/contact/{ada.pk}/", {"sequence": sequence.pk})

    assert response.status_code == 403
    assert not Enrollment.objects.exists()


def test_pause_resume_and_stop_from_the_detail(
    web_client_for, owner, outsider, sequence, enroll, ada
):
    enrollment = enroll(ada)
    client = web_client_for(owner)
    base = f"/sequences/enrollments/{enrollment.pk}"

    assert web_client_for(outsider).post(f"{base}/stop/").status_code == 404
    client.post(f"{base}/pause/")
    enrollment.refresh_from_db()
    assert enrollment.status == "paused"
    client.post(f"{base}/resume/")
    client.post(f"{base}/stop/")
    enrollment.refresh_from_db()
    assert enrollment.status_words == f"Stopped: stopped by {owner}"
    assert web_client_for(outsider).get(f"/sequences/{sequence.pk}/").status_code == 404


def test_the_detail_shows_what_each_step_did(web_client_for, owner, sequence, enroll, ada, run_due):
    from rapport.sequences.tests.conftest import make_due

    enrollment = enroll(ada)
    make_due(enrollment)
    run_due()

    page = web_client_for(owner).get(f"/sequences/{sequence.pk}/").content.decode()

    assert "What each step did" in page
    assert "Email queued — Sent “Hello Ada” from Sales." in page
