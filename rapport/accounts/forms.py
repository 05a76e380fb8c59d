"""Forms for the administration pages and the user's own account page.

Forms only parse input into Python values; the rules (unique names, password strength, the last
administrator, valid scopes) live in `accounts.services`, whose errors `add_service_errors` puts
beside the fields they name.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from rapport.accounts.choices import Domain, Scope, TeamKind
from rapport.accounts.models import Role, Team, User
from rapport.accounts.services import time_zone_names
from rapport.core import display, formatting


def add_service_errors(
    form: forms.BaseForm, error: ValidationError, aliases: dict[str, str] | None = None
) -> None:
    """Show a service's ValidationError on the form: each message beside the field it names.

    `aliases` maps a service's field path to the form field (e.g. "scopes.sales" → "scope_sales");
    a message for a field the form does not have becomes a form-wide error that still names it.
    """
    aliases = aliases or {}
    if not hasattr(error, "error_dict"):
        for message in error.messages:
            form.add_error(None, message)
        return
    for key, messages in error.message_dict.items():
        name = aliases.get(key, key)
        for message in messages:
            if name in form.fields:
                form.add_error(name, message)
            elif name in {"__all__", None}:
                form.add_error(None, message)
            else:
                form.add_error(None, f"{key}: {message}")


def locale_choices() -> list[tuple[str, str]]:
    company = formatting.locale_name(display.installation_locale())
    offered = sorted(
        ((code, formatting.locale_name(code)) for code in formatting.READER_LOCALES),
        key=lambda choice: choice[1],
    )
    return [("", f"The company's ({company})"), *offered]


def locale_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=locale_choices,
        required=False,
        label="Formats",
        help_text="How dates, numbers and amounts are written for you: “Dec 7, 2026” or "
        "“7. Dez. 2026”.",
    )


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(time_zone_names())]


def _active_users():
    return User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")


class UserFilterForm(forms.Form):
    STATUS_CHOICES = [("active", "Active"), ("inactive", "Deactivated"), ("all", "All")]

    q = forms.CharField(required=False, max_length=100, label="Search")
    team = forms.ModelChoiceField(Team.objects.all(), required=False, empty_label="Any team")
    role = forms.ModelChoiceField(Role.objects.all(), required=False, empty_label="Any role")
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, initial="active")


class UserForm(forms.Form):
    """Create or edit a user. On edit the username is fixed and the password optional."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField(max_length=254)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ModelChoiceField(Role.objects.all(), required=False, empty_label="No role")
    teams = forms.ModelMultipleChoiceField(
        Team.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    time_zone = forms.ChoiceField(choices=time_zone_choices, initial="UTC")
    locale = locale_field()
    is_away = forms.BooleanField(
        required=False, label="Away", help_text="Skipped by round-robin assignment while away."
    )
    open_lead_capacity = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100_000,
        label="Open-lead capacity",
        help_text="Most open leads this person may hold; leave empty for no limit.",
    )
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Optional. Without one, the person cannot sign in until a password is set.",
    )
    password_confirm = forms.CharField(
        required=False,
        strip=False,
        label="Password again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, instance: User | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "username": instance.username,
                    "email": instance.email,
                    "first_name": instance.first_name,
                    "last_name": instance.last_name,
                    "role": instance.role_id,
                    "teams": [team.pk for team in instance.teams.all()],
                    "time_zone": instance.time_zone,
                    "locale": instance.locale,
                    "is_away": instance.is_away,
                    "open_lead_capacity": instance.open_lead_capacity,
                },
            )
        super().__init__(*args, **kwargs)
        if instance is not None:
            del self.fields["username"]
            self.fields["password"].label = "New password"
            self.fields["password"].help_text = "Leave empty to keep the current password."

    def clean(self):
        data = super().clean()
        if data.get("password") != data.get("password_confirm"):
            self.add_error("password_confirm", "The two passwords differ.")
        return data

    def profile_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "email": data["email"],
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "time_zone": data["time_zone"],
            "locale": data["locale"],
            "is_away": data["is_away"],
            "open_lead_capacity": data["open_lead_capacity"],
        }


class TeamForm(forms.Form):
    name = forms.CharField(max_length=80)
    kind = forms.ChoiceField(choices=TeamKind.choices, initial=TeamKind.SALES)
    description = forms.CharField(max_length=300, required=False)
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, instance: Team | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": instance.name,
                    "kind": instance.kind,
                    "description": instance.description,
                    "members": [user.pk for user in instance.members.all()],
                },
            )
        super().__init__(*args, **kwargs)
        members = _active_users()
        if instance is not None:
            # A deactivated member stays listed (and ticked) so saving does not drop them silently.
            members = User.objects.filter(is_active=True) | instance.members.all()
            members = members.distinct().order_by("first_name", "last_name", "username")
        self.fields["members"].queryset = members


def scope_field_name(domain: str) -> str:
    return f"scope_{domain}"


class RoleForm(forms.Form):
    """A role's name, flags and one scope choice per domain (fields `scope_<domain>`)."""

    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=300, required=False)
    is_admin = forms.BooleanField(
        required=False,
        label="Administrator",
        help_text="Sees every record and manages users, roles, custom fields and the audit log.",
    )
    is_read_only = forms.BooleanField(
        required=False, label="Read-only", help_text="May look but never change anything."
    )
    requires_two_factor = forms.BooleanField(
        required=False,
        label="Requires two-factor sign-in",
        help_text="Holders sign in with a code from an authenticator app; those without one "
        "set it up at their next sign-in.",
    )

    def __init__(self, *args, instance: Role | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            initial = {
                "name": instance.name,
                "description": instance.description,
                "is_admin": instance.is_admin,
                "is_read_only": instance.is_read_only,
                "requires_two_factor": instance.requires_two_factor,
            }
            for domain in Domain.values:
                initial[scope_field_name(domain)] = instance.scopes.get(domain, Scope.OWN)
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for domain, label in Domain.choices:
            self.fields[scope_field_name(domain)] = forms.ChoiceField(
                choices=Scope.choices, initial=Scope.OWN, label=label
            )

    def scope_fields(self):
        return [self[scope_field_name(domain)] for domain in Domain.values]

    def scopes(self) -> dict:
        return {domain: self.cleaned_data[scope_field_name(domain)] for domain in Domain.values}

    @staticmethod
    def error_aliases() -> dict[str, str]:
        return {f"scopes.{domain}": scope_field_name(domain) for domain in Domain.values}


class ProfileForm(forms.Form):
    """What anyone may change about themselves."""

    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    time_zone = forms.ChoiceField(choices=time_zone_choices)
    locale = locale_field()

    @classmethod
    def for_user(cls, user: User, data=None) -> ProfileForm:
        return cls(
            data,
            prefix="profile",
            initial={
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email": user.email,
                "time_zone": user.time_zone,
                "locale": user.locale,
            },
        )


class ApiTokenForm(forms.Form):
    """Name and optional last day of a personal API token, read in the owner's time zone."""

    name = forms.CharField(max_length=80, help_text="What the token is for, e.g. “Zapier”.")
    expires_on = forms.DateField(
        required=False,
        label="Valid until",
        help_text="Optional. The token stops working at the end of this day (your time zone).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        kwargs.setdefault("prefix", "token")
        super().__init__(*args, **kwargs)
        try:
            self.zone = zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.zone = dt.UTC

    def clean_expires_on(self):
        value = self.cleaned_data.get("expires_on")
        if value is not None and value < timezone.now().astimezone(self.zone).date():
            raise ValidationError("Pick today or a later day.")
        return value

    def expires_at(self) -> dt.datetime | None:
        """The first instant after the chosen day, in the owner's time zone."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=self.zone)


class TwoFactorCodeForm(forms.Form):
    """A six-digit code from the authenticator app, or one of the recovery codes."""

    code = forms.CharField(
        max_length=16,
        label="Authentication code",
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )

    def clean_code(self) -> str:
        return "".join(self.cleaned_data["code"].split()).lower()
