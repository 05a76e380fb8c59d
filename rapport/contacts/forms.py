"""Forms for contacts and organizations. They collect input and place errors beside fields;
the services decide what is stored (and their ValidationError keys are mapped back here)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse

from rapport.accounts import access
from rapport.accounts.choices import Domain
from rapport.contacts.choices import (
    ConsentChannel,
    ConsentStatus,
    ContactSource,
    LabelKind,
    LawfulBasis,
    LifecycleStage,
    OrganizationSize,
    RelationshipKind,
)
from rapport.contacts.identity import normalize_email, normalize_phone
from rapport.contacts.models import Organization
from rapport.contacts.services import MAX_EMAILS, MAX_PHONES
from rapport.customfields.forms import (
    add_custom_field_errors,
    add_custom_fields,
    clean_custom_fields,
    custom_field_names,
    raw_custom_values,
)

# "emails[2].email" → ("emails", 2, "email")
_ROW_ERROR = re.compile(r"^(emails|phones)\[(\d+)\](?:\.(\w+))?$")
_ROW_KEY = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


def lookup_attrs() -> dict:
    """HTMX attributes that fill the organization inputs' datalist as the user types."""
    return {
        "hx-get": reverse("contacts:organization_lookup"),
        "hx-trigger": "input changed delay:250ms",
        "hx-target": "#organization-options",
        "hx-swap": "innerHTML",
        "hx-sync": "this:replace",
    }


def owner_choices(current_owner_id=None, user=None):
    """Who may be picked as owner, plus the record's current owner (even if deactivated), so
    re-saving a record does not silently take it away from them.

    Given the `user` who picks, only the people they may give a record to
    (`access.assignable_users`: active, not read-only, within their reach); without one (the
    list's owner filter) every active user.
    """
    users = get_user_model().objects.all()
    if user is not None:
        allowed = access.assignable_users(user, Domain.CONTACTS).values("pk")
        visible = Q(pk__in=allowed)
    else:
        visible = Q(is_active=True)
    if current_owner_id is not None:
        visible |= Q(pk=current_owner_id)
    return users.filter(visible).order_by("first_name", "last_name")


def split_tags(text: str) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def join_tags(tags) -> str:
    return ", ".join(tag.name for tag in tags)


def resolve_organization(user, name: str) -> tuple[Organization | None, str]:
    """The active organization `user` may see whose name is `name` (case-insensitive).

    Returns (organization, "") or (None, why not). Names are not unique, so a clash is an error
    rather than a guess.
    """
    name = " ".join((name or "").split())
    if not name:
        return None, ""
    matches = list(
        Organization.objects.visible_to(user).active().filter(name__iexact=name).order_by("pk")[:2]
    )
    if not matches:
        return None, f"No organization called “{name}” in your records. Create it first."
    if len(matches) > 1:
        exact = [org for org in matches if org.name == name]
        if len(exact) == 1:
            return exact[0], ""
        return None, (
            f"Several organizations are called “{name}”. Add the contact from the right "
            "organization's page instead."
        )
    return matches[0], ""


@dataclass
class ContactRow:
    """One email or phone row of the contact form, with its own error."""

    key: str
    value: str = ""
    label: str = LabelKind.WORK
    is_primary: bool = False
    errors: list[str] = field(default_factory=list)


def new_row_key() -> str:
    return secrets.token_hex(4)


class ContactForm(forms.Form):
    """A contact's profile. Emails and phones are repeated rows read straight from the POST."""

    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    job_title = forms.CharField(max_length=150, required=False)
    organization_name = forms.CharField(
        max_length=200,
        required=False,
        label="Organization",
        widget=forms.TextInput(attrs={"list": "organization-options", "autocomplete": "off"}),
    )
    organization_role = forms.CharField(max_length=150, required=False, label="Role")
    lifecycle_stage = forms.ChoiceField(
        choices=LifecycleStage.choices, initial=LifecycleStage.LEAD, label="Lifecycle stage"
    )
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="— nobody —")
    tags = forms.CharField(
        max_length=2000,
        required=False,
        help_text="Separate tags with commas.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    source = forms.ChoiceField(choices=ContactSource.choices, initial=ContactSource.MANUAL)
    source_detail = forms.CharField(max_length=200, required=False, label="Source detail")
    street = forms.CharField(max_length=200, required=False)
    city = forms.CharField(max_length=100, required=False)
    postcode = forms.CharField(max_length=20, required=False)
    region = forms.CharField(max_length=100, required=False)
    country = forms.CharField(
        max_length=2,
        required=False,
        help_text="Two-letter code, e.g. DE.",
        widget=forms.TextInput(attrs={"size": "3", "autocomplete": "country"}),
    )
    about = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    save_anyway = forms.BooleanField(required=False, widget=forms.HiddenInput)

    SCALAR_FIELDS = [
        "first_name",
        "last_name",
        "job_title",
        "street",
        "city",
        "postcode",
        "region",
        "country",
        "source",
        "source_detail",
        "about",
    ]

    def __init__(self, *args, user, definitions, contact=None, **kwargs):
        self.user = user
        self.definitions = definitions
        self.contact = contact
        initial = kwargs.pop("initial", None) or {}
        if contact is not None:
            initial = {**self.initial_from(contact), **initial}
        else:
            initial.setdefault("owner", user.pk)
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["owner"].queryset = owner_choices(
            contact.owner_id if contact else None, user=user
        )
        self.fields["organization_name"].widget.attrs.update(lookup_attrs())
        for channel, label in ConsentChannel.choices:
            self.fields[f"consent_{channel}_status"] = forms.ChoiceField(
                choices=ConsentStatus.choices,
                initial=ConsentStatus.UNKNOWN,
                label=f"{label} consent",
            )
            self.fields[f"consent_{channel}_basis"] = forms.ChoiceField(
                choices=[("", "—"), *LawfulBasis.choices],
                required=False,
                label=f"{label} lawful basis",
            )
        add_custom_fields(self, definitions, contact.custom_fields if contact else None)
        self.email_rows = self._rows("email")
        self.phone_rows = self._rows("phone")
        self.organization = None
        self.warnings: list[dict] = []

    # -- initial values -------------------------------------------------------------------
    @staticmethod
    def initial_from(contact) -> dict:
        initial = {name: getattr(contact, name) for name in ContactForm.SCALAR_FIELDS}
        membership = next((m for m in contact.memberships.all() if m.is_primary), None)
        if membership is not None:
            initial["organization_name"] = membership.organization.name
            initial["organization_role"] = membership.role
        initial["lifecycle_stage"] = contact.lifecycle_stage
        initial["owner"] = contact.owner_id
        initial["tags"] = join_tags(contact.tags.all())
        for consent in contact.consents.all():
            initial[f"consent_{consent.channel}_status"] = consent.status
            initial[f"consent_{consent.channel}_basis"] = consent.lawful_basis
        return initial

    def _rows(self, kind: str) -> list[ContactRow]:
        if self.is_bound:
            return self._rows_from_post(kind)
        rows = []
        if self.contact is not None:
            items = self.contact.emails.all() if kind == "email" else self.contact.phones.all()
            for item in items:
                value = item.email if kind == "email" else item.number
                rows.append(
                    ContactRow(
                        key=new_row_key(), value=value, label=item.label, is_primary=item.is_primary
                    )
                )
        if not rows:
            rows.append(ContactRow(key=new_row_key(), is_primary=True))
        return rows

    def _rows_from_post(self, kind: str) -> list[ContactRow]:
        keys = self.data.getlist(f"{kind}_key")
        values = self.data.getlist(kind)
        labels = self.data.getlist(f"{kind}_label")
        primary = self.data.get(f"{kind}_primary", "")
        rows = []
        for index, key in enumerate(keys[:50]):
            key = key if _ROW_KEY.match(key or "") else new_row_key()
            rows.append(
                ContactRow(
                    key=key,
                    value=(values[index] if index < len(values) else "").strip(),
                    label=labels[index] if index < len(labels) else LabelKind.WORK,
                    is_primary=key == primary,
                )
            )
        if not rows:
            rows.append(ContactRow(key=new_row_key(), is_primary=True))
        return rows

    @property
    def label_choices(self):
        return LabelKind.choices

    @property
    def consent_rows(self):
        """(channel label, status field, basis field) for the consent table."""
        return [
            (label, self[f"consent_{channel}_status"], self[f"consent_{channel}_basis"])
            for channel, label in ConsentChannel.choices
        ]

    @property
    def custom_fields(self):
        return [self[name] for name in custom_field_names(self)]

    # -- validation -----------------------------------------------------------------------
    def _clean_rows(self, rows: list[ContactRow], kind: str, limit: int) -> None:
        filled = [row for row in rows if row.value]
        if len(filled) > limit:
            self.add_error(None, f"At most {limit} {kind} entries.")
        for row in filled:
            if row.label not in LabelKind.values:
                row.errors.append(f"Choose one of: {', '.join(LabelKind.values)}.")
                continue
            try:
                if kind == "email":
                    row.value = normalize_email(row.value)
                else:
                    country = (self.cleaned_data.get("country") or "").upper() or None
                    row.value = normalize_phone(row.value, country)
            except ValidationError as exc:
                row.errors.extend(exc.messages)

    def clean(self):
        cleaned = super().clean()
        self._clean_rows(self.email_rows, "email", MAX_EMAILS)
        self._clean_rows(self.phone_rows, "phone", MAX_PHONES)
        if any(row.errors for row in [*self.email_rows, *self.phone_rows]):
            # Row errors live on the rows; this only makes the form invalid.
            self.add_error(None, "Check the email addresses and phone numbers.")
        organization, problem = resolve_organization(
            self.user, cleaned.get("organization_name", "")
        )
        if problem:
            self.add_error("organization_name", problem)
        self.organization = organization
        for channel, _label in ConsentChannel.choices:
            status = cleaned.get(f"consent_{channel}_status")
            basis = cleaned.get(f"consent_{channel}_basis")
            if status == ConsentStatus.GRANTED and not basis:
                self.add_error(f"consent_{channel}_basis", "Give the lawful basis for processing.")
        clean_custom_fields(self, self.definitions)
        return cleaned

    # -- what the services receive --------------------------------------------------------
    def _row_payload(self, rows: list[ContactRow], kind: str) -> tuple[list[dict], list[int]]:
        """The filled rows as service input, and for each its row index (to map errors back)."""
        payload, positions = [], []
        value_key = "email" if kind == "email" else "number"
        for index, row in enumerate(rows):
            if row.value:
                payload.append(
                    {value_key: row.value, "label": row.label, "is_primary": row.is_primary}
                )
                positions.append(index)
        self._positions = getattr(self, "_positions", {})
        self._positions[kind] = positions
        return payload, positions

    def contact_fields(self) -> dict:
        """Keyword arguments shared by create_contact and update_contact."""
        data = self.cleaned_data
        emails, _ = self._row_payload(self.email_rows, "email")
        phones, _ = self._row_payload(self.phone_rows, "phone")
        fields = {name: data.get(name, "") for name in self.SCALAR_FIELDS}
        fields.update(
            emails=emails,
            phones=phones,
            lifecycle_stage=data["lifecycle_stage"],
            owner=data.get("owner"),
            tags=split_tags(data.get("tags", "")),
            custom_fields=raw_custom_values(self, self.definitions),
        )
        return fields

    def consent_changes(self) -> list[dict]:
        """The channels whose consent differs from what is stored (or, for a new contact, from
        "not asked")."""
        changes = []
        for channel, _label in ConsentChannel.choices:
            status = self.cleaned_data.get(f"consent_{channel}_status") or ConsentStatus.UNKNOWN
            basis = self.cleaned_data.get(f"consent_{channel}_basis") or ""
            before_status = self.initial.get(f"consent_{channel}_status", ConsentStatus.UNKNOWN)
            before_basis = self.initial.get(f"consent_{channel}_basis", "") or ""
            if (status, basis) != (before_status, before_basis):
                changes.append({"channel": channel, "status": status, "lawful_basis": basis})
        return changes

    def check_data(self) -> dict:
        """What `core.registry.contact_checks` look at before a new contact is saved."""
        data = self.cleaned_data
        return {
            "first_name": data.get("first_name", ""),
            "last_name": data.get("last_name", ""),
            "emails": [row.value for row in self.email_rows if row.value],
            "phones": [row.value for row in self.phone_rows if row.value],
            "organization": self.organization.name if self.organization else "",
        }

    def add_service_errors(self, error: ValidationError) -> None:
        """Place a service's ValidationError beside the inputs it names."""
        rest = add_custom_field_errors(self, error)
        positions = getattr(self, "_positions", {})
        for key, messages in rest.items():
            match = _ROW_ERROR.match(key)
            if match:
                kind = "email" if match.group(1) == "emails" else "phone"
                rows = self.email_rows if kind == "email" else self.phone_rows
                index = int(match.group(2))
                mapped = positions.get(kind, [])
                if index < len(mapped):
                    rows[mapped[index]].errors.extend(messages)
                    self.add_error(None, "Check the email addresses and phone numbers.")
                    continue
            target = {"organization": "organization_name", "role": "organization_role"}.get(
                key, key
            )
            if target.startswith("consent."):
                target = f"consent_{target.split('.', 1)[1]}_status"
            for message in messages:
                if target in self.fields:
                    self.add_error(target, message)
                else:
                    self.add_error(None, message if key == "__all__" else f"{key}: {message}")


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200)
    domain = forms.CharField(
        max_length=253, required=False, help_text="e.g. example.com", label="Domain"
    )
    website = forms.CharField(
        max_length=500, required=False, widget=forms.URLInput(attrs={"placeholder": "https://"})
    )
    industry = forms.CharField(max_length=100, required=False)
    size = forms.ChoiceField(choices=[("", "—"), *OrganizationSize.choices], required=False)
    phone = forms.CharField(max_length=40, required=False)
    street = forms.CharField(max_length=200, required=False)
    city = forms.CharField(max_length=100, required=False)
    postcode = forms.CharField(max_length=20, required=False)
    region = forms.CharField(max_length=100, required=False)
    country = forms.CharField(
        max_length=2,
        required=False,
        help_text="Two-letter code, e.g. DE.",
        widget=forms.TextInput(attrs={"size": "3"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="— nobody —")
    tags = forms.CharField(max_length=2000, required=False, help_text="Separate tags with commas.")

    SCALAR_FIELDS = [
        "name",
        "domain",
        "website",
        "industry",
        "size",
        "phone",
        "street",
        "city",
        "postcode",
        "region",
        "country",
        "description",
    ]

    def __init__(self, *args, user, definitions, organization=None, **kwargs):
        self.user = user
        self.definitions = definitions
        self.organization = organization
        initial = kwargs.pop("initial", None) or {}
        if organization is not None:
            initial = {
                **{name: getattr(organization, name) for name in self.SCALAR_FIELDS},
                "owner": organization.owner_id,
                "tags": join_tags(organization.tags.all()),
                **initial,
            }
        else:
            initial.setdefault("owner", user.pk)
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["owner"].queryset = owner_choices(
            organization.owner_id if organization else None, user=user
        )
        add_custom_fields(self, definitions, organization.custom_fields if organization else None)

    @property
    def custom_fields(self):
        return [self[name] for name in custom_field_names(self)]

    def clean(self):
        cleaned = super().clean()
        clean_custom_fields(self, self.definitions)
        return cleaned

    def organization_fields(self) -> dict:
        data = self.cleaned_data
        fields = {name: data.get(name, "") for name in self.SCALAR_FIELDS}
        fields.update(
            owner=data.get("owner"),
            tags=split_tags(data.get("tags", "")),
            custom_fields=raw_custom_values(self, self.definitions),
        )
        return fields

    def add_service_errors(self, error: ValidationError) -> None:
        for key, messages in add_custom_field_errors(self, error).items():
            for message in messages:
                if key in self.fields:
                    self.add_error(key, message)
                else:
                    self.add_error(None, message if key == "__all__" else f"{key}: {message}")


class RelationshipForm(forms.Form):
    """Tie this organization to another: "<this> is the <kind> <other>"."""

    kind = forms.ChoiceField(choices=RelationshipKind.choices, label="Relationship")
    other_name = forms.CharField(
        max_length=200,
        label="Organization",
        widget=forms.TextInput(attrs={"list": "organization-options", "autocomplete": "off"}),
    )
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, user, organization, **kwargs):
        self.user = user
        self.organization = organization
        self.other = None
        super().__init__(*args, **kwargs)
        self.fields["other_name"].widget.attrs.update(lookup_attrs())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("other_name"):
            other, problem = resolve_organization(self.user, cleaned["other_name"])
            if problem:
                self.add_error("other_name", problem)
            elif other is not None and other.pk == self.organization.pk:
                self.add_error("other_name", "An organization cannot be related to itself.")
            self.other = other
        return cleaned


class MembershipForm(forms.Form):
    """Add a contact to an organization (from the contact's 360 page)."""

    organization_name = forms.CharField(
        max_length=200,
        label="Organization",
        widget=forms.TextInput(attrs={"list": "organization-options", "autocomplete": "off"}),
    )
    role = forms.CharField(max_length=150, required=False)
    is_primary = forms.BooleanField(required=False, label="Primary organization")

    def __init__(self, *args, user, **kwargs):
        self.user = user
        self.organization = None
        super().__init__(*args, **kwargs)
        self.fields["organization_name"].widget.attrs.update(lookup_attrs())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("organization_name"):
            organization, problem = resolve_organization(self.user, cleaned["organization_name"])
            if problem:
                self.add_error("organization_name", problem)
            self.organization = organization
        return cleaned


class LifecycleForm(forms.Form):
    stage = forms.ChoiceField(choices=LifecycleStage.choices, label="Lifecycle stage")
    reason = forms.CharField(max_length=200, required=False)
