"""Who enters and leaves a segment, for the workflows (and anything else) that react to it.

A static list knows at once: `services.add_to_list` / `remove_from_list` emit the events. A
dynamic segment has no members until it is evaluated, so a watched one is checked on the
workflow clock: who matches now is compared with who matched at the last check
(`WatchedMember`), the difference is stored and emitted as `SegmentEntered` / `SegmentLeft`.
Time alone moves people too ("no order in 90 days"), which a check sees and a change event
would not.

The first check of a segment only records: contacts already in it when someone starts
watching have not entered it then. A segment nobody watches any more is forgotten, so
watching it again starts from a fresh record rather than from a stale difference.

Reads are the system's (no user scope): who sees what is decided where the event is used.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from rapport.analytics.choices import SegmentKind
from rapport.analytics.events import SegmentEntered, SegmentLeft
from rapport.analytics.models import Segment, WatchedMember
from rapport.analytics.segments import compile_conditions
from rapport.contacts.models import Contact
from rapport.core import events
from rapport.core.conditions import ConditionError

logger = logging.getLogger(__name__)

# One transaction, and one delivery of events to the subscribers, per this many contacts: a
# segment that 100,000 contacts enter at once must not become one IN (…) of 100,000 ids.
CHUNK = 1000


def matching_ids(segment: Segment, *, now: dt.datetime) -> set[int]:
    """Every live contact meeting the segment's conditions, unscoped."""
    q, aliases = compile_conditions(segment.conditions or {"all": []}, now=now)
    matched = Contact.objects.alias(**aliases).filter(q).values("pk")
    return set(Contact.objects.active().filter(pk__in=matched).values_list("pk", flat=True))


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def check(segment: Segment, *, now: dt.datetime | None = None) -> tuple[int, int]:
    """Bring the segment's record of members up to date and emit who entered and who left.
    Returns (entered, left); (0, 0) when another check holds it or it cannot be evaluated."""
    now = now or timezone.now()
    if segment.kind != SegmentKind.DYNAMIC or segment.is_archived:
        return 0, 0
    # Taken by one conditional UPDATE, so two clock ticks at once check it once.
    taken = Segment.objects.filter(
        pk=segment.pk, members_checked_at=segment.members_checked_at
    ).update(members_checked_at=now)
    if not taken:
        return 0, 0
    first_check = segment.members_checked_at is None
    segment.members_checked_at = now
    try:
        current = matching_ids(segment, now=now)
    except (ConditionError, KeyError, ValueError):
        # A condition naming a custom field since deleted: say so, keep the record as it was.
        logger.warning("segment %s could not be evaluated; its watchers wait", segment.pk)
        if first_check:
            # Still unrecorded: the next check must only record too, or it would take everyone
            # already in the segment for a newcomer.
            Segment.objects.filter(pk=segment.pk, members_checked_at=now).update(
                members_checked_at=None
            )
            segment.members_checked_at = None
        return 0, 0
    if first_check:
        _record_first(segment, current, now=now)
        return 0, 0
    stored = set(WatchedMember.objects.filter(segment=segment).values_list("contact_id", flat=True))
    entered = sorted(current - stored)
    left = sorted(stored - current)
    # A check that outlasts the clock's tick can meet the next one (which may start as soon as
    # this one has): each emits only the rows it inserted or deleted itself, so nobody enters
    # or leaves twice.
    entered_count = left_count = 0
    for chunk in _chunks(entered):
        with transaction.atomic():
            inserted = _insert_members(segment.pk, chunk, now)
            events.emit_many(SegmentEntered(segment.pk, pk) for pk in inserted)
            entered_count += len(inserted)
    for chunk in _chunks(left):
        with transaction.atomic():
            deleted = _delete_members(segment.pk, chunk)
            events.emit_many(SegmentLeft(segment.pk, pk) for pk in deleted)
            left_count += len(deleted)
    return entered_count, left_count


def _insert_members(segment_id: int, contact_ids: list[int], now: dt.datetime) -> list[int]:
    """Insert the members not yet recorded; the contact ids this call inserted."""
    table = connection.ops.quote_name(WatchedMember._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    rows = ", ".join(["(%s, %s, %s)"] * len(contact_ids))
    params = [value for pk in contact_ids for value in (segment_id, pk, stamp)]
    with connection.cursor() as cursor:
        cursor.execute(
            # The table is the model's and `rows` only placeholders: the values are parameters.
            f"INSERT INTO {table} (segment_id, contact_id, entered_at) VALUES {rows} "  # noqa: S608
            "ON CONFLICT (segment_id, contact_id) DO NOTHING RETURNING contact_id",
            params,
        )
        return sorted(row[0] for row in cursor.fetchall())


def _delete_members(segment_id: int, contact_ids: list[int]) -> list[int]:
    """Delete the members still recorded; the contact ids this call deleted."""
    table = connection.ops.quote_name(WatchedMember._meta.db_table)
    marks = ", ".join(["%s"] * len(contact_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE segment_id = %s AND contact_id IN ({marks}) "  # noqa: S608
            "RETURNING contact_id",
            [segment_id, *contact_ids],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _record_first(segment: Segment, current: set[int], *, now: dt.datetime) -> None:
    """The first check records who is in, all or nothing: a record cut short would make the
    next check take the rest for newcomers. On failure the segment is left unchecked. They
    get no `entered_at`: they were there before anyone watched."""
    try:
        with transaction.atomic():
            WatchedMember.objects.filter(segment=segment).delete()
            WatchedMember.objects.bulk_create(
                [WatchedMember(segment=segment, contact_id=pk) for pk in current],
                batch_size=CHUNK,
            )
    except Exception:
        Segment.objects.filter(pk=segment.pk, members_checked_at=now).update(
            members_checked_at=None
        )
        raise


def check_watched(segment_ids: Iterable[int], *, now: dt.datetime | None = None) -> dict:
    """Check each watched dynamic segment; forget the record of those no longer watched."""
    now = now or timezone.now()
    watched = set(segment_ids)
    entered = left = 0
    for segment in Segment.objects.filter(pk__in=watched, kind=SegmentKind.DYNAMIC):
        try:
            came, went = check(segment, now=now)
        except Exception:
            # One segment's problem must not keep the others from being checked.
            logger.exception("segment %s could not be checked", segment.pk)
            continue
        entered += came
        left += went
    forgotten = Segment.objects.filter(members_checked_at__isnull=False).exclude(pk__in=watched)
    forgotten_ids = list(forgotten.values_list("pk", flat=True))
    if forgotten_ids:
        WatchedMember.objects.filter(segment_id__in=forgotten_ids).delete()
        Segment.objects.filter(pk__in=forgotten_ids).update(members_checked_at=None)
    return {"segments": len(watched), "entered": entered, "left": left}
