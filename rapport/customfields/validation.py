"""Validate custom-field values against their definitions: the one rule for UI, API and import.

Values are stored as JSON: text as str, number as int, decimal as a string with the exact digits,
date as "YYYY-MM-DD", boolean as bool, choice as str, multi-choice as a list of str.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from rapport.customfields.choices import FieldType

TEXT_LIMIT = 255
LONG_TEXT_LIMIT = 10_000
# Whole numbers and decimals stay below 10^15: exact in a JavaScript number and in every
# database's JSON, and far from Python's limit on converting huge integers to text.
NUMBER_LIMIT = decimal.Decimal(10) ** 15

_email = EmailValidator()
_url = URLValidator(schemes=["http", "https"])
# Control characters have no place in a field value, and PostgreSQL's jsonb refuses NUL
# outright; tabs and line breaks stay allowed.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# "1,234,567.89": commas only as thousands separators. "1,5" is refused rather than read as 15.
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _is_blank(value) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _parse_number(value, message: str) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
        raise ValidationError(message)
    text = str(value).strip()
    if "," in text:
        if not _GROUPED.match(text):
            raise ValidationError(message + " Use a point for decimals, e.g. 1234.50.")
        text = text.replace(",", "")
    if len(text) > 60:
        raise ValidationError(message)
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation as exc:
        raise ValidationError(message) from exc
    if not number.is_finite():
        raise ValidationError(message)
    if abs(number) >= NUMBER_LIMIT:
        raise ValidationError("Enter a number smaller than 10^15.")
    return number


def clean_value(definition, value):
    """Coerce one raw value (from a form, JSON or a CSV cell) or raise ValidationError."""
    kind = definition.field_type
    if _is_blank(value):
        return None
    if kind in {FieldType.TEXT, FieldType.LONG_TEXT}:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError("Enter text.")
        text = str(value).strip()
        if CONTROL_CHARACTERS.search(text):
            raise ValidationError("Remove the invisible control characters from the text.")
        limit = definition.max_length or (TEXT_LIMIT if kind == FieldType.TEXT else LONG_TEXT_LIMIT)
        if len(text) > limit:
            raise ValidationError(f"Use at most {limit} characters (it has {len(text)}).")
        return text or None
    if kind == FieldType.NUMBER:
        number = _parse_number(value, "Enter a whole number.")
        if number != number.to_integral_value():
            raise ValidationError("Enter a whole number.")
        _check_range(definition, number)
        return int(number)
    if kind == FieldType.DECIMAL:
        number = _parse_number(value, "Enter a number.")
        _check_range(definition, number)
        rounded = number.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_EVEN)
        # -0.004 rounds to -0.00; store it as the zero it is.
        return str(rounded if rounded else abs(rounded))
    if kind == FieldType.DATE:
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError as exc:
            raise ValidationError("Enter a date as YYYY-MM-DD.") from exc
    if kind == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "yes", "1", "on", "y"}:
            return True
        if text in {"false", "no", "0", "off", "n"}:
            return False
        raise ValidationError("Enter yes or no.")
    if kind == FieldType.CHOICE:
        options = {str(option).casefold(): option for option in definition.choices}
        chosen = options.get(str(value).strip().casefold())
        if chosen is None:
            raise ValidationError(f"Choose one of: {', '.join(map(str, definition.choices))}.")
        return chosen
    if kind == FieldType.MULTI_CHOICE:
        items = value if isinstance(value, list) else [v for v in str(value).split(";")]
        options = {str(option).casefold(): option for option in definition.choices}
        cleaned = []
        for item in items:
            if _is_blank(item) or (isinstance(item, str) and not item.strip()):
                continue
            chosen = options.get(str(item).strip().casefold())
            if chosen is None:
                raise ValidationError(
                    f"{str(item)[:50]!r} is not a choice; use: {', '.join(map(str, definition.choices))}."
                )
            if chosen not in cleaned:
                cleaned.append(chosen)
        return cleaned or None
    if kind == FieldType.URL:
        text = str(value).strip()
        if len(text) > 2000:
            raise ValidationError("Use at most 2000 characters.")
        if CONTROL_CHARACTERS.search(text):
            raise ValidationError("Enter a valid URL.")
        _url(text)
        return text
    if kind == FieldType.EMAIL:
        text = str(value).strip().lower()
        _email(text)
        return text
    raise ValidationError(f"Unknown field type {kind!r}.")


def plain_number(number: decimal.Decimal) -> str:
    """100 as "100" and 2.500000 as "2.5" (never "1E+2")."""
    return format(number.normalize(), "f")


def _check_range(definition, number: decimal.Decimal) -> None:
    if definition.min_value is not None and number < definition.min_value:
        raise ValidationError(f"Must be at least {plain_number(definition.min_value)}.")
    if definition.max_value is not None and number > definition.max_value:
        raise ValidationError(f"Must be at most {plain_number(definition.max_value)}.")


def clean_values(
    definitions, raw: dict | None, *, existing: dict | None = None, partial: bool = False
) -> dict:
    """Validate a whole custom-field dict. Errors are keyed `custom_fields.<key>`.

    Unknown keys are refused. With `partial`, keys not given keep their existing value; otherwise
    missing keys take the definition's default. Uniqueness is checked by the caller (it needs
    the database).
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValidationError({"custom_fields": ["Must be an object of field keys to values."]})
    by_key = {d.key: d for d in definitions if d.is_active}
    errors: dict[str, list[str]] = {}
    for key in raw:
        if key not in by_key:
            errors[f"custom_fields.{key}"] = ["Unknown custom field."]
    result = dict(existing or {}) if partial else {}
    for key, definition in by_key.items():
        if key in raw:
            try:
                cleaned = clean_value(definition, raw[key])
            except ValidationError as exc:
                errors[f"custom_fields.{key}"] = exc.messages
                continue
        elif partial:
            cleaned = result.get(key)
        elif existing and key in existing:
            cleaned = existing[key]
        else:
            cleaned = (
                clean_value(definition, definition.default)
                if definition.default is not None
                else None
            )
        if cleaned is None:
            if definition.is_required:
                errors[f"custom_fields.{key}"] = ["This field is required."]
            result.pop(key, None)
        else:
            result[key] = cleaned
    if errors:
        raise ValidationError(errors)
    return result
