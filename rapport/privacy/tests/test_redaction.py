from rapport.privacy.redaction import Identifiers, redact_json, scrub_json, scrub_text
from rapport.privacy.services import _search_terms


def identifiers():
    return Identifiers.of(
        strings=["ann.lee@x.example", "+4930123456", "", "ab"],
        words=["Ann Lee", "Ann", "Lee", "A"],
    )


def test_identifiers_drop_what_is_too_short_and_put_the_longest_first():
    ids = identifiers()
    assert ids.strings == ("ann.lee@x.example", "+4930123456")
    assert ids.words == ("Ann Lee", "Ann", "Lee")
    assert ids.searchable == ("ann.lee@x.example", "+4930123456", "Ann Lee")


def test_names_are_replaced_as_whole_words_only():
    pattern = identifiers().pattern()
    assert scrub_text("Call ANN LEE at +4930123456", pattern) == "Call [erased] at [erased]"
    assert scrub_text("Annual fleet review", pattern) == "Annual fleet review"
    assert scrub_text("Mail ann.lee@x.example.", pattern) == "Mail [erased]."


def test_json_is_scrubbed_or_redacted_keeping_its_shape():
    pattern = identifiers().pattern()
    value = {"name": "Ann", "emails": ["ann.lee@x.example"], "score": 3, "ok": True, "none": None}
    assert scrub_json(value, pattern) == {
        "name": "[erased]",
        "emails": ["[erased]"],
        "score": 3,
        "ok": True,
        "none": None,
    }
    assert redact_json({"city": "Bremen", "n": 2, "empty": "", "tags": ["a"]}) == {
        "city": "[erased]",
        "n": 2,
        "empty": "",
        "tags": ["[erased]"],
    }


def test_search_terms_include_the_json_escaped_spelling():
    terms = _search_terms(Identifiers.of(strings=[], words=["Zoë Müller"]))
    assert terms == ["Zo\\u00eb M\\u00fcller", "Zoë Müller"]
