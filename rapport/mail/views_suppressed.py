"""The addresses Rapport does not mail: the administrators' list (why, since when, the delivery
report behind a bounce) and "Mail this address again", asked first and audited by
`tracking.release_suppressed`. Who may release is `access`'s decision, not this module's.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods

from rapport.accounts import access
from rapport.core.pagination import CursorError, keyset_page
from rapport.mail import tracking
from rapport.mail.choices import SuppressionReason
from rapport.mail.models import EmailMessage, SuppressedAddress

PAGE_SIZE = 50
NEWEST_FIRST = {"order_fields": ("updated_at",), "descending": True}


def _return_url(request, fallback: str) -> str:
    """Where to go back to: the page that offered the action, when it is one of ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def release_url(address: SuppressedAddress, back: str = "") -> str:
    url = reverse("mail:suppressed_release", args=[address.pk])
    return f"{url}?{urlencode({'next': back})}" if back else url


def report_url(user, address: SuppressedAddress) -> str:
    """The delivery report behind a bounce, when the reader may open it."""
    if address.message_id is None:
        return ""
    report = EmailMessage.objects.visible_to(user).filter(pk=address.message_id).first()
    return reverse("mail:message", args=[report.uuid]) if report else ""


@login_required
@require_GET
def suppressed_list(request):
    """Every suppressed address, most recently changed first, with why and since when."""
    access.require(request.user, access.Action.ADMINISTER)
    reason = request.GET.get("reason", "")
    query = (request.GET.get("q") or "").strip().lower()
    addresses = SuppressedAddress.objects.visible_to(request.user)
    if reason in SuppressionReason.values:
        addresses = addresses.filter(reason=reason)
    if query:
        addresses = addresses.filter(email__contains=query)
    cursor_error = ""
    try:
        page = keyset_page(
            addresses, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE, **NEWEST_FIRST
        )
    except CursorError as exc:
        cursor_error = str(exc)
        page = keyset_page(addresses, cursor=None, limit=PAGE_SIZE, **NEWEST_FIRST)
    reports = dict(
        EmailMessage.objects.visible_to(request.user)
        .filter(pk__in=[row.message_id for row in page.items if row.message_id])
        .values_list("pk", "uuid")
    )
    params = request.GET.copy()
    params.pop("cursor", None)
    first_url = f"?{params.urlencode()}" if params else "?"
    next_url = ""
    if page.next_cursor:
        params["cursor"] = page.next_cursor
        next_url = f"?{params.urlencode()}"
    back = request.get_full_path()
    rows = [
        {
            "address": row,
            "report_url": reverse("mail:message", args=[reports[row.message_id]])
            if row.message_id in reports
            else "",
            "release_url": release_url(row, back)
            if tracking.may_release(request.user, row)
            else "",
        }
        for row in page.items
    ]
    return render(
        request,
        "mail/suppressed.html",
        {
            "section": "suppressed",
            "rows": rows,
            "reasons": SuppressionReason.choices,
            "reason": reason,
            "q": query,
            "next_url": next_url,
            "first_url": first_url,
            "is_first_page": not request.GET.get("cursor") or bool(cursor_error),
            "cursor_error": cursor_error,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def suppressed_release(request, pk: int):
    """Ask, then mail the address again."""
    address = SuppressedAddress.objects.visible_to(request.user).filter(pk=pk).first()
    if address is None:
        raise Http404("No such suppressed address.")
    access.require(request.user, access.Action.DELETE, address)
    back = _return_url(request, reverse("mail:suppressed"))
    if request.method == "POST":
        tracking.release_suppressed(actor=request.user, address=address)
        messages.success(request, f"Rapport mails {address.email} again.")
        return redirect(back)
    return render(
        request,
        "mail/suppressed_release.html",
        {
            "address": address,
            "back": back,
            "report_url": report_url(request.user, address),
            "was_unsubscribed": address.reason != SuppressionReason.BOUNCED,
        },
    )
