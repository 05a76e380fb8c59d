"""Old links to merged-away contacts and organizations.

Merging belongs to data_exchange, a layer above contacts; it registers here how to find the
record a merged one lives on in, so the 360° pages can send an old link (a bookmark, an email,
a note) on to the survivor instead of answering 404. Without a registered lookup an unknown id
is simply not found.
"""

from __future__ import annotations

from collections.abc import Callable

# "contact" / "organization" → a function from a merged-away id to its survivor's id (or None).
_survivor_lookups: dict[str, Callable[[int], int | None]] = {}


def register_survivor_lookup(entity: str, lookup: Callable[[int], int | None]) -> None:
    """Idempotent: registering again for the same entity replaces the lookup."""
    _survivor_lookups[entity] = lookup


def survivor_id(entity: str, pk: int) -> int | None:
    lookup = _survivor_lookups.get(entity)
    return lookup(pk) if lookup is not None else None
