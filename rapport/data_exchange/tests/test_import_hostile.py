"""Hostile and careless files (issue 11): workbooks that unpack to far more than they weigh,
sheets that claim millions of rows, a megabyte in one cell, and failures that must say when
they ended."""

import io
import re
import zipfile

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from openpyxl import Workbook

from rapport.contacts.models import Contact
from rapport.core import display
from rapport.data_exchange.choices import ImportStatus, RowAction
from rapport.data_exchange.importing import jobs, reading
from rapport.data_exchange.tests.test_import import HEADER, csv_bytes, import_file, upload

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def workbook_bytes(rows, header=HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rezipped(data: bytes, replace: dict[str, bytes]) -> bytes:
    """The workbook `data` with some parts' contents replaced (or added)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.pop(info.filename, source.read(info)))
        for name, content in replace.items():
            target.writestr(name, content)
    return buffer.getvalue()


def shared_strings_bomb(unpacked: int) -> bytes:
    """A sharedStrings part of `unpacked` bytes that deflates to a few kilobytes."""
    item = b"<si><t>" + b"A" * 1000 + b"</t></si>"
    count = unpacked // len(item)
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        + f'count="{count}" uniqueCount="{count}">'.encode()
        + item * count
        + b"</sst>"
    )


def with_dimension(sheet: bytes, ref: str) -> bytes:
    """A sheet's XML declaring another size than it has."""
    changed = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), sheet)
    assert changed != sheet
    return changed


@pytest.fixture
def openpyxl_untouched(monkeypatch):
    """Fails the test if openpyxl is asked to open the workbook."""

    def refuse(*args, **kwargs):
        raise AssertionError("openpyxl opened a workbook that should have been refused")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


def refusal(owner, data, name="bomb.xlsx") -> str:
    with pytest.raises(ValidationError) as caught:
        jobs.create_import(actor=owner, entity="contact", upload=upload(data, name))
    return caught.value.message_dict["file"][0]


def test_a_shared_strings_bomb_is_refused_before_openpyxl_reads_it(
    owner, settings, openpyxl_untouched
):
    settings.RAPPORT_IMPORT_XLSX_MAX_PART = 1 * MB
    bomb = rezipped(
        workbook_bytes([["Ada", "Lovelace", "ada@example.org", "", "", "", ""]]),
        {"xl/sharedStrings.xml": shared_strings_bomb(4 * MB)},
    )
    assert len(bomb) < 100_000  # a few MB unpacked from a few KB
    message = refusal(owner, bomb)
    assert "xl/sharedStrings.xml" in message and "at most 1 MB" in message
    assert "CSV" in message
    assert not Contact.objects.exists()


def test_a_workbook_unpacking_beyond_the_limit_is_refused(owner, settings, openpyxl_untouched):
    settings.RAPPORT_IMPORT_XLSX_MAX_UNPACKED = 2 * MB
    bomb = rezipped(
        workbook_bytes([["Ada", "Lovelace", "ada@example.org", "", "", "", ""]]),
        {"xl/media/padding.bin": b"\0" * (3 * MB)},
    )
    message = refusal(owner, bomb)
    assert "unpacks to 3 MB" in message and "at most 2 MB" in message


def test_a_sheet_declaring_too_many_rows_or_cells_is_refused(owner, settings, openpyxl_untouched):
    data = workbook_bytes([["Ada", "Lovelace", "ada@example.org", "", "", "", ""]])
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    huge = with_dimension(sheet, "A1:XFD1048576")
    assert "cells" in refusal(owner, rezipped(data, {"xl/worksheets/sheet1.xml": huge}))
    tall = with_dimension(sheet, "A1:B5000")
    settings.RAPPORT_IMPORT_MAX_ROWS = 1000
    message = refusal(owner, rezipped(data, {"xl/worksheets/sheet1.xml": tall}))
    assert "5,000 rows" in message and "at most 1,000" in message


def test_a_sheet_lying_about_its_size_stops_at_the_row_limit_and_says_when(owner, settings):
    settings.RAPPORT_IMPORT_MAX_ROWS = 3
    rows = [[f"P{i}", "Person", f"p{i}@example.org", "", "", "", ""] for i in range(5)]
    data = workbook_bytes(rows)
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    lying = with_dimension(sheet, "A1:G2")
    job = jobs.create_import(
        actor=owner,
        entity="contact",
        upload=upload(rezipped(data, {"xl/worksheets/sheet1.xml": lying}), "people.xlsx"),
    )
    with pytest.raises(reading.UnreadableFile):
        jobs.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "more than 3 rows" in job.failure
    assert job.finished_at is not None


def test_a_failed_import_records_when_it_ended_and_a_resumed_one_clears_it(owner, monkeypatch):
    from rapport.data_exchange.importing.contacts import ContactImporter

    def crash(self, rows, run, *, dry_run):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(ContactImporter, "process_batch", crash)
        job = jobs.create_import(
            actor=owner,
            entity="contact",
            upload=upload(csv_bytes([["Ada", "", "ada@example.org", "", "", "", ""]])),
        )
        with pytest.raises(RuntimeError):
            jobs.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and job.finished_at is not None
    job = jobs.run_import(job.pk)
    assert job.status == ImportStatus.COMPLETED and job.created_count == 1


# A CSV cell can be a megabyte; openpyxl keeps Excel's own limit of 32,767 characters.
@pytest.mark.parametrize(("file_format", "length"), [("csv", MB), ("xlsx", 20_000)])
def test_a_megabyte_in_one_cell_fails_that_row_only(owner, file_format, length):
    rows = [
        ["Ada", "Lovelace", "ada@example.org", "", "", "", ""],
        ["Long", "Notes", "long@example.org", "", "", "x" * length, ""],
        ["Grace", "Hopper", "grace@example.org", "", "", "", ""],
    ]
    if file_format == "csv":
        job = import_file(owner, csv_bytes(rows))
    else:
        job = import_file(owner, workbook_bytes(rows), name="people.xlsx")
    assert job.status == ImportStatus.COMPLETED, job.failure
    assert (job.created_count, job.error_count) == (2, 1)
    row = job.rows.get(row_number=3)
    assert row.action == RowAction.ERROR
    [error] = row.errors
    assert error["column"] == "City"
    assert error["message"] == (
        f"This cell has {display.number_text(length)} characters; at most 10,000 can be imported."
    )
    assert sorted(Contact.objects.values_list("last_name", flat=True)) == ["Hopper", "Lovelace"]


def test_a_long_cell_in_a_column_not_imported_does_no_harm(owner):
    rows = [["Ada", "Lovelace", "ada@example.org", "", "", "", "x" * 20_000]]
    job = import_file(owner, csv_bytes(rows), mapping={"First Name": "first_name"})
    assert (job.created_count, job.error_count) == (1, 0)


def test_the_mapping_step_reads_only_the_first_rows(owner, monkeypatch, tmp_path):
    monkeypatch.setattr(reading, "PREVIEW_SCAN_ROWS", 50)
    path = tmp_path / "sparse.csv"
    path.write_bytes(
        csv_bytes([[""] * 7] * 100 + [["Ada", "Lovelace", "ada@example.org", "", "", "", ""]])
    )
    with reading.open_source(path) as source:
        assert reading.first_rows(source, 3) == []
    path.write_bytes(csv_bytes([["Ada", "Lovelace", "a" * 500, "", "", "", ""]] * 10))
    with reading.open_source(path) as source:
        rows = reading.first_rows(source, 3)
    assert len(rows) == 3 and len(rows[0][2]) == 200


def test_the_undo_summary_speaks_words(owner, web_client_for):
    job = jobs.create_import(actor=owner, entity="contact", upload=upload(csv_bytes([])))
    job.status = ImportStatus.UNDONE
    job.undo_report = {"deleted": 5, "restored": 0, "kept_changed_since": 3, "already_gone": 1}
    job.save()
    page = web_client_for(owner).get(f"/data/imports/{job.pk}/").content.decode()
    assert (
        "Undone: 5 created by the import removed, 3 kept because someone changed them since, "
        "1 already deleted by someone else." in page
    )
    assert "keptchangedsince" not in page


def test_a_sheet_declaring_too_few_rows_loses_none(owner):
    rows = [[f"P{i}", "Person", f"p{i}@example.org", "", "", "", ""] for i in range(5)]
    data = workbook_bytes(rows)
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    data = rezipped(data, {"xl/worksheets/sheet1.xml": with_dimension(sheet, "A1:G2")})
    job = import_file(owner, data, name="people.xlsx")
    assert job.created_count == 5
