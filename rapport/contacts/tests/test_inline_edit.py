"""Inline edit of one field on the contact and organization 360° pages (contacts/inline.py)."""

import pytest
from django.urls import reverse

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact, Organization
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.customfields.services import create_definition

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client(owner, web_client_for):
    return web_client_for(owner)


@pytest.fixture
def contact(owner):
    return make_contact(
        actor=owner,
        owner=owner,
        job_title="Analyst",
        emails=[{"email": "ada@example.com"}, {"email": "ada@home.example"}],
        phones=["+49 30 1234567"],
    )


@pytest.fixture
def organization(owner):
    return make_organization(actor=owner, owner=owner, phone="+49 30 7654321", country="DE")


def field_url(record, name, edit=False):
    kind = "contact" if isinstance(record, Contact) else "organization"
    return reverse(f"contacts:{kind}_field{'_edit' if edit else ''}", args=[record.pk, name])


def test_the_details_panel_offers_an_edit_button_per_field(client, contact):
    page = client.get(contact.get_absolute_url()).content.decode()
    assert 'Edit<span class="visually-hidden"> job title</span>' in page
    assert 'Edit<span class="visually-hidden"> email</span>' in page
    assert 'Edit<span class="visually-hidden"> owner</span>' in page
    assert field_url(contact, "job_title", edit=True) in page


def test_the_edit_button_swaps_in_a_one_field_form(client, contact):
    response = client.get(field_url(contact, "job_title", edit=True), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="job_title"' in html
    assert 'value="Analyst"' in html
    assert f'hx-post="{field_url(contact, "job_title")}"' in html
    assert "data-inline-cancel" in html
    assert 'name="city"' not in html


def test_saving_one_field_changes_only_that_field(client, contact, owner):
    before = ChangeRecord.objects.count()
    response = client.post(field_url(contact, "job_title"), {"job_title": "Chief Engineer"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Chief Engineer" in html
    assert "<form" not in html.split('id="contact-who"')[0]  # the value, not the form
    assert 'id="contact-who" hx-swap-oob="true"' in html  # the header shows the title too
    contact.refresh_from_db()
    assert contact.job_title == "Chief Engineer"
    assert sorted(contact.emails.values_list("email", flat=True)) == [
        "ada@example.com",
        "ada@home.example",
    ]
    change = ChangeRecord.objects.order_by("-id").first()
    assert ChangeRecord.objects.count() == before + 1
    assert change.actor == owner


def test_cancel_fetches_the_value_back_without_saving(client, contact):
    response = client.get(field_url(contact, "job_title"), **HTMX)
    assert response.status_code == 200
    assert "Analyst" in response.content.decode()
    assert "<form" not in response.content.decode()


def test_an_invalid_email_comes_back_beside_the_field_and_nothing_is_written(client, contact):
    response = client.post(field_url(contact, "email"), {"email": "not an email"}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'class="field-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="not an email"' in html
    assert sorted(contact.emails.values_list("email", flat=True)) == [
        "ada@example.com",
        "ada@home.example",
    ]


def test_editing_the_email_changes_the_primary_one_and_keeps_the_others(client, contact):
    form = client.get(field_url(contact, "email", edit=True), **HTMX).content.decode()
    assert 'value="ada@example.com"' in form
    assert "the others stay as they are" in form
    response = client.post(field_url(contact, "email"), {"email": "Ada@Engines.example"}, **HTMX)
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.primary_email == "ada@engines.example"
    assert sorted(contact.emails.values_list("email", flat=True)) == [
        "ada@engines.example",
        "ada@home.example",
    ]


def test_the_phone_is_normalized_and_a_bad_one_refused(client, contact):
    bad = client.post(field_url(contact, "phone"), {"phone": "12"}, **HTMX)
    assert bad.status_code == 422
    assert 'class="field-error"' in bad.content.decode()
    good = client.post(field_url(contact, "phone"), {"phone": "+49 30 9999999"}, **HTMX)
    assert good.status_code == 200
    contact.refresh_from_db()
    assert contact.primary_phone == "+49309999999"


def test_a_bad_country_is_refused_with_the_services_message(client, organization):
    response = client.post(field_url(organization, "country"), {"country": "Germany"}, **HTMX)
    assert response.status_code == 422
    assert "two-letter" in response.content.decode()
    organization.refresh_from_db()
    assert organization.country == "DE"


def test_the_owner_select_lists_only_assignable_users(client, contact, teammate, outsider, viewer):
    html = client.get(field_url(contact, "owner", edit=True), **HTMX).content.decode()
    assert f'value="{teammate.pk}"' in html
    assert f'value="{outsider.pk}"' not in html  # outside the owner's team
    assert f'value="{viewer.pk}"' not in html  # read-only: could not work it


def test_an_owner_outside_reach_is_refused_beside_the_field(client, contact, outsider, owner):
    response = client.post(field_url(contact, "owner"), {"owner": str(outsider.pk)}, **HTMX)
    assert response.status_code == 422
    assert "outside your access" in response.content.decode()
    contact.refresh_from_db()
    assert contact.owner == owner


def test_the_owner_can_be_given_to_a_teammate(client, contact, teammate):
    response = client.post(field_url(contact, "owner"), {"owner": str(teammate.pk)}, **HTMX)
    assert response.status_code == 200
    assert f"Owner: {teammate}" in response.content.decode()  # the header, out of band
    contact.refresh_from_db()
    assert contact.owner == teammate


def test_custom_fields_are_edited_through_the_generated_field(client, contact, admin_user):
    create_definition(
        actor=admin_user,
        entity="contact",
        key="seats",
        label="Seats",
        field_type="number",
        min_value=1,
    )
    edit = client.get(field_url(contact, "cf_seats", edit=True), **HTMX)
    assert edit.status_code == 200
    assert 'name="cf_seats"' in edit.content.decode()
    bad = client.post(field_url(contact, "cf_seats"), {"cf_seats": "0"}, **HTMX)
    assert bad.status_code == 422
    assert 'class="field-error"' in bad.content.decode()
    contact.refresh_from_db()
    assert "seats" not in (contact.custom_fields or {})
    good = client.post(field_url(contact, "cf_seats"), {"cf_seats": "12"}, **HTMX)
    assert good.status_code == 200
    contact.refresh_from_db()
    assert contact.custom_fields["seats"] == 12


def test_organization_fields_are_edited_in_place(client, organization):
    page = client.get(organization.get_absolute_url()).content.decode()
    assert 'Edit<span class="visually-hidden"> industry</span>' in page
    response = client.post(field_url(organization, "industry"), {"industry": "Looms"}, **HTMX)
    assert response.status_code == 200
    assert 'id="organization-who" hx-swap-oob="true"' in response.content.decode()
    organization.refresh_from_db()
    assert organization.industry == "Looms"


def test_an_unknown_field_is_404(client, contact):
    assert client.get(field_url(contact, "first_namez", edit=True), **HTMX).status_code == 404
    assert client.post(field_url(contact, "cf_nothing"), {}, **HTMX).status_code == 404


def test_a_read_only_user_sees_no_edit_button_and_gets_403(web_client_for, viewer, contact):
    client = web_client_for(viewer)
    page = client.get(contact.get_absolute_url())
    assert page.status_code == 200
    assert "inline-edit-button" not in page.content.decode()
    assert client.get(field_url(contact, "job_title", edit=True), **HTMX).status_code == 403
    response = client.post(field_url(contact, "job_title"), {"job_title": "Hacker"}, **HTMX)
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.job_title == "Analyst"


def test_a_record_outside_the_scope_is_404(web_client_for, outsider, contact, organization):
    client = web_client_for(outsider)
    response = client.post(field_url(contact, "job_title"), {"job_title": "X"}, **HTMX)
    assert response.status_code == 404
    assert client.get(field_url(contact, "job_title", edit=True), **HTMX).status_code == 404
    response = client.post(field_url(organization, "industry"), {"industry": "X"}, **HTMX)
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.job_title == "Analyst"


def test_an_archived_record_shows_no_edit_buttons(client, contact, owner):
    from rapport.contacts import services

    services.archive_contact(actor=owner, contact=contact)
    page = client.get(contact.get_absolute_url()).content.decode()
    assert "inline-edit-button" not in page


def test_without_htmx_a_save_redirects_to_the_page(client, organization):
    response = client.post(field_url(organization, "city"), {"city": "Berlin"})
    assert response.status_code == 302
    assert response["Location"] == organization.get_absolute_url()
    assert Organization.objects.get(pk=organization.pk).city == "Berlin"


def test_values_and_the_form_are_escaped(client, contact):
    xss = '<script>alert("x")</script>'
    saved = client.post(field_url(contact, "job_title"), {"job_title": xss}, **HTMX)
    assert saved.status_code == 200
    form = client.get(field_url(contact, "job_title", edit=True), **HTMX)
    for html in (saved.content.decode(), form.content.decode()):
        assert xss not in html
        assert "&lt;script&gt;" in html
