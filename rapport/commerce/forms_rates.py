"""The forms of the exchange-rate administration page. The services validate again."""

from __future__ import annotations

from django import forms

from rapport.commerce.forms import ServiceErrorsMixin


class CompanyCurrencyForm(ServiceErrorsMixin, forms.Form):
    code = forms.ChoiceField(
        label="Company currency",
        choices=(),
        help_text="Totals and forecasts are shown in this currency.",
    )

    def __init__(self, *args, currencies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = currencies


class ExchangeRateForm(ServiceErrorsMixin, forms.Form):
    currency = forms.ChoiceField(label="Currency", choices=())
    rate = forms.DecimalField(
        label="Rate",
        # Zero, negatives and the upper bound are refused by the service, with its words.
        max_digits=20,
        decimal_places=10,
        help_text="What one unit of the currency is worth in the company currency.",
    )
    valid_on = forms.DateField(
        label="From date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Amounts dated on or after this day use this rate (until a newer one).",
    )

    def __init__(self, *args, currencies, company, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, n) for c, n in currencies if c != company]


class RateImportForm(ServiceErrorsMixin, forms.Form):
    file = forms.FileField(
        label="ECB reference-rate file (CSV)",
        help_text="First row “Date,USD,JPY,…”; then a date and the units one euro buys.",
    )
