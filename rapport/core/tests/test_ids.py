import pytest

from rapport.core.ids import id_from_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        (" 7 ", 7),
        (7, 7),
        ("²", None),
        ("٣", None),
        ("1" * 19, None),
        ("", None),
        (None, None),
        ("-3", None),
        ("4.0", None),
    ],
)
def test_only_ascii_digits_that_fit_a_key_name_a_record(text, expected):
    assert id_from_text(text) == expected
