"""Custom-field definitions in the web UI: list per entity, add, edit, deactivate. Administrators only.

The form turns text inputs into Python values (one choice per line, a default typed as a user
would type a value); `customfields.services` decides what is valid and its errors land beside
the fields.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.accounts.forms import add_service_errors
from rapport.accounts.views_admin import administrator_required, audit_url
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.models import CustomFieldDefinition
from rapport.customfields.services import create_definition, update_definition
from rapport.customfields.validation import plain_number

INVALID = 422


class DefinitionForm(forms.Form):
    """A definition's settings. On edit, entity, key and type are fixed and not in the form."""

    entity = forms.ChoiceField(choices=Entity.choices, label="Record")
    key = forms.CharField(
        max_length=50,
        help_text="Lowercase letters, digits and underscores, e.g. “region”. Used by the API "
        "and imports; it cannot change later.",
    )
    field_type = forms.ChoiceField(
        choices=FieldType.choices, label="Type", help_text="It cannot change later."
    )
    label = forms.CharField(max_length=100)
    help_text = forms.CharField(max_length=300, required=False, label="Help text")
    is_required = forms.BooleanField(required=False, label="Required")
    is_unique = forms.BooleanField(
        required=False, label="Unique", help_text="No two records may share a value."
    )
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="For choice fields: one choice per line.",
    )
    default = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Filled in for new records. Yes/no: “yes” or “no”; dates: YYYY-MM-DD; "
        "several choices: separated by “;”.",
    )
    min_value = forms.DecimalField(
        required=False, max_digits=20, decimal_places=6, label="Minimum", help_text="Numbers only."
    )
    max_value = forms.DecimalField(
        required=False, max_digits=20, decimal_places=6, label="Maximum", help_text="Numbers only."
    )
    max_length = forms.IntegerField(
        required=False, min_value=1, label="Maximum length", help_text="Text only."
    )
    position = forms.IntegerField(
        min_value=0, max_value=100_000, initial=100, help_text="Lower numbers come first."
    )

    FIXED = ("entity", "key", "field_type")

    def __init__(self, *args, instance: CustomFieldDefinition | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault("initial", self.initial_from(instance))
        super().__init__(*args, **kwargs)
        if instance is not None:
            for name in self.FIXED:
                del self.fields[name]

    @staticmethod
    def initial_from(definition: CustomFieldDefinition) -> dict:
        default = definition.default
        if isinstance(default, bool):
            default = "yes" if default else "no"
        elif isinstance(default, list):
            default = "; ".join(map(str, default))
        return {
            "label": definition.label,
            "help_text": definition.help_text,
            "is_required": definition.is_required,
            "is_unique": definition.is_unique,
            "choices": "\n".join(map(str, definition.choices or [])),
            "default": "" if default is None else default,
            "min_value": None
            if definition.min_value is None
            else plain_number(definition.min_value),
            "max_value": None
            if definition.max_value is None
            else plain_number(definition.max_value),
            "max_length": definition.max_length,
            "position": definition.position,
        }

    def options(self) -> dict:
        """The cleaned settings as the service takes them (without entity, key and type)."""
        data = self.cleaned_data
        lines = [line.strip() for line in (data["choices"] or "").splitlines()]
        return {
            "label": data["label"],
            "help_text": data["help_text"],
            "is_required": data["is_required"],
            "is_unique": data["is_unique"],
            "choices": [line for line in lines if line],
            "default": data["default"].strip() or None,
            "min_value": data["min_value"],
            "max_value": data["max_value"],
            "max_length": data["max_length"],
            "position": data["position"],
        }


def _entity_from(request) -> str:
    entity = request.GET.get("entity", Entity.CONTACT)
    return entity if entity in Entity.values else Entity.CONTACT


@administrator_required
def definition_list(request):
    """The custom fields of one entity (contact, organization or deal), active and not."""
    entity = _entity_from(request)
    definitions = CustomFieldDefinition.objects.filter(entity=entity).order_by(
        "-is_active", "position", "label"
    )
    context = {"entity": entity, "entities": Entity.choices, "definitions": definitions}
    return render(request, "customfields/definition_list.html", context)


@administrator_required
def definition_create(request):
    form = DefinitionForm(request.POST or None, initial={"entity": _entity_from(request)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            definition = create_definition(
                actor=request.user,
                entity=data["entity"],
                key=data["key"],
                field_type=data["field_type"],
                **form.options(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"The field “{definition.label}” is added.")
            return redirect(f"{_list_url()}?entity={definition.entity}")
    status = INVALID if form.is_bound else 200
    context = {"form": form, "definition": None}
    return render(request, "customfields/definition_form.html", context, status=status)


@administrator_required
def definition_edit(request, pk: int):
    definition = get_object_or_404(CustomFieldDefinition, pk=pk)
    form = DefinitionForm(request.POST or None, instance=definition)
    if request.method == "POST" and form.is_valid():
        try:
            update_definition(actor=request.user, definition=definition, **form.options())
        except ValidationError as exc:
            add_service_errors(form, exc)
            definition.refresh_from_db()
        else:
            messages.success(request, f"The field “{definition.label}” is saved.")
            return redirect(f"{_list_url()}?entity={definition.entity}")
    context = {
        "form": form,
        "definition": definition,
        "history_url": audit_url("customfields.customfielddefinition", definition.pk),
    }
    status = INVALID if form.is_bound else 200
    return render(request, "customfields/definition_form.html", context, status=status)


@administrator_required
@require_POST
def definition_set_active(request, pk: int):
    """Deactivate (hide, keeping stored values) or reactivate a field."""
    definition = get_object_or_404(CustomFieldDefinition, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        update_definition(actor=request.user, definition=definition, is_active=active)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if active:
            messages.success(request, f"The field “{definition.label}” is back on forms.")
        else:
            messages.success(
                request,
                f"The field “{definition.label}” is hidden; values already stored are kept.",
            )
    return redirect(f"{_list_url()}?entity={definition.entity}")


def _list_url() -> str:
    return reverse("customfields:definition_list")
