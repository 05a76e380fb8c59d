"""Forms of the analytics pages: the segment editor (rule rows) and the configuration."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django import forms

from rapport.analytics import segments
from rapport.analytics.choices import SegmentKind
from rapport.analytics.models import AnalyticsConfiguration
from rapport.core.conditions import OPERATORS, ConditionError

MAX_ROWS = 30
_ROW_PATH = re.compile(r"^\$\.(?:all|any)\[(\d+)\]")


@dataclass
class ConditionRow:
    """One rule row of the editor as the person typed it, with its error if any."""

    index: int
    field: str = ""
    op: str = ""
    value: str = ""
    error: str = ""
    definition: segments.SegmentField | None = None
    choices: list = dataclass_field(default_factory=list)

    @property
    def operators(self) -> list[tuple[str, str]]:
        names = self.definition.operators if self.definition else tuple(OPERATORS)
        return [(name, OPERATORS[name]) for name in names]

    @property
    def needs_value(self) -> bool:
        return self.op not in {"is_empty", "is_not_empty"}

    @property
    def is_list(self) -> bool:
        return self.op in {"in", "not_in", "between"}


def _value_text(value) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_scalar(text: str, kind: str):
    text = text.strip()
    if kind == "number":
        try:
            number = float(text)
        except ValueError as exc:
            raise ValueError("Give a number.") from exc
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        if text.lower() in {"true", "yes", "1"}:
            return True
        if text.lower() in {"false", "no", "0"}:
            return False
        raise ValueError("Choose yes or no.")
    return text


class SegmentEditor:
    """The rule rows of a dynamic segment: read from a saved segment or a posted form, turned
    back into conditions, with any error placed on the row it belongs to."""

    def __init__(self, *, match="all", rows=None, advanced="", fields=None):
        self.fields = fields if fields is not None else segments.available_fields()
        self.match = match if match in {"all", "any"} else "all"
        self.rows: list[ConditionRow] = rows or []
        self.advanced = advanced
        self.advanced_error = ""
        for row in self.rows:
            self._describe(row)

    def _describe(self, row: ConditionRow) -> None:
        row.definition = self.fields.get(row.field)
        if row.definition is not None:
            if row.op not in row.definition.operators:
                row.op = row.definition.operators[0]
            row.choices = row.definition.choices() if row.definition.choices else []

    @property
    def field_groups(self) -> list[tuple[str, list[segments.SegmentField]]]:
        groups: dict[str, list] = {}
        for definition in self.fields.values():
            groups.setdefault(definition.group, []).append(definition)
        return list(groups.items())

    @classmethod
    def from_conditions(cls, conditions: dict | None) -> SegmentEditor:
        conditions = conditions or {"all": []}
        key = "any" if "any" in conditions else "all"
        parts = conditions.get(key)
        flat = isinstance(parts, list) and all(isinstance(p, dict) and "field" in p for p in parts)
        if not flat or set(conditions) - {key}:
            return cls(advanced=json.dumps(conditions, indent=2))
        rows = [
            ConditionRow(
                index=i,
                field=p.get("field", ""),
                op=p.get("op", ""),
                value=_value_text(p.get("value")),
            )
            for i, p in enumerate(parts)
        ]
        return cls(match=key, rows=rows)

    @classmethod
    def from_post(cls, data) -> SegmentEditor:
        try:
            count = min(int(data.get("row_count", "0")), MAX_ROWS)
        except ValueError:
            count = 0
        rows = []
        removed = data.get("remove_row")
        for index in range(count):
            if removed == str(index):
                continue
            rows.append(
                ConditionRow(
                    index=len(rows),
                    field=(data.get(f"field-{index}") or "")[:100],
                    op=(data.get(f"op-{index}") or "")[:20],
                    value=(data.get(f"value-{index}") or "")[:1000],
                )
            )
        if data.get("add_row") and len(rows) < MAX_ROWS:
            rows.append(ConditionRow(index=len(rows), field="analytics.value_tier", op="eq"))
        return cls(
            match=data.get("match", "all"), rows=rows, advanced=(data.get("advanced") or "")[:20000]
        )

    def conditions(self) -> dict | None:
        """The conditions, or None with errors set on rows / the advanced box."""
        if self.advanced.strip():
            try:
                parsed = json.loads(self.advanced)
                segments.check_conditions(parsed, self.fields)
            except ValueError as exc:
                self.advanced_error = (
                    f"{exc.path}: {exc.message}"
                    if isinstance(exc, ConditionError)
                    else "Not valid JSON."
                )
                return None
            return parsed
        parts = []
        ok = True
        for row in self.rows:
            definition = self.fields.get(row.field)
            if definition is None:
                row.error = "Choose a field."
                ok = False
                continue
            part = {"field": row.field, "op": row.op}
            if row.needs_value:
                try:
                    if row.is_list:
                        items = [t for t in row.value.split(",") if t.strip()]
                        part["value"] = [_parse_scalar(t, definition.kind) for t in items]
                    else:
                        part["value"] = _parse_scalar(row.value, definition.kind)
                except ValueError as exc:
                    row.error = str(exc)
                    ok = False
                    continue
            parts.append(part)
        if not ok:
            return None
        conditions = {self.match: parts}
        try:
            segments.check_conditions(conditions, self.fields)
        except ConditionError as exc:
            match = _ROW_PATH.match(exc.path)
            if match and int(match.group(1)) < len(self.rows):
                self.rows[int(match.group(1))].error = exc.message
            else:
                self.advanced_error = f"{exc.path}: {exc.message}"
            return None
        return conditions


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    kind = forms.ChoiceField(
        choices=SegmentKind.choices, initial=SegmentKind.DYNAMIC, widget=forms.RadioSelect
    )


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
