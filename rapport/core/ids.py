"""A record id sent as text (a query parameter, a picker's value, a setting in stored JSON).

"²" is a digit to `str.isdigit()` but not to `int()`, "٣" is decimal to `int()`, and twenty
digits overflow a 64-bit key: none of them names a row, and asking the database with one is a
500 (SQLite overflows) instead of "no such record". Every such text goes through `id_from_text`.
"""

# The most digits that always fit a 64-bit primary key.
MAX_DIGITS = 18


def id_from_text(value) -> int | None:
    """The id `value` names (ASCII digits that fit a key), or None."""
    text = "" if value is None else str(value).strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS:
        return int(text)
    return None
