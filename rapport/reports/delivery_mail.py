"""One recipient's scheduled email: subject, HTML body with the figures as tables, and the
files attached (the PDF; for a single report also its CSV or XLSX export).

`send_email` renders subject and body as merge templates, so text that came from users (a
report's name, a group's label) is made inert first: in the body its braces become HTML
entities, which show the same; in the subject a space parts "{{", "{%" and "{#".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import mark_safe

from rapport.core import display
from rapport.reports import delivery_content, tables
from rapport.reports.deliveries import describe
from rapport.reports.delivery_pdf import render_pdf
from rapport.reports.delivery_schedule import zone
from rapport.reports.models import Delivery, DeliveryFormat

PDF = "application/pdf"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TEMPLATE_OPENING = re.compile(r"\{(?=[{%#])")


@dataclass(frozen=True)
class ComposedEmail:
    subject: str
    body_html: str
    attachments: list[tuple[str, str, bytes]]


def inert(value) -> str:
    """Escaped for HTML, with braces as entities: shown as typed, never run as a merge field."""
    text = escape("" if value is None else str(value))
    return mark_safe(text.replace("{", "&#123;").replace("}", "&#125;"))


def inert_subject(value: str) -> str:
    return _TEMPLATE_OPENING.sub("{ ", value)


def _absolute(path: str) -> str:
    base = getattr(settings, "RAPPORT_PUBLIC_URL", "") or ""
    return f"{base.rstrip('/')}{path}" if base else ""


def _block_context(block: delivery_content.Block) -> dict:
    return {
        "title": inert(block.title),
        "caption": inert(block.caption),
        "headed": any(block.columns),
        "columns": [inert(column) for column in block.columns],
        "rows": [[inert(value) for value in row] for row in block.rows],
        "total": [inert(value) for value in block.total] if block.total else None,
        "notes": [inert(note) for note in block.notes],
    }


def compose(delivery: Delivery, recipient, *, now: dt.datetime) -> ComposedEmail:
    """The email `recipient` gets for this slot, every figure counted with their access."""
    target = delivery.target
    day = now.astimezone(zone(delivery.time_zone) or dt.UTC).date()
    url = _absolute(target.get_absolute_url())
    if delivery.report_id:
        copy = delivery_content.report_copy(delivery.report, recipient, url=url)
        kind = "report"
    else:
        copy = delivery_content.dashboard_copy(delivery.dashboard, recipient, url=url)
        kind = "dashboard"
    dated = delivery_content.dated(copy, recipient, day)
    why = (
        f"{delivery.owner} scheduled this email ({describe(delivery)}). Ask them or an "
        "administrator to change or stop it."
    )
    body = render_to_string(
        "reports/deliveries/email.html",
        {
            "copy": {"title": inert(copy.title), "subtitle": inert(copy.subtitle), "url": url},
            "dated": inert(dated),
            "blocks": [_block_context(block) for block in copy.blocks],
            "why": inert(why),
        },
    )
    stem = f"{kind}-{target.pk}-{day:%Y%m%d}"
    attachments = [
        (
            f"{stem}.pdf",
            PDF,
            render_pdf(
                copy,
                subtitle=dated,
                footer=f"Rapport · {copy.title} · {display.day_text(day, 'full')}",
            ),
        )
    ]
    if copy.result is not None and delivery.format == DeliveryFormat.PDF_CSV:
        attachments.append((f"{stem}.csv", CSV, b"".join(tables.csv_chunks(copy.result))))
    elif copy.result is not None and delivery.format == DeliveryFormat.PDF_XLSX:
        with tables.write_xlsx(copy.result) as handle:
            attachments.append((f"{stem}.xlsx", XLSX, handle.read()))
    return ComposedEmail(
        subject=inert_subject(f"{copy.title} · {display.day_text(day)}"),
        body_html=body,
        attachments=attachments,
    )
