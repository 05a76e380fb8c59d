"""Change records in the user's words: field labels and displayed values, never keys or ids.

A change record stores plain JSON (`owner_id: 17`, `lifecycle_stage: "sales_qualified"`,
`custom_fields: {"region": "north"}`) so that it survives renames and deletions. The history
panel and the audit log turn that into "Owner: Hannah Keller → Tom Becker", reading the model's
own field labels and choices, the custom-field definitions, and the names of the records the
ids point at — looked up in one query per related model for a whole page of records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from functools import cache

from django.apps import apps
from django.db import models
from django.utils import timezone

from rapport.core import formatting
from rapport.core.display import display_locale

VALUE_SHOWN = 200  # characters of one value; the rest is cut with "…"
NOTHING = "—"

# Keys that services add to a snapshot beside the model's own fields.
EXTRA_LABELS = {
    "emails": "Emails",
    "phones": "Phones",
    "tags": "Tags",
    "organizations": "Organizations",
    "members": "Members",
    "teams": "Teams",
    "password_set": "Password set",
}
# List-valued extra keys whose items are ids of another model.
EXTRA_RELATIONS = {"organizations": "contacts.Organization", "teams": "accounts.Team"}


def _model(entity: str):
    try:
        return apps.get_model(entity)
    except (LookupError, ValueError):
        return None


def record_kind(entity: str) -> str:
    """ "Contact" for "contacts.contact": the record type in words (a removed model keeps its
    label)."""
    model = _model(entity)
    if model is None:
        return entity
    name = str(model._meta.verbose_name)
    return name[:1].upper() + name[1:]


@cache
def _fields_by_key(model) -> dict[str, models.Field]:
    """A model's concrete fields by name and by attname (a model's fields are fixed at start)."""
    if model is None:
        return {}
    fields = {}
    for field in model._meta.concrete_fields:
        fields[field.name] = field
        fields[field.attname] = field
    return fields


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 1] + "…"


def _humanize_key(key: str) -> str:
    words = key.removesuffix("_id").replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:]


class ChangeWords:
    """Labels and values for the change records of one page, with related names fetched once."""

    def __init__(self, records, zone=None):
        self.zone = zone or timezone.get_current_timezone()
        self.today = timezone.localtime(timezone.now(), self.zone).date()
        self._custom_labels: dict[str, dict[str, str]] = {}
        wanted: dict[type, set] = defaultdict(set)
        for record in records:
            model = _model(record.entity)
            fields = _fields_by_key(model)
            for side in (record.before or {}, record.after or {}):
                for key, value in side.items():
                    related = self._related_model(fields, key)
                    if related is None or value in (None, ""):
                        continue
                    for pk in value if isinstance(value, list) else [value]:
                        if isinstance(pk, int | str) and str(pk).isdecimal():
                            wanted[related].add(int(pk))
        self._names: dict[type, dict[int, str]] = {
            related: {obj.pk: str(obj) for obj in related._default_manager.filter(pk__in=ids)}
            for related, ids in wanted.items()
        }

    @staticmethod
    def _related_model(fields, key):
        field = fields.get(key)
        if field is not None and field.is_relation and field.related_model is not None:
            return field.related_model
        if key in EXTRA_RELATIONS:
            return apps.get_model(EXTRA_RELATIONS[key])
        return None

    def _custom_label(self, model, key: str) -> str:
        entity = model._meta.model_name if model is not None else ""
        if entity not in self._custom_labels:
            from rapport.customfields.models import CustomFieldDefinition

            self._custom_labels[entity] = dict(
                CustomFieldDefinition.objects.filter(entity=entity).values_list("key", "label")
            )
        return self._custom_labels[entity].get(key) or _humanize_key(key)

    # --- labels and values ---------------------------------------------------------------------

    def label(self, model, key: str) -> str:
        field = _fields_by_key(model).get(key)
        if field is not None:
            name = str(field.verbose_name)
            return name[:1].upper() + name[1:]
        if key in EXTRA_LABELS:
            return EXTRA_LABELS[key]
        if key.startswith("consent."):
            return f"{_humanize_key(key.partition('.')[2])} consent"
        return _humanize_key(key)

    def value(self, model, key: str, value) -> str:
        if value is None or value == "" or value == [] or value == {}:
            return NOTHING
        fields = _fields_by_key(model)
        field = fields.get(key)
        related = self._related_model(fields, key)
        if related is not None:
            names = self._names.get(related, {})
            items = value if isinstance(value, list) else [value]
            shown = [
                names.get(int(v), "a deleted record") if str(v).isdecimal() else str(v)
                for v in items
            ]
            return _cut(", ".join(shown))
        if field is not None and field.choices:
            display = dict(field.flatchoices)
            if isinstance(value, list):
                return _cut(", ".join(str(display.get(v, v)) for v in value))
            return str(display.get(value, value))
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(field, models.DateTimeField) and isinstance(value, str):
            return self._moment(value)
        if isinstance(field, models.DateField) and isinstance(value, str):
            return self._day(value)
        if isinstance(value, list):
            return _cut(", ".join(self._plain(v) for v in value))
        if isinstance(value, dict):
            return _cut(json.dumps(value, ensure_ascii=False, default=str))
        return _cut(str(value))

    @staticmethod
    def _plain(item) -> str:
        if isinstance(item, dict):
            return str(item.get("email") or item.get("number") or item.get("name") or item)
        return str(item)

    def _day(self, text: str) -> str:
        try:
            day = dt.date.fromisoformat(text[:10])
        except ValueError:
            return text
        return formatting.format_day(day, display_locale(), self.today)

    def _moment(self, text: str) -> str:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return text
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, dt.UTC)
        local = timezone.localtime(moment, self.zone)
        return formatting.format_moment(local, display_locale(), self.today)

    # --- rows ----------------------------------------------------------------------------------

    def rows(self, record, before: dict, after: dict, keys) -> list[dict]:
        """One row per changed key; a custom-fields dict becomes one row per custom field."""
        model = _model(record.entity)
        recorded_before = record.before or {}
        rows = []
        for key in keys:
            if key == "custom_fields" and isinstance(after.get(key) or before.get(key), dict):
                old, new = before.get(key) or {}, after.get(key) or {}
                for custom in sorted(set(old) | set(new)):
                    if old.get(custom) == new.get(custom):
                        continue
                    if not recorded_before and new.get(custom) in (None, "", []):
                        continue
                    rows.append(
                        {
                            "field": self._custom_label(model, custom),
                            "before": self.value(None, custom, old.get(custom)),
                            "after": self.value(None, custom, new.get(custom)),
                            "had_before": key in recorded_before,
                            "has_after": key in (record.after or {}),
                        }
                    )
                continue
            rows.append(
                {
                    "field": self.label(model, key),
                    "before": self.value(model, key, before.get(key)),
                    "after": self.value(model, key, after.get(key)),
                    "had_before": key in recorded_before,
                    "has_after": key in (record.after or {}),
                }
            )
        return rows
