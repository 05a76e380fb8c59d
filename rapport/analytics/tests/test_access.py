"""A static list is its creator's: nobody else changes who is on it (issue 11, hole 2)."""

import json

import pytest
from django.core.exceptions import PermissionDenied

from rapport.analytics.models import SegmentMember
from rapport.analytics.services import add_to_list, create_segment, remove_from_list
from rapport.contacts.tests.factories import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def my_list(owner):
    contact = make_contact(actor=owner, owner=owner)
    segment = create_segment(actor=owner, name="My prospects", kind="static")
    add_to_list(actor=owner, segment=segment, contact_ids=[contact.pk])
    return segment, contact


def test_another_writer_cannot_add_or_remove_members_of_my_list(my_list, owner, teammate):
    segment, contact = my_list
    theirs = make_contact(actor=teammate, owner=teammate, first_name="Theirs")
    with pytest.raises(PermissionDenied):
        add_to_list(actor=teammate, segment=segment, contact_ids=[theirs.pk])
    with pytest.raises(PermissionDenied):
        remove_from_list(actor=teammate, segment=segment, contact_ids=[contact.pk])
    assert list(SegmentMember.objects.values_list("contact_id", flat=True)) == [contact.pk]


def test_the_api_refuses_another_writer_on_my_list(my_list, teammate, admin_user, api_client_for):
    segment, contact = my_list
    url = f"/api/v1/segments/{segment.pk}/members"
    body = json.dumps({"contact_ids": [contact.pk]})
    teammate_api = api_client_for(teammate)
    assert teammate_api.post(url, data=body, content_type="application/json").status_code == 403
    assert teammate_api.delete(f"{url}/{contact.pk}").status_code == 403
    assert SegmentMember.objects.count() == 1
    # An administrator may tidy anyone's list.
    admin_api = api_client_for(admin_user)
    assert admin_api.delete(f"{url}/{contact.pk}").status_code in (200, 204)
    assert SegmentMember.objects.count() == 0


def test_another_writer_is_not_offered_my_list_or_its_remove_buttons(
    my_list, owner, teammate, web_client_for
):
    segment, contact = my_list
    mine = web_client_for(owner)
    theirs = web_client_for(teammate)
    assert "Remove</button>" in mine.get(segment.get_absolute_url()).content.decode()
    page = theirs.get(segment.get_absolute_url()).content.decode()
    assert contact.full_name in page  # the teammate sees the member, not a button to remove it
    assert "Remove</button>" not in page
    assert theirs.get("/analytics/customers/").context["static_lists"] == []
    assert mine.get("/analytics/customers/").context["static_lists"] == [segment]
