"""Writes for custom-field definitions, and the uniqueness check values need."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.customfields.choices import FieldType
from rapport.customfields.models import CustomFieldDefinition
from rapport.customfields.validation import (
    CONTROL_CHARACTERS,
    LONG_TEXT_LIMIT,
    NUMBER_LIMIT,
    TEXT_LIMIT,
    clean_value,
)

EDITABLE = [
    "label",
    "help_text",
    "is_required",
    "is_unique",
    "default",
    "choices",
    "max_length",
    "min_value",
    "max_value",
    "position",
    "is_active",
]


def definitions_for(entity: str) -> list[CustomFieldDefinition]:
    """The active definitions of one entity, in form order."""
    return list(CustomFieldDefinition.objects.filter(entity=entity, is_active=True))


TEXT_TYPES = {FieldType.TEXT, FieldType.LONG_TEXT}
NUMBER_TYPES = {FieldType.NUMBER, FieldType.DECIMAL}
CHOICE_TYPES = {FieldType.CHOICE, FieldType.MULTI_CHOICE}
MAX_CHOICES = 200


def _require_admin(actor) -> None:
    # Duck-typed so this platform app needs nothing from `accounts`; `actor=None` is the
    # system itself (demo data, migrations of data).
    if actor is not None and not getattr(actor, "is_administrator", False):
        raise PermissionDenied("Only administrators may change custom fields.")


def _check_choices(definition: CustomFieldDefinition, errors: dict) -> None:
    choices = definition.choices
    if definition.field_type not in CHOICE_TYPES:
        if choices:
            errors["choices"] = ["Only choice fields have choices."]
        return
    if not isinstance(choices, list) or not choices:
        errors["choices"] = ["List at least one choice."]
    elif len(choices) > MAX_CHOICES:
        errors["choices"] = [f"Use at most {MAX_CHOICES} choices."]
    elif any(
        not isinstance(c, str) or not c.strip() or len(c) > 100 or CONTROL_CHARACTERS.search(c)
        for c in choices
    ):
        errors["choices"] = ["Each choice is non-empty text of at most 100 characters."]
    elif len({c.strip().casefold() for c in choices}) != len(choices):
        errors["choices"] = ["Choices must differ from each other."]
    elif definition.field_type == FieldType.MULTI_CHOICE and any(";" in c for c in choices):
        # Several choices arrive as "a; b" in imports, so a choice cannot contain ";".
        errors["choices"] = ["A choice of a multiple-choice field cannot contain “;”."]
    else:
        definition.choices = [c.strip() for c in choices]


def _check_limits(definition: CustomFieldDefinition, errors: dict) -> None:
    kind = definition.field_type
    if definition.max_length is not None:
        if kind not in TEXT_TYPES:
            errors["max_length"] = ["Only text fields have a maximum length."]
        else:
            ceiling = TEXT_LIMIT if kind == FieldType.TEXT else LONG_TEXT_LIMIT
            if not 1 <= definition.max_length <= ceiling:
                errors["max_length"] = [f"Choose a length from 1 to {ceiling}."]
    low, high = definition.min_value, definition.max_value
    if kind not in NUMBER_TYPES:
        for name in ("min_value", "max_value"):
            if getattr(definition, name) is not None:
                errors[name] = ["Only number fields have a minimum or maximum."]
        return
    for name, value in (("min_value", low), ("max_value", high)):
        if value is not None and name not in errors and abs(value) >= NUMBER_LIMIT:
            errors[name] = ["Use a limit smaller than 10^15."]
    if low is not None and high is not None and low > high and "min_value" not in errors:
        errors["min_value"] = ["The minimum is above the maximum."]


def _validate_definition(definition: CustomFieldDefinition) -> None:
    """Check a definition as a whole; every problem comes back at once, keyed by field."""
    errors: dict[str, list[str]] = {}
    definition.label = (definition.label or "").strip()
    definition.help_text = (definition.help_text or "").strip()
    try:
        definition.full_clean(exclude=["default", "choices"], validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "field_type" in errors:
        raise ValidationError(errors)
    _check_choices(definition, errors)
    if not {"min_value", "max_value", "max_length"} & set(errors):
        _check_limits(definition, errors)
    if definition.is_unique and definition.field_type in {
        FieldType.BOOLEAN,
        FieldType.MULTI_CHOICE,
        FieldType.LONG_TEXT,
    }:
        errors["is_unique"] = ["This type of field cannot be unique."]
    if definition.is_unique and definition.default is not None:
        errors["default"] = ["A unique field cannot have a default: every record would share it."]
    elif definition.default is not None and not errors:
        try:
            definition.default = clean_value(definition, definition.default)
        except ValidationError as exc:
            errors["default"] = exc.messages
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_definition(
    *, actor, entity: str, key: str, label: str, field_type: str, **options
) -> CustomFieldDefinition:
    """Add a custom field; values already stored for other keys are untouched.

    The key, entity and type are fixed from here on. Only administrators (or the system,
    `actor=None`) may add fields.
    """
    _require_admin(actor)
    unknown = set(options) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: ["Unknown option."] for name in sorted(unknown)})
    definition = CustomFieldDefinition(
        entity=entity, key=(key or "").strip(), label=label, field_type=field_type, **options
    )
    errors = {}
    try:
        _validate_definition(definition)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if (
        "key" not in errors
        and CustomFieldDefinition.objects.filter(entity=entity, key=definition.key).exists()
    ):
        errors["key"] = ["A field with this key already exists."]
    if errors:
        raise ValidationError(errors)
    definition.save()
    record_change(
        actor=actor, action=ChangeAction.CREATE, instance=definition, after=snapshot(definition)
    )
    return definition


@transaction.atomic
def update_definition(
    *, actor, definition: CustomFieldDefinition, **changes
) -> CustomFieldDefinition:
    """Change a definition. Its key, entity and type are fixed once values may exist.

    Deactivating (`is_active=False`) hides the field from forms, the API and validation;
    values already stored stay on the records and come back if it is reactivated.
    """
    _require_admin(actor)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: ["Cannot be changed."] for name in sorted(unknown)})
    before = snapshot(definition)
    for name, value in changes.items():
        setattr(definition, name, value)
    _validate_definition(definition)
    definition.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=definition,
        before=before,
        after=snapshot(definition),
    )
    return definition


def check_unique(*, queryset, definitions, values: dict, exclude_pk=None) -> None:
    """Raise if a unique custom field's value is already used by another record of `queryset`."""
    errors = {}
    for definition in definitions:
        if not definition.is_unique or values.get(definition.key) is None:
            continue
        clash = queryset.filter(**{f"custom_fields__{definition.key}": values[definition.key]})
        if exclude_pk is not None:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            errors[f"custom_fields.{definition.key}"] = ["Another record already has this value."]
    if errors:
        raise ValidationError(errors)
