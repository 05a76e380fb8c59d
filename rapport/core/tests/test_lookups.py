"""`any_of` finds the same rows as `in`, on both databases (PostgreSQL as one array)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.contacts.models import Contact, ContactEmail


@pytest.mark.django_db
def test_any_of_matches_in_on_text_and_ids(owner):
    contacts = [
        Contact.objects.create(first_name=f"P{i}", last_name="Lee", owner=owner) for i in range(4)
    ]
    for contact in contacts[:3]:
        ContactEmail.objects.create(contact=contact, email=f"{contact.first_name}@example.org")
    wanted = ["P0@example.org", "P2@example.org", "nobody@example.org", "P2@example.org"]
    by_any = set(ContactEmail.objects.filter(email__any_of=wanted).values_list("contact_id"))
    by_in = set(ContactEmail.objects.filter(email__in=wanted).values_list("contact_id"))
    assert by_any == by_in == {(contacts[0].pk,), (contacts[2].pk,)}
    ids = [contacts[1].pk, contacts[3].pk, 10**9]
    assert set(Contact.objects.filter(pk__any_of=ids).values_list("pk", flat=True)) == set(ids[:2])
    assert not Contact.objects.filter(pk__any_of=[]).exists()


@pytest.mark.django_db
def test_any_of_sends_one_parameter_to_postgresql(owner):
    with CaptureQueriesContext(connection) as queries:
        list(Contact.objects.filter(pk__any_of=list(range(1, 500))))
    sql = queries.captured_queries[-1]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql
    else:
        assert " IN (" in sql
