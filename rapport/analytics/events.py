"""What the analytics app tells other apps. Fields are plain values (they double as webhook
payloads)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentEntered:
    """A contact is now in a segment: added to a static list, or found matching a watched
    dynamic segment's conditions at its check."""

    segment_id: int
    contact_id: int


@dataclass(frozen=True)
class SegmentLeft:
    segment_id: int
    contact_id: int
