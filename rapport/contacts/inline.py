"""Inline edit of one field on the contact and organization 360° pages.

Each field of the details panel (and each custom field) shows its value with an "Edit" button
for those who may change the record. The button fetches a one-field form (HTMX GET), Save posts
it here, and the view calls the same service as the full form with only that field: the value
comes back in place, or the form with the service's message beside the field (422). Cancel
(or Escape, `js/inline-edit.js`) fetches the value again without saving.

Reads go through `visible_to(request.user)` (404 outside the scope); writes are refused with
403 by `access.require` before the form is shown or saved, and again by the service.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.contacts import services
from rapport.contacts.choices import ContactSource, LabelKind, OrganizationSize
from rapport.contacts.forms import owner_choices
from rapport.contacts.identity import display_phone
from rapport.contacts.models import Contact, Organization
from rapport.core import display
from rapport.core.htmx import is_htmx
from rapport.customfields.forms import (
    FIELD_PREFIX,
    add_custom_field_errors,
    add_custom_fields,
    form_field_name,
    raw_custom_values,
)
from rapport.customfields.services import definitions_for

TEXT = "text"
TEXTAREA = "textarea"
EMAILS = "emails"
PHONES = "phones"
PHONE = "phone"
COUNTRY = "country"
CHOICE = "choice"
OWNER = "owner"
WEBSITE = "website"
CUSTOM = "custom"


@dataclass(frozen=True)
class Spec:
    """One editable field: its name in the URL and the form, its label and how it is shown."""

    name: str
    label: str
    kind: str = TEXT
    choices: tuple = ()
    # Service error keys that belong beside this field (besides `name` itself).
    error_prefix: str = ""


# The owner and postal address both kinds of record have, in this order.
OWNER_AND_ADDRESS = [
    Spec("owner", "Owner", OWNER),
    Spec("street", "Street"),
    Spec("postcode", "Postcode"),
    Spec("city", "City"),
    Spec("region", "Region"),
    Spec("country", "Country", COUNTRY),
]
CONTACT_SPECS = [
    Spec("email", "Email", EMAILS, error_prefix="emails"),
    Spec("phone", "Phone", PHONES, error_prefix="phones"),
    Spec("job_title", "Job title"),
    *OWNER_AND_ADDRESS,
    Spec("source", "Source", CHOICE, choices=tuple(ContactSource.choices)),
    Spec("source_detail", "Source detail"),
    Spec("about", "About", TEXTAREA),
]
ORGANIZATION_SPECS = [
    Spec("domain", "Domain"),
    Spec("website", "Website", WEBSITE),
    Spec("industry", "Industry"),
    Spec("size", "Size", CHOICE, choices=(("", "—"), *OrganizationSize.choices)),
    Spec("phone", "Phone", PHONE),
    *OWNER_AND_ADDRESS,
    Spec("description", "Description", TEXTAREA),
]
SPECS = {"contact": CONTACT_SPECS, "organization": ORGANIZATION_SPECS}
MODELS = {"contact": Contact, "organization": Organization}


def _entity_of(record) -> str:
    return "contact" if isinstance(record, Contact) else "organization"


def may_edit(user, record) -> bool:
    """Whether `user` sees Edit buttons on `record` (the same rule as the page's Edit button)."""
    return access.can(user, Action.CHANGE, record) and not record.is_archived


# -- the value as shown ---------------------------------------------------------------------
def _spec(entity: str, name: str):
    """(spec, custom-field definition or None) for `name`, or 404."""
    if name.startswith(FIELD_PREFIX):
        key = name[len(FIELD_PREFIX) :]
        definition = next((d for d in definitions_for(entity) if d.key == key), None)
        if definition is None:
            raise Http404("No such field.")
        return Spec(name, definition.label, CUSTOM), definition
    spec = next((s for s in SPECS[entity] if s.name == name), None)
    if spec is None:
        raise Http404("No such field.")
    return spec, None


def _display(spec: Spec, record, definition=None):
    if spec.kind == EMAILS:
        return list(record.emails.all())
    if spec.kind == PHONES:
        return [(phone, display.phone_text(phone.number)) for phone in record.phones.all()]
    if spec.kind == PHONE:
        return display.phone_text(record.phone)
    if spec.kind == OWNER:
        return record.owner
    if spec.kind == CHOICE:
        return getattr(record, f"get_{spec.name}_display")()
    if spec.kind == CUSTOM:
        return (record.custom_fields or {}).get(definition.key)
    return getattr(record, spec.name)


def _urls(entity: str, record, name: str) -> dict:
    args = [record.pk, name]
    return {
        "value_url": reverse(f"contacts:{entity}_field", args=args),
        "edit_url": reverse(f"contacts:{entity}_field_edit", args=args),
    }


def field_context(
    record, spec: Spec, *, editable: bool, definition=None, form=None, focus=False
) -> dict:
    """What `contacts/inline/_field.html` needs for one field, shown or being edited."""
    entity = _entity_of(record)
    context = {
        "name": spec.name,
        "label": spec.label,
        "kind": spec.kind,
        "type": definition.field_type if definition is not None else "",
        "value": _display(spec, record, definition),
        "editable": editable,
        "form": form,
        "focus": focus,
        "dom_id": f"field-{spec.name}",
        "raw": record.phone if spec.kind == PHONE else "",
        **_urls(entity, record, spec.name),
    }
    if form is not None:
        context["bound"] = form[spec.name]
        # Only the primary email or phone is edited here; say so when there are others.
        context["multiple"] = spec.kind in (EMAILS, PHONES) and len(context["value"]) > 1
    return context


def detail_fields(request, record) -> list[dict]:
    """The details panel's rows, each with its Edit button when the user may change the record."""
    editable = may_edit(request.user, record)
    fields = [field_context(record, spec, editable=editable) for spec in SPECS[_entity_of(record)]]
    if editable:
        return fields
    # Those who cannot fill a field in are not shown its emptiness (emails and phones excepted).
    return [f for f in fields if f["value"] or f["kind"] in (EMAILS, PHONES)]


def custom_fields(request, record) -> list[dict]:
    """Every active custom field with its value (editable), then values whose definition is gone."""
    entity = _entity_of(record)
    editable = may_edit(request.user, record)
    values = record.custom_fields or {}
    rows = []
    seen = set()
    for definition in definitions_for(entity):
        seen.add(definition.key)
        spec = Spec(form_field_name(definition.key), definition.label, CUSTOM)
        rows.append(field_context(record, spec, editable=editable, definition=definition))
    for key, value in sorted(values.items()):
        if key not in seen:
            rows.append(
                {
                    "label": key,
                    "value": value,
                    "kind": CUSTOM,
                    "type": "retired",
                    "editable": False,
                    "dom_id": f"field-retired-{key}",
                }
            )
    return rows


# -- the one-field form ---------------------------------------------------------------------
class OwnerField(forms.CharField):
    """A select of the people the user may give the record to; any id posted is looked up so
    the service (`access.owner_problem`) says why someone may not be given it."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        user = get_user_model().objects.filter(pk=value).first() if value.isdigit() else None
        if user is None:
            raise ValidationError("Choose someone from the list.")
        return user


def _form_field(spec: Spec, record, user) -> tuple[forms.Field, object]:
    """The form field for `spec` and its initial value."""
    if spec.kind in (EMAILS, PHONES):
        items = list(record.emails.all() if spec.kind == EMAILS else record.phones.all())
        primary = next((item for item in items if item.is_primary), items[0] if items else None)
        if spec.kind == EMAILS:
            widget = forms.EmailInput(attrs={"autocomplete": "off"})
            initial = primary.email if primary else ""
        else:
            widget = forms.TextInput(attrs={"type": "tel", "autocomplete": "off"})
            initial = display_phone(primary.number) if primary else ""
        return forms.CharField(required=False, max_length=254, widget=widget), initial
    if spec.kind == OWNER:
        people = owner_choices(record.owner_id, user=user)
        choices = [("", "— nobody —"), *[(str(person.pk), str(person)) for person in people]]
        field = OwnerField(required=False, widget=forms.Select(choices=choices))
        return field, str(record.owner_id or "")
    if spec.kind == CHOICE:
        return forms.ChoiceField(choices=spec.choices, required=False), getattr(record, spec.name)
    model_field = record._meta.get_field(spec.name)
    attrs = {}
    if model_field.max_length:
        attrs["maxlength"] = str(model_field.max_length)
    if spec.kind == TEXTAREA:
        widget = forms.Textarea(attrs={"rows": 3, **attrs})
    elif spec.kind == COUNTRY:
        widget = forms.TextInput(attrs={"size": "3", "autocomplete": "country", **attrs})
    elif spec.kind == WEBSITE:
        widget = forms.URLInput(attrs={"placeholder": "https://", **attrs})
    else:
        widget = forms.TextInput(attrs=attrs)
    # Lengths and formats are the service's to judge, so its message is the one shown.
    help_text = "Two-letter code, e.g. DE." if spec.kind == COUNTRY else ""
    field = forms.CharField(required=False, strip=False, widget=widget, help_text=help_text)
    return field, getattr(record, spec.name)


def build_form(spec: Spec, record, user, definition=None, data=None) -> forms.Form:
    form = forms.Form(data=data, auto_id="inline_%s")
    if definition is not None:
        add_custom_fields(form, [definition], record.custom_fields or {})
        form.fields[spec.name].label = spec.label
    else:
        field, initial = _form_field(spec, record, user)
        field.label = spec.label
        form.fields[spec.name] = field
        if initial not in (None, ""):
            form.initial[spec.name] = initial
    form.fields[spec.name].widget.attrs["data-autofocus"] = ""
    return form


def _replace_primary(items: list[dict], key: str, value: str) -> list[dict]:
    """The list with its primary item's `key` set to `value` (removed when blank; added as the
    primary when there was none). The others stay as they are."""
    primary = next((i for i, item in enumerate(items) if item["is_primary"]), 0 if items else None)
    value = value.strip()
    if primary is None:
        return [{key: value, "label": LabelKind.WORK, "is_primary": True}] if value else []
    if not value:
        rest = items[:primary] + items[primary + 1 :]
        if rest:
            rest[0] = {**rest[0], "is_primary": True}
        return rest
    items = list(items)
    items[primary] = {**items[primary], key: value}
    return items


def _changes(spec: Spec, form: forms.Form, record, definition=None) -> dict:
    """The service's keyword arguments for this one field."""
    value = form.cleaned_data.get(spec.name)
    if definition is not None:
        return {"custom_fields": raw_custom_values(form, [definition])}
    if spec.kind == EMAILS:
        items = [
            {"email": e.email, "label": e.label, "is_primary": e.is_primary}
            for e in record.emails.all()
        ]
        return {"emails": _replace_primary(items, "email", value or "")}
    if spec.kind == PHONES:
        items = [
            {"number": p.number, "label": p.label, "is_primary": p.is_primary}
            for p in record.phones.all()
        ]
        return {"phones": _replace_primary(items, "number", value or "")}
    return {spec.name: value if value is not None else ""}


def _add_errors(spec: Spec, form: forms.Form, error: ValidationError) -> None:
    """The service's messages beside the field; any about something else above the form."""
    for key, items in add_custom_field_errors(form, error).items():
        ours = key == spec.name or (
            spec.error_prefix and (key == spec.error_prefix or key.startswith(spec.error_prefix))
        )
        for message in items:
            if ours and spec.name in form.fields:
                form.add_error(spec.name, message)
            else:
                form.add_error(None, message)


# -- views ----------------------------------------------------------------------------------
def _record(request, entity: str, pk: int):
    queryset = MODELS[entity].objects.visible_to(request.user).select_related("owner")
    if entity == "contact":
        queryset = queryset.prefetch_related("emails", "phones")
    return queryset.filter(pk=pk).first()


def _header(request, entity: str, record) -> str:
    """The record's header, swapped out of band: the job title, owner and email show there too."""
    if entity == "contact":
        memberships = record.memberships.select_related("organization")
        context = {
            "contact": record,
            "primary_membership": next((m for m in memberships if m.is_primary), None),
            "oob": True,
        }
        return render_to_string("contacts/_contact_who.html", context, request=request)
    return render_to_string(
        "contacts/_organization_who.html", {"organization": record, "oob": True}, request=request
    )


def _render_field(request, context: dict, status: int = 200, header: str = "") -> HttpResponse:
    response = render(request, "contacts/inline/_field.html", {"field": context}, status=status)
    if header:
        response.content += header.encode()
    return response


def _field(request, entity: str, pk: int, name: str, *, edit: bool = False):
    record = _record(request, entity, pk)
    if record is None:
        raise Http404(f"No {entity} #{pk}.")
    spec, definition = _spec(entity, name)
    if request.method == "GET" and not edit:
        if not is_htmx(request):
            return redirect(record)
        context = field_context(
            record, spec, editable=may_edit(request.user, record), definition=definition, focus=True
        )
        return _render_field(request, context)
    access.require(request.user, Action.CHANGE, record)
    if request.method == "GET":
        if not is_htmx(request):
            return redirect(record)
        form = build_form(spec, record, request.user, definition)
        context = field_context(record, spec, editable=True, definition=definition, form=form)
        return _render_field(request, context)

    form = build_form(spec, record, request.user, definition, data=request.POST)
    if form.is_valid():
        try:
            update = (
                services.update_contact if entity == "contact" else services.update_organization
            )
            update(
                actor=request.user,
                **{entity: record},
                **_changes(spec, form, record, definition),
            )
        except ValidationError as exc:
            _add_errors(spec, form, exc)
    if form.errors:
        if not is_htmx(request):
            for items in form.errors.values():
                for message in items:
                    messages.error(request, f"{spec.label}: {message}")
            return redirect(record)
        context = field_context(record, spec, editable=True, definition=definition, form=form)
        return _render_field(request, context, status=422)

    saved = _record(request, entity, pk)
    if saved is None:
        # Given to an owner outside the user's access: the page cannot be shown any more.
        messages.info(request, f"{record} now belongs to an owner outside your access.")
        target = reverse(f"contacts:{entity}_list")
        if not is_htmx(request):
            return redirect(target)
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    if not is_htmx(request):
        return redirect(saved)
    context = field_context(
        saved, spec, editable=may_edit(request.user, saved), definition=definition, focus=True
    )
    return _render_field(request, context, header=_header(request, entity, saved))


# One pair of views for contacts and organizations: the URL names the `entity`.


@login_required
@require_http_methods(["GET", "POST"])
def field(request, entity: str, pk: int, name: str):
    return _field(request, entity, pk, name)


@login_required
@require_GET
def field_edit(request, entity: str, pk: int, name: str):
    return _field(request, entity, pk, name, edit=True)
