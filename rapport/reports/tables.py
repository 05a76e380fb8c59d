"""A run's figures as the page, the chart, the export and the API show them: labels, never keys.

Each figure carries the link to the records behind it (`drill_url`), so a bar, a slice and a
table cell open the same list.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse

from rapport.data_exchange.exporting import neutralize
from rapport.reports.choices import Chart
from rapport.reports.grouping import key_to_param
from rapport.reports.services import Result

CHART_TYPES = {
    Chart.BAR: "bar",
    Chart.LINE: "line",
    Chart.AREA: "line",
    Chart.PIE: "pie",
    Chart.DONUT: "doughnut",
    Chart.FUNNEL: "bar",
}


def drill_url(result: Result, row=None, column=None, *, by_column: bool = True) -> str:
    query = {"g1": key_to_param(row)}
    if len(result.axes) == 2 and by_column:
        query["g2"] = key_to_param(column)
    base = reverse("reports:records", args=[result.report.pk])
    return f"{base}?{urlencode(query)}"


def _number(value):
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal) else value


def chart_data(result: Result) -> dict:
    """What `reports/chart.js` draws: labels, one dataset per series, each point's link."""
    first = result.axes[0]
    labels = [first.label_of(row) for row in result.table.rows]
    if len(result.axes) == 1:
        series = [(result.measure_label, None)]
    else:
        second = result.axes[1]
        series = [(second.label_of(column), column) for column in result.table.columns]
    datasets = [
        {
            "label": label,
            "data": [_number(result.value(row, column)) for row in result.table.rows],
            "urls": [drill_url(result, row, column) for row in result.table.rows],
        }
        for label, column in series
    ]
    return {
        "type": CHART_TYPES.get(result.report.chart, "bar"),
        "fill": result.report.chart == Chart.AREA,
        "horizontal": result.report.chart == Chart.FUNNEL,
        "measure": result.measure_label + (f" ({result.currency})" if result.currency else ""),
        "labels": labels,
        "datasets": datasets,
    }


def table(result: Result) -> dict:
    """The figures as a table: one row per first group, one column per second group (and a
    total column with two groupings), a total row; each figure with its link."""
    two = len(result.axes) == 2
    columns = (
        [result.axes[1].label_of(column) for column in result.table.columns]
        if two
        else [result.measure_label]
    )
    rows = []
    for row in result.table.rows:
        cells = [
            {"value": result.value(row, column), "url": drill_url(result, row, column)}
            for column in result.table.columns
        ]
        if two:
            cells.append(
                {"value": result.row_total(row), "url": drill_url(result, row, by_column=False)}
            )
        rows.append({"label": result.axes[0].label_of(row), "cells": cells})
    return {
        "heading": result.axes[0].label,
        "columns": columns + (["Total"] if two else []),
        "rows": rows,
        "total": result.total,
    }


def flat_rows(result: Result) -> Iterator[dict]:
    """One entry per figure: its group labels and link parameters, its value and records."""
    two = len(result.axes) == 2
    for row in result.table.rows:
        for column in result.table.columns:
            cell = result.table.cell(row, column)
            yield {
                "group": result.axes[0].label_of(row),
                "group_key": key_to_param(row),
                "then": result.axes[1].label_of(column) if two else None,
                "then_key": key_to_param(column) if two else None,
                "value": cell.measure(result.report.measure),
                "records": cell.records,
                "url": drill_url(result, row, column),
            }


def _header(result: Result) -> list[str]:
    measure = result.measure_label + (f" ({result.currency})" if result.currency else "")
    names = [axis.label for axis in result.axes]
    return [*names, measure, "Records"]


def _lines(result: Result) -> Iterator[list]:
    yield [neutralize(value) for value in _header(result)]
    two = len(result.axes) == 2
    for entry in flat_rows(result):
        groups = [entry["group"], entry["then"]] if two else [entry["group"]]
        yield [neutralize(value) for value in [*groups, entry["value"], entry["records"]]]
    for missing in result.missing:
        # Said in the file too: a total that left amounts out must not pass for a complete one.
        yield [neutralize(f"Left out: {missing.text} ({missing.count} records)")]


class _Echo:
    def write(self, value):
        return value


def csv_chunks(result: Result) -> Iterator[bytes]:
    """The figures as CSV (UTF-8 with a byte-order mark, so spreadsheets read the encoding);
    text that a spreadsheet would run as a formula is neutralized."""
    writer = csv.writer(_Echo())
    yield "\ufeff".encode()
    for line in _lines(result):
        yield writer.writerow(["" if value is None else value for value in line]).encode()


def write_xlsx(result: Result):
    """The same figures as an XLSX in a temporary file (deleted when closed)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    # A sheet's title may not hold []:*?/\ characters.
    title = re.sub(r"[\[\]:*?/\\]", " ", result.report.name).strip()[:31] or "Report"
    sheet = workbook.create_sheet(title=title)
    for line in _lines(result):
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in line])
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - returned open for streaming
    workbook.save(handle)
    handle.seek(0)
    return handle
