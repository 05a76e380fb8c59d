"""Forms of the CRM-model pages. They parse what was typed; the services decide what is valid,
and `apply_errors` puts a service's error beside the field it names."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from rapport.frameworks import recommendation
from rapport.frameworks.catalog.base import MATURITY_SCALE
from rapport.frameworks.choices import TargetKind


def apply_errors(form: forms.Form, exc: ValidationError, aliases: dict | None = None) -> None:
    """Attach a service's ValidationError to the form: each message beside its field, the rest
    at the top of the form."""
    aliases = aliases or {}
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for key, items in messages.items():
        name = aliases.get(key, key)
        for message in items:
            if name in form.fields:
                form.add_error(name, message)
            else:
                form.add_error(None, message if name == "__all__" else f"{key}: {message}")


class GuideForm(forms.Form):
    """The questions of the guided choice of a model (seed 000, step 1)."""

    team_size = forms.ChoiceField(
        label="How many people work with customers (sales, marketing, service)?",
        choices=list(recommendation.TEAM_SIZES.items()),
        widget=forms.RadioSelect,
    )
    product_complexity = forms.ChoiceField(
        label="How complex is what you sell?",
        choices=list(recommendation.COMPLEXITY.items()),
        widget=forms.RadioSelect,
    )
    channels = forms.MultipleChoiceField(
        label="Where do customers reach you, and you them?",
        choices=list(recommendation.CHANNELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    departments = forms.MultipleChoiceField(
        label="Which departments deal with customers?",
        choices=list(recommendation.DEPARTMENTS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    goals = forms.MultipleChoiceField(
        label="What do you want CRM to achieve?",
        choices=list(recommendation.GOALS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Pick the one or two that matter most.",
    )

    def answers(self) -> recommendation.Answers:
        data = self.cleaned_data
        return recommendation.Answers(
            team_size=data["team_size"],
            product_complexity=data["product_complexity"],
            channels=tuple(data["channels"]),
            departments=tuple(data["departments"]),
            goals=tuple(data["goals"]),
        )


class TargetForm(forms.Form):
    """The targets of one stage: one target and one tolerance field per KPI."""

    def __init__(self, *args, rows=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = list(rows)
        for row in self.rows:
            key = row.kpi.key
            self.fields[f"{key}__target"] = forms.FloatField(
                label=f"{row.kpi.name} — target",
                required=False,
                initial=row.target,
                help_text=(
                    f"{'Higher' if row.kpi.higher_is_better else 'Lower'} is better; "
                    f"catalogue default: {row.default_target if row.default_target is not None else 'none'}. "
                    "Leave empty for no target (informational)."
                ),
            )
            self.fields[f"{key}__tolerance"] = forms.FloatField(
                label=f"{row.kpi.name} — at-risk band",
                required=False,
                initial=round(row.tolerance * 100, 1),
                min_value=0,
                max_value=100,
                help_text="How far from the target, in % of it, still counts as at risk.",
            )
            self.fields[f"{key}__reset"] = forms.BooleanField(
                label=f"Use the catalogue's target for {row.kpi.name}", required=False
            )

    def field_groups(self):
        return [
            (
                row,
                self[f"{row.kpi.key}__target"],
                self[f"{row.kpi.key}__tolerance"],
                self[f"{row.kpi.key}__reset"],
            )
            for row in self.rows
        ]


class ObjectiveForm(forms.Form):
    kpi = forms.ChoiceField(label="KPI")
    segment = forms.TypedChoiceField(label="For", required=False, coerce=int, empty_value=None)
    target_kind = forms.ChoiceField(
        label="Target",
        choices=TargetKind.choices,
        initial=TargetKind.CHANGE,
        widget=forms.RadioSelect,
    )
    target_input = forms.FloatField(
        label="Amount",
        help_text="The value to reach, the change in the KPI's unit (e.g. 5 for +5 points, −2 "
        "for −2 days), or the percentage change of the baseline (e.g. 10 for +10 %).",
    )
    deadline = forms.DateField(label="Deadline", widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.TypedChoiceField(label="Owner", coerce=int)
    title = forms.CharField(
        label="Title", required=False, max_length=200, help_text="Written for you when left empty."
    )
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, kpis=(), segments=(), owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kpi"].choices = [(kpi.key, kpi.name) for kpi in kpis]
        self.fields["segment"].choices = [("", "The stage's customers")] + [
            (segment.pk, f"Segment: {segment.name}") for segment in segments
        ]
        self.fields["owner"].choices = [(user.pk, str(user)) for user in owners]
        if not self.is_bound:
            self.fields["deadline"].initial = timezone.localdate() + dt.timedelta(days=365)


class ObjectiveEditForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    target_kind = forms.ChoiceField(
        label="Target", choices=TargetKind.choices, widget=forms.RadioSelect
    )
    target_input = forms.FloatField(label="Amount")
    deadline = forms.DateField(label="Deadline", widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.TypedChoiceField(label="Owner", coerce=int)
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [(user.pk, str(user)) for user in owners]


SCORE_CHOICES = [("", "Not answered")] + [
    (str(score), f"{score} — {text}") for score, text in MATURITY_SCALE.items()
]


class AnswerForm(forms.Form):
    """One score (and an optional comment) per question of a model."""

    def __init__(self, *args, model=None, initial_scores=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        initial_scores = initial_scores or {}
        self.questions = []
        for stage, question in model.questions:
            key = f"{stage.key}.{question.key}"
            score = initial_scores.get(key, {})
            self.fields[f"score__{key}"] = forms.ChoiceField(
                label=question.text,
                choices=SCORE_CHOICES,
                required=False,
                initial=str(score.get("score", "")),
                widget=forms.RadioSelect,
                help_text=question.guidance,
            )
            self.fields[f"comment__{key}"] = forms.CharField(
                label="Comment",
                required=False,
                max_length=500,
                initial=score.get("comment", ""),
            )
            self.questions.append((stage, question, key))

    def grouped(self):
        groups = []
        for stage, question, key in self.questions:
            if not groups or groups[-1][0] is not stage:
                groups.append((stage, []))
            groups[-1][1].append((question, self[f"score__{key}"], self[f"comment__{key}"]))
        return groups

    def answers(self) -> tuple[dict, dict]:
        scores = {key: self.cleaned_data.get(f"score__{key}") for _s, _q, key in self.questions}
        comments = {key: self.cleaned_data.get(f"comment__{key}") for _s, _q, key in self.questions}
        return scores, comments
