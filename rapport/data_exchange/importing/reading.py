"""Reading an uploaded file as rows of text: encoding detection, delimiter sniffing, XLSX.

Files arrive from every kind of tool: Excel on Windows saves cp1252 or UTF-16, Google and
HubSpot export UTF-8 (sometimes with a byte-order mark), some use semicolons. The reader finds
out which, so the person importing never has to.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import decimal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

SAMPLE_BYTES = 256 * 1024
DELIMITERS = ",;\t|"
XLSX_MAGIC = b"PK\x03\x04"
MAX_COLUMNS = 200
MAX_CELL = 10_000


class UnreadableFile(ValueError):
    """The file is not a CSV or XLSX we can read; the message says why, for the person."""


@dataclass(frozen=True)
class FileShape:
    """What detection found: the format, text encoding and delimiter."""

    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""


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
    """UTF-8 (with or without BOM), UTF-16 (with or without BOM), else the best single-byte
    guess — cp1252 for Western text, which is what a spreadsheet on Windows writes."""
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
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

        try:
            self._workbook = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise UnreadableFile("This file is not a readable Excel (XLSX) workbook.") from exc
        sheet = self._workbook.worksheets[0] if self._workbook.worksheets else None
        if sheet is None:
            raise UnreadableFile("The workbook has no sheet.")
        self._sheet_rows = sheet.iter_rows(values_only=True)
        self._max_row = sheet.max_row
        first = next(self._sheet_rows, None) or ()
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
        width = len(self.headers)
        number = 1
        try:
            if self.shape.file_format == "xlsx":
                source = ([_cell_text(v) for v in row] for row in self._sheet_rows)
            else:
                source = self._reader
            for cells in source:
                number += 1
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) < width:
                    cells = cells + [""] * (width - len(cells))
                yield number, [cell[:MAX_CELL] for cell in cells[:width]]
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


def preview(path: Path, limit: int = 5) -> tuple[FileShape, list[str], list[list[str]]]:
    """The detected shape, headers and the first rows: what the mapping step shows."""
    shape = detect_shape(Path(path))
    with open_source(path, shape) as source:
        rows = []
        for _number, cells in source.rows():
            rows.append(cells)
            if len(rows) >= limit:
                break
        return shape, source.headers, rows
