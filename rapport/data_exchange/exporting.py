"""Exporting lists as CSV or XLSX: the chosen columns, streamed, safe to open in a spreadsheet.

Rows are read in primary-key order, a few thousand at a time with their related rows
prefetched, and written as they come: a CSV goes straight to the response, an XLSX through
openpyxl's write-only mode into a temporary file. A million contacts never sit in memory.

A cell a spreadsheet would run as a formula — text starting with =, +, -, @, a tab or a carriage
return — is written with a leading apostrophe, so it shows as the text it is.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from rapport.contacts.models import Membership
from rapport.customfields.choices import Entity as CustomFieldEntity
from rapport.customfields.services import definitions_for

CHUNK = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_COLUMNS = 60


def neutralize(value):
    """The cell value made inert: text that would start a formula gets a leading apostrophe.
    Numbers and dates stay what they are (they cannot carry a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | decimal.Decimal):
        return value
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, dt.date):
        return value
    text = "; ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    read: object  # (record) -> value
    prefetch: tuple[str, ...] = ()


def _primary_membership(contact):
    memberships = contact.memberships.all()
    for membership in memberships:
        if membership.is_primary:
            return membership
    return memberships[0] if memberships else None


CONTACT_COLUMNS = [
    Column("id", "Id", lambda c: c.pk),
    Column("first_name", "First name", lambda c: c.first_name),
    Column("last_name", "Last name", lambda c: c.last_name),
    Column("email", "Email", lambda c: c.primary_email),
    Column("emails", "All emails", lambda c: [e.email for e in c.emails.all()], ("emails",)),
    Column("phone", "Phone", lambda c: c.primary_phone),
    Column("phones", "All phones", lambda c: [p.number for p in c.phones.all()], ("phones",)),
    Column("job_title", "Job title", lambda c: c.job_title),
    Column(
        "organization",
        "Organization",
        lambda c: m.organization.name if (m := _primary_membership(c)) else "",
        ("memberships",),
    ),
    Column(
        "organizations",
        "All organizations",
        lambda c: [m.organization.name for m in c.memberships.all()],
        ("memberships",),
    ),
    Column("lifecycle_stage", "Lifecycle stage", lambda c: c.get_lifecycle_stage_display()),
    Column("owner", "Owner", lambda c: c.owner.email if c.owner_id else ""),
    Column("tags", "Tags", lambda c: [t.name for t in c.tags.all()], ("tags",)),
    Column("street", "Street", lambda c: c.street),
    Column("city", "City", lambda c: c.city),
    Column("postcode", "Postcode", lambda c: c.postcode),
    Column("region", "Region", lambda c: c.region),
    Column("country", "Country", lambda c: c.country),
    Column("source", "Source", lambda c: c.get_source_display()),
    Column("source_detail", "Source detail", lambda c: c.source_detail),
    Column(
        "external_ids",
        "External ids",
        lambda c: [f"{x.system}:{x.value}" for x in c.external_ids.all()],
        ("external_ids",),
    ),
    Column("about", "About", lambda c: c.about),
    Column("created_at", "Created", lambda c: c.created_at),
    Column("last_touched_at", "Last touched", lambda c: c.last_touched_at),
]
DEFAULT_CONTACT_COLUMNS = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "organization",
    "job_title",
    "lifecycle_stage",
    "owner",
    "tags",
    "city",
    "country",
]

ORGANIZATION_COLUMNS = [
    Column("id", "Id", lambda o: o.pk),
    Column("name", "Name", lambda o: o.name),
    Column("domain", "Domain", lambda o: o.domain),
    Column("website", "Website", lambda o: o.website),
    Column("industry", "Industry", lambda o: o.industry),
    Column("size", "Size", lambda o: o.size),
    Column("phone", "Phone", lambda o: o.phone),
    Column("street", "Street", lambda o: o.street),
    Column("city", "City", lambda o: o.city),
    Column("postcode", "Postcode", lambda o: o.postcode),
    Column("region", "Region", lambda o: o.region),
    Column("country", "Country", lambda o: o.country),
    Column("owner", "Owner", lambda o: o.owner.email if o.owner_id else ""),
    Column("tags", "Tags", lambda o: [t.name for t in o.tags.all()], ("tags",)),
    Column("description", "Description", lambda o: o.description),
    Column("created_at", "Created", lambda o: o.created_at),
]
DEFAULT_ORGANIZATION_COLUMNS = [
    "id",
    "name",
    "domain",
    "industry",
    "size",
    "city",
    "country",
    "owner",
    "tags",
]


def available_columns(entity: str) -> list[Column]:
    base = CONTACT_COLUMNS if entity == "contact" else ORGANIZATION_COLUMNS
    custom_entity = (
        CustomFieldEntity.CONTACT if entity == "contact" else CustomFieldEntity.ORGANIZATION
    )
    custom = [
        Column(
            f"custom_fields.{d.key}",
            d.label,
            (lambda key: lambda record: (record.custom_fields or {}).get(key))(d.key),
        )
        for d in definitions_for(custom_entity)
    ]
    return [*base, *custom]


def choose_columns(entity: str, keys: Iterable[str] | None) -> list[Column]:
    """The columns asked for, in the order asked; the defaults when none. ValidationError
    keyed "columns" names any unknown one."""
    by_key = {c.key: c for c in available_columns(entity)}
    keys = [k for k in (keys or []) if k]
    if not keys:
        keys = DEFAULT_CONTACT_COLUMNS if entity == "contact" else DEFAULT_ORGANIZATION_COLUMNS
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ValidationError(
            {
                "columns": [
                    f"Unknown columns: {', '.join(unknown[:10])}. Choose from: {', '.join(by_key)}."
                ]
            }
        )
    if len(keys) > MAX_COLUMNS:
        raise ValidationError({"columns": [f"At most {MAX_COLUMNS} columns."]})
    seen, chosen = set(), []
    for key in keys:
        if key not in seen:
            seen.add(key)
            chosen.append(by_key[key])
    return chosen


def _prefetches(columns: list[Column]) -> list:
    names = {name for column in columns for name in column.prefetch}
    result = []
    for name in sorted(names):
        if name == "memberships":
            result.append(
                Prefetch(
                    "memberships",
                    queryset=Membership.objects.select_related("organization").order_by(
                        "-is_primary", "id"
                    ),
                )
            )
        else:
            result.append(name)
    return result


def records(queryset: QuerySet, columns: list[Column]) -> Iterator:
    """The records of `queryset` in pk order, CHUNK at a time, related rows prefetched."""
    queryset = queryset.select_related("owner").prefetch_related(*_prefetches(columns))
    queryset = queryset.order_by("pk")
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].pk


def rows(queryset: QuerySet, columns: list[Column]) -> Iterator[list]:
    """Header, then one neutralized row per record."""
    yield [c.label for c in columns]
    for record in records(queryset, columns):
        yield [neutralize(c.read(record)) for c in columns]


class _Echo:
    def write(self, value):
        return value


def _csv_text(value) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_chunks(queryset: QuerySet, columns: list[Column]) -> Iterator[bytes]:
    """The CSV as UTF-8 bytes (with a byte-order mark, so spreadsheets pick the encoding),
    a few hundred rows per chunk."""
    writer = csv.writer(_Echo())
    yield "\ufeff".encode()
    buffer = []
    for index, row in enumerate(rows(queryset, columns)):
        buffer.append(writer.writerow([_csv_text(v) for v in row]))
        if index % 500 == 0:
            yield "".join(buffer).encode()
            buffer = []
    if buffer:
        yield "".join(buffer).encode()


def write_xlsx(queryset: QuerySet, columns: list[Column], title: str = "Export"):
    """An XLSX in a temporary file (deleted when closed), written row by row."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for row in rows(queryset, columns):
        # Control characters are not allowed in the XML of a sheet; they carry no meaning.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - returned open for streaming
    workbook.save(handle)
    handle.seek(0)
    return handle


def export_filename(entity: str, extension: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    plural = "contacts" if entity == "contact" else "organizations"
    return f"{plural}-{stamp}.{extension}"


def error_report_response(job):
    """An import's row errors as a streamed CSV: row, column, field, problem, value."""
    from django.http import StreamingHttpResponse

    from rapport.data_exchange.importing.jobs import error_rows

    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff".encode()
        yield writer.writerow(["Row", "Column", "Field", "Problem", "Value"]).encode()
        for row in error_rows(job):
            yield writer.writerow([_csv_text(neutralize(v)) for v in row]).encode()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response
