"""Form widgets shared by every app's forms."""

from __future__ import annotations

from collections.abc import Callable

from django import forms

from rapport.core.ids import id_from_text


class RecordPicker(forms.TextInput):
    """Pick a record by name with type-ahead, never by typing its id.

    Renders a search box, a hidden input carrying the chosen record's id (the value the form
    posts under the field's name) and a listbox that `js/record-picker.js` fills from
    `suggest_url?q=…` (JSON: `[{"id", "label", "detail"}]`). Without JavaScript the search box
    itself is posted as `<name>_label`, and the form field may resolve it by exact name or email.
    `label_for(pk)` gives the text shown for an already chosen record.
    """

    template_name = "core/widgets/record_picker.html"

    def __init__(
        self, *, suggest_url: str, label_for: Callable[[int], str] | None = None, attrs=None
    ):
        super().__init__(attrs)
        self.suggest_url = suggest_url
        self.label_for = label_for

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        label = ""
        text = "" if value is None else str(value)
        record_id = id_from_text(text)
        if record_id is not None and self.label_for is not None:
            label = self.label_for(record_id) or ""
        elif text and record_id is None:
            label, text = text, ""
        context["widget"].update(
            {
                "suggest_url": str(self.suggest_url),
                "record_id": text,
                "label": label,
                "input_id": context["widget"]["attrs"].get("id") or f"id_{name}",
            }
        )
        return context

    def value_from_datadict(self, data, files, name):
        chosen = (data.get(name) or "").strip()
        if chosen:
            return chosen
        # No record chosen from the list: what was typed, for an exact-match fallback.
        return (data.get(f"{name}_label") or "").strip()
