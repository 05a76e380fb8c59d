"""The webhook subscription form: the URL is checked on what it resolves to when it is saved."""

from __future__ import annotations

from django import forms

from rapport.accounts.models import User
from rapport.automation import catalogue, webhooks


class WebhookSubscriptionForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="For you: what receives these events.")
    url = forms.CharField(
        label="URL",
        max_length=2000,
        help_text="Where Rapport POSTs each event (http or https, on a public address).",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/rapport-webhooks"}),
    )
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=[
            (group, [(kind.name, kind.label) for kind in kinds])
            for group, kinds in catalogue.groups()
        ],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one event."},
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        help_text="Told when the subscription is switched off after failing (you, if empty).",
    )

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        problem = webhooks.url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url

    def grouped_choices(self):
        """(group, [(value, label, checked)]) for the template's fieldsets."""
        chosen = set(self["event_types"].value() or [])
        return [
            (group, [(kind.name, kind.label, kind.name in chosen) for kind in kinds])
            for group, kinds in catalogue.groups()
        ]
