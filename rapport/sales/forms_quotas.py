"""The quota page's forms: one quota for anyone within reach, and the grid of reps × periods.
They parse input; `sales.quotas` validates and writes, and its errors go back beside the input
they are about."""

from __future__ import annotations

import datetime as dt

from django import forms

from rapport.sales import quota_periods, quotas

EVERY_PIPELINE = ""


def assignee_choices(actor) -> list:
    """People and teams by name, grouped; values say which (u12, t3)."""
    people = [
        (f"u{user.pk}", str(user))
        for user in quotas.assignable_people(actor).order_by("first_name", "last_name", "username")
    ]
    teams = [(f"t{team.pk}", f"Team {team}") for team in quotas.assignable_teams(actor)]
    choices: list = [("", "Choose a person or a team")]
    if people:
        choices.append(("People", people))
    if teams:
        choices.append(("Teams", teams))
    return choices


def period_choices(today: dt.date) -> list:
    return [
        (
            group["label"],
            [(group["key"], f"{group['label']} (the quarter)")]
            + [(month["key"], month["label"]) for month in group["months"]],
        )
        for group in quota_periods.picker(today)
    ]


class QuotaForm(forms.Form):
    assignee = forms.ChoiceField(label="Person or team")
    period = forms.ChoiceField(label="Period")
    amount = forms.CharField(
        label="Quota",
        max_length=20,
        help_text="What they should win in the period, in the company currency.",
    )

    def __init__(self, *args, actor, today: dt.date, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = assignee_choices(actor)
        self.fields["period"].choices = period_choices(today)
        self.fields["amount"].label = f"Quota ({currency})"
        self.fields["amount"].widget.attrs.update(inputmode="decimal", autocomplete="off")

    def clean_period(self):
        try:
            return quota_periods.parse_key(self.cleaned_data["period"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
