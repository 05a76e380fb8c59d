"""The contact and organization lists: their columns, sorts and keyset pages in both directions.

Every sort walks an index, so page 1 and page 5,000 cost the same: name and creation time are
columns; lifecycle stage (in funnel order) and last touch (never-touched last) are expressions
defined once in `contacts.querysets` and indexed as such in `Contact.Meta`.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from functools import lru_cache

from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from rapport.contacts.choices import ContactSource, LifecycleStage, OrganizationSize
from rapport.contacts.filters import Ordering
from rapport.contacts.models import Membership, Organization, Tag
from rapport.core import display, formatting
from rapport.core.pagination import decode_cursor, encode_cursor, keyset_page
from rapport.core.templatetags.rapport import since

PAGE_SIZE = 50
# Counting stops here, so a huge list costs a bounded scan: below it the count is exact (and
# agrees with Home's), above it the list says "more than 10,000".
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort: str = ""  # the ascending ordering name; "-" + sort is the descending one
    optional: bool = False  # hidden on phones
    wide_only: bool = False  # hidden below laptop width too
    first_descending: bool = False  # dates: newest first on the first click
    default: bool = True  # shown until the user chooses columns
    cell_class: str = ""  # extra classes of the column's cells

    @property
    def css(self) -> str:
        classes = []
        if self.optional:
            classes.append("col-optional")
        if self.wide_only:
            classes.append("col-wide")
        return " ".join(classes)


CONTACT_COLUMNS = [
    Column("name", "Name", sort="name", cell_class="primary-cell"),
    Column("organization", "Organization", optional=True),
    Column("email", "Email", optional=True, default=False),
    Column("phone", "Phone", optional=True, cell_class="nowrap"),
    Column("job_title", "Job title", optional=True, default=False),
    Column("lifecycle", "Stage", sort="lifecycle"),
    Column("owner", "Owner", optional=True, cell_class="owner-cell"),
    Column("source", "Source", optional=True, default=False),
    Column("country", "Country", optional=True, default=False),
    Column("tags", "Tags", optional=True, wide_only=True),
    Column("last_touched", "Last touched", sort="last_touched", first_descending=True),
    Column(
        "created",
        "Created",
        sort="created_at",
        optional=True,
        wide_only=True,
        first_descending=True,
        cell_class="nowrap",
    ),
]
ORGANIZATION_COLUMNS = [
    Column("name", "Name", sort="name", cell_class="primary-cell"),
    Column("industry", "Industry", optional=True),
    Column("size", "Size", optional=True, default=False),
    Column("country", "Country", optional=True),
    Column("members", "Contacts", cell_class="num"),
    Column("owner", "Owner", optional=True, cell_class="owner-cell"),
    Column("tags", "Tags", optional=True),
    Column(
        "created",
        "Created",
        sort="created_at",
        optional=True,
        first_descending=True,
        cell_class="nowrap",
    ),
]


def chosen_columns(columns: list[Column], keys) -> list[Column]:
    """The columns named by `keys`, in that order; the name always shows, first. Unknown keys
    are dropped (a column may have been removed since a view was saved); none left, or no
    choice at all, gives the default columns."""
    by_key = {column.key: column for column in columns}
    picked = [by_key[key] for key in dict.fromkeys(keys or ()) if key in by_key and key != "name"]
    if not picked:
        return [column for column in columns if column.default]
    return [by_key["name"], *picked]


def header_cells(columns: list[Column], current: str) -> list[dict]:
    # `columns` are the shown ones, in their order.
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


LIST_DEFERRED = (
    "search_text",
    "about",
    "custom_fields",
    "street",
    "postcode",
    "source_detail",
    "updated_at",
    "lifecycle_changed_at",
    "archived_at",
)


def contact_list_queryset(queryset, shown: set[str] | None = None):
    """What one page of contact rows needs, in a fixed number of queries.

    `shown` is the keys of the columns on screen (None: all): a hidden organization, owner or
    tags column is not fetched at all."""
    # The row never shows these; reading and decoding them (JSON and date-times included) is
    # wasted work, and so are the decorations' other columns below.
    queryset = queryset.defer(*LIST_DEFERRED)
    if shown is None or "owner" in shown:
        queryset = queryset.select_related("owner")
    prefetches = []
    if shown is None or "tags" in shown:
        # Into plain attributes: prefetching into a manager builds a queryset per row.
        prefetches.append(
            Prefetch("tags", queryset=Tag.objects.only("name"), to_attr="listed_tags")
        )
    if shown is None or "organization" in shown:
        prefetches += [
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(is_primary=True)
                .only("contact_id", "organization_id", "role", "is_primary")
                .order_by(),
                to_attr="primary_memberships",
            ),
            # A separate lookup by primary key: joining here makes PostgreSQL hash the whole
            # organization table (and sort by its name) to decorate 50 rows.
            Prefetch(
                "primary_memberships__organization",
                queryset=Organization.objects.only("name").order_by(),
            ),
        ]
    return queryset.prefetch_related(*prefetches)


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
    columns: list = dataclasses.field(default_factory=lambda: DEFAULT_CONTACT_COLUMNS)

    def html(self) -> SafeString:
        """The row's <tr>, written here rather than in the results template.

        Fifty rows through the template engine cost about 0.4 ms each (a variable lookup, an
        escape and a localtime per cell): most of a list request's time. Here every value goes
        through `_text` (the escaping autoescape applies) and the markup around them is ours,
        at a tenth of the cost. Only the chosen columns are written, in their order.
        """
        cells = []
        for column in self.columns:
            classes = f"{column.css} {column.cell_class}".strip()
            opening = f'<td class="{classes}">' if classes else "<td>"
            cells.append(f"{opening}{_CONTACT_CELLS[column.key](self)}</td>")
        # Safe: every value in it went through _text, the rest is our own markup.
        return mark_safe("<tr>" + "".join(cells) + "</tr>")


def _contact_name(row: ContactRow) -> str:
    contact = row.contact
    sub = contact.primary_email or contact.job_title
    sub = f'<span class="sub">{_text(sub)}</span>' if sub else ""
    return f'<a href="{_text(row.url)}">{_text(contact.full_name)}</a>{sub}'


def _contact_organization(row: ContactRow) -> str:
    if row.organization is None:
        return '<span class="muted">—</span>'
    role = f'<span class="muted small"> · {_text(row.role)}</span>' if row.role else ""
    return f'<a href="{_text(row.organization_url)}">{_text(row.organization.name)}</a>{role}'


def _contact_tags(row: ContactRow) -> str:
    tags = "".join(f'<span class="tag">{_text(tag.name)}</span>' for tag in row.tags)
    if row.more_tags:
        tags += f'<span class="muted small">+{int(row.more_tags)}</span>'
    return f'<div class="tags">{tags}</div>'


def _contact_stage(row: ContactRow) -> str:
    stage = row.contact.lifecycle_stage
    archived = ' <span class="badge archived">Archived</span>' if row.contact.is_archived else ""
    return (
        f'<span class="badge stage-{_text(stage)}">{_text(STAGE_LABELS.get(stage, stage))}'
        f"</span>{archived}"
    )


def _contact_touched(row: ContactRow) -> str:
    touched = row.contact.last_touched_at
    if not touched:
        return '<span class="muted">Never</span>'
    return (
        f'<time datetime="{timezone.localtime(touched).isoformat()}">{_text(since(touched))}</time>'
    )


def _created(record) -> str:
    created = timezone.localtime(record.created_at)
    return (
        f'<time datetime="{created.isoformat()}">'
        f"{_text(_day(created.date(), display.display_locale(), timezone.localdate()))}</time>"
    )


def _or_dash(value) -> str:
    return _text(value) if value else '<span class="muted">—</span>'


_CONTACT_CELLS = {
    "name": _contact_name,
    "organization": _contact_organization,
    "email": lambda row: _or_dash(row.contact.primary_email),
    "phone": lambda row: _text(row.phone or "—"),
    "job_title": lambda row: _or_dash(row.contact.job_title),
    "lifecycle": _contact_stage,
    "owner": lambda row: _text(row.contact.owner or "—"),
    "source": lambda row: _or_dash(SOURCE_LABELS.get(row.contact.source, row.contact.source)),
    "country": lambda row: _or_dash(row.contact.country),
    "tags": _contact_tags,
    "last_touched": _contact_touched,
    "created": lambda row: _created(row.contact),
}


def _text(value) -> str:
    """`value` as escaped HTML text: what Django's escape() does, without the lazy-string
    wrapper that makes it several times slower per call."""
    return html.escape(str(value))


@lru_cache(maxsize=4096)
def _day(day, locale, today) -> str:
    """The "Dec 4, 2026" of `day` in `locale`: formatting dates costs more than a row's rest."""
    return formatting.format_day(day, locale, today)


STAGE_LABELS = dict(LifecycleStage.choices)
SOURCE_LABELS = dict(ContactSource.choices)
SIZE_LABELS = dict(OrganizationSize.choices)
DEFAULT_CONTACT_COLUMNS = chosen_columns(CONTACT_COLUMNS, None)
DEFAULT_ORGANIZATION_COLUMNS = chosen_columns(ORGANIZATION_COLUMNS, None)


def contact_rows(contacts, columns: list[Column] | None = None) -> list[ContactRow]:
    contact_url = url_pattern("contacts:contact_detail")
    organization_url = url_pattern("contacts:organization_detail")
    columns = columns or DEFAULT_CONTACT_COLUMNS
    rows = []
    for contact in contacts:
        # Absent when their column is hidden (contact_list_queryset did not fetch them).
        memberships = getattr(contact, "primary_memberships", None)
        membership = memberships[0] if memberships else None
        tags = getattr(contact, "listed_tags", [])
        rows.append(
            ContactRow(
                contact=contact,
                url=contact_url.format(pk=contact.pk),
                organization=membership.organization if membership else None,
                organization_url=organization_url.format(pk=membership.organization_id)
                if membership
                else "",
                role=membership.role if membership else "",
                phone=display.phone_text(contact.primary_phone),
                tags=tags[:TAGS_SHOWN],
                more_tags=max(0, len(tags) - TAGS_SHOWN),
                columns=columns,
            )
        )
    return rows


@dataclass
class OrganizationRow:
    organization: object
    url: str
    members: int
    members_url: str
    tags: list
    columns: list = dataclasses.field(default_factory=lambda: DEFAULT_ORGANIZATION_COLUMNS)

    def html(self) -> SafeString:
        """The row's <tr> with the chosen columns, escaped as ContactRow's is."""
        cells = []
        for column in self.columns:
            classes = f"{column.css} {column.cell_class}".strip()
            opening = f'<td class="{classes}">' if classes else "<td>"
            cells.append(f"{opening}{_ORGANIZATION_CELLS[column.key](self)}</td>")
        # Safe: every value in it went through _text, the rest is our own markup.
        return mark_safe("<tr>" + "".join(cells) + "</tr>")


def _organization_name(row: OrganizationRow) -> str:
    organization = row.organization
    domain = f'<span class="sub">{_text(organization.domain)}</span>' if organization.domain else ""
    archived = ' <span class="badge archived">Archived</span>' if organization.is_archived else ""
    return f'<a href="{_text(row.url)}">{_text(organization.name)}</a>{domain}{archived}'


def _organization_members(row: OrganizationRow) -> str:
    if not row.members:
        return "0"
    return f'<a href="{_text(row.members_url)}">{_text(display.number_text(row.members))}</a>'


def _organization_tags(row: OrganizationRow) -> str:
    tags = "".join(f'<span class="tag">{_text(tag.name)}</span>' for tag in row.tags[:TAGS_SHOWN])
    if len(row.tags) > TAGS_SHOWN:
        tags += f'<span class="muted small">+{len(row.tags) - TAGS_SHOWN}</span>'
    return f'<div class="tags">{tags}</div>'


_ORGANIZATION_CELLS = {
    "name": _organization_name,
    "industry": lambda row: _text(row.organization.industry or "—"),
    "size": lambda row: _text(SIZE_LABELS.get(row.organization.size) or "—"),
    "country": lambda row: _text(row.organization.country or "—"),
    "members": _organization_members,
    "owner": lambda row: _text(row.organization.owner or "—"),
    "tags": _organization_tags,
    "created": lambda row: _created(row.organization),
}


def organization_list_queryset(queryset, shown: set[str]):
    """What one page of organization rows needs; hidden owner and tags are not fetched."""
    if "owner" in shown:
        queryset = queryset.select_related("owner")
    if "tags" in shown:
        queryset = queryset.prefetch_related(
            Prefetch("tags", queryset=Tag.objects.only("name"), to_attr="listed_tags")
        )
    return queryset


def organization_rows(
    organizations, member_counts: dict, columns: list[Column] | None = None
) -> list[OrganizationRow]:
    detail = url_pattern("contacts:organization_detail")
    members = reverse("contacts:contact_list") + "?organization={pk}"
    columns = columns or DEFAULT_ORGANIZATION_COLUMNS
    return [
        OrganizationRow(
            organization=organization,
            url=detail.format(pk=organization.pk),
            members=member_counts.get(organization.pk, 0),
            members_url=members.format(pk=organization.pk),
            tags=getattr(organization, "listed_tags", []),
            columns=columns,
        )
        for organization in organizations
    ]
