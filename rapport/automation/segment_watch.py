"""The "enters a segment" and "leaves a segment" triggers.

Static lists emit their events when someone adds or removes contacts; dynamic segments are
checked on the workflow clock (`analytics.membership`), but only those an active workflow
watches: evaluating every segment every minute would cost what nobody asked for.
"""

from __future__ import annotations

import datetime as dt

from rapport.automation.models import RecordType, Workflow
from rapport.automation.params import Param
from rapport.core.ids import id_from_text

SEGMENT_TRIGGERS = ("segment_entered", "segment_left")


def _segments():
    from rapport.analytics.models import Segment

    return [(str(s.pk), s.name) for s in Segment.objects.filter(is_archived=False)]


def _segment_name(value: str) -> str | None:
    from rapport.analytics.models import Segment

    segment_id = id_from_text(value)
    if segment_id is None:
        return None
    return Segment.objects.filter(pk=segment_id).values_list("name", flat=True).first()


SEGMENT = Param(
    "segment", "Segment or list", "choice", required=True, choices=_segments, label_of=_segment_name
)


def _fired(verb: str):
    def fire(batch):
        from rapport.analytics.models import Segment
        from rapport.automation.triggers import Fired

        names = dict(
            Segment.objects.filter(pk__in={e.segment_id for e in batch}).values_list("pk", "name")
        )
        return [
            Fired(
                e.contact_id,
                f"{verb} “{names.get(e.segment_id, 'a deleted segment')}”",
                {"segment": str(e.segment_id)},
            )
            for e in batch
        ]

    return fire


def _words(verb: str):
    def words(settings: dict) -> str:
        name = _segment_name(settings.get("segment", "")) or "a segment"
        return f"The contact {verb} “{name}”"

    return words


def register(register_trigger, trigger_type, facts_match) -> None:
    """Called by `triggers` with its own registry (this module may not import it at load)."""
    from rapport.analytics.events import SegmentEntered, SegmentLeft

    for key, event, label, verb, fired_verb in (
        ("segment_entered", SegmentEntered, "A contact enters a segment", "enters", "Entered"),
        ("segment_left", SegmentLeft, "A contact leaves a segment", "leaves", "Left"),
    ):
        register_trigger(
            trigger_type(
                key=key,
                label=label,
                record_type=RecordType.CONTACT,
                params=[SEGMENT],
                event=event,
                fire=_fired(fired_verb),
                accepts=facts_match("segment"),
                words=_words(verb),
            )
        )


def watched_segment_ids() -> set[int]:
    """The segments an active workflow's trigger names."""
    ids = set()
    for trigger in (
        Workflow.objects.active()
        .filter(trigger_type__in=SEGMENT_TRIGGERS)
        .values_list("current_version__trigger", flat=True)
    ):
        segment_id = id_from_text((trigger or {}).get("segment"))
        if segment_id is not None:
            ids.add(segment_id)
    return ids


def check(*, now: dt.datetime | None = None) -> dict:
    """Check the watched dynamic segments (a clock tick's part)."""
    from rapport.analytics import membership

    return membership.check_watched(watched_segment_ids(), now=now)
