"""The helpers importers share: names folded across systems, exported dates read, rows seen
before settled, a row's problems collected."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.core.importing import (
    ImportPolicy,
    RowAction,
    RowErrors,
    RowResult,
    attempt,
    cell_moment,
    fold,
    parse_export_moment,
    settle_known,
    source_fingerprint,
)


def test_fold_sets_aside_case_accents_and_punctuation():
    assert fold("Closed – Won") == "closed won"
    assert fold("  Négociation ") == "negociation"
    assert fold("Closed-Lost to Competition") == "closed lost to competition"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-31", dt.datetime(2024, 3, 31)),
        ("2024-03-31 14:05", dt.datetime(2024, 3, 31, 14, 5)),
        ("Mar 31, 2024", dt.datetime(2024, 3, 31)),
        ("31 Mar 2024", dt.datetime(2024, 3, 31)),
    ],
)
def test_exported_dates_are_read_in_the_current_time_zone(raw, expected):
    assert parse_export_moment(raw) == timezone.make_aware(expected)


def test_salesforce_offsets_are_kept():
    moment = parse_export_moment("2023-04-05T10:20:30.000+0000")
    assert moment == dt.datetime(2023, 4, 5, 10, 20, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("raw", ["someday", "31/31/2024", "1850-01-01", "x" * 50])
def test_other_text_is_refused_in_words(raw):
    with pytest.raises(ValidationError) as caught:
        parse_export_moment(raw)
    assert caught.value.messages[0].startswith("Give a date")


def test_a_source_id_is_one_fingerprint_per_kind_of_record():
    assert source_fingerprint("deal", "006A") == source_fingerprint("deal", " 006A ")
    assert source_fingerprint("deal", "006A") != source_fingerprint("task", "006A")


def test_an_empty_cell_is_no_moment_unless_one_is_required():
    problems = []

    def fail(column, message):
        problems.append((column, message))

    assert cell_moment({"due": " "}, "due", fail) is None
    assert problems == []
    assert cell_moment({}, "due", fail, missing="Give the due date.") is None
    assert cell_moment({"due": "someday"}, "due", fail) is None
    assert problems[0] == ("due", "Give the due date.")
    assert problems[1][0] == "due" and problems[1][1].startswith("Give a date")


class Record:
    def __init__(self, pk):
        self.pk = pk


def settle(result, seen, record, *, policy=ImportPolicy.SKIP, may_change=True):
    return settle_known(
        result,
        seen=seen,
        key="f1",
        record=record,
        policy=policy,
        may_change=lambda _record: may_change,
        column="source_id",
        not_yours="Not yours.",
    )


def test_a_row_seen_in_this_run_or_imported_before_needs_no_write():
    result = RowResult(number=2, action=RowAction.CREATED, entity="deal")
    assert settle(result, {}, None) is False
    assert result.action == RowAction.CREATED

    seen: dict = {}
    assert settle(result, seen, Record(7)) is True
    assert (result.action, result.object_id, seen) == (RowAction.SKIPPED, 7, {"f1": 7})

    again = RowResult(number=3, action=RowAction.CREATED, entity="deal")
    assert settle(again, {"f1": "row:2"}, None) is True
    assert (again.action, again.object_id) == (RowAction.UNCHANGED, None)

    updated = RowResult(number=4, action=RowAction.CREATED, entity="deal")
    assert settle(updated, {}, Record(7), policy=ImportPolicy.OVERWRITE) is True
    assert updated.action == RowAction.UNCHANGED

    theirs = RowResult(number=5, action=RowAction.CREATED, entity="deal")
    assert settle(theirs, {}, Record(7), may_change=False) is True
    assert theirs.action == RowAction.ERROR
    assert theirs.errors == [{"field": "source_id", "message": "Not yours."}]


@pytest.mark.parametrize(
    ("problem", "errors"),
    [
        (RowErrors([{"field": "name", "message": "Name it."}]), [("name", "Name it.")]),
        (ValidationError({"at": ["Too late."]}), [("created_at", "Too late.")]),
        (PermissionDenied("Not yours."), [("contact", "Not yours.")]),
    ],
)
def test_a_rows_problems_become_its_errors(problem, errors):
    result = RowResult(number=2, action=RowAction.CREATED, entity="deal", object_id=3)

    def step():
        raise problem

    assert attempt(result, step, fields={"at": "created_at"}, permission_field="contact") is False
    assert result.action == RowAction.ERROR
    assert [(e["field"], e["message"]) for e in result.errors] == errors
    assert attempt(result, lambda: None) is True
