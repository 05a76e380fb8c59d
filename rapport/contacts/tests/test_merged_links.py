"""The link of a merged-away contact or organization leads to the survivor, within scope."""

import pytest
from django.test import Client
from django.urls import reverse

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.data_exchange import services as merging

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def merged_contact(owner):
    survivor = make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@engines.org"])
    loser = make_contact(actor=owner, owner=owner, first_name="Ada", last_name="King")
    loser_id = loser.pk
    merging.merge_contacts(actor=owner, survivor=survivor, loser=loser)
    return survivor, loser_id


@pytest.fixture
def merged_organization(owner):
    survivor = make_organization(actor=owner, owner=owner, name="Analytical Engines")
    loser = make_organization(actor=owner, owner=owner, name="Analytical Engines Ltd")
    loser_id = loser.pk
    merging.merge_organizations(actor=owner, survivor=survivor, loser=loser)
    return survivor, loser_id


def test_merged_contact_link_redirects_to_the_survivor(owner, teammate, merged_contact):
    survivor, loser_id = merged_contact
    url = reverse("contacts:contact_detail", args=[loser_id])
    for user in (owner, teammate):
        response = client_for(user).get(url)
        assert response.status_code == 302
        assert response["Location"] == survivor.get_absolute_url()


def test_merged_contact_link_is_404_when_the_survivor_is_out_of_scope(outsider, merged_contact):
    _survivor, loser_id = merged_contact
    response = client_for(outsider).get(reverse("contacts:contact_detail", args=[loser_id]))
    assert response.status_code == 404


def test_merged_organization_link_redirects_to_the_survivor(owner, merged_organization):
    survivor, loser_id = merged_organization
    response = client_for(owner).get(reverse("contacts:organization_detail", args=[loser_id]))
    assert response.status_code == 302
    assert response["Location"] == survivor.get_absolute_url()


def test_merged_organization_link_is_404_when_the_survivor_is_out_of_scope(
    outsider, merged_organization
):
    _survivor, loser_id = merged_organization
    response = client_for(outsider).get(reverse("contacts:organization_detail", args=[loser_id]))
    assert response.status_code == 404


def test_ids_never_merged_stay_404_and_out_of_scope_records_do_not_redirect(owner, outsider):
    theirs = make_contact(actor=outsider, owner=outsider, first_name="Theirs")
    client = client_for(owner)
    assert client.get(reverse("contacts:contact_detail", args=[theirs.pk])).status_code == 404
    missing = theirs.pk + 1000
    assert client.get(reverse("contacts:contact_detail", args=[missing])).status_code == 404
    assert client.get(reverse("contacts:organization_detail", args=[missing])).status_code == 404
