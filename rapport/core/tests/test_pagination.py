"""Keyset pages: the cursor condition is one row-value comparison on both databases."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.pagination import keyset_page

pytestmark = pytest.mark.django_db


def _walk(queryset, fields, descending, limit):
    """Every page from the first, with the SQL of each page after the first."""
    seen, statements, cursor = [], [], None
    for _ in range(50):
        with CaptureQueriesContext(connection) as queries:
            page = keyset_page(
                queryset, order_fields=fields, descending=descending, cursor=cursor, limit=limit
            )
        if cursor:
            statements.append(queries.captured_queries[-1]["sql"])
        seen.extend(row.pk for row in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen, statements
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("descending", [False, True])
def test_pages_after_a_cursor_compare_the_sort_key_as_one_row_value(owner, descending):
    # Repeated names make the primary key decide between rows with equal sort values.
    for index in range(17):
        make_contact(
            actor=owner,
            owner=owner,
            first_name=["Ann", "Bob", "Ann", "Cy"][index % 4],
            last_name=["Smith", "Jones", "Smith"][index % 3],
        )
    queryset = Contact.objects.active()
    fields = ["last_name", "first_name"]
    prefix = "-" if descending else ""
    expected = list(
        queryset.order_by(*[prefix + f for f in fields], prefix + "pk").values_list("pk", flat=True)
    )

    seen, statements = _walk(queryset, fields, descending, limit=4)

    assert seen == expected
    # Inclusive, with the cursor's own row left out by its key (see pagination._after).
    operator = "<=" if descending else ">="
    row = (
        '("contacts_contact"."last_name", "contacts_contact"."first_name", "contacts_contact"."id")'
    )
    assert statements
    for sql in statements:
        assert f"{row} {operator} (" in sql, sql
        # No OR expansion of the same condition beside it.
        assert " OR " not in sql, sql


def test_row_value_pages_on_a_date_time_sort_key(owner):
    contacts = [make_contact(actor=owner, owner=owner, first_name=f"N{i}") for i in range(7)]
    # Equal creation times: only the primary key orders these rows.
    Contact.objects.filter(pk__in=[c.pk for c in contacts[:4]]).update(
        created_at=contacts[0].created_at
    )
    queryset = Contact.objects.all()
    expected = list(queryset.order_by("-created_at", "-pk").values_list("pk", flat=True))

    seen, _statements = _walk(queryset, ["created_at"], True, limit=2)

    assert seen == expected
