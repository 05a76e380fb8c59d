"""The planner statistics a long import refreshes are there afterwards, on either database."""

import pytest
from django.db import connection

from rapport.contacts.models import Contact
from rapport.core.database import refresh_statistics


@pytest.mark.django_db
def test_refresh_statistics_counts_the_rows_just_written(owner):
    Contact.objects.bulk_create(
        [Contact(first_name=f"P{i}", last_name="Lee", owner=owner) for i in range(30)]
    )
    refresh_statistics([Contact])
    table = Contact._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
            assert cursor.fetchone()[0] == 30
        else:
            cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [table])
            row = cursor.fetchone()
            assert row is not None and row[0].split()[0] == "30"
