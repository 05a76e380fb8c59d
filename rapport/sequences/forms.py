"""The sequence editor's forms: the sequence itself, and one small form per step (prefix
"step-<n>"), so each message stands beside the step field it is about."""

from __future__ import annotations

from django import forms

from rapport.mail.models import EmailTemplate, Mailbox
from rapport.sequences.choices import DelayUnit, StepKind
from rapport.sequences.models import Sequence

HOURS = [(hour, f"{hour:02d}:00") for hour in range(25)]


class SequenceForm(forms.ModelForm):
    class Meta:
        model = Sequence
        fields = [
            "name",
            "description",
            "mailbox",
            "is_active",
            "stop_on_meeting",
            "stop_on_deal_stage_change",
            "daily_email_limit",
        ]
        labels = {
            "mailbox": "Send from",
            "is_active": "Switched on",
            "stop_on_meeting": "Stop when a meeting is logged",
            "stop_on_deal_stage_change": "Stop when a deal of the contact changes stage",
            "daily_email_limit": "Emails a day per mailbox",
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].queryset = Mailbox.objects.usable_by(user)
        self.fields["mailbox"].empty_label = "Choose a mailbox"
        self.fields["mailbox"].error_messages["invalid_choice"] = (
            "Choose a mailbox you may send from."
        )


class StepForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    kind = forms.ChoiceField(choices=StepKind.choices, label="Step")
    delay_amount = forms.IntegerField(min_value=0, max_value=365, initial=0, label="Wait")
    delay_unit = forms.ChoiceField(
        choices=DelayUnit.choices, initial=DelayUnit.BUSINESS_DAYS, label="Counted in"
    )
    window_start_hour = forms.TypedChoiceField(
        choices=HOURS[:24], coerce=int, initial=9, label="Not before"
    )
    window_end_hour = forms.TypedChoiceField(
        choices=HOURS[1:], coerce=int, initial=17, label="Not after"
    )
    template = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.none(),
        required=False,
        label="Email template",
        empty_label="Choose a template",
        error_messages={"invalid_choice": "Choose a template you may use."},
    )
    reply_in_thread = forms.BooleanField(
        required=False, initial=True, label="Send as a reply to the previous email"
    )
    task_title = forms.CharField(max_length=200, required=False, label="Task title")
    task_note = forms.CharField(
        required=False, label="Task note", widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = EmailTemplate.objects.visible_to(user).filter(
            is_archived=False
        )

    def step_values(self) -> dict:
        values = dict(self.cleaned_data)
        values["id"] = values.get("id") or None
        return values


def step_initial(step) -> dict:
    return {
        "id": step.pk,
        "kind": step.kind,
        "delay_amount": step.delay_amount,
        "delay_unit": step.delay_unit,
        "window_start_hour": step.window_start_hour,
        "window_end_hour": step.window_end_hour,
        "template": step.template_id,
        "reply_in_thread": step.reply_in_thread,
        "task_title": step.task_title,
        "task_note": step.task_note,
    }
