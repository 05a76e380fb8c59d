"""The workflow editor's form: a draft read from the posted fields, edited (add, remove, move a
step) and drawn again without saving, then given to the services to save.

Posted names: `name`, `description`, `record_type`, `trigger-type`, `trigger-<setting>`,
`conditions` (the visual condition builder's JSON), and per step `step-<path>-type` and
`step-<path>-<setting>`, where the path is "0", "1.yes.0", "1.no.2" (a branch's steps). A
service error's key ("steps[1].yes[0].tag") is shown beside the input it names.
"""

from __future__ import annotations

import json
import re

from rapport.automation import records, steps, triggers
from rapport.automation.models import RecordType
from rapport.core.condition_builder import ConditionBuilder, ConditionJSONField

_STEP_TYPE = re.compile(r"^step-((?:\d+)(?:\.(?:yes|no)\.\d+)*)-type$")
EVERY_RECORD = "No conditions: every record the trigger names enters."


def _path(text: str) -> tuple:
    parts = text.split(".")
    return tuple(int(part) if part.isdigit() else part for part in parts)


def _sort_key(path: tuple) -> tuple:
    return tuple((0, p) if isinstance(p, int) else (1, 0 if p == "yes" else 1) for p in path)


def path_name(path: tuple) -> str:
    return ".".join(str(part) for part in path)


def error_prefix(path: tuple) -> str:
    """(1, "yes", 0) → "steps[1].yes[0]", the key the services use."""
    text = f"steps[{path[0]}]"
    for index in range(1, len(path), 2):
        text += f".{path[index]}[{path[index + 1]}]"
    return text


def _parse_condition(raw) -> dict | str:
    if not raw:
        return {"all": []}
    try:
        return json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        return raw  # shown back as typed; the service names the problem


def read_draft(data) -> dict:
    """The workflow as posted, whatever its state (nothing checked yet)."""
    record_type = data.get("record_type") or RecordType.CONTACT
    if record_type not in RecordType.values:
        record_type = RecordType.CONTACT
    trigger_type = data.get("trigger-type") or ""
    offered = [t.key for t in triggers.available(record_type)]
    if trigger_type not in offered:
        trigger_type = offered[0]  # the record type changed: its first trigger
    trigger = {"type": trigger_type}
    if trigger_type in triggers.TRIGGERS:
        for param in triggers.params_for(trigger_type, record_type):
            value = data.get(f"trigger-{param.name}", "")
            if value != "":
                trigger[param.name] = value
    paths = sorted(
        (_path(match.group(1)) for key in data if (match := _STEP_TYPE.match(key))),
        key=_sort_key,
    )
    tree: list = []
    containers: dict[tuple, list] = {(): tree}
    for path in paths:
        kind = data.get(f"step-{path_name(path)}-type")
        step = steps.STEPS.get(kind)
        item = {"type": kind}
        if step is not None:
            for param in step.params_for(record_type):
                raw = data.get(f"step-{path_name(path)}-{param.name}", "")
                if param.kind == "condition":
                    item[param.name] = _parse_condition(raw)
                elif raw != "":
                    item[param.name] = raw
            for branch in step.branches:
                item[branch] = []
                containers[(*path, branch)] = item[branch]
        parent = containers.get(path[:-1])
        if parent is not None:
            parent.append(item)
    return {
        "name": data.get("name", ""),
        "description": data.get("description", ""),
        "record_type": record_type,
        "trigger": trigger,
        "conditions": _parse_condition(data.get("conditions", "")),
        "steps": tree,
    }


def _container(tree: list, container: str) -> list | None:
    if not container:
        return tree
    node: object = tree
    for part in _path(container):
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
            node = node[part]
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, list) else None


def apply_action(draft: dict, action: str, data) -> None:
    """Edit the draft's steps: "add:<container>", "remove:<path>", "up:<path>", "down:<path>"."""
    verb, _, where = action.partition(":")
    if verb == "add":
        kind = data.get(f"add-type:{where}", "")
        step = steps.STEPS.get(kind)
        target = _container(draft["steps"], where)
        if step is None or target is None:
            return
        item = {"type": kind, **{branch: [] for branch in step.branches}}
        for param in step.params_for(draft["record_type"]):
            if param.default is not None:
                item[param.name] = param.default
        target.append(item)
        return
    if verb not in ("remove", "up", "down") or not where:
        return
    path = _path(where)
    parent_path = path_name(path[:-1])
    siblings = _container(draft["steps"], parent_path)
    index = path[-1]
    if siblings is None or not isinstance(index, int) or index >= len(siblings):
        return
    if verb == "remove":
        del siblings[index]
    elif verb == "up" and index > 0:
        siblings[index - 1], siblings[index] = siblings[index], siblings[index - 1]
    elif verb == "down" and index + 1 < len(siblings):
        siblings[index + 1], siblings[index] = siblings[index], siblings[index + 1]


# --- drawing ---------------------------------------------------------------------------------


def _builder(record_type: str, name: str, value, html_id: str, empty: str) -> str:
    widget = ConditionBuilder(fields=lambda: records.builder_entries(record_type), empty=empty)
    shown = ConditionJSONField(fields=lambda: []).prepare_value(value)
    return widget.render(name, shown, attrs={"id": html_id})  # Django marks it safe


def _inputs(params, values: dict, name_prefix: str, error_key: str, errors: dict, record_type):
    rows = []
    for param in params:
        name = f"{name_prefix}-{param.name}"
        value = values.get(param.name, param.default)
        row = {
            "name": name,
            "id": "id_" + name.replace(".", "_"),
            "label": param.label,
            "kind": param.kind,
            "value": "" if value is None else value,
            "help": param.help,
            "required": param.required,
            "errors": errors.get(f"{error_key}.{param.name}", []),
        }
        if param.kind == "choice":
            row["options"] = param.options()
            row["value"] = str(row["value"])
        if param.kind == "condition":
            row["builder"] = _builder(
                record_type,
                name,
                value or {"all": []},
                row["id"],
                "No conditions: always true.",
            )
        rows.append(row)
    return rows


def step_rows(items: list, record_type: str, errors: dict, prefix: tuple = ()) -> list[dict]:
    """The steps as the editor draws them (nested for branches)."""
    rows = []
    for index, item in enumerate(items):
        path = (*prefix, index)
        name = path_name(path)
        step = steps.STEPS.get(item.get("type"))
        key = error_prefix(path)
        row = {
            "path": name,
            "number": ".".join(str(p + 1) if isinstance(p, int) else p for p in path),
            "type": item.get("type", ""),
            "label": step.label if step else "Unknown step",
            "first": index == 0,
            "last": index == len(items) - 1,
            "errors": errors.get(f"{key}.type", []) + errors.get(key, []),
            "inputs": [],
            "branches": [],
        }
        if step is not None:
            row["inputs"] = _inputs(
                step.params_for(record_type), item, f"step-{name}", key, errors, record_type
            )
            for branch in step.branches:
                row["branches"].append(
                    {
                        "label": "If yes" if branch == "yes" else "Otherwise",
                        "container": f"{name}.{branch}",
                        "steps": step_rows(
                            item.get(branch) or [], record_type, errors, (*path, branch)
                        ),
                    }
                )
        rows.append(row)
    return rows


def editor_context(draft: dict, errors: dict, *, is_new: bool) -> dict:
    record_type = draft["record_type"]
    trigger = draft["trigger"]
    trigger_type = trigger.get("type", "")
    trigger_inputs = []
    if trigger_type in triggers.TRIGGERS:
        trigger_inputs = _inputs(
            triggers.params_for(trigger_type, record_type),
            trigger,
            "trigger",
            "trigger",
            errors,
            record_type,
        )
    step_choices = [(step.type, step.label) for step in steps.available(record_type)]
    return {
        "draft": draft,
        "is_new": is_new,
        "errors": errors,
        "record_types": RecordType.choices,
        "trigger_choices": [(t.key, t.label) for t in triggers.available(record_type)],
        "trigger_inputs": trigger_inputs,
        "conditions_builder": _builder(
            record_type, "conditions", draft["conditions"], "id_conditions", EVERY_RECORD
        ),
        "step_rows": step_rows(draft["steps"], record_type, errors),
        "step_choices": step_choices,
        "other_errors": {
            key: messages
            for key, messages in errors.items()
            if key in ("record_type", "workflow", "actor", "steps", "__all__")
        },
    }
