"""The settings a trigger or a step takes, declared once: the service checks them with these
declarations and the editor draws its inputs from them, so the two never disagree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from rapport.core import display

KINDS = ("text", "long_text", "number", "choice", "time", "condition")


@dataclass(frozen=True)
class Param:
    """One setting. `choices()` gives (value, label) pairs for a choice (values are text in
    the stored JSON, ids included, so the editor and the API read them alike)."""

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    choices: Callable[[], list[tuple[str, str]]] | None = None
    help: str = ""
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 500
    default: object = None
    # The label of one value without reading every choice (a run names its step for each
    # record: listing all users or templates each time would cost more than the step).
    label_of: Callable[[str], str | None] | None = None

    def options(self) -> list[tuple[str, str]]:
        return [
            (str(value), str(label)) for value, label in (self.choices() if self.choices else [])
        ]


def clean_params(spec: list[Param], raw: dict, errors: dict, prefix: str) -> dict:
    """The settings of `spec` read from `raw`, each checked; problems go into `errors` under
    "<prefix>.<name>". Unknown keys are reported too (a typo must not pass silently)."""
    raw = raw if isinstance(raw, dict) else {}
    clean: dict = {}
    known = {param.name for param in spec}
    for key in raw:
        if key not in known and key not in {"type", "id"}:
            errors[f"{prefix}.{key}"] = ["Unknown setting."]
    for param in spec:
        key = f"{prefix}.{param.name}"
        value = raw.get(param.name, param.default)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, "", []):
            if param.required:
                errors[key] = [f"{param.label}: this is required."]
            continue
        if param.kind in ("text", "long_text"):
            if not isinstance(value, str):
                errors[key] = [f"{param.label}: give text."]
            elif len(value) > param.max_length:
                errors[key] = [
                    f"{param.label}: at most {display.number_text(param.max_length)} characters."
                ]
            else:
                clean[param.name] = value
        elif param.kind == "number":
            try:
                number = int(str(value))
            except ValueError:
                errors[key] = [f"{param.label}: give a whole number."]
                continue
            if param.minimum is not None and number < param.minimum:
                errors[key] = [f"{param.label}: at least {param.minimum}."]
            elif param.maximum is not None and number > param.maximum:
                errors[key] = [f"{param.label}: at most {display.number_text(param.maximum)}."]
            else:
                clean[param.name] = number
        elif param.kind == "choice":
            options = dict(param.options())
            if str(value) not in options:
                errors[key] = [f"{param.label}: choose one of the offered values."]
            else:
                clean[param.name] = str(value)
        elif param.kind == "time":
            try:
                moment = dt.time.fromisoformat(str(value))
            except ValueError:
                errors[key] = [f"{param.label}: give a time as HH:MM."]
            else:
                clean[param.name] = moment.strftime("%H:%M")
        elif param.kind == "condition":
            clean[param.name] = value  # checked by the caller, which knows the record type
    return clean


def choice_label(param: Param, value) -> str:
    if param.label_of is not None:
        return param.label_of(str(value)) or str(value)
    return dict(param.options()).get(str(value), str(value))
