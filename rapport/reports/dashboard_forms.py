"""The dashboard forms: name and sharing, the role defaults (administrators), and one small form
per kind of widget. Choices come from what the viewer may use: their reports, the KPI
catalogue, the registry of lists."""

from __future__ import annotations

from django import forms

from rapport.accounts.models import Role, Team
from rapport.reports import dashboard_kpis, dashboard_lists
from rapport.reports.models import WIDGET_SPANS, Report

SPAN_LABELS = {3: "A quarter", 4: "A third", 6: "Half", 8: "Two thirds", 12: "Full width"}
SPAN_CHOICES = [(span, SPAN_LABELS[span]) for span in WIDGET_SPANS]


class AddErrorsMixin:
    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """A service's ValidationError beside the fields it is about."""
        for key, messages in errors.items():
            self.add_error(key if key in self.fields else None, messages)


class DashboardForm(AddErrorsMixin, forms.Form):
    name = forms.CharField(max_length=120)
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
        help_text="Whoever opens a shared dashboard sees only the records they may see.",
    )


class RoleDefaultsForm(AddErrorsMixin, forms.Form):
    default_for_roles = forms.ModelMultipleChoiceField(
        queryset=Role.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Home for roles",
        help_text="Holders of these roles see this dashboard on Home. A role has one.",
    )


class SpanField(forms.TypedChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Width")
        super().__init__(choices=SPAN_CHOICES, coerce=int, **kwargs)


class ReportWidgetForm(AddErrorsMixin, forms.Form):
    report = forms.ModelChoiceField(queryset=Report.objects.none(), empty_label="Choose a report")
    span = SpanField(initial=6)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["report"].queryset = Report.objects.visible_to(user).order_by("name", "id")


class KpiWidgetForm(AddErrorsMixin, forms.Form):
    kpi = forms.ChoiceField(label="KPI")
    span = SpanField(initial=3)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kpi"].choices = [("", "Choose a KPI"), *dashboard_kpis.kpi_choices()]


class ListWidgetForm(AddErrorsMixin, forms.Form):
    list_key = forms.ChoiceField(label="List")
    span = SpanField(initial=6)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["list_key"].choices = [("", "Choose a list"), *dashboard_lists.list_choices()]


class ResizeForm(forms.Form):
    span = SpanField()


WIDGET_FORMS = {"report": ReportWidgetForm, "kpi": KpiWidgetForm, "list": ListWidgetForm}
