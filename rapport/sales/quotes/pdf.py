"""A quote as a PDF, drawn with fpdf2 (pure Python: no browser, no system library), in the
typeface of every Rapport PDF (`core.pdf_fonts`: Latin, Greek and Cyrillic as written, "?" for
what it cannot draw); the quote's web page shows every character.
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from rapport.core import display
from rapport.core.pdf_fonts import FONT, add_fonts, printable
from rapport.sales.models import Quote
from rapport.sales.templatetags.sales_tags import format_money

INK = (33, 37, 41)
MUTED = (102, 112, 133)
RULE = (208, 213, 221)


def _day(value) -> str:
    return display.day_text(value, "dated")  # a document: the year always shows


def _quantity(value: int) -> str:
    return display.number_text(value)


def _percent(value) -> str:
    return f"{value.normalize():f} %" if value else ""


class QuoteDocument(FPDF):
    def __init__(self, quote: Quote):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.quote = quote
        add_fonts(self)
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(printable(f"Quote {quote.number} version {quote.version}"))
        self.set_subject(printable(quote.title))
        self.set_author(printable(quote.company_name))
        self.set_creator("Rapport")

    def footer(self):
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        self.cell(
            0,
            5,
            printable(
                f"{self.quote.number} · version {self.quote.version} · page "
                f"{self.page_no()} of {{nb}}"
            ),
            align="C",
        )

    def text_line(
        self,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        color=INK,
        height: float = 5,
        align: str = "L",
    ) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.set_text_color(*color)
        self.multi_cell(
            0, height, printable(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )


def _header(pdf: QuoteDocument, quote: Quote) -> None:
    top = pdf.get_y()
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    pdf.set_font(FONT, "B", 16)
    pdf.set_text_color(*INK)
    pdf.multi_cell(
        half, 8, printable(quote.company_name or "Quote"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    if quote.company_details:
        pdf.set_font(FONT, size=8.5)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(
            half, 4.2, printable(quote.company_details), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half, top)
    pdf.set_font(FONT, "B", 20)
    pdf.set_text_color(*INK)
    pdf.cell(half, 9, "QUOTE", align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    facts = [
        f"Number: {quote.number}",
        f"Version: {quote.version}",
        f"Date: {_day(quote.issued_on)}",
        f"Valid until: {_day(quote.valid_until)}",
    ]
    for fact in facts:
        pdf.set_x(pdf.l_margin + half)
        pdf.cell(half, 5, printable(fact), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)


def _customer(pdf: QuoteDocument, quote: Quote) -> None:
    customer = [name for name in (quote.customer_name, quote.organization_name) if name]
    if customer:
        pdf.text_line("For", size=8.5, color=MUTED, height=4.5)
        pdf.text_line("\n".join(customer), size=10.5, bold=True)
        pdf.ln(3)
    pdf.text_line(quote.title, size=12, bold=True, height=6)
    pdf.ln(2)


def _lines(pdf: QuoteDocument, quote: Quote) -> None:
    def money(amount) -> str:
        return printable(format_money(amount, quote.currency))

    pdf.set_font(FONT, size=9)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    with pdf.table(
        col_widths=(8, 64, 14, 30, 22, 36),
        text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=5,
        padding=(1.5, 1.5),
        borders_layout="HORIZONTAL_LINES",
        headings_style=FontFace(emphasis="BOLD", color=MUTED),
        first_row_as_headings=True,
    ) as table:
        heading = table.row()
        for label in ("#", "Item", "Qty", "Unit price", "Discount", "Total"):
            heading.cell(label)
        for index, line in enumerate(quote.lines.all(), start=1):
            item = line.name
            if line.sku:
                item += f" ({line.sku})"
            if line.description:
                item += f"\n{line.description}"
            row = table.row()
            row.cell(str(index))
            row.cell(printable(item))
            row.cell(_quantity(line.quantity))
            row.cell(money(line.unit_price))
            row.cell(_percent(line.discount))
            row.cell(money(line.line_total))
    pdf.ln(3)
    width = 80
    rows = [("Subtotal", quote.subtotal, False)]
    if quote.discount_total:
        rows.append(("Discounts", -quote.discount_total, False))
    rows.append((f"Total ({quote.currency})", quote.total, True))
    for label, amount, bold in rows:
        pdf.set_x(pdf.w - pdf.r_margin - width)
        pdf.set_font(FONT, "B" if bold else "", 11 if bold else 10)
        pdf.cell(width / 2, 6, printable(label))
        pdf.cell(width / 2, 6, money(amount), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _texts(pdf: QuoteDocument, quote: Quote) -> None:
    for heading, text in (("Notes", quote.notes), ("Terms", quote.terms)):
        if text:
            pdf.text_line(heading, size=10, bold=True, height=6)
            pdf.text_line(text, size=9, height=4.6)
            pdf.ln(3)


def render_pdf(quote: Quote) -> bytes:
    """The quote document as PDF bytes: company, number and version, dates, customer, lines,
    subtotal, discounts and total in the quote's currency, notes and terms."""
    pdf = QuoteDocument(quote)
    pdf.add_page()
    _header(pdf, quote)
    _customer(pdf, quote)
    _lines(pdf, quote)
    _texts(pdf, quote)
    return bytes(pdf.output())
