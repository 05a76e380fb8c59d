"""A copy of a report or dashboard as a PDF, drawn with fpdf2 (pure Python: no browser and no
system libraries on the server), in the typeface of every Rapport PDF (`core.pdf_fonts`):
Latin, Greek and Cyrillic print as written; a character it cannot draw (東京) becomes "?", and
the PDF says so. The email body beside it shows every character as it is.
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.fonts import FontFace

from rapport.core import display
from rapport.core.pdf_fonts import FONT, MISSING, add_fonts, printable
from rapport.reports.delivery_content import Block, Copy

MAX_BARS = 25
LANDSCAPE_FROM_COLUMNS = 6
REPLACED_NOTE = (
    "Some characters cannot be shown in this PDF and appear as “?”; the email shows them all."
)


class _Text:
    """Makes text fit the typeface and remembers whether anything had to give."""

    def __init__(self):
        self.replaced = False

    def __call__(self, value) -> str:
        text = "" if value is None else str(value)
        shown = printable(text)
        if shown.count(MISSING) > text.count(MISSING):
            self.replaced = True
        return shown


class _Document(FPDF):
    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text}   Page {self.page_no()}/{{nb}}", align="C")


def render_pdf(copy: Copy, *, subtitle: str, footer: str) -> bytes:
    """The copy as PDF bytes: title, the line under it, then each block's chart and table."""
    text = _Text()
    wide = any(len(block.columns) > LANDSCAPE_FROM_COLUMNS for block in copy.blocks)
    pdf = _Document(orientation="landscape" if wide else "portrait", format="A4")
    add_fonts(pdf)
    pdf.set_title(text(copy.title))
    pdf.set_creator("Rapport")
    pdf.footer_text = text(footer)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font(FONT, style="B", size=16)
    pdf.multi_cell(0, 8, text(copy.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(90)
    for line in (copy.subtitle, subtitle):
        if line:
            pdf.multi_cell(0, 5, text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    for block in copy.blocks:
        _block(pdf, block, text)
    if text.replaced:
        pdf.ln(4)
        pdf.set_font(FONT, size=8)
        pdf.set_text_color(90)
        pdf.multi_cell(0, 4, text(REPLACED_NOTE), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
    return bytes(pdf.output())


def _block(pdf: FPDF, block: Block, text: _Text) -> None:
    pdf.ln(4)
    pdf.set_font(FONT, style="B", size=12)
    pdf.multi_cell(0, 6, text(block.title), new_x="LMARGIN", new_y="NEXT")
    if block.caption:
        pdf.set_font(FONT, size=9)
        pdf.set_text_color(90)
        pdf.multi_cell(0, 5, text(block.caption), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
    if block.bars:
        _bars(pdf, block.bars, text)
    if block.rows:
        _table(pdf, block, text)
    pdf.set_font(FONT, size=8)
    for note in block.notes:
        pdf.multi_cell(0, 4, text(note), new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, block: Block, text: _Text) -> None:
    count = max(len(block.columns), max(len(row) for row in block.rows))
    size = 9 if count <= LANDSCAPE_FROM_COLUMNS else 7
    pdf.set_font(FONT, size=size)
    first = 3 if count > 2 else 2
    headed = any(block.columns)
    rows = ([block.columns] if headed else []) + block.rows
    if block.total:
        rows.append(block.total + [""] * (count - len(block.total)))
    with pdf.table(
        col_widths=(first, *([2] * (count - 1))),
        text_align=("LEFT", *(["RIGHT"] * (count - 1))),
        first_row_as_headings=headed,
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 238, 242)),
        line_height=size * 0.5,
        wrapmode="CHAR",
    ) as table:
        for values in rows:
            row = table.row()
            for value in [*values, *([""] * (count - len(values)))]:
                row.cell(text(value))


def _bars(pdf: FPDF, bars: list[tuple[str, float]], text: _Text) -> None:
    """A plain horizontal bar per group (the first grouping; with two, its row totals)."""
    bars = bars[:MAX_BARS]
    top = max((value for _label, value in bars), default=0)
    if top <= 0 or any(value < 0 for _label, value in bars):
        return  # nothing to compare, or a negative sum a bar from zero would misstate
    label_width = 55
    area = pdf.epw - label_width - 25
    height = 5
    pdf.set_font(FONT, size=7)
    pdf.ln(1)
    for label, value in bars:
        if pdf.will_page_break(height + 1):
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_x(pdf.l_margin)
        pdf.cell(label_width - 2, height, text(label)[:40], align="R")
        length = area * value / top
        pdf.set_fill_color(59, 110, 165)
        if length > 0:
            pdf.rect(pdf.l_margin + label_width, y + 0.8, length, height - 1.6, style="F")
        pdf.set_xy(pdf.l_margin + label_width + length + 1.5, y)
        pdf.cell(25, height, text(display.number_text(round(value, 2))))
        pdf.set_y(y + height + 0.6)
    pdf.set_fill_color(255)
    pdf.ln(2)
