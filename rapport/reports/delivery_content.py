"""One recipient's copy of a scheduled report or dashboard: the figures as blocks of words and
numbers, which the email body and the PDF both draw.

Every figure is computed for the recipient (`run_report(report, recipient)`, the dashboard's
lists read through the recipient's scoped querysets), so a copy never holds more than its
reader may see. Text stays as the CRM holds it; the PDF makes its own allowances for fonts.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError

from rapport.core import display
from rapport.reports import dashboards, services, tables
from rapport.reports.choices import Chart
from rapport.reports.models import Dashboard, Report, Widget, WidgetKind

logger = logging.getLogger(__name__)

NOTHING_MATCHES = "No records you may see match this report."


@dataclass
class Block:
    """One table of a copy: a report's figures, a KPI tile, a dashboard list, or a problem."""

    title: str
    caption: str = ""
    columns: list[str] = field(default_factory=list)  # the heading of each column
    rows: list[list[str]] = field(default_factory=list)
    total: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    bars: list[tuple[str, float]] = field(default_factory=list)  # for the PDF's chart


@dataclass
class Copy:
    title: str
    subtitle: str
    blocks: list[Block]
    url: str = ""
    result: services.Result | None = None  # a single report's run, for its CSV/XLSX


def figure(value) -> str:
    """A figure as the pages show it: thousands separated, money to the cent, — for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return display.number_text(value)
    if isinstance(value, Decimal | float):
        number = Decimal(str(value))
        if number == number.to_integral_value():
            return display.number_text(int(number))
        return display.number_text(number, 2)
    return str(value)


def _missing_notes(missing) -> list[str]:
    return [f"Left out: {m.text}: {display.left_out_text(m, 'record')}" for m in missing]


def _truncation_note(result: services.Result) -> list[str]:
    table = result.table
    notes = []
    if table.truncated_rows:
        more = display.number_text(table.truncated_rows)
        notes.append(f"{more} more groups of {result.axes[0].label} not shown.")
    if table.truncated_columns:
        more = display.number_text(table.truncated_columns)
        notes.append(f"{more} more groups of {result.axes[1].label} not shown.")
    return notes


def report_block(result: services.Result, *, title: str) -> Block:
    """A run's figures as a table: one row per first group, a column per second group."""
    data = tables.table(result)
    two = len(result.axes) == 2
    measure = result.measure_label + (f" ({result.currency})" if result.currency else "")
    rows = [
        [row["label"], *(figure(cell["value"]) for cell in row["cells"])] for row in data["rows"]
    ]
    heading = data["heading"] + (f" / {result.axes[1].label}" if two else "")
    block = Block(
        title=title,
        caption=measure,
        columns=[heading, *data["columns"]],
        rows=rows,
        total=["Total", figure(data["total"])] if rows else None,
        notes=_missing_notes(result.missing) + _truncation_note(result),
    )
    if not rows:
        block.notes.insert(0, NOTHING_MATCHES)
    if result.report.chart != Chart.TABLE:
        block.bars = [
            (result.axes[0].label_of(row), float(value))
            for row in result.table.rows
            if (value := (result.row_total(row) if two else result.value(row))) is not None
        ]
    return block


def report_copy(report: Report, recipient, *, url: str = "") -> Copy:
    """`report` run over the records `recipient` may see."""
    try:
        result = services.run_report(report, recipient)
    except ValidationError as exc:
        block = Block(
            title=report.name, notes=[f"This report cannot run: {' '.join(exc.messages)}"]
        )
        return Copy(title=report.name, subtitle=report.description, blocks=[block], url=url)
    return Copy(
        title=report.name,
        subtitle=report.description,
        blocks=[report_block(result, title=report.name)],
        url=url,
        result=result,
    )


# --------------------------------------------------------------------------- dashboards


def _kpi_block(widget: Widget, title: str) -> Block:
    from rapport.frameworks.templatetags.frameworks import kpi_value
    from rapport.reports import dashboard_kpis

    tile = dashboard_kpis.build_tile(widget.kpi)
    if tile is None:
        return Block(title=title, notes=["This KPI is no longer in the catalogue."])
    if tile.value is None:
        return Block(title=title, notes=[tile.missing_text])
    unit = tile.kpi.unit
    rows = [["Value", kpi_value(tile.value, unit)]]
    if tile.target is not None:
        rows.append(["Target", kpi_value(tile.target, unit)])
        rows.append(["Status", tile.status_label])
    if tile.measured_on is not None:
        rows.append(["Measured", display.day_text(tile.measured_on)])
    return Block(
        title=title,
        columns=["", ""],
        rows=rows,
        notes=[tile.target_basis] if tile.target_basis else [],
    )


def _list_block(widget: Widget, user, title: str) -> Block:
    from rapport.reports import dashboard_lists

    entry = dashboard_lists.LISTS.get(widget.list_key)
    if entry is None:
        return Block(title=title, notes=["This list is no longer offered."])
    listing = entry.build(user)
    rows = [[row.label, row.detail, row.figure] for row in listing.rows]
    notes = ([listing.summary] if listing.summary else []) + _missing_notes(listing.missing)
    if not rows:
        notes.append(listing.empty)
    return Block(title=title, columns=["", "", ""] if rows else [], rows=rows, notes=notes)


def _report_widget_block(widget: Widget, user, title: str) -> Block:
    report, _opens = dashboards.widget_report(widget, user)
    if report is None:
        return Block(title=title, notes=["This report is not shared with you."])
    try:
        result = services.run_report(report, user)
    except ValidationError as exc:
        return Block(title=title, notes=[f"This report cannot run: {' '.join(exc.messages)}"])
    return report_block(result, title=title)


def widget_block(widget: Widget, user) -> Block:
    """One widget for `user`; its failure is a note in the copy, not the end of the copy."""
    title = dashboards.widget_title(widget)
    try:
        if widget.kind == WidgetKind.REPORT:
            return _report_widget_block(widget, user, title)
        if widget.kind == WidgetKind.KPI:
            return _kpi_block(widget, title)
        return _list_block(widget, user, title)
    except Exception:
        logger.exception("widget %s of a scheduled email failed", widget.pk)
        return Block(title=title, notes=["This widget could not be shown; the error is logged."])


def dashboard_copy(dashboard: Dashboard, recipient, *, url: str = "") -> Copy:
    """Every widget of `dashboard`, in its order, as `recipient` would see it."""
    widgets = dashboard.widgets.select_related("report", "dashboard").order_by("position", "id")
    blocks = [widget_block(widget, recipient) for widget in widgets]
    if not blocks:
        blocks = [Block(title=dashboard.name, notes=["This dashboard has no widgets yet."])]
    return Copy(title=dashboard.name, subtitle="", blocks=blocks, url=url)


def dated(copy: Copy, recipient, day: dt.date) -> str:
    """The line under a copy's title: for whom, when, and what it counts."""
    name = recipient.get_full_name() or recipient.username
    # Spelled out with its year: a saved PDF is read long after the day it was sent.
    when = display.day_text(day, "full")
    return f"For {name}, {when}. The figures count only the records {name} may see."
