"""Forms of the data pages: upload, mapping, matching rules, export columns."""

from __future__ import annotations

from django import forms

from rapport.data_exchange import dedupe
from rapport.data_exchange.choices import Entity, ExportFormat, ImportPolicy, MatchMethod
from rapport.data_exchange.models import MappingPreset


def _importable() -> list[tuple[str, str]]:
    from rapport.core.importing import importers

    return sorted(((i.entity, i.label) for i in importers()), key=lambda choice: choice[1])


class ImportUploadForm(forms.Form):
    # Every registered importer: contacts and organizations here, orders from commerce.
    entity = forms.ChoiceField(label="Import", choices=_importable, initial=Entity.CONTACT)
    file = forms.FileField(
        label="File",
        help_text="CSV (any encoding, comma, semicolon or tab) or Excel .xlsx; the first row "
        "names the columns.",
    )
    preset = forms.ModelChoiceField(
        label="Saved mapping",
        queryset=MappingPreset.objects.all(),
        required=False,
        empty_label="Recognise the columns",
    )


class ImportSettingsForm(forms.Form):
    """The mapping step: one select per column of the file, then the policy and a dry run."""

    policy = forms.ChoiceField(
        label="When a row matches an existing record",
        choices=ImportPolicy.choices,
        widget=forms.RadioSelect,
    )
    dry_run = forms.BooleanField(
        label="Dry run: report what would happen, write nothing", required=False, initial=True
    )
    external_id_system = forms.CharField(
        label="System the ids come from",
        max_length=50,
        required=False,
        help_text="For an id column: e.g. hubspot, shop. Ids are matched within one system.",
    )
    phone_region = forms.CharField(
        label="Country for phone numbers without +code",
        max_length=2,
        required=False,
        help_text="Two letters, e.g. US or DE.",
    )
    tag_separator = forms.CharField(
        label="Tags are separated by", max_length=5, required=False, strip=False
    )
    assign_leads_by_rules = forms.BooleanField(
        label="Let the assignment rules pick the owner of new leads",
        required=False,
        initial=True,
        help_text="For rows without an owner column. Unchecked, the leads you import are yours.",
    )
    save_as = forms.CharField(
        label="Save this mapping as", max_length=80, required=False, help_text="Optional."
    )

    def __init__(self, *args, job, importer, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        choices = [("", "— do not import —")] + [
            (target.key, target.label) for target in importer.all_targets()
        ]
        self.column_fields = []
        for index, header in enumerate(job.headers):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header, choices=choices, required=False, initial=job.mapping.get(header, "")
            )
            self.column_fields.append((header, name))
        for name in (
            "external_id_system",
            "phone_region",
            "tag_separator",
            "assign_leads_by_rules",
        ):
            if name not in importer.option_names:
                del self.fields[name]
        # Options an importer offers as a choice (the pipeline of a deals import).
        self.choice_options = []
        for option in importer.option_fields():
            self.fields[option.name] = forms.ChoiceField(
                label=option.label,
                choices=option.choices,
                required=False,
                help_text=option.help,
                initial=(job.options or {}).get(option.name, ""),
            )
            self.choice_options.append(option.name)
        if "assign_leads_by_rules" in self.fields and not self.is_bound:
            self.initial["assign_leads_by_rules"] = (job.options or {}).get(
                "assign_leads_by_rules", True
            )

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data.get(name) or ""
            for header, name in self.column_fields
            if self.cleaned_data.get(name)
        }

    def options(self) -> dict:
        options = {}
        for name in ("external_id_system", "phone_region", "tag_separator"):
            value = self.cleaned_data.get(name)
            if value:
                options[name] = value.upper() if name == "phone_region" else value
        for name in getattr(self, "choice_options", ()):
            if self.cleaned_data.get(name):
                options[name] = self.cleaned_data[name]
        if "assign_leads_by_rules" in self.fields:
            options["assign_leads_by_rules"] = bool(self.cleaned_data.get("assign_leads_by_rules"))
        return options

    def clean_phone_region(self):
        value = (self.cleaned_data.get("phone_region") or "").strip()
        if value and (len(value) != 2 or not value.isalpha()):
            raise forms.ValidationError("Use a two-letter country code, e.g. DE.")
        return value


class MatchingRuleForm(forms.Form):
    field = forms.ChoiceField(label="Field")
    method = forms.ChoiceField(label="Compared", choices=MatchMethod.choices)
    weight = forms.FloatField(label="Weight", min_value=0.01, max_value=0.99)
    threshold = forms.FloatField(label="Fires from", min_value=0, max_value=1, required=False)
    conflict = forms.FloatField(
        label="When they differ", min_value=0, max_value=0.99, required=False
    )
    is_active = forms.BooleanField(label="On", required=False)
    remove = forms.BooleanField(label="Remove", required=False)

    def __init__(self, *args, entity: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [
            (name, name.replace("_", " ").capitalize()) for name in dedupe.FIELDS_BY_ENTITY[entity]
        ]


class MatchingPolicyForm(forms.Form):
    review_threshold = forms.FloatField(
        label="Suspect a duplicate from a score of",
        min_value=0.01,
        max_value=1,
        help_text="Pairs at or above this score go to the review queue.",
    )
    import_match_threshold = forms.FloatField(
        label="An import row is an existing record from a score of",
        min_value=0.01,
        max_value=1,
        help_text="Only for rows not matched by id or email.",
    )


class ExportForm(forms.Form):
    entity = forms.ChoiceField(choices=Entity.choices, initial=Entity.CONTACT)
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.CSV)
    columns = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Columns"
    )

    def __init__(self, *args, column_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["columns"].choices = column_choices
