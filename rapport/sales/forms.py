"""HTML forms of the sales pages. They parse input; the services validate and write.

A service's ValidationError is put back on the form (`add_service_errors`) so the message
appears beside the field it names.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.models import Team, User
from rapport.contacts.choices import LEAD_STAGES, ContactSource, LifecycleStage
from rapport.contacts.models import Contact, Organization
from rapport.contacts.suggest import label_of
from rapport.core.condition_builder import ConditionJSONField, builder_fields
from rapport.core.currency import COMMON_CURRENCIES
from rapport.core.ids import id_from_text
from rapport.core.widgets import RecordPicker
from rapport.customfields.forms import add_custom_fields
from rapport.sales.assignment_kinds import builder_fields_for, noun
from rapport.sales.choices import DecayAnchor, RecordKind, TaskPriority
from rapport.sales.models import LostReason, Pipeline, Stage

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def add_service_errors(form: forms.Form, exc: ValidationError, *, aliases: dict | None = None):
    """Attach a service's errors to the form fields they name (the rest to the whole form)."""
    aliases = aliases or {}
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for key, texts in messages.items():
        name = aliases.get(key, key)
        if name.startswith("custom_fields."):
            name = "cf_" + name.split(".", 1)[1]
        target = name if name in form.fields else None
        for text in texts:
            form.add_error(
                target, text if target else (f"{key}: {text}" if key != "__all__" else text)
            )


def active_users():
    return User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")


def owner_candidates(actor=None, domain: str = "sales"):
    """People who may be given a record: `access.assignable_users` (active, not read-only, and
    within `actor`'s reach; anyone who may own when there is no actor)."""
    return access.assignable_users(actor, domain).order_by("first_name", "last_name", "username")


def names_from_text(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class RecordField(forms.CharField):
    """A contact or organization picked by name with type-ahead (`core.widgets.RecordPicker`).

    The picker posts the chosen record's id; without JavaScript, the typed text is matched on
    the contact's email or the organization's exact name. Either way only visible records count.
    """

    def __init__(self, *args, model=None, **kwargs):
        self.model = model
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 254)
        name = "contact_suggestions" if model is Contact else "organization_suggestions"
        kwargs.setdefault(
            "widget",
            RecordPicker(
                suggest_url=reverse_lazy(f"contacts:{name}"),
                attrs={"placeholder": "Type a name" + (" or email" if model is Contact else "")},
            ),
        )
        super().__init__(*args, **kwargs)

    def bind_user(self, user) -> None:
        """Show an already chosen record's name, looked up within what `user` may see."""
        self.widget.label_for = label_of(self.model, user)

    def resolve(self, value: str, user):
        value = (value or "").strip()
        if not value:
            return None
        records = self.model.objects.visible_to(user)
        if (record_id := id_from_text(value)) is not None:
            found = records.filter(pk=record_id).first()
        elif self.model is Contact:
            found = records.filter(primary_email__iexact=value).first()
        else:
            found = records.filter(name__iexact=value).first()
        if found is None:
            raise ValidationError("No such record, or it is outside your access.")
        return found


def currency_choices(*in_use: str) -> list[tuple[str, str]]:
    pipelines = Pipeline.objects.values_list("currency", flat=True).distinct()
    codes = dict.fromkeys(
        c for c in (settings.RAPPORT_CURRENCY, *in_use, *pipelines, *COMMON_CURRENCIES) if c
    )
    return [(code, code) for code in codes]


class DealForm(forms.Form):
    name = forms.CharField(max_length=200)
    pipeline = forms.ModelChoiceField(queryset=Pipeline.objects.active(), empty_label=None)
    stage = forms.ModelChoiceField(queryset=Stage.objects.all(), required=False)
    amount = forms.CharField(max_length=30, required=False, initial="0")
    currency = forms.ChoiceField(choices=(), required=False)
    expected_close_date = forms.DateField(widget=DATE_INPUT)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    contact = RecordField(model=Contact, label="Contact")
    organization = RecordField(model=Organization, label="Organization")
    products = forms.CharField(
        label="Products asked about",
        required=False,
        max_length=2000,
        help_text="Comma-separated names; what is sold goes in the deal's product lines.",
    )
    source = forms.ChoiceField(choices=ContactSource.choices, initial=ContactSource.MANUAL)
    source_detail = forms.CharField(required=False, max_length=200)
    tags = forms.CharField(required=False, max_length=2000, help_text="Comma-separated")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, user, definitions=(), editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.definitions = list(definitions)
        self.fields["owner"].queryset = owner_candidates(user, "sales")
        initial = kwargs.get("initial") or {}
        self.fields["currency"].choices = currency_choices(initial.get("currency") or "")
        for name in ("contact", "organization"):
            self.fields[name].bind_user(user)
        # The one custom-field form generator; values are judged by the deal service.
        add_custom_fields(self, self.definitions, initial.get("custom"))
        if editing:
            del self.fields["pipeline"]
            del self.fields["stage"]

    def clean_contact(self):
        return self.fields["contact"].resolve(self.cleaned_data.get("contact"), self.user)

    def clean_organization(self):
        return self.fields["organization"].resolve(self.cleaned_data.get("organization"), self.user)


class MoveForm(forms.Form):
    stage = forms.ModelChoiceField(queryset=Stage.objects.all())
    lost_reason = forms.ModelChoiceField(
        queryset=LostReason.objects.filter(is_active=True), required=False
    )
    lost_note = forms.CharField(max_length=300, required=False)


class ConvertForm(forms.Form):
    pipeline = forms.ModelChoiceField(queryset=Pipeline.objects.active(), empty_label=None)
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the company name")
    amount = forms.CharField(max_length=30, required=False, initial="0")
    currency = forms.ChoiceField(choices=currency_choices, required=False)
    expected_close_date = forms.DateField(widget=DATE_INPUT)


class LeadForm(forms.Form):
    """Manual entry of a lead (the contacts pages can also make a contact in a lead stage)."""

    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    email = forms.CharField(max_length=254, required=False)
    phone = forms.CharField(max_length=40, required=False)
    job_title = forms.CharField(max_length=150, required=False)
    country = forms.CharField(max_length=2, required=False, help_text="Two letters, e.g. DE")
    postcode = forms.CharField(max_length=20, required=False)
    lifecycle_stage = forms.ChoiceField(
        choices=[(s, LifecycleStage(s).label) for s in LEAD_STAGES], initial=LifecycleStage.LEAD
    )
    source = forms.ChoiceField(choices=ContactSource.choices, initial=ContactSource.MANUAL)
    source_detail = forms.CharField(
        max_length=200, required=False, help_text="Trade show, campaign, referrer …"
    )
    products_of_interest = forms.CharField(
        max_length=2000, required=False, help_text="Comma-separated"
    )
    assign_by_rules = forms.BooleanField(
        required=False, initial=True, label="Let the assignment rules pick the owner"
    )


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200)
    due_at = forms.DateTimeField(widget=DATETIME_INPUT, input_formats=["%Y-%m-%dT%H:%M"])
    priority = forms.ChoiceField(choices=TaskPriority.choices, initial=TaskPriority.NORMAL)
    assignee = forms.ModelChoiceField(queryset=User.objects.none())
    remind_at = forms.DateTimeField(
        widget=DATETIME_INPUT, input_formats=["%Y-%m-%dT%H:%M"], required=False
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    organization = forms.IntegerField(required=False, widget=forms.HiddenInput)
    deal = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Anyone who may work it may be given a task, across teams (a hand-off): show the team
        # to pick the right one.
        self.fields["assignee"].queryset = owner_candidates().prefetch_related("teams")
        self.fields["assignee"].label_from_instance = lambda user: (
            f"{user} ({', '.join(t.name for t in user.teams.all()) or 'no team'})"
        )

    def clean_due_at(self):
        due = self.cleaned_data["due_at"]
        return timezone.make_aware(due) if timezone.is_naive(due) else due

    def clean_remind_at(self):
        remind = self.cleaned_data.get("remind_at")
        if remind is not None and timezone.is_naive(remind):
            remind = timezone.make_aware(remind)
        return remind


class QuickTaskForm(forms.Form):
    """A task for myself in two fields, from the Tasks panel of a 360° or deal page."""

    WHEN = [("today", "Today"), ("tomorrow", "Tomorrow"), ("next_week", "In a week")]
    END_OF_DAY = dt.time(17, 0)

    title = forms.CharField(max_length=200, label="New task")
    when = forms.ChoiceField(choices=WHEN, initial="tomorrow", label="Due")
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput, max_value=2**62)
    organization = forms.IntegerField(required=False, widget=forms.HiddenInput, max_value=2**62)
    deal = forms.IntegerField(required=False, widget=forms.HiddenInput, max_value=2**62)

    def due_at(self) -> dt.datetime:
        """The end of the working day chosen, in the user's time zone (never in the past)."""
        now = timezone.localtime()
        days = {"today": 0, "tomorrow": 1, "next_week": 7}[self.cleaned_data["when"]]
        day = now.date() + dt.timedelta(days=days)
        due = timezone.make_aware(dt.datetime.combine(day, self.END_OF_DAY))
        return max(due, default_due())


def default_due() -> dt.datetime:
    now = timezone.localtime()
    return (now + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def _lead_condition_fields() -> list[dict]:
    from rapport.sales.scoring.facts import field_choice_labels, lead_field_set

    return builder_fields(lead_field_set(), field_choice_labels())


class ConditionField(ConditionJSONField):
    """A rule's condition, built with the visual builder (`core.condition_builder`); the posted
    JSON is parsed there and checked against the fields by the service."""

    def __init__(self, **kwargs):
        super().__init__(fields=_lead_condition_fields, **kwargs)


class ScoringRuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    condition = ConditionField(required=False)
    points = forms.IntegerField(min_value=-1000, max_value=1000)
    decay_anchor = forms.ChoiceField(choices=DecayAnchor.choices, initial=DecayAnchor.NONE)
    half_life_days = forms.IntegerField(min_value=1, max_value=3650, required=False)
    position = forms.IntegerField(min_value=0, initial=100)
    is_active = forms.BooleanField(required=False, initial=True)


class AssignmentRuleForm(forms.Form):
    """A rule for one kind of record: the condition's builder offers that kind's fields, and a
    change of kind redraws it (over HTMX, from the page's own URL with `?kind=`)."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(
        choices=RecordKind.choices, initial=RecordKind.LEAD, label="Applies to"
    )
    condition = ConditionField(required=False)
    target_user = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    target_team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    position = forms.IntegerField(min_value=0, initial=100)
    is_active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target_user"].queryset = owner_candidates(domain="contacts")
        self.record_kind = self.chosen_kind()
        self.records_word = noun(self.record_kind, plural=True)
        self.fields["condition"].widget.fields = partial(builder_fields_for, self.record_kind)
        self.fields[
            "condition"
        ].widget.empty = f"No conditions: the rule applies to every new {noun(self.record_kind)}."

    def chosen_kind(self) -> str:
        raw = self.data.get(self.add_prefix("kind")) if self.is_bound else None
        raw = raw or self.initial.get("kind") or RecordKind.LEAD
        return raw if raw in RecordKind.values else RecordKind.LEAD


class SalesSettingsForm(forms.Form):
    fallback_owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    conversion_window_days = forms.IntegerField(min_value=7, max_value=730)
    min_labelled_leads = forms.IntegerField(min_value=50)
    min_per_class = forms.IntegerField(min_value=5)
    rescore_every_minutes = forms.IntegerField(min_value=5, max_value=10_080)
    retrain_every_days = forms.IntegerField(min_value=1, max_value=365)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fallback_owner"].queryset = owner_candidates(domain="contacts")


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=100)
    currency = forms.ChoiceField(choices=currency_choices)
    description = forms.CharField(max_length=300, required=False)
    is_default = forms.BooleanField(required=False)


class StageForm(forms.Form):
    name = forms.CharField(max_length=80)
    probability = forms.IntegerField(min_value=0, max_value=100, initial=10)
    position = forms.IntegerField(min_value=0, required=False)
    stall_days = forms.IntegerField(min_value=1, max_value=3650, required=False)


class WebFormForm(forms.Form):
    """A web form's settings; its fields come as rows include/required/label per target."""

    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    is_active = forms.BooleanField(required=False, initial=True)
    source = forms.ChoiceField(choices=ContactSource.choices, initial=ContactSource.WEB_FORM)
    source_detail = forms.CharField(max_length=150, required=False)
    campaign = forms.CharField(max_length=100, required=False)
    lifecycle_stage = forms.ChoiceField(
        choices=[(s, LifecycleStage(s).label) for s in LEAD_STAGES], initial=LifecycleStage.LEAD
    )
    submit_label = forms.CharField(max_length=40, initial="Send")
    thank_you_message = forms.CharField(
        max_length=500,
        initial="Thank you — we will be in touch.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    redirect_url = forms.CharField(max_length=500, required=False)
    consent_enabled = forms.BooleanField(required=False, initial=True)
    consent_text = forms.CharField(
        max_length=300,
        required=False,
        initial="I agree to be contacted by email about this request.",
    )
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One origin per line, e.g. https://www.example.com. Empty allows any site.",
    )
    max_submissions_per_minute = forms.IntegerField(min_value=1, max_value=100_000, initial=60)

    def __init__(self, *args, targets, selected=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = targets
        selected = {spec["target"]: spec for spec in (selected or [])}
        self.rows = []
        for key, target in targets.items():
            slug = key.replace(".", "__")
            spec = selected.get(key)
            include = forms.BooleanField(
                required=False, initial=spec is not None, label=target.label
            )
            required = forms.BooleanField(
                required=False, initial=bool(spec and spec.get("required")), label="Required"
            )
            label = forms.CharField(
                required=False, max_length=100, initial=(spec or {}).get("label", ""), label="Label"
            )
            self.fields[f"include_{slug}"] = include
            self.fields[f"required_{slug}"] = required
            self.fields[f"label_{slug}"] = label
            self.rows.append(
                {
                    "key": key,
                    "target": target,
                    "include": f"include_{slug}",
                    "required": f"required_{slug}",
                    "label": f"label_{slug}",
                    "order": list(selected).index(key)
                    if key in selected
                    else len(selected) + len(self.rows),
                }
            )
        self.rows.sort(key=lambda row: row["order"])

    def field_specs(self) -> list[dict]:
        specs = []
        for row in self.rows:
            if self.cleaned_data.get(row["include"]):
                specs.append(
                    {
                        "target": row["key"],
                        "label": self.cleaned_data.get(row["label"], ""),
                        "required": bool(self.cleaned_data.get(row["required"])),
                    }
                )
        return specs

    def bound_rows(self):
        return [
            {
                **row,
                "include": self[row["include"]],
                "required": self[row["required"]],
                "label": self[row["label"]],
            }
            for row in self.rows
        ]
