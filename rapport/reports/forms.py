"""The report form: the source's condition builder, its groupable and numeric fields by label."""

from __future__ import annotations

from django import forms

from rapport.accounts.models import Role, Team
from rapport.analytics import forms as segment_forms
from rapport.core.condition_builder import ConditionJSONField
from rapport.core.conditions import ConditionError
from rapport.reports.choices import Chart, Measure, Period
from rapport.reports.sources import RecordSource

NO_PERIOD = [("", "—")]


class ReportForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    group_by = forms.ChoiceField(label="Group by")
    group_period = forms.ChoiceField(
        label="Dates by",
        choices=NO_PERIOD + list(Period.choices),
        required=False,
        help_text="For a date: the period each bar stands for (a month when left empty).",
    )
    then_by = forms.ChoiceField(label="Then by", required=False)
    then_period = forms.ChoiceField(
        label="Its dates by", choices=NO_PERIOD + list(Period.choices), required=False
    )
    measure = forms.ChoiceField(choices=Measure.choices, initial=Measure.COUNT)
    measure_field = forms.ChoiceField(
        label="Of the number",
        required=False,
        help_text="For a sum, average, minimum or maximum. Amounts count in the company currency.",
    )
    chart = forms.ChoiceField(choices=Chart.choices, initial=Chart.BAR)
    shared_teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Share with teams",
    )
    shared_roles = forms.ModelMultipleChoiceField(
        queryset=Role.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Share with roles",
        help_text="Whoever opens a shared report sees only the records they may see.",
    )

    def __init__(self, *args, source: RecordSource, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = source
        # The builder offers this source's fields; it is built per form, as the fields are.
        self.fields["conditions"] = ConditionJSONField(
            fields=source.builder,
            empty=f"No conditions: every {source.noun} you may see.",
            required=False,
            label="Which records",
        )
        self.order_fields(["name", "description", "conditions"])
        groups = source.group_fields()
        self.group_specs = groups
        choices = sorted(((name, spec.label) for name, spec in groups.items()), key=_by_label)
        self.fields["group_by"].choices = [("", "Choose a field"), *choices]
        self.fields["then_by"].choices = [("", "Nothing more"), *choices]
        measures = sorted(
            ((name, spec.label) for name, spec in source.measure_fields().items()), key=_by_label
        )
        self.fields["measure_field"].choices = [("", "—"), *measures]

    def clean(self):
        data = super().clean()
        # A period left chosen for a field that is no date is a leftover of the menus, not a
        # request: drop it (the API, where nothing is left over, names it as an error).
        for key, period in (("group_by", "group_period"), ("then_by", "then_period")):
            spec = self.group_specs.get(data.get(key) or "")
            if spec is None or spec.kind != "date":
                data[period] = ""
        measure = data.get("measure")
        if measure == Measure.COUNT:
            data["measure_field"] = ""
        elif measure and not data.get("measure_field"):
            self.add_error(
                "measure_field",
                f"Choose the number to take the {Measure(measure).label.lower()} of.",
            )
        return data

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """A service's ValidationError beside the fields it is about."""
        for key, messages in errors.items():
            if key.startswith("conditions"):
                path = key.removeprefix("conditions").lstrip(".")
                words = [ConditionError(f"$.{path}" if path else "$", m).in_words for m in messages]
                self.add_error("conditions", words)
            elif key in self.fields:
                self.add_error(key, messages)
            else:
                self.add_error(None, messages)


def _by_label(pair):
    return pair[1].casefold()


def describe_conditions(conditions: dict | None, source: RecordSource) -> dict:
    """A report's conditions in words, with its source's field and choice labels."""
    return segment_forms.describe_conditions(conditions, source.builder())
