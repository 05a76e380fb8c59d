"""Plain text from email HTML: the text/plain part of what we send and the readable body of what we
receive.

Pure stdlib (``html.parser``): no DOM, no network, never raises on malformed markup — a broken tag
just yields less structure, not an error.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Content that is never meant to be read as text.
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})

# Tags that start and end on their own line; the value is how many line breaks surround them
# (2 leaves one blank line, the paragraph look).
_BLOCK_TAGS = {
    "p": 2,
    "h1": 2,
    "h2": 2,
    "h3": 2,
    "h4": 2,
    "h5": 2,
    "h6": 2,
    "blockquote": 2,
    "pre": 2,
    "ul": 2,
    "ol": 2,
    "dl": 2,
    "table": 2,
    "div": 1,
    "section": 1,
    "article": 1,
    "header": 1,
    "footer": 1,
    "main": 1,
    "aside": 1,
    "nav": 1,
    "address": 1,
    "center": 1,
    "figure": 1,
    "figcaption": 1,
    "form": 1,
    "fieldset": 1,
    "li": 1,
    "dt": 1,
    "dd": 1,
    "tr": 1,
    "caption": 1,
    "thead": 1,
    "tbody": 1,
    "tfoot": 1,
}

_WHITESPACE = re.compile(r"\s+")
_CELL_SEPARATOR = " | "


def html_to_text(html: str) -> str:
    """Return readable plain text for ``html``.

    Guarantees: paragraphs and headings are separated by one blank line, ``<br>`` is a line break,
    list items start with ``- `` (``1. `` in ordered lists, indented two spaces per nesting level),
    a link reads ``text (url)`` unless its text already is the URL, table rows come one per line with
    cells joined by `` | ``, quoted text is prefixed with ``> ``, scripts/styles/head are dropped,
    entities are decoded, runs of whitespace become one space (except inside ``<pre>``), there is never
    more than one blank line in a row, and no line ends in spaces. Empty or non-HTML input is fine.
    """
    if not html:
        return ""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.text()


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._pending_breaks = 0  # line breaks owed before the next text
        self._at_line_start = True
        self._hidden: list[str] = []
        self._pre_depth = 0
        self._quote_depth = 0
        self._written_quote_depth = 0  # the quote depth of the line last written
        self._lists: list[list] = []  # [tag, next number]
        self._item_marker = ""  # "- " waiting for the item's first text
        self._cell_pending = False  # a " | " waiting for the next cell's text
        self._row_has_cell = False
        self._links: list[tuple[str, int]] = []  # (href, index in _out where its text starts)

    # -- output ------------------------------------------------------------------------------
    def _break(self, count: int, *, add: bool = False) -> None:
        if add:
            self._pending_breaks = min(2, self._pending_breaks + count)
        else:
            self._pending_breaks = max(self._pending_breaks, count)
        # A new line means the table cell separator no longer applies.
        self._cell_pending = False

    def _write(self, text: str) -> None:
        if not text:
            return
        if (
            not self._pre_depth
            and not text.strip(" ")
            and (self._pending_breaks or self._at_line_start)
        ):
            return  # the space between two blocks is not content
        if self._pending_breaks and self._out:
            self._out[-1] = self._out[-1].rstrip(" ")
            if self._pending_breaks == 2 and min(self._quote_depth, self._written_quote_depth):
                # A blank line inside a quote stays part of the quote.
                marker = ">" * min(self._quote_depth, self._written_quote_depth)
                self._out.append(f"\n{marker}\n")
            else:
                self._out.append("\n" * self._pending_breaks)
            self._at_line_start = True
        self._pending_breaks = 0
        if self._at_line_start:
            text = text.lstrip(" ") if not self._pre_depth else text
            if not text:
                return
            self._out.append("> " * self._quote_depth)
            self._written_quote_depth = self._quote_depth
        if self._item_marker:
            self._out.append(self._item_marker)
            self._item_marker = ""
        if self._cell_pending:
            self._out[-1] = self._out[-1].rstrip(" ")
            self._out.append(_CELL_SEPARATOR)
            self._cell_pending = False
            text = text.lstrip(" ")
        elif not self._pre_depth and text.startswith(" ") and self._ends_with_space():
            text = text.lstrip(" ")
        self._out.append(text)
        self._at_line_start = text.endswith("\n")

    def _ends_with_space(self) -> bool:
        for chunk in reversed(self._out):
            if chunk:
                return chunk[-1] in " \n"
        return True

    def close(self) -> None:
        super().close()
        # A link left open by sloppy markup still gets its URL, right after the text it ended on.
        if self._links:
            self._pending_breaks, self._item_marker, self._cell_pending = 0, "", False
        while self._links:
            href, start = self._links.pop()
            self._close_link(href, start)

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self._out).split("\n")]
        result: list[str] = []
        for line in lines:
            if not line and result and not result[-1]:
                continue  # at most one blank line in a row
            result.append(line)
        return "\n".join(result).strip("\n")

    # -- parser callbacks ---------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            # A <head> left open still ends where the body begins.
            self._hidden.clear()
            return
        if tag in _HIDDEN_TAGS:
            self._hidden.append(tag)
            return
        if self._hidden:
            return
        attributes = {name: value or "" for name, value in attrs}
        if tag == "br":
            self._break(1, add=True)
            return
        if tag == "hr":
            self._break(2)
            self._write("---")
            self._break(2)
            return
        if tag in _BLOCK_TAGS:
            self._break(_BLOCK_TAGS[tag] if not (tag in ("ul", "ol") and self._lists) else 1)
        if tag == "pre":
            self._pre_depth += 1
        elif tag == "blockquote":
            self._quote_depth += 1
        elif tag in ("ul", "ol"):
            self._lists.append([tag, 1])
        elif tag == "li":
            depth = max(len(self._lists) - 1, 0)
            if self._lists and self._lists[-1][0] == "ol":
                marker = f"{self._lists[-1][1]}. "
                self._lists[-1][1] += 1
            else:
                marker = "- "
            self._item_marker = "  " * depth + marker
        elif tag == "tr":
            self._row_has_cell = False
        elif tag in ("td", "th"):
            if self._row_has_cell:
                self._cell_pending = True
            self._row_has_cell = True
        elif tag == "a":
            self._links.append((attributes.get("href", "").strip(), len(self._out)))
        elif tag == "img":
            alt = _WHITESPACE.sub(" ", attributes.get("alt", "")).strip()
            if alt:
                self._write(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            if tag in self._hidden:
                while self._hidden and self._hidden.pop() != tag:
                    pass
            return
        if self._hidden:
            return
        if tag == "a" and self._links:
            href, start = self._links.pop()
            self._close_link(href, start)
            return
        if tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
        elif tag == "blockquote" and self._quote_depth:
            self._quote_depth -= 1
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        elif tag == "li":
            self._item_marker = ""
        if tag in _BLOCK_TAGS:
            self._break(_BLOCK_TAGS[tag] if not (tag in ("ul", "ol") and self._lists) else 1)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._pre_depth:
            self._write(data.replace("\r\n", "\n"))
            return
        self._write(_WHITESPACE.sub(" ", data))

    def _close_link(self, href: str, start: int) -> None:
        shown = _WHITESPACE.sub(" ", "".join(self._out[start:])).strip()
        target = href
        if href.lower().startswith("mailto:"):
            target = href[len("mailto:") :].split("?", 1)[0]
        # Fragment and script links have no place a reader could go to.
        if not target or href.startswith("#") or href.lower().startswith("javascript:"):
            return
        if not shown:
            self._write(target)
        elif shown.rstrip("/") != target.rstrip("/") and shown != href:
            self._write(f" ({target})")
