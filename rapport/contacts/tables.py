"""The contact and organization lists: their columns, sorts and keyset pages in both directions.

Every sort walks an index, so page 1 and page 5,000 cost the same: name and creation time are
columns; lifecycle stage (in funnel order) and last touch (never-touched last) are expressions
defined once in `contacts.querysets` and indexed as such in `Contact.Meta`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch
from django.urls import reverse

from rapport.contacts.filters import CONTACT_ORDERINGS, ORGANIZATION_ORDERINGS, Ordering
from rapport.contacts.identity import display_phone
from rapport.contacts.models import Membership, Organization
from rapport.core.pagination import decode_cursor, encode_cursor, keyset_page

PAGE_SIZE = 50
COUNT_CAP = 1000

# Sorts the UI adds to the API's, on the sort keys of ContactQuerySet.with_sort_keys(). Each
# matches an index of Contact.Meta column for column.
CONTACT_EXTRA_ORDERINGS = {
    "lifecycle": Ordering(("stage_rank", "last_name", "first_name"), False),
    "-lifecycle": Ordering(("stage_rank", "last_name", "first_name"), True),
    "last_touched": Ordering(("touched",), False),
    "-last_touched": Ordering(("touched",), True),
}
UI_CONTACT_ORDERINGS = {**CONTACT_ORDERINGS, **CONTACT_EXTRA_ORDERINGS}
UI_ORGANIZATION_ORDERINGS = dict(ORGANIZATION_ORDERINGS)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort: str = ""  # the ascending ordering name; "-" + sort is the descending one
    optional: bool = False  # hidden on phones
    wide_only: bool = False  # hidden below laptop width too
    first_descending: bool = False  # dates: newest first on the first click


CONTACT_COLUMNS = [
    Column("name", "Name", sort="name"),
    Column("organization", "Organization", optional=True),
    Column("phone", "Phone", optional=True),
    Column("lifecycle", "Stage", sort="lifecycle"),
    Column("owner", "Owner", optional=True),
    Column("tags", "Tags", optional=True, wide_only=True),
    Column("last_touched", "Last touched", sort="last_touched", first_descending=True),
    Column(
        "created",
        "Created",
        sort="created_at",
        optional=True,
        wide_only=True,
        first_descending=True,
    ),
]
ORGANIZATION_COLUMNS = [
    Column("name", "Name", sort="name"),
    Column("industry", "Industry", optional=True),
    Column("country", "Country", optional=True),
    Column("members", "Contacts"),
    Column("owner", "Owner", optional=True),
    Column("tags", "Tags", optional=True),
    Column("created", "Created", sort="created_at", optional=True, first_descending=True),
]


def header_cells(columns: list[Column], current: str) -> list[dict]:
    """Column headers with the link each one sorts by, and aria-sort for the active one."""
    cells = []
    for column in columns:
        cell = {"column": column, "sort_param": "", "aria_sort": "", "indicator": ""}
        if column.sort:
            if current == column.sort:
                cell.update(sort_param=f"-{column.sort}", aria_sort="ascending", indicator="▲")
            elif current == f"-{column.sort}":
                cell.update(sort_param=column.sort, aria_sort="descending", indicator="▼")
            else:
                cell["sort_param"] = f"-{column.sort}" if column.first_descending else column.sort
        cells.append(cell)
    return cells


@dataclass
class ListPage:
    items: list
    next_cursor: str | None
    previous_cursor: str | None


def _sort_values(row, fields) -> list:
    values = []
    for field in fields:
        value = row
        for part in field.split("__"):
            value = getattr(value, part)
        values.append(value)
    return values


def page_both_ways(
    queryset, ordering: Ordering, *, after: str | None, before: str | None, limit: int = PAGE_SIZE
) -> ListPage:
    """A keyset page after the `after` cursor or, for "previous", before the `before` cursor.

    A previous page is read in the reverse order from the first row shown and turned around,
    so it costs what a next page costs. Raises CursorError for a damaged cursor.
    """
    fields, descending = list(ordering.fields), ordering.descending
    if before:
        decode_cursor(before, fields=fields, descending=not descending)
        page = keyset_page(
            queryset, order_fields=fields, descending=not descending, cursor=before, limit=limit
        )
        items = list(reversed(page.items))
        has_previous = page.has_more
        has_next = bool(items)
    else:
        page = keyset_page(
            queryset, order_fields=fields, descending=descending, cursor=after, limit=limit
        )
        items = page.items
        has_previous = bool(after) and bool(items)
        has_next = page.has_more
    next_cursor = previous_cursor = None
    if items and has_next:
        next_cursor = encode_cursor(
            _sort_values(items[-1], fields), items[-1].pk, fields=fields, descending=descending
        )
    if items and has_previous:
        previous_cursor = encode_cursor(
            _sort_values(items[0], fields), items[0].pk, fields=fields, descending=not descending
        )
    return ListPage(items=items, next_cursor=next_cursor, previous_cursor=previous_cursor)


def capped_count(queryset, cap: int | None = None) -> tuple[int, bool]:
    """How many rows match, counting at most `cap` + 1 so a huge list costs a bounded scan."""
    cap = COUNT_CAP if cap is None else cap
    count = queryset.order_by()[: cap + 1].count()
    return min(count, cap), count > cap


LIST_DEFERRED = ("search_text", "about", "custom_fields", "street", "postcode", "source_detail")


def contact_list_queryset(queryset):
    """What one page of contact rows needs, in a fixed number of queries."""
    # The row never shows these; reading and decoding them (JSON included) is wasted work.
    return (
        queryset.defer(*LIST_DEFERRED)
        .select_related("owner")
        .prefetch_related(
            "tags",
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(is_primary=True).order_by(),
                to_attr="primary_memberships",
            ),
            # A separate lookup by primary key: joining here makes PostgreSQL hash the whole
            # organization table (and sort by its name) to decorate 50 rows.
            Prefetch("primary_memberships__organization", queryset=Organization.objects.order_by()),
        )
    )


def annotate_contacts(queryset, ordering_name: str):
    """`queryset` with the sort keys the named ordering needs (none for the column sorts)."""
    return queryset.with_sort_keys(UI_CONTACT_ORDERINGS[ordering_name].fields)


TAGS_SHOWN = 3


def url_pattern(name: str) -> str:
    """A detail URL with a "{pk}" slot: one reverse() per page instead of two per row."""
    marker = 999_999_937
    return reverse(name, args=[marker]).replace(str(marker), "{pk}")


@dataclass
class ContactRow:
    contact: object
    url: str
    organization: object | None
    organization_url: str
    role: str
    phone: str
    tags: list
    more_tags: int


def contact_rows(contacts) -> list[ContactRow]:
    contact_url = url_pattern("contacts:contact_detail")
    organization_url = url_pattern("contacts:organization_detail")
    rows = []
    for contact in contacts:
        membership = contact.primary_memberships[0] if contact.primary_memberships else None
        tags = list(contact.tags.all())
        rows.append(
            ContactRow(
                contact=contact,
                url=contact_url.format(pk=contact.pk),
                organization=membership.organization if membership else None,
                organization_url=organization_url.format(pk=membership.organization_id)
                if membership
                else "",
                role=membership.role if membership else "",
                phone=display_phone(contact.primary_phone) if contact.primary_phone else "",
                tags=tags[:TAGS_SHOWN],
                more_tags=max(0, len(tags) - TAGS_SHOWN),
            )
        )
    return rows


def organization_rows(organizations, member_counts: dict) -> list[dict]:
    detail = url_pattern("contacts:organization_detail")
    members = reverse("contacts:contact_list") + "?organization={pk}"
    return [
        {
            "organization": organization,
            "url": detail.format(pk=organization.pk),
            "members": member_counts.get(organization.pk, 0),
            "members_url": members.format(pk=organization.pk),
            "tags": list(organization.tags.all()),
        }
        for organization in organizations
    ]
