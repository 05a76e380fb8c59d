"""The administration page for the company currency and its exchange rates. Thin: the
services in `rapport.commerce.rates` decide access (administrators change rates, see
`access.register_configuration`) and validate; the page is for those who may change them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.commerce import rates
from rapport.commerce.forms_rates import CompanyCurrencyForm, ExchangeRateForm, RateImportForm
from rapport.commerce.models import ExchangeRate

SHOWN_RATES = 500


@login_required
def rate_list(request):
    """The company currency, the rates to it (newest first), a form to add one and an import."""
    access.require(request.user, Action.CHANGE, ExchangeRate)
    company = rates.company_currency()
    currencies = rates.currency_choices()
    # "Add a NZD rate" links from a missing-rate note: a deal's currency may be one no picker
    # lists yet (sales' deal currencies are not visible from here).
    asked = (request.GET.get("currency") or "").strip().upper()
    if len(asked) == 3 and asked.isascii() and asked.isalpha() and asked != company:
        if asked not in dict(currencies):
            currencies.append((asked, asked))
    else:
        asked = ""
    action = request.POST.get("action") if request.method == "POST" else None
    currency_form = CompanyCurrencyForm(
        request.POST if action == "currency" else None,
        currencies=currencies,
        initial={"code": company},
    )
    rate_form = ExchangeRateForm(
        request.POST if action == "add" else None,
        currencies=currencies,
        company=company,
        initial={"currency": asked} if asked else None,
    )
    import_form = RateImportForm(
        request.POST if action == "import" else None,
        request.FILES if action == "import" else None,
    )
    imported = None
    try:
        if action == "currency" and currency_form.is_valid():
            row = rates.set_company_currency(
                actor=request.user, code=currency_form.cleaned_data["code"]
            )
            messages.success(request, f"Totals are now reported in {row.code}.")
            return redirect("commerce:rate_list")
        if action == "add" and rate_form.is_valid():
            row = rates.add_rate(actor=request.user, **rate_form.cleaned_data)
            messages.success(request, f"Added the rate {row}.")
            return redirect("commerce:rate_list")
        if action == "import" and import_form.is_valid():
            upload = import_form.cleaned_data["file"]
            if upload.size > rates.MAX_IMPORT_BYTES:
                raise ValidationError({"file": ["The file is larger than 5 MB."]})
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError({"file": ["The file is not UTF-8 text."]}) from None
            imported = rates.import_ecb_rates(actor=request.user, text=text)
    except ValidationError as exc:
        form = {"currency": currency_form, "add": rate_form, "import": import_form}[action]
        form.add_service_errors(exc)
    failed = any(f.errors for f in (currency_form, rate_form, import_form))
    others = ExchangeRate.objects.exclude(to_currency=company).count()
    return render(
        request,
        "commerce/rates/list.html",
        {
            "company": company,
            "rates": rates.rates_in_use().order_by("currency", "-valid_on")[:SHOWN_RATES],
            "rate_count": rates.rates_in_use().count(),
            "shown": SHOWN_RATES,
            "unused_count": others,
            "currency_form": currency_form,
            "rate_form": rate_form,
            "import_form": import_form,
            "imported": imported,
        },
        status=422 if failed else 200,
    )


@login_required
@require_POST
def rate_delete(request, rate_id: int):
    # Decided before the lookup: the answer is the same whether or not the id exists.
    access.require(request.user, Action.DELETE, ExchangeRate)
    rate = get_object_or_404(ExchangeRate, pk=rate_id)
    text = str(rate)
    rates.delete_rate(actor=request.user, rate=rate)
    messages.success(request, f"Deleted the rate {text}.")
    return redirect("commerce:rate_list")
