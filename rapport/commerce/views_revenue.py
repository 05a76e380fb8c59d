"""The administrators' setting of which orders count as revenue for analytics and the value
KPIs. Thin: `rapport.commerce.revenue.set_revenue_sources` checks the administrator and audits."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from rapport.accounts import access
from rapport.commerce import revenue
from rapport.commerce.choices import RevenueSources
from rapport.commerce.forms import ServiceErrorsMixin


class RevenueSourcesForm(ServiceErrorsMixin, forms.Form):
    sources = forms.ChoiceField(
        label="Revenue counted",
        choices=RevenueSources.choices,
        widget=forms.RadioSelect,
        help_text=(
            "What RFM, customer lifetime value, value tiers, churn, segments and the models' "
            "value KPIs count as a customer's revenue."
        ),
    )


@login_required
def revenue_settings(request):
    access.require_admin(request.user)
    form = RevenueSourcesForm(request.POST or None, initial={"sources": revenue.revenue_sources()})
    if request.method == "POST" and form.is_valid():
        try:
            row = revenue.set_revenue_sources(
                actor=request.user, sources=form.cleaned_data["sources"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                f"Revenue counted: {row.get_sources_display().lower()}. The customer analytics "
                "use it from their next refresh.",
            )
            return redirect("commerce:revenue_settings")
    return render(
        request,
        "commerce/revenue/settings.html",
        {"form": form},
        status=422 if form.errors else 200,
    )
