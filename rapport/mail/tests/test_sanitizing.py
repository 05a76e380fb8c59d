"""sanitize_html on the tricks that email HTML uses, on purpose or not."""

from __future__ import annotations

import pytest

from rapport.mail.sanitizing import SanitizedHtml, html_has_remote_images, sanitize_html

LINK_ATTRIBUTES = 'target="_blank" rel="noopener noreferrer nofollow"'
# nh3 writes the attributes it adds in the other order when the link lost its href.
EMPTY_LINK_ATTRIBUTES = 'rel="noopener noreferrer nofollow" target="_blank"'


def test_scripts_are_removed_with_their_content():
    result = sanitize_html(
        "<p>Hello</p><script>alert('x')</script><SCRIPT src=http://x/a.js></SCRIPT>"
    )

    assert result == SanitizedHtml(html="<p>Hello</p>", blocked_images=0)


def test_event_handlers_are_removed():
    result = sanitize_html('<img src="cid:logo@x" onerror="alert(1)"><p onclick="steal()">Hi</p>')

    assert result.html == '<img src="cid:logo@x"><p>Hi</p>'


def test_javascript_and_vbscript_links_lose_their_href():
    result = sanitize_html(
        '<a href="javascript:alert(1)">a</a><a href=" JaVaScRiPt:alert(1)">b</a>'
        '<a href="java&#x09;script:alert(1)">c</a><a href="vbscript:msgbox(1)">d</a>'
    )

    assert "href" not in result.html
    assert "script" not in result.html.lower()
    assert result.html.count("<a ") == 4


def test_data_urls_only_for_images():
    result = sanitize_html(
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">'
        '<img src="data:text/html;base64,PHNjcmlwdD4=">'
    )

    assert result.html == (
        f'<a {EMPTY_LINK_ATTRIBUTES}>x</a><img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">'
    )


@pytest.mark.parametrize(
    "style",
    [
        "width: expression(alert(1))",
        "width: EXPRESSION (alert(1))",
        "width: expr/**/ession(alert(1))",
        "width: expr\\65 ssion(alert(1))",
        "background: url(http://tracker.example/p.gif)",
        "background: u\\72l(http://tracker.example/p.gif)",
        "background-image: image-set('http://tracker.example/p.gif' 1x)",
    ],
)
def test_styles_that_load_or_compute_anything_are_dropped(style: str):
    result = sanitize_html(f'<div style="{style}">Offer</div>')

    assert result.html == "<div>Offer</div>"


def test_harmless_styles_keep_layout_properties_only():
    result = sanitize_html(
        '<div style="color: #333; padding: 4px; position: fixed; top: 0; z-index: 9999">Total</div>'
    )

    assert result.html == '<div style="color:#333;padding:4px">Total</div>'


def test_forms_iframes_objects_and_page_level_tags_are_removed():
    result = sanitize_html(
        "<html><head><title>Newsletter</title><style>body{display:none}</style>"
        '<base href="http://evil.example/"><meta http-equiv="refresh" content="0;url=http://x"></head>'
        '<body><form action="http://evil.example/login"><input name="password">'
        "<button>Log in</button></form>"
        '<iframe src="http://evil.example/">fallback</iframe>'
        '<object data="http://evil.example/x.swf"></object><embed src="x.swf">'
        '<p id="main" class="btn">Kept</p></body></html>'
    )

    assert result.html == "Log infallback<p>Kept</p>"


def test_links_gain_rel_and_target_and_relative_urls_are_dropped():
    result = sanitize_html(
        '<a href="https://example.com/offer" target="_self" rel="opener">Offer</a>'
        '<a href="/admin/users/delete">Admin</a>'
        '<a href="mailto:sales@example.com">Mail</a>'
    )

    assert result.html == (
        f'<a href="https://example.com/offer" {LINK_ATTRIBUTES}>Offer</a>'
        f"<a {EMPTY_LINK_ATTRIBUTES}>Admin</a>"
        f'<a href="mailto:sales@example.com" {LINK_ATTRIBUTES}>Mail</a>'
    )


def test_remote_images_are_removed_and_counted():
    html = (
        '<p>Hi</p><img src="https://cdn.example.com/logo.png" alt="Logo" width="120">'
        '<img src="http://tracker.example/open.gif?id=1" width="1" height="1">'
        '<img src="//cdn.example.com/banner.png">'
        '<img src="cid:chart@mail.example">'
        '<img src="/relative.png">'
    )

    blocked = sanitize_html(html)
    allowed = sanitize_html(html, allow_remote_images=True)

    assert blocked == SanitizedHtml(
        html='<p>Hi</p><img src="cid:chart@mail.example">', blocked_images=3
    )
    assert allowed == SanitizedHtml(
        html=(
            '<p>Hi</p><img src="https://cdn.example.com/logo.png" alt="Logo" width="120">'
            '<img src="http://tracker.example/open.gif?id=1" width="1" height="1">'
            '<img src="https://cdn.example.com/banner.png">'
            '<img src="cid:chart@mail.example">'
        ),
        blocked_images=0,
    )


def test_html_has_remote_images():
    assert html_has_remote_images('<img src="https://cdn.example.com/a.png">') is True
    assert html_has_remote_images('<img src="cid:a@b"><a href="https://example.com">x</a>') is False


def test_broken_markup_is_closed_not_rejected():
    result = sanitize_html('<table><tr><td>cell<b>bold</table><p>after<img src="x" alt="a>b"')

    assert (
        result.html == "<table><tbody><tr><td>cell<b>bold</b></td></tr></tbody></table><p>after</p>"
    )


def test_non_str_is_a_type_error():
    with pytest.raises(TypeError, match="html must be str, not bytes"):
        sanitize_html(b"<p>x</p>")  # type: ignore[arg-type]
