"""The public side of web forms: the hosted form and the submission endpoint.

Anyone on the internet reaches these, without a session or CSRF token, from any website. What
protects them: a honeypot field, a rate limit per client address and per form (counters in the
database, so it holds across processes), a cap on the body size and on every field, CORS limited
to the form's allowed origins, and the same validation as everywhere else. A submission is
stored and answered; a task makes it a lead on its timeline.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from rapport.core.http import client_address
from rapport.core.middleware import CONTENT_SECURITY_POLICY
from rapport.sales.models import WebForm
from rapport.sales.services.webforms import (
    HONEYPOT,
    MAX_BODY_BYTES,
    count_submission_attempt,
    form_fields,
    receive_web_form_submission,
)


def ip_rate_limit() -> int:
    """Submissions one client address may send per minute, over all forms."""
    return int(getattr(settings, "RAPPORT_WEBFORM_IP_RATE", 20))


def _framable_csp(form: WebForm) -> str:
    ancestors = " ".join(form.origin_list) or "*"
    return CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")


def _client_address(request) -> str:
    # Behind the load balancer REMOTE_ADDR is the balancer: one limit would serve everyone.
    return client_address(request) or ""


def _origin(request) -> str:
    return (request.headers.get("Origin") or "").rstrip("/").lower()


def _origin_allowed(request, form: WebForm) -> bool:
    origin = _origin(request)
    if not origin or origin == "null":
        return True  # a plain form post from a page without Origin, or a sandboxed frame
    own = f"{request.scheme}://{request.get_host()}".lower()
    return origin == own or not form.origin_list or origin in form.origin_list


def _cors(response, request, form: WebForm | None):
    origin = _origin(request)
    if origin and origin != "null" and form is not None and _origin_allowed(request, form):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept"
        response["Access-Control-Max-Age"] = "86400"
    response["Vary"] = "Origin"
    return response


def _wants_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept or request.content_type == "application/json"


def _problem(request, form, status: int, message: str, errors: dict | None = None, retry=None):
    if _wants_json(request):
        body = {"ok": False, "message": message}
        if errors:
            body["errors"] = [
                {"field": field, "message": text}
                for field, texts in errors.items()
                for text in texts
            ]
        response = JsonResponse(body, status=status)
    elif form is not None and status == 422:
        response = _render_form(request, form, status=status, data=request.POST, errors=errors)
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if retry:
        response["Retry-After"] = str(retry)
    return _cors(response, request, form)


def _render_form(request, form, *, status=200, data=None, errors=None):
    fields = form_fields(form)
    for field in fields:
        field["value"] = (data or {}).get(field["name"], "")
        field["errors"] = (errors or {}).get(field["name"], [])
    response = render(
        request,
        "sales/webforms/public.html",
        {
            "form": form,
            "fields": fields,
            "honeypot": HONEYPOT,
            "submit_url": reverse("sales:webform_submit", args=[form.public_id]),
            "form_error": "Please correct the marked fields." if errors else "",
        },
        status=status,
    )
    response["Content-Security-Policy"] = _framable_csp(form)
    return response


_SCRIPT_CACHE: dict[str, bytes] = {}


@require_GET
def webform_script(request):
    """The embed script at an address that never changes.

    Static file names carry a content hash that changes with every release; a snippet pasted
    into someone's website must keep working, so it loads the script from here instead.
    """
    from django.contrib.staticfiles import finders

    body = _SCRIPT_CACHE.get("embed")
    if body is None:
        path = finders.find("sales/webform-embed.js")
        with open(path, "rb") as handle:
            body = _SCRIPT_CACHE.setdefault("embed", handle.read())
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
@xframe_options_exempt
def webform_public(request, public_id):
    """The hosted form: what the iframe snippet shows, and a link you can share."""
    form = get_object_or_404(WebForm, public_id=public_id)
    return _render_form(request, form)


def _submitted_data(request):
    if request.content_type == "application/json":
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return {str(k): v if isinstance(v, list) else str(v) for k, v in data.items()}
    return request.POST


@csrf_exempt
@xframe_options_exempt
@require_http_methods(["POST", "OPTIONS"])
def webform_submit(request, public_id):
    """Accept a submission from any site: JSON answers for scripts, pages for plain forms."""
    form = WebForm.objects.filter(public_id=public_id).first()
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), request, form)
    if form is None:
        return _problem(request, None, 404, "No such form.")
    if not _origin_allowed(request, form):
        return _problem(request, None, 403, "This form does not accept submissions from this site.")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdecimal() or int(length) > MAX_BODY_BYTES:
        return _problem(request, form, 413, "The submission is too large.")
    address = _client_address(request)
    from_address, to_form = count_submission_attempt(form=form, client_address=address)
    if from_address > ip_rate_limit():
        return _problem(
            request, form, 429, "Too many submissions; try again in a minute.", retry=60
        )
    if to_form > form.max_submissions_per_minute:
        return _problem(request, form, 429, "This form is busy; try again in a minute.", retry=60)
    try:
        data = _submitted_data(request)
    except (ValueError, UnicodeDecodeError):
        return _problem(request, form, 400, "The submission could not be read.")
    if not form.is_active:
        return _problem(request, form, 410, "This form no longer accepts submissions.")
    try:
        receive_web_form_submission(
            form=form,
            data=data,
            client_address=address,
            user_agent=request.headers.get("User-Agent", ""),
            referrer=request.headers.get("Referer", ""),
        )
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return _problem(request, form, 422, "Please correct the marked fields.", errors=errors)
    # A honeypot hit (result.spam) gets the same answer as a real one, so bots learn nothing.
    if _wants_json(request):
        response = JsonResponse(
            {"ok": True, "message": form.thank_you_message, "redirect": form.redirect_url or None}
        )
    elif form.redirect_url:
        response = HttpResponseRedirect(form.redirect_url, status=303)
    else:
        referrer = request.headers.get("Referer", "")
        back = referrer if urlsplit(referrer).scheme in {"http", "https"} else ""
        response = render(
            request,
            "sales/webforms/thanks.html",
            {"form": form, "message": form.thank_you_message, "back_url": back},
        )
        response["Content-Security-Policy"] = _framable_csp(form)
    return _cors(response, request, form)
