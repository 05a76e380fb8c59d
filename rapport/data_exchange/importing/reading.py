"""Reading an uploaded file as rows of text: encoding detection, delimiter sniffing, XLSX.

Files arrive from every kind of tool: Excel on Windows saves cp1252 or UTF-16, Google and
HubSpot export UTF-8 (sometimes with a byte-order mark), some use semicolons. The reader finds
out which, so the person importing never has to.

Files also arrive from people who mean harm. An XLSX is a zip: a few hundred kilobytes can
unpack to gigabytes, and openpyxl reads a workbook's shared strings whole into memory. So the
zip's own directory is read first and a workbook whose parts unpack beyond the limits (settings
`RAPPORT_IMPORT_XLSX_MAX_UNPACKED`, `RAPPORT_IMPORT_XLSX_MAX_PART`, `RAPPORT_IMPORT_MAX_ROWS`,
`RAPPORT_IMPORT_MAX_CELLS`) is refused before openpyxl opens it. A cell longer than `MAX_CELL`
fails its row, not the file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import decimal
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes
from django.conf import settings

from rapport.core import display

SAMPLE_BYTES = 256 * 1024
DELIMITERS = ",;\t|"
XLSX_MAGIC = b"PK\x03\x04"
MAX_COLUMNS = 200
# A longer cell fails its row (the report names the column); the file goes on.
MAX_CELL = 10_000
# What the CSV parser holds of one cell before it gives up on the file (its default, 128 KB,
# stopped a whole import for one long note). Process-wide, and only ever raised.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))

MB = 1024 * 1024
# Defaults of the workbook limits (each a setting): everything unpacked; one part openpyxl
# reads whole (shared strings, styles; not the sheets, which it streams); rows and cells.
XLSX_MAX_UNPACKED = 512 * MB
XLSX_MAX_PART = 64 * MB
MAX_ROWS = 1_048_576  # Excel's own
MAX_CELLS = 50_000_000
DIMENSION = re.compile(
    rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?\""
)


class UnreadableFile(ValueError):
    """The file is not a CSV or XLSX we can read; the message says why, for the person."""


@dataclass(frozen=True)
class FileShape:
    """What detection found: the format, text encoding and delimiter."""

    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _size(count: int) -> str:
    if count >= MB:
        return f"{display.number_text(count / MB, 0)} MB"
    return f"{display.number_text(count)} bytes"


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + (letter - 64)
    return number


def check_workbook(path: Path) -> None:
    """Refuse a workbook that would unpack or spread beyond the limits, from the zip's
    directory and the sheets' declared dimensions alone: nothing is decompressed but the first
    kilobytes of each sheet. Raises UnreadableFile naming the limit."""
    max_unpacked = _limit("RAPPORT_IMPORT_XLSX_MAX_UNPACKED", XLSX_MAX_UNPACKED)
    max_part = _limit("RAPPORT_IMPORT_XLSX_MAX_PART", XLSX_MAX_PART)
    max_rows = _limit("RAPPORT_IMPORT_MAX_ROWS", MAX_ROWS)
    max_cells = _limit("RAPPORT_IMPORT_MAX_CELLS", MAX_CELLS)
    as_csv = " Save it as CSV (UTF-8) and import that instead."
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > 10_000:
                raise UnreadableFile("This workbook has too many parts to be a spreadsheet.")
            total = sum(member.file_size for member in members)
            if total > max_unpacked:
                raise UnreadableFile(
                    f"This workbook unpacks to {_size(total)}; at most {_size(max_unpacked)} "
                    f"can be imported.{as_csv}"
                )
            sheets = []
            for member in members:
                is_sheet = member.filename.startswith("xl/worksheets/")
                if is_sheet and member.filename.endswith(".xml"):
                    sheets.append(member)
                elif member.file_size > max_part:
                    raise UnreadableFile(
                        f"A part of this workbook ({member.filename}) unpacks to "
                        f"{_size(member.file_size)}; at most {_size(max_part)} can be "
                        f"read.{as_csv}"
                    )
            for member in sheets:
                with archive.open(member) as handle:
                    head = handle.read(16 * 1024)
                found = DIMENSION.search(head)
                if not found:
                    continue
                last_column, last_row = (
                    found.group(3) or found.group(1),
                    found.group(4) or found.group(2),
                )
                rows, columns = int(last_row), _column_number(last_column)
                if rows > max_rows:
                    raise UnreadableFile(
                        f"A sheet of this workbook has {display.number_text(rows)} rows; at most "
                        f"{display.number_text(max_rows)} can be imported from one file."
                    )
                if rows * columns > max_cells:
                    raise UnreadableFile(
                        f"A sheet of this workbook spans {display.number_text(rows * columns)} "
                        f"cells; at most {display.number_text(max_cells)} can be imported from "
                        f"one file.{as_csv}"
                    )
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise UnreadableFile("This file is not a readable Excel (XLSX) workbook.") from exc


def _utf32(head: bytes) -> str | None:
    """UTF-32 with a byte-order mark (checked before UTF-16's, which it starts with), or
    without one: mostly-ASCII UTF-32 has three NULs in every four bytes."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    sample = head[: 4096 - 4096 % 4]
    quarter = len(sample) // 4
    if quarter < 1:
        return None
    lanes = [sample[i::4].count(0) for i in range(4)]
    if lanes[0] < quarter * 0.05 and min(lanes[1:]) > quarter * 0.9:
        return "utf-32-le"
    if lanes[3] < quarter * 0.05 and min(lanes[:3]) > quarter * 0.9:
        return "utf-32-be"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    # Mostly-ASCII UTF-16 text has a NUL in every other byte.
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.3 and even < half * 0.05:
        return "utf-16-le"
    if even > half * 0.3 and odd < half * 0.05:
        return "utf-16-be"
    return None


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-32 and UTF-16 (with or without BOM), else the best
    single-byte guess — cp1252 for Western text, which is what a spreadsheet on Windows
    writes."""
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    utf32 = _utf32(head)
    if utf32:
        return utf32
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16
    if _is_utf8(path):
        return "utf-8"
    best = from_bytes(head).best()
    guess = (best.encoding if best else "") or ""
    # charset-normalizer names the Western single-byte family in many ways; cp1252 decodes all
    # of latin-1's printable range and adds the curly quotes and euro sign Excel writes.
    if not guess or guess.replace("_", "-") in {
        "latin-1",
        "iso8859-1",
        "iso8859-15",
        "cp1250",
        "ascii",
        "utf-8",
    }:
        return "cp1252"
    return guess


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV sample: csv.Sniffer, checked against the header line."""
    lines = [line for line in text.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    sample = "\n".join(lines)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ""
    header = lines[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    # The sniffer can be fooled by commas inside values; trust it only if the header agrees.
    if not delimiter or counts.get(delimiter, 0) == 0:
        delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    return delimiter


def detect_shape(path: Path) -> FileShape:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == XLSX_MAGIC:
        return FileShape(file_format="xlsx")
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(64 * 1024)
    return FileShape(file_format="csv", encoding=encoding, delimiter=sniff_delimiter(sample))


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


class SourceFile:
    """A file opened for reading: `headers`, then `rows()` yields (row number, cells).

    Row numbers are what a spreadsheet shows: the header is row 1, the first record row 2.
    """

    def __init__(self, path: Path, shape: FileShape):
        self.path = Path(path)
        self.shape = shape
        self._handle = None
        self._workbook = None
        self.headers: list[str] = []

    def __enter__(self) -> SourceFile:
        try:
            if self.shape.file_format == "xlsx":
                self._open_xlsx()
            else:
                self._open_csv()
        except UnreadableFile:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None

    def _open_csv(self) -> None:
        try:
            self._handle = open(  # noqa: SIM115 - closed in close()
                self.path, encoding=self.shape.encoding, errors="replace", newline=""
            )
            self._reader = csv.reader(self._handle, delimiter=self.shape.delimiter or ",")
            self.headers = self._clean_headers(next(self._reader, []))
        except (csv.Error, UnicodeError, LookupError) as exc:
            raise UnreadableFile(f"This file cannot be read as CSV: {exc}") from exc

    def _open_xlsx(self) -> None:
        from openpyxl import load_workbook

        check_workbook(self.path)
        try:
            self._workbook = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise UnreadableFile("This file is not a readable Excel (XLSX) workbook.") from exc
        sheet = self._workbook.worksheets[0] if self._workbook.worksheets else None
        if sheet is None:
            raise UnreadableFile("The workbook has no sheet.")
        self._max_row = sheet.max_row
        width = sheet.max_column or 0
        # Read every row there is: openpyxl would stop at the declared size, and a workbook
        # that declares too few rows would lose the rest without a word (the row limit still
        # holds, in `records`).
        sheet.reset_dimensions()
        self._sheet_rows = sheet.iter_rows(values_only=True)
        first = list(next(self._sheet_rows, None) or ())
        first += [None] * (width - len(first))  # columns the sheet declares, named or not
        self.headers = self._clean_headers([_cell_text(v) for v in first])

    @staticmethod
    def _clean_headers(raw: list[str]) -> list[str]:
        if not raw or not any(h.strip() for h in raw):
            raise UnreadableFile("The first row must name the columns; it is empty.")
        if len(raw) > MAX_COLUMNS:
            raise UnreadableFile(f"The file has {len(raw)} columns; at most {MAX_COLUMNS}.")
        headers, seen = [], {}
        for index, header in enumerate(raw):
            name = " ".join(header.replace("\ufeff", "").split())[:200] or f"Column {index + 1}"
            if name in seen:
                seen[name] += 1
                name = f"{name} ({seen[name]})"
            else:
                seen[name] = 1
            headers.append(name)
        return headers

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cells) of each non-empty row; a cell is cut at MAX_CELL characters."""
        for number, cells, _too_long in self.records():
            yield number, cells

    def records(self) -> Iterator[tuple[int, list[str], dict[int, int]]]:
        """(row number, cells, {column index: length} of the cells longer than MAX_CELL, which
        are cut there): the import fails such a row, naming the column."""
        width = len(self.headers)
        number = 1
        is_xlsx = self.shape.file_format == "xlsx"
        max_rows = _limit("RAPPORT_IMPORT_MAX_ROWS", MAX_ROWS) + 1
        try:
            if is_xlsx:
                source = ([_cell_text(v) for v in row[:width]] for row in self._sheet_rows)
            else:
                source = self._reader
            for cells in source:
                number += 1
                if is_xlsx and number > max_rows:
                    # The sheet's declared size was checked; this one lied about it.
                    raise UnreadableFile(
                        f"The sheet has more than {display.number_text(max_rows - 1)} rows; at "
                        f"most that many can be imported from one file."
                    )
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) < width:
                    cells = cells + [""] * (width - len(cells))
                cells = cells[:width]
                too_long = {i: len(cell) for i, cell in enumerate(cells) if len(cell) > MAX_CELL}
                if too_long:
                    cells = [cell[:MAX_CELL] for cell in cells]
                yield number, cells, too_long
        except csv.Error as exc:
            raise UnreadableFile(f"Row {number}: {exc}") from exc

    def count_rows(self) -> int:
        """Rows of data (for progress). Reads the file once more; XLSX knows its size."""
        if self.shape.file_format == "xlsx":
            return max(0, (self._max_row or 1) - 1)
        with open(self.path, encoding=self.shape.encoding, errors="replace", newline="") as h:
            reader = csv.reader(h, delimiter=self.shape.delimiter or ",")
            next(reader, None)
            return sum(1 for cells in reader if any(c.strip() for c in cells))


def open_source(path: Path, shape: FileShape | None = None) -> SourceFile:
    return SourceFile(Path(path), shape or detect_shape(Path(path)))


# How far the mapping step (in the web request) reads for its examples: a file that starts
# with thousands of empty rows shows none rather than hold the request.
PREVIEW_SCAN_ROWS = 1000


def first_rows(source: SourceFile, limit: int) -> list[list[str]]:
    """Up to `limit` non-empty rows from the first PREVIEW_SCAN_ROWS of the file."""
    rows = []
    for number, cells in source.rows():
        if number > PREVIEW_SCAN_ROWS:
            break
        rows.append([cell[:200] for cell in cells])
        if len(rows) >= limit:
            break
    return rows


def preview(path: Path, limit: int = 5) -> tuple[FileShape, list[str], list[list[str]]]:
    """The detected shape, headers and the first rows: what the mapping step shows."""
    shape = detect_shape(Path(path))
    with open_source(path, shape) as source:
        return shape, source.headers, first_rows(source, limit)
