"""The form of a scheduled email: who receives it (people picked by name, teams, roles), when,
in which time zone, with which files, from which shared mailbox. `reports.deliveries` checks it
all again, recipient by recipient."""

from __future__ import annotations

from django import forms
from django.db.models import Q

from rapport.accounts.forms import time_zone_choices
from rapport.accounts.models import Role, Team, User
from rapport.core.ids import id_from_text
from rapport.core.widgets import RecordPicker
from rapport.reports.dashboard_forms import AddErrorsMixin
from rapport.reports.deliveries import sending_mailboxes
from rapport.reports.models import WEEKDAYS, Dashboard, DeliveryFormat, DeliveryFrequency


def find_person(text: str) -> User | None:
    """The active user a picker named: its id, or (typed without JavaScript) an exact
    username, email or full name."""
    users = User.objects.filter(is_active=True)
    pk = id_from_text(text)
    if pk is not None:
        return users.filter(pk=pk).first()
    text = text.strip()
    found = list(users.filter(Q(username__iexact=text) | Q(email__iexact=text))[:2])
    if len(found) == 1:
        return found[0]
    found = [user for user in users.filter(last_name__icontains=text.split()[-1])[:50]
             if str(user).casefold() == text.casefold()]  # fmt: skip
    return found[0] if len(found) == 1 else None


class DeliveryForm(AddErrorsMixin, forms.Form):
    recipients = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="People",
    )
    add_recipient = forms.CharField(required=False, label="Add a person", max_length=200)
    recipient_teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Everyone in these teams",
    )
    recipient_roles = forms.ModelMultipleChoiceField(
        queryset=Role.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Everyone with these roles",
    )
    frequency = forms.ChoiceField(choices=DeliveryFrequency.choices, label="How often")
    weekday = forms.TypedChoiceField(
        choices=[("", "—"), *WEEKDAYS],
        coerce=int,
        empty_value=None,
        required=False,
        label="On (every week)",
    )
    day_of_month = forms.TypedChoiceField(
        choices=[("", "—"), *((day, str(day)) for day in range(1, 32))],
        coerce=int,
        empty_value=None,
        required=False,
        label="On day (every month)",
        help_text="Past the month's end (the 31st in April), its last day.",
    )
    time_of_day = forms.CharField(
        max_length=8,
        label="At",
        initial="07:30",
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    time_zone = forms.ChoiceField(choices=time_zone_choices, label="Time zone")
    format = forms.ChoiceField(
        choices=DeliveryFormat.choices,
        label="Attach",
        help_text="The figures are in the email itself as well.",
    )
    mailbox = forms.ModelChoiceField(
        queryset=None, required=False, label="Send from", empty_label=None
    )

    def __init__(self, *args, user, target, people_url: str, current_mailbox=None, **kwargs):
        super().__init__(*args, **kwargs)
        from rapport.mail.models import Mailbox

        self.fields["add_recipient"].widget = RecordPicker(
            suggest_url=people_url,
            label_for=lambda pk: str(User.objects.filter(pk=pk).first() or ""),
            attrs={"placeholder": "Type a name"},
        )
        mailbox_ids = [m.pk for m in sending_mailboxes(user)]
        if current_mailbox is not None:
            mailbox_ids.append(current_mailbox.pk)
        self.fields["mailbox"].queryset = Mailbox.objects.filter(pk__in=mailbox_ids).order_by(
            "is_local_sink", "name"
        )
        self.fields["mailbox"].label_from_instance = lambda m: f"{m.name} <{m.email_address}>"
        self.fields[
            "mailbox"
        ].help_text = "A shared mailbox: each recipient gets a copy of their own."
        if isinstance(target, Dashboard):
            self.fields["format"].choices = [(DeliveryFormat.PDF, DeliveryFormat.PDF.label)]
        self.fields["time_zone"].initial = getattr(user, "time_zone", "") or "UTC"

    def chosen_people(self) -> list[User]:
        """The people ticked (or, on a first view, already receiving it), to list with boxes."""
        if self.is_bound:
            ids = [id_from_text(v) for v in self.data.getlist(self.add_prefix("recipients"))]
            people = list(User.objects.filter(pk__in=[i for i in ids if i is not None]))
            picked = (
                self.cleaned_data.get("add_recipient") if hasattr(self, "cleaned_data") else None
            )
            if picked is not None and picked not in people:
                people.append(picked)
            return people
        return list(self.initial.get("recipients") or [])

    def clean_add_recipient(self):
        text = (self.cleaned_data.get("add_recipient") or "").strip()
        if not text:
            return None
        person = find_person(text)
        if person is None:
            raise forms.ValidationError("No such person: pick one from the list as you type.")
        return person

    def clean(self):
        data = super().clean()
        people = list(data.get("recipients") or [])
        picked = data.get("add_recipient")
        if picked is not None and picked not in people:
            people.append(picked)
        data["recipients"] = people
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "recipients": [user.pk for user in data["recipients"]],
            "recipient_teams": [team.pk for team in data["recipient_teams"]],
            "recipient_roles": [role.pk for role in data["recipient_roles"]],
            "frequency": data["frequency"],
            "weekday": data["weekday"],
            "day_of_month": data["day_of_month"],
            "time_of_day": data["time_of_day"],
            "time_zone": data["time_zone"],
            "format": data["format"],
            "mailbox": data["mailbox"],
        }
