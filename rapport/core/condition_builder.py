"""The visual condition builder: conditions of the rule language put together from menus.

Every form that takes a condition (scoring and assignment rules, segments) renders its field with
`ConditionBuilder`, most simply through `ConditionJSONField`. The widget keeps the condition's JSON in a hidden textarea, which is what
the form posts and what the services validate, and `js/condition-builder.js` draws rows of
*field · operator · value* over it from the metadata given here: each field's label, its kind,
the operators that fit the kind, and for choice fields the choices by their labels (an "is one
of" is a multi-select of them, never typed keys); optionally each field's group (a menu of
<optgroup>s) and the operators that field allows when they are fewer than its kind's. A
condition nested deeper than one group of rows, which the rows cannot show, is shown as text
with a note saying why; "Edit as JSON" opens any condition as text. Every change of the
hidden textarea is announced with a `change` event on it (e.g. for a live count over HTMX).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from django import forms
from django.core.exceptions import ValidationError

from rapport.core import display
from rapport.core.conditions import OPERATORS, FieldSet

# The operators that make sense for each kind of field, in the order a menu offers them.
OPERATORS_BY_KIND = {
    "text": [
        "eq", "ne", "contains", "not_contains", "startswith", "in", "not_in",
        "is_empty", "is_not_empty",
    ],
    "number": ["eq", "ne", "gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty"],
    "date": ["eq", "gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty"],
    "boolean": ["eq"],
    "choice": ["eq", "ne", "in", "not_in", "is_empty", "is_not_empty"],
    "tags": ["contains", "not_contains", "is_empty", "is_not_empty"],
}  # fmt: skip

# Words for the operators where the menu reads better than the rule language's own words.
OPERATOR_WORDS = {**OPERATORS, "gt": "is more than", "lt": "is less than", "eq": "is"}


def _choice_pairs(choices) -> list[list[str]]:
    pairs = []
    for choice in choices or []:
        if isinstance(choice, list | tuple):
            value, label = choice
        else:
            value, label = choice, str(choice).replace("_", " ").capitalize()
        pairs.append([str(value), str(label)])
    return pairs


def builder_fields(
    fields: FieldSet,
    choices: Mapping[str, Sequence] | None = None,
    *,
    groups: Mapping[str, str] | None = None,
    operators: Mapping[str, Sequence[str]] | None = None,
) -> list[dict]:
    """The JSON the builder's script reads: one entry per field a condition may name.

    `choices` gives choice fields their values (pairs of value and label); `groups` puts fields
    under headings in the field menu; `operators` narrows a field to fewer operators than its
    kind offers (a fact that only compares numbers, say).
    """
    choices = choices or {}
    groups = groups or {}
    operators = operators or {}
    entries = []
    for name, field in fields.items():
        entry = {
            "name": name,
            "label": field.label or name,
            "kind": field.kind,
            "operators": list(
                operators.get(name) or OPERATORS_BY_KIND.get(field.kind, OPERATORS_BY_KIND["text"])
            ),
            "choices": _choice_pairs(choices.get(name)),
        }
        if name in groups:
            entry["group"] = groups[name]
        entries.append(entry)
    return entries


class ConditionBuilder(forms.Textarea):
    """A condition field drawn as rows of menus; the posted value stays the rule's JSON.

    `empty` is what the rows say when there is no condition (what an empty one matches).
    """

    template_name = "core/widgets/condition_builder.html"

    def __init__(self, *, fields: Callable[[], list[dict]], empty: str = "", attrs=None):
        super().__init__(attrs={"rows": 6, "spellcheck": "false", "class": "code", **(attrs or {})})
        self.fields = fields
        self.empty = empty or "No conditions: the rule applies to every lead."

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["fields_json"] = json.dumps(self.fields(), ensure_ascii=False)
        context["widget"]["operators_json"] = json.dumps(OPERATOR_WORDS, ensure_ascii=False)
        context["widget"]["empty"] = self.empty
        return context


class ConditionJSONField(forms.CharField):
    """A condition posted by a `ConditionBuilder`, parsed from its JSON (an empty one is
    `{"all": []}`); whether its fields and operators fit is the caller's check."""

    MAX_LENGTH = 20_000

    def __init__(self, *, fields: Callable[[], list[dict]], empty: str = "", **kwargs):
        kwargs.setdefault("widget", ConditionBuilder(fields=fields, empty=empty))
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return {"all": []}
        if len(text) > self.MAX_LENGTH:
            raise ValidationError(f"Use at most {display.number_text(self.MAX_LENGTH)} characters.")
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
        return parsed

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value
