"""Forms of the analytics pages: the segment form (its conditions drawn by the shared
condition builder, `core.condition_builder`) and the configuration."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError

from rapport.analytics import segments
from rapport.analytics.choices import SegmentKind
from rapport.analytics.models import AnalyticsConfiguration
from rapport.core.condition_builder import OPERATOR_WORDS, ConditionJSONField, builder_fields
from rapport.core.conditions import ConditionError

EVERY_CONTACT = "No conditions: every contact in your access matches."


def segment_condition_fields(fields: dict[str, segments.SegmentField] | None = None) -> list[dict]:
    """What the condition builder offers in a segment: every segment field under its group,
    with the operators it allows and its choices by their labels."""
    fields = fields if fields is not None else segments.available_fields()
    read: dict = {}  # several fields share one list of choices (the categories): read it once
    choices = {}
    for name, definition in fields.items():
        if definition.choices is not None:
            if definition.choices not in read:
                read[definition.choices] = definition.choices()
            choices[name] = read[definition.choices]
    return builder_fields(
        segments.field_set(fields),
        choices,
        groups={name: definition.group for name, definition in fields.items()},
        operators={name: definition.operators for name, definition in fields.items()},
    )


def parse_conditions(text: str | None) -> dict:
    """A segment's conditions from the builder's JSON, checked against the segment fields;
    a ValidationError says what is wrong in the builder's words ("Condition 2, value: …")."""
    return _checked(SegmentForm.base_fields["conditions"].clean(text))


def _checked(conditions: dict) -> dict:
    try:
        segments.check_conditions(conditions)
    except ConditionError as exc:
        raise ValidationError(exc.in_words) from exc
    return conditions


def describe_conditions(conditions: dict | None, entries: list[dict] | None = None) -> dict:
    """A saved segment's conditions in words for its page: `match` and `rows` (field, operator
    and value as labels) when they are one group of rows, else `text` (the JSON). `entries` are
    the condition builder's fields (a segment's when not given; reports pass their source's)."""
    conditions = conditions or {"all": []}
    key = "any" if "any" in conditions else "all"
    parts = conditions.get(key)
    flat = (
        set(conditions) == {key}
        and isinstance(parts, list)
        and all(isinstance(part, dict) and "field" in part for part in parts)
    )
    if not flat:
        return {"text": json.dumps(conditions, indent=2, ensure_ascii=False)}
    entries = {
        entry["name"]: entry
        for entry in (entries if entries is not None else segment_condition_fields())
    }
    rows = []
    for part in parts:
        entry = entries.get(part.get("field"), {})
        labels = dict(entry.get("choices", []))
        value = part.get("value")
        values = value if isinstance(value, list) else [] if value is None else [value]
        words = [
            ("yes" if v else "no") if isinstance(v, bool) else labels.get(str(v), str(v))
            for v in values
        ]
        rows.append(
            {
                "field": entry.get("label", part.get("field")),
                "op": OPERATOR_WORDS.get(part.get("op"), part.get("op")),
                "value": (" and " if part.get("op") == "between" else ", ").join(words),
            }
        )
    return {"match": key, "rows": rows}


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    kind = forms.ChoiceField(
        choices=SegmentKind.choices, initial=SegmentKind.DYNAMIC, widget=forms.RadioSelect
    )
    conditions = ConditionJSONField(
        fields=segment_condition_fields, empty=EVERY_CONTACT, required=False
    )

    def __init__(self, *args, segment=None, **kwargs):
        super().__init__(*args, **kwargs)
        if segment is not None and segment.kind == SegmentKind.STATIC:
            del self.fields["conditions"]  # a static list holds chosen contacts, no conditions

    def clean_conditions(self):
        conditions = self.cleaned_data["conditions"]
        if self.cleaned_data.get("kind") == SegmentKind.STATIC:
            return None
        return _checked(conditions)


class ConfigurationForm(forms.ModelForm):
    class Meta:
        model = AnalyticsConfiguration
        fields = [
            "rfm_window_days",
            "expected_purchases_days",
            "clv_horizon_months",
            "monthly_discount_rate",
            "platinum_share",
            "gold_share",
            "silver_share",
            "p_alive_threshold",
            "overdue_factor",
            "holdout_days",
            "keep_daily_snapshots_days",
            "nightly_hour",
        ]
        help_texts = {
            "platinum_share": "Cumulative top share of customers by predicted CLV, e.g. 0.01 = top 1 %.",
            "gold_share": "Cumulative top share where gold ends, e.g. 0.05 = top 5 %.",
            "silver_share": "Cumulative top share where silver ends, e.g. 0.20 = top 20 %.",
            "monthly_discount_rate": "e.g. 0.01 = 1 % per month.",
            "p_alive_threshold": "Customers below this P(alive) are at risk.",
            "overdue_factor": "At risk when silent this many times their usual gap between purchases.",
        }
