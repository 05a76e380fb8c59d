"""The one typeface of Rapport's PDFs (quotes, scheduled reports and dashboards), for fpdf2.

DejaVu Sans ships in `rapport/core/data/fonts` (Bitstream Vera license, beside the fonts) and
covers Latin, Greek and Cyrillic scripts: "Müller", "Øre" and "Ярослав" print as written.
fpdf2's built-in fonts know Windows-1252 only. A character DejaVu has no glyph for (Chinese or
Japanese, say) is printed as its unaccented letter where the font has that, else as "?" rather
than silently dropped, so a reader sees that something is missing.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parent / "data" / "fonts"
FONT = "dejavu"
MISSING = "?"
_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


def add_fonts(pdf: FPDF) -> None:
    """Register the typeface on `pdf` as `FONT`, regular and bold. No italic ships: emphasis
    is bold or colour."""
    for style, name in _FILES.items():
        pdf.add_font(FONT, style, str(FONT_DIR / name))


@lru_cache(maxsize=1)
def _glyphs() -> frozenset[int]:
    """The code points the font can draw (read once per process)."""
    probe = FPDF()
    probe.add_font(FONT, "", str(FONT_DIR / _FILES[""]))
    return frozenset(probe.fonts[FONT].cmap)


def printable(text: str) -> str:
    """`text` with every character the font cannot draw replaced (see the module's note).
    Line breaks and tabs are kept."""
    glyphs = _glyphs()
    out = []
    for char in text or "":
        if char in "\n\t" or ord(char) in glyphs:
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char)
        kept = "".join(c for c in base if ord(c) in glyphs and not unicodedata.combining(c))
        out.append(kept or MISSING)
    return "".join(out)


def drawable(text: str) -> bool:
    """Whether the font draws every character of `text` as it is."""
    glyphs = _glyphs()
    return all(char in "\n\t" or ord(char) in glyphs for char in text or "")
