"""Contacts under the one access decision: who may be given a record, and what the UI offers."""

import json

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from rapport.contacts.models import Contact, Organization
from rapport.contacts.tests.factories import make_contact, make_organization

pytestmark = pytest.mark.django_db


def fields_of(response) -> dict:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


@pytest.mark.parametrize("url", ["/api/v1/contacts/", "/api/v1/organizations/"])
def test_a_record_cannot_be_given_to_someone_outside_reach_or_read_only(
    api_client_for, owner, outsider, viewer, url
):
    api = api_client_for(owner)
    body = {"first_name": "Eve"} if "contacts" in url else {"name": "Eve Ltd"}
    for person, words in ((outsider, "outside your access"), (viewer, "read-only")):
        response = api.post(
            url, data=json.dumps({**body, "owner_id": person.pk}), content_type="application/json"
        )
        assert response.status_code == 422
        assert words in fields_of(response)["body.owner_id"]
    assert Contact.objects.count() == Organization.objects.count() == 0


def test_a_contact_cannot_be_handed_out_of_reach_by_a_patch(api_client_for, owner, outsider):
    contact = make_contact(actor=owner, owner=owner)
    response = api_client_for(owner).patch(
        f"/api/v1/contacts/{contact.pk}",
        data=json.dumps({"owner_id": outsider.pk}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "outside your access" in fields_of(response)["body.owner_id"]
    contact.refresh_from_db()
    assert contact.owner == owner


def test_the_owner_picker_lists_only_people_who_may_be_given_the_record(
    web_client_for, owner, teammate, outsider, viewer
):
    page = web_client_for(owner).get(reverse("contacts:contact_create"))
    owners = set(page.context["form"].fields["owner"].queryset)
    assert owners == {owner, teammate}


def test_the_form_refuses_an_owner_out_of_reach_beside_the_field(web_client_for, owner, outsider):
    response = web_client_for(owner).post(
        reverse("contacts:organization_create"), {"name": "Eve Ltd", "owner": outsider.pk}
    )
    assert response.status_code in (200, 422)
    assert response.context["form"].errors["owner"]
    assert Organization.objects.count() == 0


def test_the_can_tag_answers_what_the_user_may_do(owner, teammate, outsider, viewer):
    contact = make_contact(actor=owner, owner=owner)
    template = Template('{% load access %}{% can "change" contact as ok %}{{ ok }}')
    request = RequestFactory().get("/")
    answers = {}
    for user in (owner, teammate, outsider, viewer):
        request.user = user
        answers[user.username] = template.render(Context({"request": request, "contact": contact}))
    assert answers == {"owner": "True", "teammate": "True", "outsider": "False", "viewer": "False"}


def test_a_read_only_user_is_not_offered_edit_or_archive(web_client_for, owner, viewer):
    organization = make_organization(actor=owner, owner=owner)
    contact = make_contact(actor=owner, owner=owner, organization=organization)
    page = web_client_for(viewer).get(reverse("contacts:contact_detail", args=[contact.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("contacts:contact_edit", args=[contact.pk]) not in html
    assert reverse("contacts:contact_archive", args=[contact.pk]) not in html
