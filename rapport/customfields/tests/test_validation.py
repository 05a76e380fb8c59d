"""Unit tests of `customfields.validation`: one rule for UI, API and imports.

Definitions here are unsaved model instances, so these tests need no database.
"""

import datetime as dt
import decimal
import json

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from rapport.customfields.models import CustomFieldDefinition
from rapport.customfields.validation import (
    LONG_TEXT_LIMIT,
    TEXT_LIMIT,
    clean_value,
    clean_values,
    plain_number,
)


def definition(field_type, key="f", **options):
    return CustomFieldDefinition(
        entity="contact", key=key, label=key.title(), field_type=field_type, **options
    )


def refused(field_type, value, **options) -> str:
    with pytest.raises(ValidationError) as caught:
        clean_value(definition(field_type, **options), value)
    return " ".join(caught.value.messages)


@pytest.mark.parametrize("blank", [None, "", "   ", []])
@pytest.mark.parametrize(
    "field_type",
    ["text", "long_text", "number", "decimal", "date", "boolean", "url", "email"],
)
def test_blank_values_are_none_for_every_type(field_type, blank):
    assert clean_value(definition(field_type), blank) is None


# Text --------------------------------------------------------------------------------------


def test_text_is_stripped_and_numbers_become_text():
    assert clean_value(definition("text"), "  Gold  ") == "Gold"
    assert clean_value(definition("text"), 42) == "42"


def test_text_has_a_default_and_a_defined_limit():
    assert clean_value(definition("text"), "x" * TEXT_LIMIT) == "x" * TEXT_LIMIT
    assert "at most 255 characters (it has 256)" in refused("text", "x" * (TEXT_LIMIT + 1))
    assert "at most 5" in refused("text", "abcdef", max_length=5)
    assert clean_value(definition("long_text"), "x" * LONG_TEXT_LIMIT) == "x" * LONG_TEXT_LIMIT
    assert "at most 10000" in refused("long_text", "x" * (LONG_TEXT_LIMIT + 1))


@pytest.mark.parametrize("value", [True, ["a"], {"a": 1}])
def test_text_refuses_structures(value):
    assert refused("text", value) == "Enter text."


def test_text_refuses_control_characters_but_keeps_line_breaks():
    assert "control characters" in refused("text", "abc\x00def")
    assert "control characters" in refused("long_text", "bell\x07")
    assert clean_value(definition("long_text"), "line one\nline two\ttab") == (
        "line one\nline two\ttab"
    )


def test_markup_is_kept_as_text_for_the_template_to_escape():
    assert clean_value(definition("text"), "<b>hi</b>") == "<b>hi</b>"


# Numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("42", 42), (7, 7), ("-3", -3), ("1e3", 1000), ("5.0", 5), (" 8 ", 8)]
)
def test_whole_numbers(raw, expected):
    assert clean_value(definition("number"), raw) == expected


@pytest.mark.parametrize(
    "raw", ["4.5", "abc", "NaN", "sNaN", "Infinity", "-inf", True, False, [1], {"n": 1}, "1,5"]
)
def test_whole_numbers_refuse_what_is_not_one(raw):
    assert "whole number" in refused("number", raw)


def test_huge_numbers_are_refused_rather_than_breaking_json():
    assert "smaller than 10^15" in refused("number", "1e5000")
    assert "smaller than 10^15" in refused("decimal", "-1e20")
    value = clean_value(definition("number"), "999999999999999")
    assert json.loads(json.dumps(value)) == 999_999_999_999_999


def test_number_range_messages_read_plainly():
    options = {"min_value": decimal.Decimal("100"), "max_value": decimal.Decimal("2.500000e3")}
    assert refused("number", "99", **options) == "Must be at least 100."
    assert refused("number", "2501", **options) == "Must be at most 2500."
    assert clean_value(definition("number", **options), "100") == 100


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", "12.50"),
        ("1,234,567.891", "1234567.89"),
        (3, "3.00"),
        (0.1, "0.10"),
        ("-0.005", "0.00"),
        (decimal.Decimal("7.125"), "7.12"),
    ],
)
def test_decimals_are_stored_as_exact_text_with_two_places(raw, expected):
    assert clean_value(definition("decimal"), raw) == expected


@pytest.mark.parametrize("raw", ["1,5", "12,34.5", "1.2.3", "€5", "five", "sNaN", True])
def test_decimals_refuse_ambiguous_or_wrong_input(raw):
    assert "Enter a number" in refused("decimal", raw)


def test_decimal_range():
    assert refused("decimal", "0.5", min_value=decimal.Decimal("1")) == "Must be at least 1."


@given(st.decimals(min_value=-(10**14), max_value=10**14, places=2, allow_nan=False))
def test_decimal_text_round_trips(number):
    stored = clean_value(definition("decimal"), str(number))
    assert decimal.Decimal(stored) == number
    assert clean_value(definition("decimal"), stored) == stored


# Dates, booleans ---------------------------------------------------------------------------


def test_dates():
    field = definition("date")
    assert clean_value(field, "2024-02-29") == "2024-02-29"
    assert clean_value(field, dt.date(2024, 1, 2)) == "2024-01-02"
    assert clean_value(field, dt.datetime(2024, 1, 2, 23, 59)) == "2024-01-02"
    assert refused("date", "2023-02-29") == "Enter a date as YYYY-MM-DD."
    assert refused("date", "31/12/2024") == "Enter a date as YYYY-MM-DD."
    assert refused("date", ["2024-01-01"]) == "Enter a date as YYYY-MM-DD."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        ("yes", True),
        ("Y", True),
        ("1", True),
        ("on", True),
        (False, False),
        ("no", False),
        ("0", False),
        (" OFF ", False),
    ],
)
def test_booleans(raw, expected):
    assert clean_value(definition("boolean"), raw) is expected


def test_booleans_refuse_anything_else():
    assert refused("boolean", "maybe") == "Enter yes or no."
    assert refused("boolean", 2) == "Enter yes or no."


# Choices -----------------------------------------------------------------------------------


def test_choice_matches_case_insensitively_and_returns_the_defined_spelling():
    field = definition("choice", choices=["Gold", "Silver"])
    assert clean_value(field, " gold ") == "Gold"
    assert refused("choice", "Bronze", choices=["Gold", "Silver"]) == "Choose one of: Gold, Silver."
    assert "Choose one of" in refused("choice", ["Gold"], choices=["Gold", "Silver"])


def test_multi_choice_from_a_list_or_semicolons_without_duplicates():
    field = definition("multi_choice", choices=["Email", "Phone", "Post"])
    assert clean_value(field, ["phone", "Email", "PHONE"]) == ["Phone", "Email"]
    assert clean_value(field, "post; email;") == ["Post", "Email"]
    assert clean_value(field, [" ", ""]) is None
    assert "'Fax' is not a choice" in refused(
        "multi_choice", ["Email", "Fax"], choices=["Email", "Phone"]
    )


# URL, email --------------------------------------------------------------------------------


def test_urls():
    assert clean_value(definition("url"), " https://example.com/a?b=1 ") == (
        "https://example.com/a?b=1"
    )
    assert refused("url", "javascript:alert(1)") == "Enter a valid URL."
    assert refused("url", "ftp://example.com") == "Enter a valid URL."
    assert refused("url", "https://example.com/\x00") == "Enter a valid URL."
    assert "2000" in refused("url", "https://example.com/" + "a" * 2000)


def test_emails_are_lowercased():
    assert clean_value(definition("email"), " Ada@Example.COM ") == "ada@example.com"
    assert refused("email", "ada@") == "Enter a valid email address."


# clean_values ------------------------------------------------------------------------------


def fields():
    return [
        definition("text", key="region", is_required=True),
        definition("number", key="seats", default=5),
        definition("choice", key="tier", choices=["Gold", "Silver"]),
        definition("text", key="retired", is_active=False),
    ]


def test_clean_values_fills_defaults_and_drops_blanks():
    assert clean_values(fields(), {"region": "North", "tier": ""}) == {
        "region": "North",
        "seats": 5,
    }


def test_clean_values_reports_every_bad_key_at_once():
    with pytest.raises(ValidationError) as caught:
        clean_values(fields(), {"seats": "many", "tier": "Bronze", "colour": "red", "retired": 1})

    assert caught.value.message_dict == {
        "custom_fields.colour": ["Unknown custom field."],
        "custom_fields.retired": ["Unknown custom field."],
        "custom_fields.seats": ["Enter a whole number."],
        "custom_fields.tier": ["Choose one of: Gold, Silver."],
        "custom_fields.region": ["This field is required."],
    }


def test_clean_values_partial_keeps_what_is_not_given():
    existing = {"region": "North", "seats": 9, "tier": "Gold"}

    assert clean_values(fields(), {"tier": None}, existing=existing, partial=True) == {
        "region": "North",
        "seats": 9,
    }


def test_clean_values_full_update_keeps_existing_values_of_omitted_keys():
    existing = {"region": "North", "seats": 9}

    assert clean_values(fields(), {"tier": "silver"}, existing=existing) == {
        "region": "North",
        "seats": 9,
        "tier": "Silver",
    }


def test_clean_values_refuses_a_non_object():
    with pytest.raises(ValidationError) as caught:
        clean_values(fields(), ["region"])

    assert "custom_fields" in caught.value.message_dict


def test_plain_number():
    assert plain_number(decimal.Decimal("1E+2")) == "100"
    assert plain_number(decimal.Decimal("2.500000")) == "2.5"
