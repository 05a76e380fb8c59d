from django import forms

from rapport.privacy.services import MAX_RETENTION_MONTHS

CONFIRMATION_WORD = "ERASE"


class EraseForm(forms.Form):
    """Erasing cannot be undone: the administrator types the word and says why."""

    reason = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the audit log with your name. Do not write the person's name or address.",
    )
    confirmation = forms.CharField(
        max_length=20,
        label=f"Type {CONFIRMATION_WORD} to confirm",
    )

    def clean_confirmation(self):
        value = self.cleaned_data["confirmation"].strip()
        if value != CONFIRMATION_WORD:
            raise forms.ValidationError(f"Type {CONFIRMATION_WORD} in capitals to confirm.")
        return value


class RetentionForm(forms.Form):
    interaction_months = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RETENTION_MONTHS,
        label="Keep interactions for (months)",
        help_text="Calls, meetings, emails and notes older than this are deleted each night. "
        "Leave empty to keep them forever.",
    )
    audit_months = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RETENTION_MONTHS,
        label="Keep audit records for (months)",
        help_text="Entries of the audit log older than this are deleted each night. "
        "Leave empty to keep them forever.",
    )
