"""Form fields generated from custom-field definitions, for the contact and organization forms.

The inputs only collect raw text; `customfields.validation.clean_values` decides what is valid,
so a value the API refuses is refused here with the same message, and the other way round.
Each definition becomes a form field named `cf_<key>`; errors keyed `custom_fields.<key>` (from
`clean_values` or a service) land on that field.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from rapport.customfields.choices import FieldType
from rapport.customfields.validation import LONG_TEXT_LIMIT, TEXT_LIMIT, clean_values

FIELD_PREFIX = "cf_"
ERROR_PREFIX = "custom_fields."
BOOLEAN_CHOICES = [("", "—"), ("true", "Yes"), ("false", "No")]


def form_field_name(key: str) -> str:
    return f"{FIELD_PREFIX}{key}"


class RawMultipleChoiceField(forms.Field):
    """Checkboxes whose ticked values arrive as a list of strings, unvalidated."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value):
        if not value:
            return []
        if isinstance(value, str):
            return [value]
        return [str(item) for item in value]


def _text_attrs(definition, default_limit: int) -> dict:
    return {"maxlength": str(definition.max_length or default_limit)}


def custom_form_field(definition) -> forms.Field:
    """One input for one definition. Every field is optional to Django: clean_values judges."""
    kind = definition.field_type
    options = {
        "required": False,
        "label": definition.label,
        "help_text": definition.help_text,
    }
    if kind == FieldType.TEXT:
        field = forms.CharField(
            widget=forms.TextInput(attrs=_text_attrs(definition, TEXT_LIMIT)), **options
        )
    elif kind == FieldType.LONG_TEXT:
        field = forms.CharField(
            widget=forms.Textarea(attrs={"rows": 3, **_text_attrs(definition, LONG_TEXT_LIMIT)}),
            strip=False,
            **options,
        )
    elif kind == FieldType.NUMBER:
        attrs = {"step": "1", "inputmode": "numeric"}
        if definition.min_value is not None:
            attrs["min"] = str(definition.min_value.normalize())
        if definition.max_value is not None:
            attrs["max"] = str(definition.max_value.normalize())
        field = forms.CharField(widget=forms.NumberInput(attrs=attrs), **options)
    elif kind == FieldType.DECIMAL:
        field = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **options)
    elif kind == FieldType.DATE:
        field = forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **options)
    elif kind == FieldType.BOOLEAN:
        field = forms.CharField(widget=forms.Select(choices=BOOLEAN_CHOICES), **options)
    elif kind == FieldType.CHOICE:
        choices = [("", "—"), *[(str(c), str(c)) for c in definition.choices]]
        field = forms.CharField(widget=forms.Select(choices=choices), **options)
    elif kind == FieldType.MULTI_CHOICE:
        choices = [(str(c), str(c)) for c in definition.choices]
        field = RawMultipleChoiceField(
            widget=forms.CheckboxSelectMultiple(choices=choices), **options
        )
    elif kind == FieldType.URL:
        field = forms.CharField(
            widget=forms.URLInput(attrs={"maxlength": "2000", "placeholder": "https://"}),
            **options,
        )
    elif kind == FieldType.EMAIL:
        field = forms.CharField(widget=forms.EmailInput(), **options)
    else:
        field = forms.CharField(**options)
    if definition.is_required:
        field.widget.attrs["aria-required"] = "true"
        # Shown as a marker beside the label; the check itself stays in clean_values.
        field.is_required_marker = True
    field.custom_field_definition = definition
    return field


def initial_value(definition, stored):
    """The stored JSON value as the input expects it (booleans as "true"/"false")."""
    if stored is None:
        return None
    if definition.field_type == FieldType.BOOLEAN:
        return "true" if stored else "false"
    if definition.field_type == FieldType.MULTI_CHOICE:
        return list(stored) if isinstance(stored, list) else [stored]
    return stored


def add_custom_fields(form: forms.BaseForm, definitions, values: dict | None) -> None:
    """Append one field per definition to `form`, filled from `values` or, for a new record,
    from each definition's default."""
    for definition in definitions:
        name = form_field_name(definition.key)
        form.fields[name] = custom_form_field(definition)
        stored = definition.default if values is None else values.get(definition.key)
        initial = initial_value(definition, stored)
        if initial is not None:
            form.initial[name] = initial


def raw_custom_values(form: forms.BaseForm, definitions) -> dict:
    """{key: raw input} for every definition; blanks are None so an emptied field is cleared."""
    raw = {}
    data = getattr(form, "cleaned_data", {})
    for definition in definitions:
        value = data.get(form_field_name(definition.key))
        if isinstance(value, str) and not value.strip():
            value = None
        if value == []:
            value = None
        raw[definition.key] = value
    return raw


def add_custom_field_errors(form: forms.BaseForm, error: ValidationError) -> dict:
    """Put `custom_fields.<key>` errors on their `cf_<key>` field; return the errors left over."""
    rest: dict[str, list[str]] = {}
    messages = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    for key, items in messages.items():
        name = form_field_name(key[len(ERROR_PREFIX) :]) if key.startswith(ERROR_PREFIX) else ""
        if name and name in form.fields:
            for message in items:
                form.add_error(name, message)
        else:
            rest.setdefault(key, []).extend(items)
    return rest


def clean_custom_fields(form: forms.BaseForm, definitions) -> dict | None:
    """Validate the form's custom-field inputs with clean_values; errors go beside the fields.

    Returns the cleaned values, or None when any is invalid. Uniqueness needs the database and
    is checked by the service that saves the record.
    """
    try:
        return clean_values(definitions, raw_custom_values(form, definitions))
    except ValidationError as exc:
        for key, items in add_custom_field_errors(form, exc).items():
            for message in items:
                form.add_error(None, f"{key}: {message}")
        return None


def custom_field_names(form: forms.BaseForm) -> list[str]:
    return [name for name in form.fields if name.startswith(FIELD_PREFIX)]
