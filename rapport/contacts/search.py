"""The search column's one rule: what is stored for a contact or organization, and how a query
is read against it.

Search is a substring match on a folded column (`search_text`, with a trigram index on
PostgreSQL), so both sides must be folded the same way:

- accents are dropped and case folded: "Müller", "MÜLLER" and "Muller" all store "muller";
- a German umlaut is also stored spelled out, so "mueller" finds Müller too ("müller" →
  "muller mueller"), the way people type names on a keyboard without umlauts;
- punctuation is kept, so an email address or a domain is still found as typed;
- a query made only of phone characters ("+49 1512", "(0151) 23-45") is read as one number
  and matched on digits, against the number's international and national digits
  (`identity.phone_search_digits`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

_UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue"}
_PHONE_CHARACTERS = frozenset("0123456789+-()./ ")
MOST_WORDS = 6
LONGEST_WORD = 100


def fold(text: str) -> str:
    """Case folded, accents dropped, everything else kept: 'Zoë Müller' → 'zoe muller'."""
    text = text.casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _spelled_out(word: str) -> str | None:
    """'müller' → 'mueller'; None when the word has no umlaut."""
    if not any(ch in _UMLAUTS for ch in word):
        return None
    return fold("".join(_UMLAUTS.get(ch, ch) for ch in word))


def search_text(parts: Iterable[str | None]) -> str:
    """The stored search column for these parts (names, emails, phone digits, organizations)."""
    text = " ".join(p for p in parts if p)
    if text.isascii():
        return text.casefold()
    words = text.casefold().split()
    extra = [spelled for word in words if (spelled := _spelled_out(word))]
    return " ".join([fold(word) for word in words] + extra)


def contact_search_text(
    *,
    first_name: str,
    last_name: str,
    emails: Iterable[str],
    phone_digits: Iterable[str],
    organizations: Iterable[str],
) -> str:
    """A contact's search column, the one formula for the services and the importer's bulk
    rows: names, emails (primary first), each phone's `identity.phone_search_digits` and the
    names of its organizations."""
    return search_text([first_name, last_name, *emails, *phone_digits, *organizations])


def organization_search_text(*, name: str, domain: str) -> str:
    """An organization's search column (services and importer alike)."""
    return search_text([name, domain])


def refold(stored: str) -> str:
    """An older search column (case folded only) brought to today's rule."""
    return search_text([stored])


def query_terms(query: str) -> list[str]:
    """The substrings a query must all match: its folded words, or one phone number's digits."""
    # PostgreSQL refuses a NUL in any text parameter; no stored text holds one.
    query = query.replace("\x00", " ").strip()
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) >= 4 and set(query) <= _PHONE_CHARACTERS:
        return [digits[:LONGEST_WORD]]
    terms = []
    for word in query.split()[:MOST_WORDS]:
        word_digits = "".join(ch for ch in word if ch.isdigit())
        if len(word_digits) >= 4 and len(word_digits) >= len(word) - 3:
            terms.append(word_digits[:LONGEST_WORD])
        else:
            terms.append(fold(word)[:LONGEST_WORD])
    return terms
