"""The timeline on the 360° pages: logging by hand, load more, delete, merged sources, access."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeRecord
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import display, registry
from rapport.interactions.models import Interaction
from rapport.interactions.services import log_interaction
from rapport.interactions.views import TIMELINE_PAGE

pytestmark = pytest.mark.django_db

XSS = "<script>alert('x')</script>"


@pytest.fixture
def contact(owner):
    return make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")


@pytest.fixture
def client(owner, web_client_for):
    return web_client_for(owner)


def log_data(**overrides):
    data = {
        "kind": "call",
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "subject": "Renewal",
        "body": "Agreed to a pilot.",
        "outcome": "connected",
        "duration_minutes": "15",
        "direction": "outbound",
    }
    data.update(overrides)
    return data


def test_logging_a_call_with_htmx_returns_the_entry_for_the_timeline(client, owner, contact):
    url = reverse("interactions:log_for_contact", args=[contact.pk])

    response = client.post(url, log_data(), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    interaction = Interaction.objects.get()
    assert response.status_code == 200
    assert (interaction.kind, interaction.outcome, interaction.duration_minutes) == (
        "call",
        "connected",
        15,
    )
    assert (interaction.contact, interaction.actor, interaction.subject) == (
        contact,
        owner,
        "Renewal",
    )
    # A fresh form replaces the old one; the entry goes to the top of the timeline.
    assert 'id="log-form"' in html
    assert 'hx-swap-oob="afterbegin:#timeline-list"' in html
    assert f'id="interaction-{interaction.pk}"' in html
    assert "Agreed to a pilot." in html
    assert "Call logged." in html
    assert 'id="contact-last-touched" hx-swap-oob="true"' in html
    contact.refresh_from_db()
    assert contact.last_touched_at == interaction.occurred_at


def test_a_note_drops_call_only_fields(client, contact):
    client.post(
        reverse("interactions:log_for_contact", args=[contact.pk]),
        log_data(kind="note", subject="", outcome="connected", duration_minutes="30"),
        HTTP_HX_REQUEST="true",
    )

    note = Interaction.objects.get()
    assert (note.kind, note.outcome, note.duration_minutes, note.direction) == (
        "note",
        "",
        None,
        "internal",
    )


def test_bad_input_shows_errors_beside_fields_and_logs_nothing(client, contact):
    url = reverse("interactions:log_for_contact", args=[contact.pk])

    response = client.post(
        url,
        log_data(occurred_at="yesterday-ish", duration_minutes="-5", subject="x" * 201),
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_log_occurred_at_error"' in html
    assert 'id="id_log_duration_minutes_error"' in html
    assert 'id="id_log_subject_error"' in html
    assert Interaction.objects.count() == 0


def test_an_empty_note_is_refused_beside_its_text(client, contact):
    response = client.post(
        reverse("interactions:log_for_contact", args=[contact.pk]),
        log_data(kind="note", subject="", body="   "),
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert '<p class="field-error" id="id_log_body_error" role="alert">' in html
    assert "Write the note: it is empty." in html
    assert "Note logged." not in html
    assert Interaction.objects.count() == 0


def test_service_rule_errors_land_beside_the_field(client, contact):
    # A meeting outcome on a call passes the form's choices but not the service's rule.
    response = client.post(
        reverse("interactions:log_for_contact", args=[contact.pk]),
        log_data(outcome="no_show"),
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 422
    assert 'id="id_log_outcome_error"' in response.content.decode()
    assert Interaction.objects.count() == 0


def test_logging_without_htmx_redirects_back(client, contact):
    response = client.post(reverse("interactions:log_for_contact", args=[contact.pk]), log_data())

    assert response.status_code == 302
    assert response["Location"] == contact.get_absolute_url()
    assert Interaction.objects.count() == 1


def test_logging_on_an_organization(client, owner):
    org = make_organization(actor=owner, owner=owner)

    client.post(
        reverse("interactions:log_for_organization", args=[org.pk]),
        log_data(kind="meeting", outcome="completed"),
        HTTP_HX_REQUEST="true",
    )

    meeting = Interaction.objects.get()
    assert (meeting.organization, meeting.contact, meeting.outcome) == (org, None, "completed")
    assert "completed" in client.get(org.get_absolute_url()).content.decode().lower()


def test_load_more_pages_through_the_timeline(client, owner, contact):
    start = timezone.now() - dt.timedelta(days=100)
    for number in range(TIMELINE_PAGE + 5):
        log_interaction(
            actor=owner,
            kind="note",
            contact=contact,
            body=f"note-{number:03d}",
            occurred_at=start + dt.timedelta(hours=number),
        )

    page = client.get(contact.get_absolute_url()).content.decode()
    newest = f"note-{TIMELINE_PAGE + 4:03d}"
    assert newest in page and "note-004" not in page
    assert "Load more" in page

    more = client.get(
        reverse("interactions:contact_timeline", args=[contact.pk]),
        {"page": 2},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert [f"note-{n:03d}" in more for n in range(5)] == [True] * 5
    assert newest not in more
    # The button is replaced out of band, and there is nothing further to load.
    assert 'id="timeline-more" hx-swap-oob="true"' in more
    assert "Load more" not in more


def test_timeline_merges_other_sources_newest_first(client, owner, contact, monkeypatch):
    now = timezone.now()
    log_interaction(
        actor=owner,
        kind="note",
        contact=contact,
        body="old note",
        occurred_at=now - dt.timedelta(3),
    )
    log_interaction(actor=owner, kind="note", contact=contact, body="new note", occurred_at=now)

    def orders(contact_ids, organization_ids, limit):
        return [
            registry.TimelineEntry(
                occurred_at=(now - dt.timedelta(days=1)).date(),
                kind="order",
                title=f"Order {XSS}",
                url="/commerce/orders/1/",
            )
        ]

    def broken(contact_ids, organization_ids, limit):
        raise RuntimeError("source bug")

    monkeypatch.setattr(
        registry,
        "timeline_sources",
        [
            registry.TimelineSource(key="orders", entries=orders),
            registry.TimelineSource(key="broken", entries=broken),
        ],
    )

    html = client.get(contact.get_absolute_url()).content.decode()

    assert html.index("new note") < html.index("Order &lt;script&gt;") < html.index("old note")
    assert XSS not in html
    assert "could not be loaded (broken)" in html


def test_delete_an_entry(client, owner, contact):
    interaction = log_interaction(actor=owner, kind="note", contact=contact, body="oops")

    response = client.post(
        reverse("interactions:interaction_delete", args=[interaction.pk]), HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response.content == b""
    assert not Interaction.objects.exists()
    # A note has no subject: the audit history names it by its day.
    assert ChangeRecord.objects.filter(
        object_id=str(interaction.pk),
        object_repr=f"Note: {display.day_text(interaction.occurred_at, 'dated')}",
    ).exists()


def test_only_author_owner_or_admin_may_delete(owner, teammate, contact, web_client_for):
    interaction = log_interaction(actor=owner, kind="note", contact=contact, body="keep")
    url = reverse("interactions:interaction_delete", args=[interaction.pk])

    assert web_client_for(teammate).post(url).status_code == 403
    assert Interaction.objects.filter(pk=interaction.pk).exists()


def test_outsider_gets_404(owner, outsider, contact, web_client_for):
    interaction = log_interaction(actor=owner, kind="note", contact=contact, body="secret")
    client = web_client_for(outsider)

    assert (
        client.post(
            reverse("interactions:log_for_contact", args=[contact.pk]), log_data()
        ).status_code
        == 404
    )
    assert (
        client.get(
            reverse("interactions:contact_timeline", args=[contact.pk]), HTTP_HX_REQUEST="true"
        ).status_code
        == 404
    )
    assert (
        client.post(reverse("interactions:interaction_delete", args=[interaction.pk])).status_code
        == 404
    )
    assert Interaction.objects.count() == 1


def test_read_only_role_gets_403(owner, sales_team, contact, web_client_for):
    role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "team"})
    viewer = UserFactory(username="viewer", role=role, teams=[sales_team])
    client = web_client_for(viewer)

    response = client.post(reverse("interactions:log_for_contact", args=[contact.pk]), log_data())

    assert response.status_code == 403
    assert Interaction.objects.count() == 0


def test_text_in_the_timeline_is_escaped(client, owner, contact):
    client.post(
        reverse("interactions:log_for_contact", args=[contact.pk]),
        log_data(subject=XSS, body=XSS),
        HTTP_HX_REQUEST="true",
    )

    for html in (
        client.get(contact.get_absolute_url()).content.decode(),
        client.get(reverse("core:home")).content.decode(),
    ):
        assert XSS not in html
        assert "&lt;script&gt;" in html


def test_home_lists_my_recent_interactions(client, owner, teammate, contact):
    log_interaction(actor=owner, kind="call", contact=contact, subject="Mine", outcome="busy")
    log_interaction(actor=teammate, kind="call", contact=contact, subject="Theirs")

    html = client.get(reverse("core:home")).content.decode()

    assert "Mine" in html and "Busy" in html
    assert "Theirs" not in html
