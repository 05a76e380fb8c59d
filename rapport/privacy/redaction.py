"""Pure helpers that take a person out of text and JSON: no database, no Django.

Two strengths, used by `services.erase_contact`:

- `scrub_*` replaces only the person's identifiers (emails, phone numbers, external ids, the
  full name and each name word) and keeps the rest: for records the business keeps, such as a
  deal's name ("Renewal for Jane Doe" → "Renewal for [erased]").
- `redact_json` replaces every string of a snapshot, keeping its keys, numbers and booleans: for
  records that were wholly about the person (their audit snapshots, their import rows), so the
  trail still shows which fields changed and when, but not what they held.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

REDACTED = "[erased]"
# Shorter strings would take ordinary words with them ("Al", "Li" inside other words are
# handled as whole words only; a one-letter name is left alone).
SHORTEST_IDENTIFIER = 3
SHORTEST_NAME_WORD = 2


@dataclass(frozen=True)
class Identifiers:
    """What identifies one person in free text."""

    strings: tuple[str, ...]  # matched anywhere: emails, phone numbers, external ids
    words: tuple[str, ...]  # matched as whole words: the full name and each name part

    @classmethod
    def of(cls, *, strings: Iterable[str], words: Iterable[str]) -> Identifiers:
        clean_strings = {s.strip() for s in strings if s and len(s.strip()) >= SHORTEST_IDENTIFIER}
        clean_words = {w.strip() for w in words if w and len(w.strip()) >= SHORTEST_NAME_WORD}
        # Longest first, so "jane.doe@example.com" goes before a shorter string inside it.
        return cls(
            strings=tuple(sorted(clean_strings, key=lambda s: (-len(s), s))),
            words=tuple(sorted(clean_words, key=lambda s: (-len(s), s))),
        )

    @property
    def searchable(self) -> tuple[str, ...]:
        """What a database `icontains` looks for to find rows that may mention the person: the
        strings and the multi-word full name (single name words would match half the table)."""
        return self.strings + tuple(w for w in self.words if " " in w)

    def pattern(self) -> re.Pattern | None:
        parts = [re.escape(s) for s in self.strings]
        parts += [rf"(?<!\w){re.escape(w)}(?!\w)" for w in self.words]
        if not parts:
            return None
        return re.compile("|".join(parts), re.IGNORECASE)


def scrub_text(text: str, pattern: re.Pattern | None) -> str:
    if not text or pattern is None or not isinstance(text, str):
        return text
    return pattern.sub(REDACTED, text)


def scrub_json(value, pattern: re.Pattern | None):
    """The same JSON with the person's identifiers replaced in every string (keys too)."""
    if isinstance(value, str):
        return scrub_text(value, pattern)
    if isinstance(value, list):
        return [scrub_json(item, pattern) for item in value]
    if isinstance(value, dict):
        return {scrub_text(str(k), pattern): scrub_json(v, pattern) for k, v in value.items()}
    return value


def redact_json(value):
    """Every string replaced, keys, numbers, booleans and nulls kept."""
    if isinstance(value, str):
        return REDACTED if value else value
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): redact_json(v) for k, v in value.items()}
    return value


def mentions(text: str, pattern: re.Pattern | None) -> bool:
    return bool(text) and pattern is not None and pattern.search(text) is not None
