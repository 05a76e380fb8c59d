"""Email normalization: the fast path for plain addresses never accepts what Django rejects."""

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from hypothesis import example, given
from hypothesis import strategies as st

from rapport.contacts.identity import _PLAIN_EMAIL, normalize_email

validate = EmailValidator()
LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=70)
LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_+-.", min_size=1, max_size=30)


@given(local=LOCAL, labels=st.lists(LABEL, min_size=1, max_size=4))
@example(local="a", labels=["-b", "com"])
@example(local="a..b", labels=["example", "com"])
@example(local="a", labels=["example", "c0m"])
def test_the_plain_shape_is_a_subset_of_what_django_accepts(local, labels):
    email = f"{local}@{'.'.join(labels)}"
    if _PLAIN_EMAIL.fullmatch(email):
        validate(email)  # raises when the fast path would have let a bad address through


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" Ann.Lee+crm@Example.COM ", "ann.lee+crm@example.com"),
        ("o'neil@example.ie", "o'neil@example.ie"),
    ],
)
def test_normalize_email_accepts_plain_and_unusual_addresses(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["ann@", "ann@example", "ann lee@example.com", "a@-b.com"])
def test_normalize_email_rejects_bad_addresses(raw):
    with pytest.raises(ValidationError):
        normalize_email(raw)
