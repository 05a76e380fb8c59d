"""The contact and organization pages: lists, forms, 360° pages, access and escaping."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rapport.contacts import services
from rapport.contacts.models import (
    Consent,
    Contact,
    LifecycleChange,
    Membership,
    Organization,
    OrganizationRelationship,
)
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core import registry
from rapport.core.tests.pages import page_with_panels
from rapport.customfields.services import create_definition
from rapport.interactions.services import log_interaction

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


@pytest.fixture
def client(owner, web_client_for):
    return web_client_for(owner)


@pytest.fixture
def region(admin_user):
    return create_definition(
        actor=admin_user,
        entity="contact",
        key="region",
        label="Sales region",
        field_type="choice",
        choices=["North", "South"],
    )


@pytest.fixture
def seats(admin_user):
    return create_definition(
        actor=admin_user,
        entity="contact",
        key="seats",
        label="Seats",
        field_type="number",
        min_value=1,
    )


def contact_form_data(**overrides):
    """A valid POST of the contact form: one email row, one phone row."""
    data = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "job_title": "Rear Admiral",
        "organization_name": "",
        "organization_role": "",
        "lifecycle_stage": "lead",
        "owner": "",
        "tags": "navy, cobol",
        "source": "manual",
        "source_detail": "",
        "street": "",
        "city": "Arlington",
        "postcode": "",
        "region": "",
        "country": "US",
        "about": "",
        "email_key": ["e1"],
        "email": ["Grace@Navy.mil"],
        "email_label": ["work"],
        "email_primary": "e1",
        "phone_key": ["p1"],
        "phone": ["+1 415 555 0100"],
        "phone_label": ["mobile"],
        "phone_primary": "p1",
    }
    for channel in ("email", "phone", "sms", "post", "messaging"):
        data[f"consent_{channel}_status"] = "unknown"
        data[f"consent_{channel}_basis"] = ""
    data.update(overrides)
    return data


def error_beside(html: str, input_id: str) -> str:
    """The text of the error element that the input with `input_id` points at."""
    match = re.search(rf'id="{re.escape(input_id)}_error"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no error beside {input_id}"
    return match.group(1).strip()


# -- list ------------------------------------------------------------------------------------
def test_list_needs_sign_in(db):
    from django.test import Client

    response = Client().get(reverse("contacts:contact_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_list_shows_only_contacts_in_scope(client, owner, teammate, outsider):
    make_contact(actor=owner, owner=owner, first_name="Mine")
    make_contact(actor=teammate, owner=teammate, first_name="Teams")
    make_contact(actor=outsider, owner=outsider, first_name="Theirs")

    html = client.get(reverse("contacts:contact_list")).content.decode()

    assert "Mine Lovelace" in html
    assert "Teams Lovelace" in html
    assert "Theirs" not in html


@pytest.mark.parametrize(
    "query",
    ["grace", "hopper@navy", "4155550123", "analytical"],
    ids=["name", "email", "phone", "organization"],
)
def test_search_finds_by_name_email_phone_and_organization(client, owner, query):
    org = make_organization(actor=owner, owner=owner, name="Analytical Engines")
    make_contact(
        actor=owner,
        owner=owner,
        first_name="Grace",
        last_name="Hopper",
        emails=["hopper@navy.mil"],
        phones=["+1 415 555 0123"],
        organization=org,
    )
    make_contact(actor=owner, owner=owner, first_name="Alan", last_name="Turing")

    html = client.get(reverse("contacts:contact_list"), {"q": query}).content.decode()

    assert "Grace Hopper" in html
    assert "Alan Turing" not in html


def test_htmx_search_renders_only_the_results_fragment(client, owner):
    make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")

    response = client.get(reverse("contacts:contact_list"), {"q": "grace"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Grace Hopper" in html
    assert "HX-Request" in response["Vary"]


def test_filters_by_owner_stage_tag_and_custom_field(client, owner, teammate, region):
    make_contact(
        actor=owner,
        owner=owner,
        first_name="North",
        lifecycle_stage="customer",
        tags=["vip"],
        custom_fields={"region": "North"},
    )
    make_contact(
        actor=owner,
        owner=teammate,
        first_name="South",
        lifecycle_stage="lead",
        custom_fields={"region": "South"},
    )
    url = reverse("contacts:contact_list")

    def names(params):
        html = client.get(url, params).content.decode()
        return [n for n in ("North Lovelace", "South Lovelace") if n in html]

    assert names({"owner": "me"}) == ["North Lovelace"]
    assert names({"owner": str(teammate.pk)}) == ["South Lovelace"]
    assert names({"lifecycle_stage": "lead"}) == ["South Lovelace"]
    assert names({"tag": "vip"}) == ["North Lovelace"]
    assert names({"cf_region": "South"}) == ["South Lovelace"]


def test_custom_field_filters_are_generated_from_definitions(client, region):
    html = client.get(reverse("contacts:contact_list")).content.decode()

    assert 'name="cf_region"' in html
    assert '<option value="North"' in html


def test_a_bad_filter_value_is_reported_not_a_500(client, owner):
    make_contact(actor=owner, owner=owner)

    response = client.get(reverse("contacts:contact_list"), {"lifecycle_stage": "bogus"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Some filters cannot be used" in html
    assert "lifecycle_stage" in html


def test_sorts_by_name_both_ways_and_by_stage(client, owner):
    for first, last, stage in [
        ("Ann", "Able", "customer"),
        ("Bob", "Baker", "subscriber"),
        ("Cy", "Cole", "lead"),
    ]:
        make_contact(
            actor=owner, owner=owner, first_name=first, last_name=last, lifecycle_stage=stage
        )
    url = reverse("contacts:contact_list")

    def order(sort):
        html = client.get(url, {"sort": sort}).content.decode()
        return sorted(["Ann", "Bob", "Cy"], key=lambda name: html.index(f"{name} "))

    assert order("name") == ["Ann", "Bob", "Cy"]
    assert order("-name") == ["Cy", "Bob", "Ann"]
    # Funnel order: subscriber, lead, ..., customer.
    assert order("lifecycle") == ["Bob", "Cy", "Ann"]


def test_sorts_by_last_touched_with_never_touched_last(client, owner):
    from django.utils import timezone

    touched = make_contact(actor=owner, owner=owner, first_name="Touched")
    make_contact(actor=owner, owner=owner, first_name="Untouched")
    log_interaction(
        actor=owner, kind="note", contact=touched, body="Met", occurred_at=timezone.now()
    )

    html = client.get(reverse("contacts:contact_list"), {"sort": "-last_touched"}).content.decode()

    assert html.index("Touched Lovelace") < html.index("Untouched Lovelace")


def test_keyset_pages_forward_and_back(client, owner):
    for number in range(55):
        make_contact(actor=owner, owner=owner, first_name="P", last_name=f"Person{number:03d}")
    url = reverse("contacts:contact_list")

    first = client.get(url)
    assert first.context["page"].previous_cursor is None
    names = [row.contact.last_name for row in first.context["rows"]]
    assert names[0] == "Person000" and names[-1] == "Person049" and len(names) == 50
    cursor = first.context["page"].next_cursor
    assert cursor

    second = client.get(url, {"after": cursor}, HTTP_HX_REQUEST="true")
    assert [row.contact.last_name for row in second.context["rows"]] == [
        f"Person{n:03d}" for n in range(50, 55)
    ]
    assert second.context["page"].next_cursor is None

    back = client.get(url, {"before": second.context["page"].previous_cursor})
    assert [row.contact.last_name for row in back.context["rows"]] == names
    assert back.context["page"].previous_cursor is None


def test_a_damaged_cursor_restarts_at_the_first_page(client, owner):
    make_contact(actor=owner, owner=owner)

    response = client.get(reverse("contacts:contact_list"), {"after": "not-a-cursor"})

    assert response.status_code == 200
    assert "start again from the first page" in response.content.decode()
    assert len(response.context["rows"]) == 1


def test_count_is_capped_so_huge_lists_stay_cheap(client, owner, monkeypatch):
    monkeypatch.setattr("rapport.contacts.tables.COUNT_CAP", 3)
    for number in range(51):
        make_contact(actor=owner, owner=owner, first_name=f"N{number}")

    html = client.get(reverse("contacts:contact_list")).content.decode()

    assert "More than 3 contacts" in html


def test_a_search_that_fits_on_one_page_is_counted_without_a_count_query(client, owner):
    for number in range(3):
        make_contact(actor=owner, owner=owner, first_name=f"Zed{number}")
    make_contact(actor=owner, owner=owner, first_name="Other")
    url = reverse("contacts:contact_list")
    client.get(url)  # warm the session

    with CaptureQueriesContext(connection) as queries:
        html = client.get(url, {"q": "zed"}).content.decode()

    assert "3 contacts" in html
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_archived_view_lists_only_archived(client, owner):
    kept = make_contact(actor=owner, owner=owner, first_name="Kept")
    gone = make_contact(actor=owner, owner=owner, first_name="Gone")
    services.archive_contact(actor=owner, contact=gone)
    url = reverse("contacts:contact_list")

    active = client.get(url).content.decode()
    archived = client.get(url, {"archived": "true"}).content.decode()

    assert kept.full_name in active and gone.full_name not in active
    assert gone.full_name in archived and kept.full_name not in archived


def test_empty_states(client, owner):
    url = reverse("contacts:contact_list")
    assert "No contacts yet" in client.get(url).content.decode()
    make_contact(actor=owner, owner=owner)
    assert "No contacts match" in client.get(url, {"q": "zzz"}).content.decode()


def test_a_list_row_shows_every_cell_escaped(client, owner):
    org = make_organization(actor=owner, owner=owner, name="Engines & Co")
    contact = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="O'Hara",
        job_title="CTO",
        phones=["+1 415 555 0100"],
        organization=org,
        organization_role="R&D",
        tags=["a1", "a2", "a3", "a4", "a5"],
        lifecycle_stage="customer",
    )
    services.archive_contact(actor=owner, contact=contact)

    html = client.get(reverse("contacts:contact_list"), {"archived": "true"}).content.decode()

    row = re.search(r"<tr><td class=\"primary-cell\">.*?</tr>", html).group(0)
    assert f'<a href="{contact.get_absolute_url()}">Ada O&#x27;Hara</a>' in row
    assert '<span class="sub">CTO</span>' in row
    assert f'<a href="{org.get_absolute_url()}">Engines &amp; Co</a>' in row
    assert '<span class="muted small"> · R&amp;D</span>' in row
    assert "(415) 555-0100" in row  # a number of the home region (US) reads the national way
    assert '<span class="badge stage-customer">Customer</span>' in row
    assert '<span class="badge archived">Archived</span>' in row
    assert row.count('<span class="tag">') == 3 and '<span class="muted small">+2</span>' in row
    assert '<span class="muted">Never</span>' in row
    assert f">{owner}<" in row


def test_export_link_carries_the_list_filters_but_not_its_page_or_sort(client, owner, teammate):
    for number in range(55):
        make_contact(actor=owner, owner=owner, first_name="Pat", last_name=f"Mine{number:03d}")
    make_contact(actor=teammate, owner=teammate, first_name="Pat", last_name="Theirs")
    url = reverse("contacts:contact_list")
    first = client.get(url, {"q": "pat", "owner": "me", "sort": "-name"})
    cursor = first.context["page"].next_cursor

    html = client.get(
        url, {"q": "pat", "owner": "me", "sort": "-name", "after": cursor}, HTTP_HX_REQUEST="true"
    ).content.decode()

    link = re.search(r'<a href="([^"]*)">Export</a>', html).group(1).replace("&amp;", "&")
    path, _, query = link.partition("?")
    assert path == reverse("data_exchange:export")
    assert sorted(query.split("&")) == ["entity=contact", "owner=me", "q=pat"]
    export = client.get(link)
    assert export.status_code == 200
    assert export.context["count"] == 55


def test_organization_export_link_carries_the_filters(client, owner):
    make_organization(actor=owner, owner=owner, name="Engines Ltd")
    make_organization(actor=owner, owner=owner, name="Looms Ltd")

    html = client.get(reverse("contacts:organization_list"), {"q": "engines"}).content.decode()

    link = re.search(r'<a href="([^"]*)">Export</a>', html).group(1).replace("&amp;", "&")
    assert link == reverse("data_exchange:export") + "?q=engines&entity=organization"
    assert client.get(link).context["count"] == 1


def test_list_of_50_rows_keeps_a_query_budget(client, owner, region, django_assert_max_num_queries):
    org = make_organization(actor=owner, owner=owner)
    for number in range(60):
        make_contact(
            actor=owner,
            owner=owner,
            first_name=f"C{number}",
            emails=[f"c{number}@example.com"],
            phones=["+1 415 555 0100"],
            organization=org,
            tags=["a", "b"],
            custom_fields={"region": "North"},
        )
    url = reverse("contacts:contact_list")
    client.get(url)  # warm the session

    # session + user + teams (scope) + rows + tags + memberships + count + owners + tags
    # list + custom-field definitions (filters) + list preference + saved views — independent
    # of the number of rows.
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert len(response.context["rows"]) == 50


# -- create / edit -------------------------------------------------------------------------
def test_create_contact_with_everything(client, owner, region):
    org = make_organization(actor=owner, owner=owner, name="Navy Labs")
    data = contact_form_data(
        organization_name="navy labs",
        organization_role="Researcher",
        owner=str(owner.pk),
        cf_region="North",
        consent_email_status="granted",
        consent_email_basis="consent",
        email_key=["e1", "e2"],
        email=["grace@navy.mil", "hopper@example.com"],
        email_label=["work", "home"],
        email_primary="e2",
    )

    response = client.post(reverse("contacts:contact_create"), data)

    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response["Location"] == contact.get_absolute_url()
    assert contact.full_name == "Grace Hopper"
    assert contact.primary_email == "hopper@example.com"
    assert sorted(e.email for e in contact.emails.all()) == [
        "grace@navy.mil",
        "hopper@example.com",
    ]
    assert contact.primary_phone == "+14155550100"
    assert contact.custom_fields == {"region": "North"}
    assert sorted(t.name for t in contact.tags.all()) == ["cobol", "navy"]
    membership = Membership.objects.get(contact=contact)
    assert (membership.organization, membership.role) == (org, "Researcher")
    consent = Consent.objects.get(contact=contact)
    assert (consent.channel, consent.status, consent.lawful_basis) == (
        "email",
        "granted",
        "consent",
    )


def test_bad_email_shows_error_beside_that_row_and_writes_nothing(client):
    data = contact_form_data(
        email_key=["ok", "bad"],
        email=["fine@example.com", "not-an-email"],
        email_label=["work", "work"],
        email_primary="ok",
    )

    response = client.post(reverse("contacts:contact_create"), data)

    html = response.content.decode()
    assert response.status_code == 422
    assert error_beside(html, "id_email_bad") == "Enter a valid email address."
    assert 'id="id_email_ok_error"' not in html
    assert 'value="not-an-email"' in html  # what the user typed is kept
    assert Contact.objects.count() == 0


def test_bad_phone_shows_error_beside_the_phone(client):
    response = client.post(
        reverse("contacts:contact_create"), contact_form_data(phone=["12"], phone_key=["p9"])
    )

    assert response.status_code == 422
    assert "valid phone number" in error_beside(response.content.decode(), "id_phone_p9")
    assert Contact.objects.count() == 0


def test_service_errors_land_beside_their_fields(client):
    # Nothing to identify the person: the service's rule, shown on the first name.
    data = contact_form_data(first_name="", last_name="", email=[""], phone=[""])

    response = client.post(reverse("contacts:contact_create"), data)

    assert response.status_code == 422
    assert "Give at least a name" in error_beside(response.content.decode(), "id_first_name")
    assert Contact.objects.count() == 0


def test_custom_field_validation_in_the_form(client, region, seats):
    response = client.post(
        reverse("contacts:contact_create"),
        contact_form_data(cf_region="Atlantis", cf_seats="2.5"),
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert error_beside(html, "id_cf_region") == "Choose one of: North, South."
    assert error_beside(html, "id_cf_seats") == "Enter a whole number."
    assert Contact.objects.count() == 0


def test_required_custom_field_and_its_default(client, admin_user):
    create_definition(
        actor=admin_user,
        entity="contact",
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["Gold", "Silver"],
        is_required=True,
        default="Silver",
    )
    form_html = client.get(reverse("contacts:contact_create")).content.decode()
    assert re.search(r'<option value="Silver" selected>', form_html)

    response = client.post(reverse("contacts:contact_create"), contact_form_data(cf_tier=""))

    assert response.status_code == 422
    assert error_beside(response.content.decode(), "id_cf_tier") == "This field is required."


def test_unique_custom_field_error_comes_from_the_service(client, owner, admin_user):
    create_definition(
        actor=admin_user,
        entity="contact",
        key="member_no",
        label="Member number",
        field_type="text",
        is_unique=True,
    )
    make_contact(actor=owner, owner=owner, custom_fields={"member_no": "A-1"})

    response = client.post(
        reverse("contacts:contact_create"), contact_form_data(cf_member_no="A-1")
    )

    assert response.status_code == 422
    assert "already has this value" in error_beside(response.content.decode(), "id_cf_member_no")
    assert Contact.objects.count() == 1


def test_consent_granted_needs_a_lawful_basis(client):
    response = client.post(
        reverse("contacts:contact_create"), contact_form_data(consent_sms_status="granted")
    )

    assert response.status_code == 422
    assert "lawful basis" in response.content.decode()
    assert Contact.objects.count() == 0


def test_unknown_organization_name_is_an_error_beside_the_field(client):
    response = client.post(
        reverse("contacts:contact_create"), contact_form_data(organization_name="Nowhere Inc")
    )

    assert response.status_code == 422
    assert "No organization called" in error_beside(
        response.content.decode(), "id_organization_name"
    )


def test_likely_duplicates_are_shown_before_saving(client, owner, monkeypatch):
    seen = []

    def warnings(data, exclude_pk):
        seen.append(data)
        return [{"message": "Grace Hopper looks the same", "url": "/contacts/1/", "score": 0.9}]

    monkeypatch.setattr(
        registry, "contact_checks", [registry.ContactCheck(key="test", warnings=warnings)]
    )
    url = reverse("contacts:contact_create")

    first = client.post(url, contact_form_data())

    assert first.status_code == 200
    assert "Grace Hopper looks the same" in first.content.decode()
    assert "Save anyway" in first.content.decode()
    assert Contact.objects.count() == 0
    assert seen[0]["emails"] == ["grace@navy.mil"]
    assert seen[0]["phones"] == ["+14155550100"]

    second = client.post(url, contact_form_data(save_anyway="1"))

    assert second.status_code == 302
    assert Contact.objects.count() == 1


def test_edit_replaces_rows_and_moves_the_stage(client, owner):
    contact = make_contact(
        actor=owner, owner=owner, emails=["a@example.com", "b@example.com"], lifecycle_stage="lead"
    )
    form = client.get(reverse("contacts:contact_edit", args=[contact.pk]))
    assert 'value="a@example.com"' in form.content.decode()

    data = contact_form_data(
        first_name="Ada",
        last_name="King",
        lifecycle_stage="customer",
        owner=str(owner.pk),
        email_key=["k1"],
        email=["b@example.com"],
        email_label=["home"],
        email_primary="k1",
        phone_key=["k2"],
        phone=[""],
        phone_label=["work"],
    )
    response = client.post(reverse("contacts:contact_edit", args=[contact.pk]), data)

    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.full_name == "Ada King"
    assert [e.email for e in contact.emails.all()] == ["b@example.com"]
    assert contact.phones.count() == 0
    assert contact.lifecycle_stage == "customer"
    assert list(contact.lifecycle_changes.values_list("to_stage", flat=True)) == [
        "customer",
        "lead",
    ]


def test_editing_keeps_a_deactivated_owner(client, owner, teammate):
    contact = make_contact(actor=owner, owner=teammate, first_name="Kept")
    teammate.is_active = False
    teammate.save()

    form = client.get(reverse("contacts:contact_edit", args=[contact.pk])).content.decode()
    assert f'<option value="{teammate.pk}" selected>' in form

    response = client.post(
        reverse("contacts:contact_edit", args=[contact.pk]),
        contact_form_data(first_name="Renamed", owner=str(teammate.pk)),
    )

    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.first_name, contact.owner) == ("Renamed", teammate)


def test_archive_and_restore(client, owner):
    contact = make_contact(actor=owner, owner=owner)

    client.post(reverse("contacts:contact_archive", args=[contact.pk]))
    contact.refresh_from_db()
    assert contact.is_archived
    page = client.get(contact.get_absolute_url()).content.decode()
    assert "Restore" in page

    client.post(reverse("contacts:contact_restore", args=[contact.pk]))
    contact.refresh_from_db()
    assert not contact.is_archived


# -- 360° page -----------------------------------------------------------------------------
def test_360_page_shows_profile_custom_fields_lifecycle_consent_and_timeline(client, owner, region):
    org = make_organization(actor=owner, owner=owner, name="Navy Labs")
    contact = make_contact(
        actor=owner,
        owner=owner,
        first_name="Grace",
        last_name="Hopper",
        emails=["grace@navy.mil"],
        organization=org,
        organization_role="Researcher",
        custom_fields={"region": "North"},
        external_ids=[{"system": "shop", "value": "C-77"}],
    )
    services.set_lifecycle_stage(actor=owner, contact=contact, stage="opportunity")
    services.set_consent(
        actor=owner, contact=contact, channel="email", status="granted", lawful_basis="contract"
    )
    log_interaction(actor=owner, kind="call", contact=contact, body="Discussed the compiler")

    html = page_with_panels(client, contact.get_absolute_url())

    assert "Grace Hopper" in html
    assert "Navy Labs" in html and "Researcher" in html
    assert "Sales region" in html and "North" in html
    assert "Opportunity" in html and "Lead" in html  # stage and its history
    assert "Contract" in html  # consent basis
    assert "C-77" in html
    assert "Discussed the compiler" in html
    assert 'id="panel-timeline"' in html


def test_360_page_merges_registered_timeline_sources(client, owner, monkeypatch):
    import datetime as dt

    from django.utils import timezone

    contact = make_contact(actor=owner, owner=owner)
    log_interaction(
        actor=owner,
        kind="note",
        contact=contact,
        body="older note",
        occurred_at=timezone.now() - dt.timedelta(days=2),
    )

    def entries(contact_ids, organization_ids, limit):
        assert contact_ids == [contact.pk]
        return [
            registry.TimelineEntry(
                occurred_at=timezone.now() - dt.timedelta(days=1), kind="order", title="Order #9"
            )
        ]

    monkeypatch.setattr(
        registry,
        "timeline_sources",
        [registry.TimelineSource(key="orders", entries=entries)],
    )

    html = page_with_panels(client, contact.get_absolute_url())

    assert html.index("Order #9") < html.index("older note")


def test_panels_registered_by_other_apps_render_in_their_column(client, owner, monkeypatch):
    from types import SimpleNamespace

    contact = make_contact(actor=owner, owner=owner)
    panels = dict(registry.panels)
    panels["contact"] = [
        *registry.panels["contact"],
        registry.Panel(
            key="score",
            title="Lead score",
            # Any template will do: this one lists (system, value) pairs.
            template="contacts/panels/contact_external_ids.html",
            context=lambda request, obj: {
                "ids": [SimpleNamespace(system="score", value=f"score-of-{obj.pk}")]
            },
            column="side",
        ),
        registry.Panel(
            key="hidden",
            title="Nothing to show",
            template="contacts/panels/contact_external_ids.html",
            context=lambda request, obj: None,
        ),
    ]
    monkeypatch.setattr(registry, "panels", panels)

    html = page_with_panels(client, contact.get_absolute_url())

    side = html[html.index('class="column-side"') :]
    assert "Lead score" in side and f"score-of-{contact.pk}" in side
    assert "Nothing to show" not in html


def test_side_panels_load_after_the_page_and_only_for_who_may_see_the_contact(
    client, owner, outsider
):
    contact = make_contact(actor=owner, owner=owner, first_name="Later")
    client.force_login(owner)
    page = client.get(contact.get_absolute_url()).content.decode()
    url = f"/contacts/{contact.pk}/panels/history/"
    assert f'hx-get="{url}" hx-trigger="load"' in page
    assert 'id="panel-details"' in page and "Loading…" in page

    panel = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="panel-history"' in panel and "Loading…" not in panel
    assert client.get(f"/contacts/{contact.pk}/panels/no-such-panel/").status_code == 404
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_a_failing_panel_does_not_take_the_page_down(client, owner, monkeypatch):
    contact = make_contact(actor=owner, owner=owner, first_name="Still")

    def broken(request, obj):
        raise RuntimeError("bug in another app")

    panels = dict(registry.panels)
    panels["contact"] = [
        *registry.panels["contact"],
        registry.Panel(key="broken", title="Broken", template="x.html", context=broken),
        registry.Panel(
            key="broken-side", title="Also broken", template="x.html", context=broken, column="side"
        ),
    ]
    monkeypatch.setattr(registry, "panels", panels)

    html = page_with_panels(client, contact.get_absolute_url())

    assert "Still Lovelace" in html
    # One in the page's own answer, one loaded after it.
    assert html.count("could not be shown") == 2


def test_inline_lifecycle_change_records_history(client, owner):
    contact = make_contact(actor=owner, owner=owner, lifecycle_stage="lead")

    response = client.post(
        reverse("contacts:contact_lifecycle", args=[contact.pk]),
        {"stage": "sales_qualified", "reason": "budget confirmed"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="panel-lifecycle"' in html
    assert 'id="contact-stage-badge" hx-swap-oob="true"' in html
    change = LifecycleChange.objects.filter(contact=contact).first()
    assert (change.from_stage, change.to_stage, change.reason) == (
        "lead",
        "sales_qualified",
        "budget confirmed",
    )


def test_membership_add_and_remove_from_the_360_page(client, owner):
    contact = make_contact(actor=owner, owner=owner)
    org = make_organization(actor=owner, owner=owner, name="Difference Engines")

    added = client.post(
        reverse("contacts:contact_membership_add", args=[contact.pk]),
        {"organization_name": "Difference Engines", "role": "Advisor"},
        HTTP_HX_REQUEST="true",
    )
    assert added.status_code == 200
    assert Membership.objects.get(contact=contact).role == "Advisor"

    client.post(
        reverse("contacts:contact_membership_remove", args=[contact.pk, org.pk]),
        HTTP_HX_REQUEST="true",
    )
    assert not Membership.objects.filter(contact=contact).exists()


def test_a_refused_change_on_an_archived_contact_offers_no_form_the_page_hides(client, owner):
    contact = make_contact(actor=owner, owner=owner)
    services.archive_contact(actor=owner, contact=contact)
    add_url = reverse("contacts:contact_membership_add", args=[contact.pk])
    assert add_url not in client.get(contact.get_absolute_url()).content.decode()

    refused = client.post(add_url, {"organization_name": ""}, HTTP_HX_REQUEST="true")

    assert refused.status_code == 422
    assert 'id="panel-organizations"' in refused.content.decode()
    assert add_url not in refused.content.decode()
    assert not Membership.objects.filter(contact=contact).exists()


# -- access ---------------------------------------------------------------------------------
def test_outsider_gets_404_everywhere(owner, outsider, web_client_for):
    contact = make_contact(actor=owner, owner=owner)
    org = make_organization(actor=owner, owner=owner)
    client = web_client_for(outsider)

    for url in [
        reverse("contacts:contact_detail", args=[contact.pk]),
        reverse("contacts:contact_edit", args=[contact.pk]),
        reverse("contacts:organization_detail", args=[org.pk]),
        reverse("contacts:organization_edit", args=[org.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    for url in [
        reverse("contacts:contact_edit", args=[contact.pk]),
        reverse("contacts:contact_archive", args=[contact.pk]),
        reverse("contacts:contact_lifecycle", args=[contact.pk]),
        reverse("contacts:organization_archive", args=[org.pk]),
        reverse("contacts:organization_relationship_add", args=[org.pk]),
    ]:
        assert client.post(url, {"stage": "customer"}).status_code == 404, url
    contact.refresh_from_db()
    assert (contact.lifecycle_stage, contact.is_archived) == ("lead", False)


def test_teammate_sees_the_contact(owner, teammate, web_client_for):
    contact = make_contact(actor=owner, owner=owner)
    assert web_client_for(teammate).get(contact.get_absolute_url()).status_code == 200


def test_read_only_role_sees_no_edit_buttons_and_gets_403_on_writes(owner, viewer, web_client_for):
    contact = make_contact(actor=owner, owner=owner, first_name="Grace")
    client = web_client_for(viewer)

    page = client.get(contact.get_absolute_url()).content.decode()
    listing = client.get(reverse("contacts:contact_list")).content.decode()

    assert "Grace" in page
    assert reverse("contacts:contact_edit", args=[contact.pk]) not in page
    assert "Archive" not in page
    assert "Log it" not in page
    assert "New contact" not in listing
    assert client.post(reverse("contacts:contact_create"), contact_form_data()).status_code == 403
    assert client.get(reverse("contacts:contact_create")).status_code == 403
    assert (
        client.post(
            reverse("contacts:contact_edit", args=[contact.pk]), contact_form_data()
        ).status_code
        == 403
    )
    assert client.post(reverse("contacts:contact_archive", args=[contact.pk])).status_code == 403
    assert (
        client.post(
            reverse("contacts:contact_lifecycle", args=[contact.pk]), {"stage": "customer"}
        ).status_code
        == 403
    )
    assert Contact.objects.count() == 1
    contact.refresh_from_db()
    assert (contact.first_name, contact.lifecycle_stage, contact.is_archived) == (
        "Grace",
        "lead",
        False,
    )


# -- escaping and CSP ------------------------------------------------------------------------
def test_html_in_user_text_is_rendered_inert(client, owner, region):
    org = make_organization(actor=owner, owner=owner, name=XSS)
    contact = make_contact(
        actor=owner,
        owner=owner,
        first_name=XSS,
        last_name="<b>bold</b>",
        job_title=XSS,
        about=XSS,
        organization=org,
        organization_role=XSS,
        tags=["<i>tag</i>"],
    )
    log_interaction(actor=owner, kind="note", contact=contact, body=XSS)

    pages = [
        client.get(reverse("contacts:contact_list")).content.decode(),
        client.get(reverse("contacts:contact_list"), {"q": "script"}).content.decode(),
        client.get(contact.get_absolute_url()).content.decode(),
        client.get(reverse("contacts:contact_edit", args=[contact.pk])).content.decode(),
        client.get(org.get_absolute_url()).content.decode(),
        client.get(reverse("contacts:organization_list")).content.decode(),
        client.get(reverse("core:home")).content.decode(),
    ]

    for html in pages:
        assert XSS not in html
        assert "<b>bold</b>" not in html
        assert "<i>tag</i>" not in html
    assert "&lt;script&gt;" in pages[2]


def test_pages_have_no_inline_script_or_style(client, owner):
    contact = make_contact(actor=owner, owner=owner)
    org = make_organization(actor=owner, owner=owner)
    for url in [
        reverse("core:home"),
        reverse("contacts:contact_list"),
        reverse("contacts:contact_create"),
        contact.get_absolute_url(),
        reverse("contacts:contact_edit", args=[contact.pk]),
        reverse("contacts:organization_list"),
        org.get_absolute_url(),
        reverse("contacts:organization_create"),
    ]:
        html = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url


# -- organizations ---------------------------------------------------------------------------
def test_organization_list_search_and_scope(client, owner, outsider):
    make_organization(actor=owner, owner=owner, name="Analytical Engines", domain="ae.example")
    make_organization(actor=owner, owner=owner, name="Babbage & Co")
    make_organization(actor=outsider, owner=outsider, name="Hidden Corp")
    url = reverse("contacts:organization_list")

    html = client.get(url).content.decode()
    found = client.get(url, {"q": "ae.exa"}, HTTP_HX_REQUEST="true").content.decode()

    assert "Analytical Engines" in html and "Babbage &amp; Co" in html
    assert "Hidden Corp" not in html
    assert "Analytical Engines" in found and "Babbage" not in found


def test_create_organization_and_errors_beside_fields(client, owner, admin_user):
    create_definition(
        actor=admin_user,
        entity="organization",
        key="segment",
        label="Segment",
        field_type="choice",
        choices=["SMB", "Enterprise"],
    )
    url = reverse("contacts:organization_create")

    bad = client.post(url, {"name": "", "domain": "not a domain", "cf_segment": "Huge"})
    html = bad.content.decode()
    assert bad.status_code == 422
    assert error_beside(html, "id_name") == "This field is required."
    assert error_beside(html, "id_cf_segment") == "Choose one of: SMB, Enterprise."
    assert Organization.objects.count() == 0

    bad_domain = client.post(url, {"name": "Acme", "domain": "not a domain"})
    assert "domain such as example.com" in error_beside(bad_domain.content.decode(), "id_domain")
    assert Organization.objects.count() == 0

    good = client.post(
        url,
        {
            "name": "Acme",
            "domain": "https://www.Acme.com/about",
            "owner": str(owner.pk),
            "tags": "partner",
            "cf_segment": "SMB",
        },
    )
    org = Organization.objects.get()
    assert good.status_code == 302
    assert (org.domain, org.custom_fields) == ("acme.com", {"segment": "SMB"})


def test_organization_page_shows_members_and_relationships(client, owner):
    parent = make_organization(actor=owner, owner=owner, name="Holding AG")
    child = make_organization(actor=owner, owner=owner, name="Daughter GmbH")
    make_contact(
        actor=owner, owner=owner, first_name="Mia", organization=child, organization_role="CFO"
    )
    services.add_relationship(
        actor=owner, from_organization=parent, to_organization=child, kind="parent"
    )

    html = page_with_panels(client, child.get_absolute_url())

    assert "Mia Lovelace" in html and "CFO" in html
    assert "Holding AG" in html and "parent company of" in html


def test_add_and_remove_a_relationship(client, owner):
    supplier = make_organization(actor=owner, owner=owner, name="Parts Ltd")
    make_organization(actor=owner, owner=owner, name="Assembly Inc")
    url = reverse("contacts:organization_relationship_add", args=[supplier.pk])

    added = client.post(
        url, {"kind": "supplier", "other_name": "Assembly Inc"}, HTTP_HX_REQUEST="true"
    )
    assert added.status_code == 200
    relationship = OrganizationRelationship.objects.get()
    assert (relationship.kind, relationship.to_organization.name) == ("supplier", "Assembly Inc")

    to_self = client.post(
        url, {"kind": "partner", "other_name": "Parts Ltd"}, HTTP_HX_REQUEST="true"
    )
    assert to_self.status_code == 422
    assert "cannot be related to itself" in to_self.content.decode()

    client.post(
        reverse("contacts:organization_relationship_remove", args=[supplier.pk, relationship.pk]),
        HTTP_HX_REQUEST="true",
    )
    assert not OrganizationRelationship.objects.exists()


def test_organization_lookup_offers_only_visible_active_names(client, owner, outsider):
    make_organization(actor=owner, owner=owner, name="Acme Mine")
    make_organization(actor=outsider, owner=outsider, name="Acme Theirs")
    gone = make_organization(actor=owner, owner=owner, name="Acme Gone")
    services.archive_organization(actor=owner, organization=gone)

    html = client.get(reverse("contacts:organization_lookup"), {"q": "acme"}).content.decode()

    assert "Acme Mine" in html
    assert "Acme Theirs" not in html and "Acme Gone" not in html


# -- home ----------------------------------------------------------------------------------
def test_home_dashboard_counts_stages_of_visible_contacts(client, owner, outsider):
    make_contact(actor=owner, owner=owner, first_name="Cust", lifecycle_stage="customer")
    make_contact(actor=owner, owner=owner, first_name="Lead1", lifecycle_stage="lead")
    make_contact(actor=outsider, owner=outsider, first_name="Hidden", lifecycle_stage="customer")

    response = client.get(reverse("core:home"))

    html = response.content.decode()
    assert response.status_code == 200
    rows = {
        row["stage"]: row["count"]
        for entry in response.context["main_widgets"]
        if entry["panel"].key == "contacts_by_stage"
        for row in entry["context"]["rows"]
    }
    assert rows["customer"] == 1 and rows["lead"] == 1
    assert "Cust Lovelace" in html
    assert "Hidden" not in html


def test_home_counts_agree_with_the_lists_they_link_to(client, owner, outsider):
    from rapport.contacts.services import archive_contact

    for name, stage in [("Cust", "customer"), ("Cust2", "customer"), ("Lead1", "lead")]:
        make_contact(actor=owner, owner=owner, first_name=name, lifecycle_stage=stage)
    gone = make_contact(actor=owner, owner=owner, first_name="Gone", lifecycle_stage="customer")
    archive_contact(actor=owner, contact=gone)
    make_contact(actor=outsider, owner=outsider, first_name="Hidden", lifecycle_stage="customer")

    home = client.get(reverse("core:home"))
    rows = [
        row
        for entry in home.context["main_widgets"]
        if entry["panel"].key == "contacts_by_stage"
        for row in entry["context"]["rows"]
    ]
    assert {row["stage"]: row["count"] for row in rows if row["count"]} == {
        "customer": 2,
        "lead": 1,
    }
    for row in rows:
        listed = client.get(row["url"])
        assert listed.status_code == 200
        assert listed.context["count"] == row["count"], row["stage"]
