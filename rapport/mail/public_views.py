"""The endpoints recipients reach from a message: the open pixel, tracked links, and the
unsubscribe page with its one-click POST (RFC 8058).

Anyone on the internet reaches them, with no session: what they trust is the signed token in the
URL alone (`rapport.mail.tracking`). They are hit by every mail client and link scanner, so each
answers in one or two queries and never touches the session; and none of them tells a stranger
whether a token was good: the pixel answers the same image either way, a bad link a plain 404.
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from rapport.mail import tracking

# A transparent 1×1 GIF: the smallest image every mail client shows as nothing.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title></head>
<body><main><h1>{title}</h1>{content}</main></body></html>"""


def _page(title: str, content, *, status: int = 200) -> HttpResponse:
    response = HttpResponse(format_html(PAGE, title=title, content=content), status=status)
    response["Cache-Control"] = NO_STORE
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def _not_found(text: str) -> HttpResponse:
    response = HttpResponseNotFound(text, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = NO_STORE
    return response


def _user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


@require_GET
def pixel(request, token: str):
    """Count an open and answer the pixel; a bad token gets the same pixel and counts nothing."""
    tracking.record_open(token, _user_agent(request))
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    # Every load must reach us to be counted, and no shared cache may keep one recipient's pixel.
    response["Cache-Control"] = NO_STORE
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    return response


@require_GET
def click(request, token: str):
    """Count a click and redirect to the URL signed into the token, and only there."""
    url = tracking.follow_click(token, _user_agent(request))
    if url is None:
        return _not_found("This link is not valid. Check that it was copied in full.")
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = NO_STORE
    # The destination need not learn the tracking URL it came through.
    response["Referrer-Policy"] = "no-referrer"
    return response


# RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no cookie and no way to
# carry a CSRF token. CSRF protects a signed-in user's session; this view uses none, and what
# authorizes the change is the signed token in the URL, which only the message's recipients hold.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET: a page with a button, changing nothing (link scanners follow every link in a
    message). POST, from that button or a mail client's one-click: unsubscribe."""
    if request.method == "GET":
        message = tracking.message_for_unsubscribe(token)
        if message is None:
            return _not_found(
                "This unsubscribe link is not valid. Check that it was copied in full."
            )
        sender = message.from_name or message.from_address or "this sender"
        return _page(
            "Unsubscribe",
            format_html(
                "<p>Stop marketing email from {sender}?</p>"
                '<form method="post" action=""><input type="hidden" name="List-Unsubscribe" '
                'value="One-Click"><button type="submit">Unsubscribe</button></form>',
                sender=sender,
            ),
        )
    contacts = tracking.unsubscribe(token)
    if contacts is None:
        return _not_found("This unsubscribe link is not valid. Check that it was copied in full.")
    return _page(
        "You are unsubscribed",
        format_html("<p>{}</p>", "You will get no more marketing email from us at this address."),
    )
