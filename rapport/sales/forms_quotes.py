"""The forms of quotes. They parse input; `sales.quotes.services` validates and writes, and its
errors are put back beside the fields (`forms.add_service_errors`)."""

from __future__ import annotations

from django import forms

from rapport.sales.forms import DATE_INPUT
from rapport.sales.quotes.services import MAX_VALIDITY_DAYS, REASON_LIMIT, TEXT_LIMIT

TEXTAREA = forms.Textarea(attrs={"rows": 4})


class QuoteForm(forms.Form):
    valid_until = forms.DateField(label="Valid until", widget=DATE_INPUT)
    notes = forms.CharField(
        label="Notes to the customer",
        required=False,
        max_length=TEXT_LIMIT,
        widget=TEXTAREA,
        help_text="Printed above the terms.",
    )
    terms = forms.CharField(label="Terms", required=False, max_length=TEXT_LIMIT, widget=TEXTAREA)


class QuoteSendForm(forms.Form):
    mailbox = forms.TypedChoiceField(label="From", coerce=int)
    to = forms.CharField(
        label="To", max_length=2000, help_text="Separate several addresses with commas."
    )
    cc = forms.CharField(label="Cc", max_length=2000, required=False)
    subject = forms.CharField(label="Subject", max_length=200)
    message = forms.CharField(
        label="Message",
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="The quote goes with it as a PDF attachment.",
    )

    def __init__(self, *args, mailboxes: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].choices = mailboxes

    @staticmethod
    def addresses(text: str) -> list[str]:
        return [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]

    def values(self) -> dict:
        data = self.cleaned_data
        return {
            "mailbox": data["mailbox"],
            "to": self.addresses(data["to"]),
            "cc": self.addresses(data.get("cc", "")),
            "subject": data["subject"],
            "message": data["message"],
        }


class QuoteDeclineForm(forms.Form):
    reason = forms.CharField(
        label="Why did the customer decline?",
        required=False,
        max_length=REASON_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class QuoteSettingsForm(forms.Form):
    company_name = forms.CharField(
        label="Company name", max_length=200, required=False, help_text="Heads every quote."
    )
    company_details = forms.CharField(
        label="Company details",
        required=False,
        max_length=TEXT_LIMIT,
        widget=TEXTAREA,
        help_text="Address, tax number, bank details: printed under the name.",
    )
    default_terms = forms.CharField(
        label="Standard terms", required=False, max_length=TEXT_LIMIT, widget=TEXTAREA
    )
    validity_days = forms.IntegerField(
        label="Valid for (days)",
        min_value=1,
        max_value=MAX_VALIDITY_DAYS,
        help_text="How long a new quote is valid unless another date is chosen.",
    )
