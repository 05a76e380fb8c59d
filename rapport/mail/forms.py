"""The mail pages' forms: a mailbox's settings, a template, a message to compose, the triage of
an unknown sender. Labels are the user's words; the services check again and their errors are
shown beside the field they name (`accounts.forms.add_service_errors`).
"""

from __future__ import annotations

from django import forms
from django.urls import reverse_lazy

from rapport.accounts.models import Team
from rapport.contacts.models import Contact
from rapport.contacts.suggest import label_of
from rapport.core.widgets import RecordPicker
from rapport.mail.choices import MailboxKind, MessagePurpose, Security
from rapport.mail.composing import validate_addresses

UNCHANGED_HELP = "Leave empty to keep the stored password."
ADDRESSES_HELP = "Separate several addresses with commas."
# What one message may carry in To, Cc and Bcc together (the sending service checks the sum).
RECIPIENT_LIMIT = 100


class MailboxForm(forms.Form):
    """A mailbox's identity, IMAP (receiving) and SMTP (sending) settings. Passwords are never
    shown back: an empty password field keeps the stored one."""

    kind = forms.ChoiceField(label="Kind", choices=MailboxKind.choices)
    team = forms.ModelChoiceField(
        label="Team",
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="Everyone",
        help_text="Only this team may send from and triage a shared mailbox.",
    )
    name = forms.CharField(label="Name", max_length=100, help_text="How Rapport lists it.")
    email_address = forms.CharField(label="Email address", max_length=254)
    from_name = forms.CharField(
        label="Sender name",
        max_length=100,
        required=False,
        help_text="Shown as the sender.",
    )
    signature = forms.CharField(
        label="Signature",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Offered to templates as the sender's signature.",
    )
    imap_host = forms.CharField(label="IMAP server", max_length=253, required=False)
    imap_port = forms.IntegerField(label="IMAP port", min_value=1, max_value=65535, initial=993)
    imap_security = forms.ChoiceField(
        label="IMAP security",
        choices=Security.choices,
        initial=Security.SSL,
    )
    imap_username = forms.CharField(label="IMAP user name", max_length=254, required=False)
    imap_password = forms.CharField(
        label="IMAP password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    imap_folder = forms.CharField(label="Folder to read", max_length=200, initial="INBOX")
    sent_folder = forms.CharField(
        label="Sent folder",
        max_length=200,
        required=False,
        initial="Sent",
        help_text="Where a copy of each sent message is kept; empty for none.",
    )
    smtp_host = forms.CharField(label="SMTP server", max_length=253, required=False)
    smtp_port = forms.IntegerField(label="SMTP port", min_value=1, max_value=65535, initial=587)
    smtp_security = forms.ChoiceField(
        label="SMTP security",
        choices=Security.choices,
        initial=Security.STARTTLS,
    )
    smtp_username = forms.CharField(label="SMTP user name", max_length=254, required=False)
    smtp_password = forms.CharField(
        label="SMTP password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    daily_send_limit = forms.IntegerField(
        label="Messages per day at most",
        min_value=1,
        max_value=100_000,
        initial=500,
    )

    SETTINGS = [
        "name",
        "email_address",
        "from_name",
        "signature",
        "imap_host",
        "imap_port",
        "imap_security",
        "imap_username",
        "imap_folder",
        "sent_folder",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_username",
        "daily_send_limit",
    ]

    def __init__(self, *args, user, mailbox=None, **kwargs):
        if mailbox is not None:
            kwargs.setdefault(
                "initial",
                {
                    **{name: getattr(mailbox, name) for name in self.SETTINGS},
                    "kind": mailbox.kind,
                    "team": mailbox.team_id,
                },
            )
        super().__init__(*args, **kwargs)
        self.mailbox = mailbox
        if mailbox is not None:
            # The kind of a connected mailbox does not change: its owner and access follow it.
            del self.fields["kind"]
            if mailbox.kind != MailboxKind.SHARED:
                del self.fields["team"]
            for side in ("imap", "smtp"):
                if getattr(mailbox, f"{side}_password_encrypted"):
                    self.fields[f"{side}_password"].help_text = UNCHANGED_HELP
        elif not user.is_administrator:
            # Only administrators connect shared mailboxes.
            self.fields["kind"].choices = [(MailboxKind.PERSONAL, MailboxKind.PERSONAL.label)]
            self.fields["kind"].initial = MailboxKind.PERSONAL
            del self.fields["team"]
        else:
            self.fields["kind"].initial = MailboxKind.SHARED

    def settings(self) -> dict:
        """The cleaned settings as the mailbox services take them (passwords only when typed)."""
        data = {name: self.cleaned_data[name] for name in self.SETTINGS if name in self.fields}
        for name in ("imap_password", "smtp_password"):
            if self.cleaned_data.get(name):
                data[name] = self.cleaned_data[name]
        if "team" in self.fields:
            data["team"] = self.cleaned_data.get("team")
        return data


class TemplateForm(forms.Form):
    """A template's name, purpose, subject and HTML body with merge fields."""

    name = forms.CharField(label="Name", max_length=150)
    purpose = forms.ChoiceField(
        label="Purpose",
        choices=MessagePurpose.choices,
        initial=MessagePurpose.PERSONAL,
        help_text="Marketing mail goes only to contacts who agreed to it, with an unsubscribe link.",
    )
    shared = forms.BooleanField(
        label="Share with everyone",
        required=False,
        help_text="Only administrators may share.",
    )
    subject = forms.CharField(label="Subject", max_length=500)
    body_html = forms.CharField(
        label="Message (HTML)",
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 14, "class": "mail-body", "spellcheck": "true"}),
        help_text="Insert merge fields with the list below; they are filled in for each contact.",
    )

    def __init__(self, *args, user, template=None, **kwargs):
        if template is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": template.name,
                    "purpose": template.purpose,
                    "subject": template.subject,
                    "body_html": template.body_html,
                    "shared": template.owner_id is None,
                },
            )
        super().__init__(*args, **kwargs)
        if template is not None or not user.is_administrator:
            del self.fields["shared"]


class PreviewRecordForm(forms.Form):
    """The contact a template is previewed for, chosen by name."""

    preview_contact = forms.CharField(label="Preview for", required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["preview_contact"].widget = RecordPicker(
            suggest_url=reverse_lazy("contacts:contact_suggestions"),
            label_for=label_of(Contact, user),
            attrs={"placeholder": "Type a contact's name"},
        )

    def clean_preview_contact(self):
        value = (self.cleaned_data.get("preview_contact") or "").strip()
        if not value:
            return None
        visible = Contact.objects.visible_to(self.user)
        if value.isdigit():
            contact = visible.filter(pk=int(value)).first()
        else:
            contact = visible.filter(primary_email__iexact=value).first()
        if contact is None:
            raise forms.ValidationError("Choose a contact from the list.")
        return contact


def split_addresses(text: str) -> list[str]:
    return [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]


class ComposeForm(forms.Form):
    """A message to send: the services check the addresses, consent and limits again."""

    mailbox = forms.ModelChoiceField(label="From", queryset=None, empty_label=None)
    to = forms.CharField(
        label="To",
        max_length=20_000,
        help_text=ADDRESSES_HELP,
        error_messages={"required": "Give at least one address."},
    )
    cc = forms.CharField(label="Cc", max_length=20_000, required=False)
    bcc = forms.CharField(label="Bcc", max_length=20_000, required=False)
    template = forms.ModelChoiceField(
        label="Template",
        queryset=None,
        required=False,
        empty_label="No template",
    )
    purpose = forms.ChoiceField(
        label="Purpose",
        choices=MessagePurpose.choices,
        initial=MessagePurpose.PERSONAL,
    )
    subject = forms.CharField(
        label="Subject",
        max_length=998,
        error_messages={"required": "Write a subject."},
    )
    body_html = forms.CharField(
        label="Message",
        max_length=200_000,
        error_messages={"required": "Write the message."},
        widget=forms.Textarea(attrs={"rows": 12, "class": "mail-body", "spellcheck": "true"}),
        help_text="HTML is allowed; merge fields such as {{ contact.first_name }} are filled in.",
    )

    def __init__(self, *args, mailboxes, templates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].queryset = mailboxes
        self.fields["template"].queryset = templates

    def _addresses(self, name: str, label: str) -> list[str]:
        clean, problems = validate_addresses(
            split_addresses(self.cleaned_data.get(name)),
            field=label,
            limit=RECIPIENT_LIMIT,
        )
        if problems:
            raise forms.ValidationError(problems)
        return clean

    def clean_to(self):
        addresses = self._addresses("to", "To")
        if not addresses:
            raise forms.ValidationError("Give at least one address.")
        return addresses

    def clean_cc(self):
        return self._addresses("cc", "Cc")

    def clean_bcc(self):
        return self._addresses("bcc", "Bcc")


class TriageContactForm(forms.Form):
    """The name of the contact created from an unknown sender."""

    first_name = forms.CharField(label="First name", max_length=100, required=False)
    last_name = forms.CharField(label="Last name", max_length=100, required=False)

    def clean(self):
        data = super().clean()
        if not (data.get("first_name") or "").strip() and not (data.get("last_name") or "").strip():
            raise forms.ValidationError("Give a first or a last name.")
        return data
