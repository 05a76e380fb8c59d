"""The rule language: what it refuses, and that the database and memory agree on every rule."""

import datetime as dt

import pytest
from django.db.models import Q
from django.utils import timezone

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.conditions import (
    MAX_DEPTH,
    MAX_PARTS,
    ConditionError,
    ConditionField,
    FieldSet,
    matches,
    to_q,
    validate,
)
from rapport.customfields.services import create_definition

FIELDS = FieldSet(
    {
        "first_name": ConditionField("first_name", lambda c: c.first_name, "text"),
        "country": ConditionField("country", lambda c: c.country, "text"),
        "stage": ConditionField("lifecycle_stage", lambda c: c.lifecycle_stage, "choice"),
        "tags": ConditionField(
            "tags__name", lambda c: [t.name for t in c.tags.all()], "tags", many=True
        ),
        "employees": ConditionField(
            "custom_fields__employees", lambda c: c.custom_fields.get("employees"), "number"
        ),
        "created": ConditionField("created_at__date", lambda c: c.created_at, "date"),
    }
)


def error_of(condition) -> tuple[str, str]:
    with pytest.raises(ConditionError) as excinfo:
        validate(condition, FIELDS)
    return excinfo.value.path, excinfo.value.message


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        ([], "$", "must be an object"),
        ({"all": [], "any": []}, "$", "a group has exactly one key: all, any or not"),
        ({"all": {}}, "$.all", "must be a list of conditions"),
        (
            {"all": [{"field": "salary", "op": "eq", "value": 1}]},
            "$.all[0].field",
            "unknown field 'salary'",
        ),
        ({"field": "country", "op": "like", "value": "D%"}, "$.op", "unknown operator 'like'"),
        ({"field": "country", "op": "eq"}, "$.value", "is required for this operator"),
        ({"field": "country", "op": "in", "value": "DE"}, "$.value", "must be a list"),
        (
            {"field": "employees", "op": "between", "value": [1]},
            "$.value",
            "must be a list of two values",
        ),
        ({"field": "employees", "op": "gt", "value": "10"}, "$.value", "must be a number"),
        ({"field": "employees", "op": "gt", "value": True}, "$.value", "must be a number"),
        (
            {"field": "created", "op": "gt", "value": "last week"},
            "$.value",
            "must be a date (YYYY-MM-DD)",
        ),
        (
            {"field": "country", "op": "eq", "value": "DE", "lookup": "x"},
            "$",
            "unknown keys: lookup",
        ),
        (
            {"not": {"any": [{"field": "x", "op": "eq", "value": 1}]}},
            "$.not.any[0].field",
            "unknown field 'x'",
        ),
    ],
)
def test_validate_names_the_bad_part(condition, path, message):
    assert error_of(condition) == (path, message)


def test_depth_and_size_are_bounded():
    deep = {"field": "country", "op": "eq", "value": "DE"}
    for _ in range(MAX_DEPTH + 1):
        deep = {"not": deep}
    assert error_of(deep)[1] == f"nested too deeply (at most {MAX_DEPTH} levels)"
    wide = {"any": [{"field": "country", "op": "eq", "value": "DE"}] * MAX_PARTS}
    assert error_of(wide)[1] == f"too many parts (at most {MAX_PARTS})"


def test_to_q_refuses_an_invalid_condition():
    with pytest.raises(ConditionError):
        to_q({"field": "password", "op": "eq", "value": "x"}, FIELDS)


@pytest.fixture
def people(db, admin_user):
    create_definition(
        actor=admin_user, entity="contact", key="employees", label="Employees", field_type="number"
    )
    rows = [
        ("Ada", "DE", "lead", ["VIP", "Press"], 12, 0),
        ("Bert", "de", "customer", ["vip"], 200, 10),
        ("Cleo", "FR", "customer", [], None, 40),
        ("Dan", "", "churned", ["Press"], 3, 400),
    ]
    for name, country, stage, tags, employees, days_ago in rows:
        contact = make_contact(
            actor=admin_user,
            first_name=name,
            country=country,
            lifecycle_stage=stage,
            tags=tags,
            custom_fields={"employees": employees} if employees is not None else {},
        )
        Contact.objects.filter(pk=contact.pk).update(
            created_at=timezone.now() - dt.timedelta(days=days_ago)
        )
    return {c.first_name: c for c in Contact.objects.prefetch_related("tags")}


def database_names(condition) -> list[str]:
    return sorted(
        set(Contact.objects.filter(to_q(condition, FIELDS)).values_list("first_name", flat=True))
    )


def memory_names(condition, people) -> list[str]:
    return sorted(name for name, c in people.items() if matches(condition, c, FIELDS))


CASES = [
    ({"field": "country", "op": "eq", "value": "de"}, ["Ada", "Bert"]),
    ({"field": "country", "op": "ne", "value": "DE"}, ["Cleo", "Dan"]),
    ({"field": "country", "op": "in", "value": ["de", "fr"]}, ["Ada", "Bert", "Cleo"]),
    ({"field": "country", "op": "not_in", "value": ["DE"]}, ["Cleo", "Dan"]),
    ({"field": "country", "op": "is_empty"}, ["Dan"]),
    ({"field": "country", "op": "is_not_empty"}, ["Ada", "Bert", "Cleo"]),
    ({"field": "first_name", "op": "contains", "value": "E"}, ["Bert", "Cleo"]),
    ({"field": "first_name", "op": "not_contains", "value": "e"}, ["Ada", "Dan"]),
    ({"field": "first_name", "op": "startswith", "value": "b"}, ["Bert"]),
    ({"field": "stage", "op": "eq", "value": "customer"}, ["Bert", "Cleo"]),
    ({"field": "tags", "op": "eq", "value": "vip"}, ["Ada", "Bert"]),
    ({"field": "tags", "op": "contains", "value": "press"}, ["Ada", "Dan"]),
    ({"field": "tags", "op": "ne", "value": "VIP"}, ["Cleo", "Dan"]),
    ({"field": "tags", "op": "in", "value": ["press", "nothing"]}, ["Ada", "Dan"]),
    ({"field": "tags", "op": "is_empty"}, ["Cleo"]),
    ({"field": "employees", "op": "gt", "value": 10}, ["Ada", "Bert"]),
    ({"field": "employees", "op": "lte", "value": 12}, ["Ada", "Dan"]),
    ({"field": "employees", "op": "between", "value": [3, 12]}, ["Ada", "Dan"]),
    ({"field": "employees", "op": "is_empty"}, ["Cleo"]),
    (
        {
            "field": "created",
            "op": "gte",
            "value": str(timezone.now().date() - dt.timedelta(days=30)),
        },
        ["Ada", "Bert"],
    ),
    (
        {
            "all": [
                {"field": "stage", "op": "in", "value": ["customer", "lead"]},
                {"not": {"field": "country", "op": "eq", "value": "FR"}},
            ]
        },
        ["Ada", "Bert"],
    ),
    (
        {
            "any": [
                {"field": "country", "op": "eq", "value": "FR"},
                {"field": "employees", "op": "lt", "value": 5},
            ]
        },
        ["Cleo", "Dan"],
    ),
    ({"all": []}, ["Ada", "Bert", "Cleo", "Dan"]),
    ({"any": []}, []),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_database_and_memory_agree(people, condition, expected):
    validate(condition, FIELDS)
    assert database_names(condition) == expected
    assert memory_names(condition, people) == expected


def test_matches_refuses_a_field_without_a_getter():
    fields = FIELDS.with_extra({"score": ConditionField("score", None, "number")})
    with pytest.raises(ConditionError, match="only be evaluated in the database"):
        matches({"field": "score", "op": "gt", "value": 1}, object(), fields)


def test_to_q_builds_plain_lookups():
    q = to_q({"field": "employees", "op": "gte", "value": 5}, FIELDS)
    assert q == Q(custom_fields__employees__gte=5)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("$", "The condition: oops"),
        ("$.all[1].value", "Condition 2, value: oops"),
        ("$.any[0].all[2].op", "Condition 1.3, operator: oops"),
        ("$.field", "The condition, field: oops"),
    ],
)
def test_condition_errors_in_words(path, words):
    from rapport.core.conditions import ConditionError

    assert ConditionError(path, "oops").in_words == words
