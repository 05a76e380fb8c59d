"""Quote pages: the Quotes card of the deal page, a new quote, the quote as a printable page and
as a PDF, sending it, and recording the customer's answer. A quote is found among those of
deals the user sees (404 otherwise); who may not change its deal is refused (403) before any
form is read, and never offered the buttons."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.sales.forms import add_service_errors
from rapport.sales.forms_quotes import (
    QuoteDeclineForm,
    QuoteForm,
    QuoteSendForm,
    QuoteSettingsForm,
)
from rapport.sales.models import Deal, Quote, QuoteSettings, QuoteStatus
from rapport.sales.quotes import services
from rapport.sales.quotes.mailing import sender_choices


def _deal(user, deal_id: int) -> Deal:
    return get_object_or_404(
        Deal.objects.visible_to(user).select_related("contact", "organization"), pk=deal_id
    )


def _quote(user, quote_id: int) -> Quote:
    return get_object_or_404(
        Quote.objects.visible_to(user).select_related("deal", "deal__contact", "created_by"),
        pk=quote_id,
    )


def _quote_to_change(user, quote_id: int) -> Quote:
    quote = _quote(user, quote_id)
    access.require(user, Action.CHANGE, quote)
    return quote


def _form_errors(form, exc: ValidationError) -> None:
    """The service's errors beside their fields; those about the quote or deal as a whole
    (its status, its lines) above the form, in words only."""
    if not hasattr(exc, "error_dict"):
        add_service_errors(form, exc)
        return
    rest = {}
    for key, texts in exc.message_dict.items():
        if key in form.fields:
            rest[key] = texts
        else:
            for text in texts:
                form.add_error(None, text)
    if rest:
        add_service_errors(form, ValidationError(rest))


def quote_rows(deal: Deal, today: dt.date) -> list[dict]:
    rows = []
    for quote in deal.quotes.order_by("-created_at", "-id"):
        status = quote.current_status(today)
        rows.append(
            {
                "quote": quote,
                "status": status,
                "status_label": dict(QuoteStatus.choices)[status],
                "is_open": services.transition_problem(quote, today) is None,
            }
        )
    return rows


def quotes_context(request, deal: Deal) -> dict:
    """What `sales/quotes/_deal_quotes.html` shows on the deal page."""
    today = timezone.localdate()
    return {
        "deal": deal,
        "rows": quote_rows(deal, today),
        "may_send": bool(sender_choices(request.user)),
        "won_stage": services.won_stage_offer(request.user, deal),
    }


# --------------------------------------------------------------------------- pages


@login_required
def quote_create(request, deal_id: int):
    """A new quote of the deal's lines: the lines are shown as they will be copied."""
    deal = _deal(request.user, deal_id)
    access.require(request.user, Action.CHANGE, deal)
    settings_row = services.get_quote_settings()
    today = timezone.localdate()
    form = QuoteForm(
        request.POST or None,
        initial={
            "valid_until": today + dt.timedelta(days=settings_row.validity_days),
            "terms": settings_row.default_terms,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            quote = services.create_quote(actor=request.user, deal=deal, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Quote {quote.label} created.")
            return redirect("sales:quote_detail", quote.pk)
    open_quote = deal.quotes.open().order_by("-created_at").first()
    return render(
        request,
        "sales/quotes/form.html",
        {
            "deal": deal,
            "form": form,
            "lines": list(deal.lines.select_related("product").order_by("position", "id")),
            "open_quote": open_quote,
        },
        status=422 if form.errors else 200,
    )


@login_required
@require_GET
def quote_detail(request, quote_id: int):
    """The quote as the customer sees it, printable, with its actions for those who may."""
    quote = _quote(request.user, quote_id)
    today = timezone.localdate()
    status = quote.current_status(today)
    return render(
        request,
        "sales/quotes/detail.html",
        {
            "quote": quote,
            "lines": list(quote.lines.all()),
            "status": status,
            "status_label": dict(QuoteStatus.choices)[status],
            "is_open": services.transition_problem(quote, today) is None,
            "may_send": bool(sender_choices(request.user)),
            "won_stage": services.won_stage_offer(request.user, quote.deal),
        },
    )


@login_required
@require_GET
def quote_pdf(request, quote_id: int):
    quote = _quote(request.user, quote_id)
    data = services.quote_pdf(actor=request.user, quote=quote)
    response = HttpResponse(data, content_type="application/pdf")
    disposition = "inline" if request.GET.get("view") else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{quote.filename}"'
    return response


@login_required
def quote_send(request, quote_id: int):
    quote = _quote_to_change(request.user, quote_id)
    mailboxes = sender_choices(request.user)
    problem = services.transition_problem(quote)
    if request.method == "POST":
        form = QuoteSendForm(request.POST, mailboxes=mailboxes)
        if form.is_valid():
            try:
                services.send_quote(actor=request.user, quote=quote, **form.values())
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Quote {quote.label} is on its way.")
                return redirect("sales:deal_detail", quote.deal_id)
    else:
        form = QuoteSendForm(
            initial=services.default_email(request.user, quote), mailboxes=mailboxes
        )
    return render(
        request,
        "sales/quotes/send.html",
        {"quote": quote, "form": form, "problem": problem, "mailboxes": mailboxes},
        status=422 if form.errors else 200,
    )


@login_required
@require_POST
def quote_accept(request, quote_id: int):
    quote = _quote_to_change(request.user, quote_id)
    try:
        services.mark_accepted(actor=request.user, quote=quote)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Quote {quote.label} accepted.")
    return redirect("sales:deal_detail", quote.deal_id)


@login_required
def quote_decline(request, quote_id: int):
    quote = _quote_to_change(request.user, quote_id)
    form = QuoteDeclineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.mark_declined(
                actor=request.user, quote=quote, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Quote {quote.label} declined.")
            return redirect("sales:deal_detail", quote.deal_id)
    return render(
        request,
        "sales/quotes/decline.html",
        {"quote": quote, "form": form, "problem": services.transition_problem(quote)},
        status=422 if form.errors else 200,
    )


@login_required
def quote_settings(request):
    """What every quote says about the company (administrators)."""
    access.require(request.user, Action.CHANGE, QuoteSettings)
    row = services.get_quote_settings()
    form = QuoteSettingsForm(
        request.POST or None,
        initial={name: getattr(row, name) for name in services.SETTINGS_FIELDS},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_quote_settings(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Quote settings saved.")
            return redirect("sales:quote_settings")
    return render(
        request,
        "sales/quotes/settings.html",
        {"form": form},
        status=422 if form.errors else 200,
    )
