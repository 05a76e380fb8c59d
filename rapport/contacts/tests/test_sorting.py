"""The contact list's sorts: every one walks an index, and keyset pages cover each row once."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.contacts.choices import LifecycleStage
from rapport.contacts.filters import CONTACT_ORDERINGS, filter_contacts
from rapport.contacts.models import Contact
from rapport.contacts.tables import (
    contact_list_queryset,
    page_both_ways,
)
from rapport.contacts.tests.factories import make_contact
from rapport.interactions.services import log_interaction

pytestmark = pytest.mark.django_db

# The index each list sort must walk, by ordering name (both directions share one index).
SORT_INDEXES = {
    "name": "contacts_co_is_arch_adc9ce_idx",
    "created_at": "contact_recent_idx",
    "lifecycle": "contact_stage_rank_idx",
    "last_touched": "contact_touched_idx",
}


def _list_queryset(user, sort, params=None):
    filtered = filter_contacts(Contact.objects.all(), params or {}, user)
    return contact_list_queryset(filtered.with_sort_keys(CONTACT_ORDERINGS[sort].fields))


def _main_query(user, sort, after=None):
    """The SQL and params of the list's own query (not its prefetches) for one page."""
    with CaptureQueriesContext(connection) as captured:
        page = page_both_ways(
            _list_queryset(user, sort), CONTACT_ORDERINGS[sort], after=after, before=None
        )
    sql = next(q["sql"] for q in captured.captured_queries if 'FROM "contacts_contact"' in q["sql"])
    return sql, page


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny tables make a sequential scan and a sort the cheapest plan; forbid both so
            # the plan shows whether an index *can* deliver the order.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.parametrize("sort", sorted(CONTACT_ORDERINGS))
def test_every_list_sort_walks_its_index_on_the_first_and_a_later_page(admin_user, sort):
    for number in range(4):
        make_contact(actor=admin_user, owner=admin_user, last_name=f"Sortable{number}")
    # The captured SQL has its parameters written in; fine for these plain values.
    first_sql, page = _main_query(admin_user, sort)
    later_sql, _page = _main_query(admin_user, sort, after=page.next_cursor or None)
    index = SORT_INDEXES[sort.lstrip("-")]

    for sql in (first_sql, later_sql):
        plan = _plan(sql)
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def _walk(user, sort, limit=3):
    """Every row of the list, page after page, as the list shows them."""
    ordering = CONTACT_ORDERINGS[sort]
    seen, cursor = [], None
    while True:
        page = page_both_ways(
            _list_queryset(user, sort), ordering, after=cursor, before=None, limit=limit
        )
        seen += [contact.last_name for contact in page.items]
        if not page.next_cursor:
            return seen
        cursor = page.next_cursor


def test_lifecycle_sort_pages_through_the_funnel_in_order(admin_user):
    stages = [
        LifecycleStage.CHURNED,
        LifecycleStage.LEAD,
        LifecycleStage.CUSTOMER,
        LifecycleStage.SUBSCRIBER,
        LifecycleStage.LEAD,
        LifecycleStage.ADVOCATE,
        LifecycleStage.OPPORTUNITY,
    ]
    for number, stage in enumerate(stages):
        make_contact(
            actor=admin_user, owner=admin_user, last_name=f"C{number}", lifecycle_stage=stage
        )
    rank = {stage: position for position, stage in enumerate(LifecycleStage)}
    expected = [
        f"C{number}"
        for number, _stage in sorted(enumerate(stages), key=lambda item: (rank[item[1]], item[0]))
    ]

    assert _walk(admin_user, "lifecycle") == expected
    assert _walk(admin_user, "-lifecycle") == expected[::-1]


def test_last_touched_sort_pages_with_never_touched_at_the_end(admin_user):
    now = timezone.now()
    contacts = [
        make_contact(actor=admin_user, owner=admin_user, last_name=f"T{number}")
        for number in range(7)
    ]
    # T1, T3 and T5 touched (T5 most recently); the others never.
    for number, days_ago in ((1, 30), (3, 10), (5, 1)):
        log_interaction(
            actor=admin_user,
            kind="note",
            body="Touched",
            contact=contacts[number],
            occurred_at=now - dt.timedelta(days=days_ago),
        )

    newest_first = _walk(admin_user, "-last_touched", limit=2)

    assert newest_first[:3] == ["T5", "T3", "T1"]
    assert sorted(newest_first[3:]) == ["T0", "T2", "T4", "T6"]
    assert _walk(admin_user, "last_touched", limit=2) == newest_first[::-1]
