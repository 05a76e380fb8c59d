"""The helpers importers share: names folded across systems, exported dates read."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from rapport.core.importing import fold, parse_export_moment, source_fingerprint


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
