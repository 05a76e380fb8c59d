"""Web forms: building them, and the public endpoint with its spam protection."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings

from rapport.contacts.models import Consent, Contact, Organization
from rapport.contacts.tests.factories import make_contact
from rapport.interactions.models import Interaction
from rapport.sales.models import (
    LeadAssignment,
    LeadScore,
    ProductInterest,
    WebForm,
    WebFormSubmission,
)
from rapport.sales.services.webforms import (
    create_webform,
    receive_web_form_submission,
    submit_web_form,
    update_webform,
)

pytestmark = pytest.mark.django_db

FIELDS = [
    {"target": "first_name", "required": True},
    {"target": "last_name"},
    {"target": "email", "label": "Work email", "required": True},
    {"target": "phone"},
    {"target": "company"},
    {"target": "country"},
    {"target": "products_of_interest"},
    {"target": "message"},
]


@pytest.fixture
def web_form(admin_user):
    return create_webform(
        actor=admin_user,
        name="Pricing page",
        fields=FIELDS,
        source="web_form",
        source_detail="Pricing",
        campaign="spring-launch",
        allowed_origins="https://www.example.com\nhttp://localhost:8123",
        max_submissions_per_minute=5,
    )


def submit_url(form):
    return f"/sales/forms/{form.public_id}/submit"


def post(client, form, data, **headers):
    return client.post(submit_url(form), data, **headers)


def test_a_form_needs_an_email_or_phone_and_known_fields(admin_user):
    with pytest.raises(ValidationError) as caught:
        create_webform(
            actor=admin_user,
            name="x",
            fields=[{"target": "first_name"}, {"target": "shoe_size"}],
            redirect_url="javascript:alert(1)",
            allowed_origins="example.com",
        )
    errors = caught.value.message_dict
    assert errors["fields[1].target"] == ["Unknown field 'shoe_size'."]
    assert "redirect_url" in errors and "allowed_origins" in errors
    with pytest.raises(ValidationError) as caught:
        create_webform(actor=admin_user, name="x", fields=[{"target": "first_name"}])
    assert "Include an email or a phone field" in caught.value.message_dict["fields"][0]


def test_a_new_visitor_becomes_an_assigned_scored_lead(
    web_form, admin_user, owner, django_capture_on_commit_callbacks
):
    from rapport.sales.services.settings import update_sales_settings

    update_sales_settings(actor=admin_user, fallback_owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            Client(),
            web_form,
            {
                "first_name": "Nina",
                "last_name": "Novak",
                "email": " Nina@Example.COM ",
                "company": "Novak GmbH",
                "country": "de",
                "products_of_interest": "Gold plan, Support",
                "message": "Call me <b>today</b>",
                "consent": "yes",
            },
            HTTP_ACCEPT="application/json",
            HTTP_ORIGIN="https://www.example.com",
        )
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "message": "Thank you — we will be in touch.",
        "redirect": None,
    }
    assert response["Access-Control-Allow-Origin"] == "https://www.example.com"
    contact = Contact.objects.get(primary_email="nina@example.com")
    assert (contact.lifecycle_stage, contact.source) == ("lead", "web_form")
    assert contact.source_detail == "Pricing · spring-launch"
    assert contact.country == "DE"
    assert contact.memberships.get().organization.name == "Novak GmbH"
    assert sorted(
        ProductInterest.objects.filter(contact=contact).values_list("product", flat=True)
    ) == [
        "Gold plan",
        "Support",
    ]
    consent = Consent.objects.get(contact=contact, channel="email")
    assert (consent.status, consent.lawful_basis) == ("granted", "consent")
    interaction = Interaction.objects.get(contact=contact)
    assert (interaction.kind, interaction.direction, interaction.channel) == (
        "form_submission",
        "inbound",
        "web",
    )
    assert "Message: Call me <b>today</b>" in interaction.body
    submission = WebFormSubmission.objects.get()
    assert submission.is_new_contact and submission.campaign == "spring-launch"
    assert submission.client_hash and "127.0.0.1" not in submission.client_hash
    contact.refresh_from_db()
    assert contact.owner == owner
    assert LeadAssignment.objects.get(contact=contact).method == "fallback"
    assert LeadScore.objects.filter(contact=contact).exists()
    web_form.refresh_from_db()
    assert web_form.submission_count == 1


def test_a_returning_person_updates_their_contact_instead_of_duplicating(web_form, owner):
    known = make_contact(
        actor=owner,
        owner=owner,
        first_name="Known",
        last_name="",
        phones=["+49 30 1234567"],
        lifecycle_stage="subscriber",
        job_title="CTO",
    )
    result = submit_web_form(
        form=web_form,
        data={
            "first_name": "Ignored",
            "last_name": "Person",
            "email": "known@x.example",
            "phone": "+493012345 67",
        },
    )
    assert not result.is_new_contact and result.contact == known
    known.refresh_from_db()
    assert known.first_name == "Known"  # names are only filled in, never overwritten
    assert known.last_name == "Person"
    assert known.job_title == "CTO"  # not on the form: untouched
    assert known.lifecycle_stage == "lead"  # a subscriber who asks is a lead now
    assert sorted(known.emails.values_list("email", flat=True)) == ["known@x.example"]
    assert Contact.objects.count() == 1
    again = submit_web_form(form=web_form, data={"first_name": "K", "email": "KNOWN@x.example"})
    assert again.contact == known
    assert Interaction.objects.filter(contact=known, kind="form_submission").count() == 2


def test_errors_name_the_field_and_write_nothing(web_form):
    response = post(
        Client(),
        web_form,
        {"first_name": "", "email": "not-an-email", "country": "Germany", "phone": "12"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 422
    fields = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert fields == {
        "first_name": "This field is required.",
        "email": "Enter a valid email address.",
        "country": "Use a two-letter country code, e.g. DE.",
        "phone": "Enter a valid phone number, e.g. +1 415 555 0100.",
    }
    assert not Contact.objects.exists() and not WebFormSubmission.objects.exists()


def test_a_plain_html_post_gets_the_form_again_with_errors_then_a_thank_you_page(web_form):
    client = Client()
    bad = post(client, web_form, {"first_name": "<script>x</script>", "email": "nope"})
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "Enter a valid email address." in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    good = post(client, web_form, {"first_name": "Ok", "email": "ok@example.com"})
    assert good.status_code == 200
    assert "Thank you — we will be in touch." in good.content.decode()
    assert (
        "frame-ancestors https://www.example.com http://localhost:8123"
        in good["Content-Security-Policy"]
    )


def test_redirect_after_a_plain_post(web_form, admin_user):
    update_webform(actor=admin_user, form=web_form, redirect_url="https://www.example.com/thanks")
    response = post(Client(), web_form, {"first_name": "R", "email": "r@example.com"})
    assert response.status_code == 303
    assert response["Location"] == "https://www.example.com/thanks"


def test_the_honeypot_answers_success_and_stores_nothing(web_form):
    response = post(
        Client(),
        web_form,
        {"first_name": "Bot", "email": "bot@spam.example", "website": "http://spam"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200 and response.json()["ok"] is True
    assert not Contact.objects.exists()
    web_form.refresh_from_db()
    assert web_form.spam_count == 1 and web_form.submission_count == 0


@override_settings(RAPPORT_WEBFORM_IP_RATE=3)
def test_rate_limit_per_client_address(web_form, admin_user):
    update_webform(actor=admin_user, form=web_form, max_submissions_per_minute=100)
    client = Client(REMOTE_ADDR="203.0.113.9")
    codes = [
        post(client, web_form, {"first_name": "A", "email": f"a{i}@example.com"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    other = Client(REMOTE_ADDR="203.0.113.10")
    assert post(other, web_form, {"first_name": "B", "email": "b@example.com"}).status_code == 200
    assert WebFormSubmission.objects.count() == 4


@override_settings(RAPPORT_WEBFORM_IP_RATE=2, RAPPORT_TRUSTED_PROXIES=("10.0.0.0/8",))
def test_rate_limit_per_client_behind_a_trusted_proxy(web_form, admin_user):
    update_webform(actor=admin_user, form=web_form, max_submissions_per_minute=100)

    def via_balancer(client_ip, n):
        client = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=client_ip)
        return post(client, web_form, {"first_name": "A", "email": f"p{n}@example.com"})

    assert [via_balancer("203.0.113.9", n).status_code for n in range(3)] == [200, 200, 429]
    # Another visitor through the same balancer has a limit of their own.
    assert via_balancer("203.0.113.10", 9).status_code == 200


@override_settings(RAPPORT_WEBFORM_IP_RATE=1000)
def test_rate_limit_per_form(web_form):
    codes = [
        post(
            Client(REMOTE_ADDR=f"198.51.100.{i}"),
            web_form,
            {"first_name": "A", "email": f"f{i}@example.com"},
            HTTP_ACCEPT="application/json",
        ).status_code
        for i in range(6)
    ]
    assert codes == [200] * 5 + [429]


def test_size_limits(web_form):
    client = Client()
    too_long = post(
        client,
        web_form,
        {"first_name": "x" * 101, "email": "s@example.com"},
        HTTP_ACCEPT="application/json",
    )
    assert too_long.status_code == 422
    assert too_long.json()["errors"] == [
        {"field": "first_name", "message": "Use at most 100 characters (it has 101)."}
    ]
    huge = client.post(
        submit_url(web_form),
        json.dumps({"first_name": "x", "email": "y@example.com", "pad": "z" * 40_000}),
        content_type="application/json",
    )
    assert huge.status_code == 413
    assert not Contact.objects.exists()


def test_json_bodies_are_accepted_and_broken_ones_refused(web_form):
    client = Client()
    ok = client.post(
        submit_url(web_form),
        json.dumps({"first_name": "J", "email": "j@example.com"}),
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["ok"]
    broken = client.post(submit_url(web_form), "{not json", content_type="application/json")
    assert broken.status_code == 400
    listed = client.post(submit_url(web_form), "[1,2]", content_type="application/json")
    assert listed.status_code == 400


def test_cors_preflight_and_foreign_origins(web_form):
    client = Client()
    preflight = client.options(submit_url(web_form), HTTP_ORIGIN="http://localhost:8123")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "http://localhost:8123"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    foreign = post(
        client,
        web_form,
        {"first_name": "E", "email": "e@example.com"},
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCEPT="application/json",
    )
    assert foreign.status_code == 403
    assert "Access-Control-Allow-Origin" not in foreign
    assert not Contact.objects.exists()


def test_unknown_and_switched_off_forms(web_form, admin_user):
    client = Client()
    missing = client.post(
        "/sales/forms/00000000-0000-0000-0000-000000000000/submit", {"email": "x@y.z"}
    )
    assert missing.status_code == 404
    update_webform(actor=admin_user, form=web_form, is_active=False)
    off = post(client, web_form, {"first_name": "x", "email": "x@example.com"})
    assert off.status_code == 410
    assert client.get(submit_url(web_form)).status_code == 405


def test_the_hosted_form_can_be_framed_by_allowed_sites(web_form):
    response = Client().get(f"/sales/forms/{web_form.public_id}/")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert (
        "frame-ancestors https://www.example.com http://localhost:8123"
        in response["Content-Security-Policy"]
    )
    html = response.content.decode()
    assert 'name="website"' in html and "Work email" in html
    assert "<script>" not in html.replace(
        '<script src="/static/sales/webform-embed.js" defer></script>', ""
    )


def test_organizations_are_reused_by_name(web_form):
    existing = Organization.objects.create(name="Acme Corp")
    submit_web_form(
        form=web_form, data={"first_name": "A", "email": "a@acme.example", "company": "acme corp"}
    )
    assert Organization.objects.count() == 1
    assert Contact.objects.get().memberships.get().organization == existing


def test_web_forms_are_configured_through_the_service_only(web_form):
    assert WebForm.objects.get().fields[2] == {
        "target": "email",
        "label": "Work email",
        "required": True,
    }


def test_the_embed_script_has_an_address_that_survives_releases(web_form):
    from django.test import RequestFactory

    from rapport.sales.webform_embed import embed_html

    response = Client().get("/sales/forms/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"form[data-rapport-form]" in response.content
    snippet = embed_html(RequestFactory().get("/", HTTP_HOST="localhost:8000"), web_form)
    assert '<script src="http://localhost:8000/sales/forms/embed.js" defer></script>' in snippet
    assert f'action="http://localhost:8000/sales/forms/{web_form.public_id}/submit"' in snippet


def test_the_visitor_waits_only_for_the_stored_submission(web_form, django_assert_num_queries):
    data = {"first_name": "Quick", "email": "quick@example.com", "company": "Quick Ltd"}
    # The form, both rate-limit counters in one upsert, the submission row: nothing of the
    # contact, the timeline or the identity checks, which the processing task does.
    with django_assert_num_queries(3):
        response = post(Client(), web_form, data, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json()["ok"] is True
    submission = WebFormSubmission.objects.get()
    assert submission.processed_at is None and submission.contact is None
    assert submission.data["pending"]["values"]["email"] == "quick@example.com"
    assert not Contact.objects.exists()


def test_processing_a_stored_submission_makes_the_lead_once(web_form):
    from rapport.sales.services.webforms import process_submission

    post(Client(), web_form, {"first_name": "Later", "email": "later@example.com", "consent": "on"})
    submission = WebFormSubmission.objects.get()
    result = process_submission(submission_id=submission.pk)
    assert result.is_new_contact and result.contact.primary_email == "later@example.com"
    assert process_submission(submission_id=submission.pk) is None  # a second delivery
    submission.refresh_from_db()
    assert submission.contact == result.contact and submission.processed_at is not None
    assert "pending" not in submission.data and submission.data["consent"] is True
    assert Contact.objects.count() == 1
    interaction = Interaction.objects.get(contact=result.contact)
    assert interaction.occurred_at == submission.created_at
    web_form.refresh_from_db()
    assert web_form.submission_count == 1


def test_the_schedule_requeues_submissions_whose_task_was_lost(web_form):
    import datetime as dt

    from django.utils import timezone

    from rapport.sales.models import WebFormRateCounter
    from rapport.sales.services.webforms import (
        REQUEUE_AFTER,
        current_minute,
        requeue_unprocessed_submissions,
    )

    post(Client(), web_form, {"first_name": "Lost", "email": "lost@example.com"})
    submission = WebFormSubmission.objects.get()
    now = timezone.now()
    assert requeue_unprocessed_submissions(now=now) == 0  # still young: its task may be queued
    WebFormRateCounter.objects.create(key="ip:old", minute=current_minute(now) - 5, count=3)
    later = now + REQUEUE_AFTER + dt.timedelta(seconds=1)
    assert requeue_unprocessed_submissions(now=later) == 1
    submission.refresh_from_db()
    assert submission.processed_at is not None
    assert Contact.objects.get().primary_email == "lost@example.com"
    assert not WebFormRateCounter.objects.filter(key="ip:old").exists()
    assert requeue_unprocessed_submissions(now=later) == 0


def test_rate_limit_counters_start_again_each_minute(web_form, monkeypatch):
    from rapport.sales.services import webforms

    monkeypatch.setattr(webforms, "current_minute", lambda now=None: 1000)
    count = webforms.count_submission_attempt
    assert count(form=web_form, client_address="192.0.2.1") == (1, 1)
    assert count(form=web_form, client_address="192.0.2.1") == (2, 2)
    assert count(form=web_form, client_address="192.0.2.2") == (1, 3)
    monkeypatch.setattr(webforms, "current_minute", lambda now=None: 1001)
    assert count(form=web_form, client_address="192.0.2.1") == (1, 1)


def test_the_submissions_api_tells_processed_from_queued(web_form, admin_user, api_client_for):
    processed = submit_web_form(form=web_form, data={"first_name": "Pia", "email": "pia@x.example"})
    # Its processing is queued after commit, and the test's transaction never commits.
    queued = receive_web_form_submission(
        form=web_form, data={"first_name": "Queued", "email": "q@x.example"}
    )
    response = api_client_for(admin_user).get(f"/api/v1/web-forms/{web_form.pk}/submissions")
    assert response.status_code == 200
    by_id = {row["id"]: row for row in response.json()}
    assert by_id[processed.submission.pk]["contact_id"] == processed.contact.pk
    assert by_id[processed.submission.pk]["processed_at"] is not None
    assert by_id[queued.submission.pk]["contact_id"] is None
    assert by_id[queued.submission.pk]["processed_at"] is None
