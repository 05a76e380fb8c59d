"""The one safe rule language: JSON conditions evaluated in Python or compiled to a Q object.

Segments, automation, assignment rules, scoring rules and SLA policies all speak it. A condition
is one of

    {"all": [condition, ...]}        every part holds (an empty list holds)
    {"any": [condition, ...]}        at least one part holds (an empty list does not)
    {"not": condition}
    {"field": "country", "op": "eq", "value": "DE"}

Fields are named, never arbitrary ORM paths: each caller passes a `FieldSet` mapping the names
a user may use to a database lookup and a Python getter. Nothing is ever `eval`-ed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

OPERATORS = {
    "eq": "equals",
    "ne": "does not equal",
    "gt": "greater than",
    "gte": "greater than or equal",
    "lt": "less than",
    "lte": "less than or equal",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "not_contains": "does not contain",
    "startswith": "starts with",
    "between": "between (inclusive)",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}
_NO_VALUE = {"is_empty", "is_not_empty"}
MAX_DEPTH = 8
MAX_PARTS = 200


class ConditionError(ValueError):
    """A condition that cannot be used, with the JSON path of the offending part."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    @property
    def in_words(self) -> str:
        """The problem as the builder's user reads it: "Condition 2, value: must be a number"."""
        numbers = [str(int(index) + 1) for index in re.findall(r"\[(\d+)\]", self.path)]
        where = f"Condition {'.'.join(numbers)}" if numbers else "The condition"
        part = {"field": "field", "op": "operator", "value": "value"}.get(
            self.path.rsplit(".", 1)[-1]
        )
        return f"{where}{', ' + part if part else ''}: {self.message}"


@dataclass(frozen=True)
class ConditionField:
    lookup: str  # ORM path, e.g. "organization__country" or "custom_fields__region"
    getter: Callable[[Any], Any] | None = None  # for in-memory evaluation
    kind: str = "text"  # text, number, date, boolean, choice, tags
    label: str = ""
    many: bool = False  # a to-many relation: "contains" means any related value matches


class FieldSet(Mapping):
    def __init__(self, fields: dict[str, ConditionField]):
        self._fields = dict(fields)

    def __getitem__(self, key):
        return self._fields[key]

    def __iter__(self):
        return iter(self._fields)

    def __len__(self):
        return len(self._fields)

    def with_extra(self, extra: dict[str, ConditionField]) -> FieldSet:
        return FieldSet({**self._fields, **extra})


def validate(condition: Any, fields: FieldSet, path: str = "$") -> None:
    """Raise ConditionError (naming the JSON path) unless `condition` is well-formed."""
    _walk(condition, fields, path, depth=0, counter=[0])


def _walk(node, fields, path, depth, counter):
    counter[0] += 1
    if counter[0] > MAX_PARTS:
        raise ConditionError(path, f"too many parts (at most {MAX_PARTS})")
    if depth > MAX_DEPTH:
        raise ConditionError(path, f"nested too deeply (at most {MAX_DEPTH} levels)")
    if not isinstance(node, dict):
        raise ConditionError(path, "must be an object")
    groups = [key for key in ("all", "any", "not") if key in node]
    if len(groups) > 1 or (groups and len(node) != 1):
        raise ConditionError(path, "a group has exactly one key: all, any or not")
    if groups:
        key = groups[0]
        if key == "not":
            _walk(node["not"], fields, f"{path}.not", depth + 1, counter)
            return
        parts = node[key]
        if not isinstance(parts, list):
            raise ConditionError(f"{path}.{key}", "must be a list of conditions")
        for index, part in enumerate(parts):
            _walk(part, fields, f"{path}.{key}[{index}]", depth + 1, counter)
        return
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        raise ConditionError(path, f"unknown keys: {', '.join(sorted(unknown))}")
    name = node.get("field")
    if name not in fields:
        raise ConditionError(f"{path}.field", f"unknown field {name!r}")
    op = node.get("op")
    if op not in OPERATORS:
        raise ConditionError(f"{path}.op", f"unknown operator {op!r}")
    if op in _NO_VALUE:
        return
    if "value" not in node:
        raise ConditionError(f"{path}.value", "is required for this operator")
    value = node["value"]
    if op in {"in", "not_in"} and not isinstance(value, list):
        raise ConditionError(f"{path}.value", "must be a list")
    if op == "between" and (not isinstance(value, list) or len(value) != 2):
        raise ConditionError(f"{path}.value", "must be a list of two values")
    kind = fields[name].kind
    if kind == "number":
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, int | float | decimal.Decimal):
                raise ConditionError(f"{path}.value", "must be a number")
    if kind == "date":
        values = value if isinstance(value, list) else [value]
        for item in values:
            _as_date(item, f"{path}.value")


def _as_date(value, path):
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise ConditionError(path, "must be a date (YYYY-MM-DD)")


def to_q(condition: dict, fields: FieldSet) -> Q:
    """Compile a validated condition into a Q for the database to evaluate."""
    validate(condition, fields)
    return _to_q(condition, fields)


def _to_q(node, fields) -> Q:
    if "all" in node:
        q = Q()
        for part in node["all"]:
            q &= _to_q(part, fields)
        return q
    if "any" in node:
        if not node["any"]:
            return Q(pk__in=[])
        q = Q(pk__in=[])
        for part in node["any"]:
            q |= _to_q(part, fields)
        return q
    if "not" in node:
        return ~_to_q(node["not"], fields)
    field = fields[node["field"]]
    op = node["op"]
    value = node.get("value")
    if field.kind == "date" and value is not None:
        value = (
            [_as_date(v, "$") for v in value] if isinstance(value, list) else _as_date(value, "$")
        )
    lookup = field.lookup
    text_ci = field.kind in {"text", "choice", "tags"}
    if op == "eq":
        return Q(**{f"{lookup}__iexact" if text_ci and isinstance(value, str) else lookup: value})
    if op == "ne":
        key = f"{lookup}__iexact" if text_ci and isinstance(value, str) else lookup
        return ~Q(**{key: value})
    if op in {"gt", "gte", "lt", "lte"}:
        return Q(**{f"{lookup}__{op}": value})
    if op in {"in", "not_in"}:
        q = _one_of(lookup, value, text_ci)
        return q if op == "in" else ~q
    if op == "contains":
        return Q(**{f"{lookup}__icontains": value})
    if op == "not_contains":
        return ~Q(**{f"{lookup}__icontains": value})
    if op == "startswith":
        return Q(**{f"{lookup}__istartswith": value})
    if op == "between":
        return Q(**{f"{lookup}__gte": value[0], f"{lookup}__lte": value[1]})
    if op == "is_empty":
        q = Q(**{f"{lookup}__isnull": True})
        if text_ci and not field.many:
            q |= Q(**{lookup: ""})
        return q
    if op == "is_not_empty":
        q = Q(**{f"{lookup}__isnull": False})
        if text_ci and not field.many:
            q &= ~Q(**{lookup: ""})
        return q
    raise ConditionError("$", f"unknown operator {op!r}")


def _one_of(lookup: str, values: list, text_ci: bool) -> Q:
    # Text compares without case everywhere (as `matches` does in memory), so "de" finds "DE".
    texts = [v for v in values if isinstance(v, str)] if text_ci else []
    others = [v for v in values if not isinstance(v, str)] if text_ci else list(values)
    q = Q(**{f"{lookup}__in": others}) if others else Q(pk__in=[])
    for text in texts:
        q |= Q(**{f"{lookup}__iexact": text})
    return q


def matches(condition: dict, record: Any, fields: FieldSet) -> bool:
    """Evaluate a validated condition against one record in memory (no database)."""
    if "all" in condition:
        return all(matches(part, record, fields) for part in condition["all"])
    if "any" in condition:
        return any(matches(part, record, fields) for part in condition["any"])
    if "not" in condition:
        return not matches(condition["not"], record, fields)
    field = fields[condition["field"]]
    if field.getter is None:
        raise ConditionError(
            "$.field", f"{condition['field']!r} can only be evaluated in the database"
        )
    actual = field.getter(record)
    return _compare(condition["op"], actual, condition.get("value"), field.kind)


def _norm(value):
    return value.casefold() if isinstance(value, str) else value


def _compare(op, actual, expected, kind):
    if kind == "date":
        if isinstance(expected, list):
            expected = [_as_date(v, "$") for v in expected]
        elif expected is not None:
            expected = _as_date(expected, "$")
        if isinstance(actual, dt.datetime):
            actual = actual.date()
    if op == "is_empty":
        return actual in (None, "", [], ())
    if op == "is_not_empty":
        return actual not in (None, "", [], ())
    if isinstance(actual, list | tuple | set):
        items = [_norm(a) for a in actual]
        if op in {"eq", "contains"}:
            return _norm(expected) in items
        if op in {"ne", "not_contains"}:
            return _norm(expected) not in items
        if op == "in":
            return any(_norm(e) in items for e in expected)
        if op == "not_in":
            return not any(_norm(e) in items for e in expected)
        return False
    if actual is None:
        return op in {"ne", "not_in", "not_contains"}
    try:
        if op == "eq":
            return _norm(actual) == _norm(expected)
        if op == "ne":
            return _norm(actual) != _norm(expected)
        if op == "gt":
            return actual > expected
        if op == "gte":
            return actual >= expected
        if op == "lt":
            return actual < expected
        if op == "lte":
            return actual <= expected
        if op == "in":
            return _norm(actual) in [_norm(e) for e in expected]
        if op == "not_in":
            return _norm(actual) not in [_norm(e) for e in expected]
        if op == "contains":
            return str(expected).casefold() in str(actual).casefold()
        if op == "not_contains":
            return str(expected).casefold() not in str(actual).casefold()
        if op == "startswith":
            return str(actual).casefold().startswith(str(expected).casefold())
        if op == "between":
            return expected[0] <= actual <= expected[1]
    except TypeError:
        return False
    return False
