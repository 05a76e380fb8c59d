"""Safe HTML from the untrusted HTML of inbound email, for display inside Rapport's pages.

Pure Python + nh3 (ammonia): no Django model, no network. What survives `sanitize_html`:

- a fixed set of formatting tags (nh3's defaults plus ``font`` and ``center``); scripts, styles,
  titles, forms and their fields, iframes, objects, embeds, SVG, ``base``/``meta``/``link`` are
  removed (``script``, ``style`` and ``title`` with their content);
- no event handler, no ``id`` and no ``class`` (they could restyle or clobber the page around the
  message);
- URLs only with the http, https, mailto, tel and cid schemes, plus ``data:image/*`` in ``img src``;
  relative URLs are dropped (they would point into Rapport itself), protocol-relative ones
  (``//host/x``) are treated as https;
- style attributes keep only layout and typography properties (no ``position``, so a message cannot
  draw over the page), and a style attribute that loads or computes anything (``url(``,
  ``expression(``, ``image-set(`` …, checked after undoing CSS escapes and comments) is dropped as a
  whole: nh3 filters properties but not their values, so dropping the attribute is the only safe
  choice;
- links get ``rel="noopener noreferrer nofollow"`` and ``target="_blank"``;
- remote images (http, https, protocol-relative) are removed and counted unless
  ``allow_remote_images``, so the page can offer "Show 3 remote images"; ``cid:`` images are kept
  as they are for the caller to map to attachments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nh3

__all__ = ["SanitizedHtml", "html_has_remote_images", "sanitize_html"]


@dataclass(frozen=True)
class SanitizedHtml:
    """HTML that is safe to insert into a Rapport page, and how many remote images were taken out."""

    html: str
    blocked_images: int


_TAGS = frozenset(nh3.ALLOWED_TAGS | {"font", "center"}) - {"area", "map"}

# Content that must not show up as text once its tag is gone.
_CLEAN_CONTENT_TAGS = frozenset({"script", "style", "title"})

_PRESENTATION_ATTRIBUTES = frozenset(
    {
        "style",
        "dir",
        "lang",
        "title",
        "align",
        "valign",
        "width",
        "height",
        "bgcolor",
        "color",
        "border",
    }
)
_ATTRIBUTES = {
    "*": set(_PRESENTATION_ATTRIBUTES),
    "a": {"href", "name"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap", "scope"},
    "table": {"cellpadding", "cellspacing", "summary"},
    "col": {"span"},
    "colgroup": {"span"},
    "font": {"face", "size"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "hr": {"size", "noshade"},
}

_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid", "data"})

_STYLE_PROPERTIES = frozenset(
    {
        "background",
        "background-color",
        "color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-variant",
        "font-weight",
        "line-height",
        "letter-spacing",
        "word-spacing",
        "text-align",
        "text-decoration",
        "text-indent",
        "text-transform",
        "vertical-align",
        "white-space",
        "word-break",
        "word-wrap",
        "overflow-wrap",
        "direction",
        "display",
        "float",
        "clear",
        "width",
        "height",
        "min-width",
        "max-width",
        "min-height",
        "max-height",
        "margin",
        "margin-top",
        "margin-right",
        "margin-bottom",
        "margin-left",
        "padding",
        "padding-top",
        "padding-right",
        "padding-bottom",
        "padding-left",
        "border",
        "border-top",
        "border-right",
        "border-bottom",
        "border-left",
        "border-color",
        "border-style",
        "border-width",
        "border-radius",
        "border-collapse",
        "border-spacing",
        "border-top-color",
        "border-right-color",
        "border-bottom-color",
        "border-left-color",
        "border-top-style",
        "border-right-style",
        "border-bottom-style",
        "border-left-style",
        "border-top-width",
        "border-right-width",
        "border-bottom-width",
        "border-left-width",
        "list-style",
        "list-style-type",
        "list-style-position",
        "table-layout",
        "caption-side",
        "empty-cells",
    }
)

_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_HEX_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})[ \t\r\n\f]?")
_CSS_CHAR_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
# Functions that load a resource or run code; anything else (rgb(), calc() …) is harmless.
_CSS_DANGEROUS = re.compile(
    r"(expression|url|image|image-set|-webkit-image-set|cross-fade|element|src)\s*\("
    r"|javascript:|vbscript:|behavior|-moz-binding|@import"
)
_HAS_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")
_URL_IGNORED_CHARACTERS = re.compile(r"[\t\n\r]")
# nh3 serializes every attribute value in double quotes with `"` escaped, so this cannot be fooled
# by a `>` inside a value.
_IMG_TAG = re.compile(r'<img\b(?:[^>"]|"[^"]*")*>')
_SRC_ATTRIBUTE = re.compile(r'\ssrc="')


def sanitize_html(html: str, *, allow_remote_images: bool = False) -> SanitizedHtml:
    """Return HTML safe to insert into a page, and how many remote images were removed.

    Never raises on markup, however broken; a non-str ``html`` is a TypeError. Images whose source
    was dropped for any other reason (a relative or forbidden URL) are removed too, without being
    counted.
    """
    if not isinstance(html, str):
        raise TypeError(f"html must be str, not {type(html).__name__}")
    blocked = 0

    def keep_attribute(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if attribute == "style":
            return None if _is_dangerous_style(value) else value
        if attribute not in ("href", "src"):
            return value
        url = _URL_IGNORED_CHARACTERS.sub("", value).strip()
        if not _HAS_SCHEME.match(url):
            if not url.replace("\\", "/").startswith("//"):
                return None  # relative: it would point into Rapport itself
            url = "https:" + url.replace("\\", "/")
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return url if tag == "img" and url[5:].lower().startswith("image/") else None
        if tag == "img" and scheme in ("http", "https") and not allow_remote_images:
            blocked += 1
            return None
        return url

    cleaned = nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT_TAGS),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=keep_attribute,
        url_schemes=set(_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=set(_STYLE_PROPERTIES),
        strip_comments=True,
    )
    # An image without a source is an empty box (or a tracking pixel's placeholder): remove it.
    cleaned = _IMG_TAG.sub(
        lambda match: match.group(0) if _SRC_ATTRIBUTE.search(match.group(0)) else "",
        cleaned,
    )
    return SanitizedHtml(html=cleaned, blocked_images=blocked)


def html_has_remote_images(html: str) -> bool:
    """Whether `sanitize_html` would block at least one remote image of this HTML."""
    return sanitize_html(html).blocked_images > 0


def _is_dangerous_style(style: str) -> bool:
    """Whether a style attribute loads a resource or runs code, once CSS escapes and comments are undone."""
    text = _CSS_COMMENT.sub("", style)
    text = _CSS_HEX_ESCAPE.sub(lambda match: _code_point(match.group(1)), text)
    text = _CSS_CHAR_ESCAPE.sub(r"\1", text)
    return _CSS_DANGEROUS.search(text.lower()) is not None


def _code_point(hex_digits: str) -> str:
    value = int(hex_digits, 16)
    return chr(value) if 0 < value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else "\ufffd"
