"""When two contacts merge, the loser's enrollments follow the survivor. A sequence the
survivor is already in keeps the survivor's enrollment; the loser's stops, saying why."""

from __future__ import annotations

from django.utils import timezone

from rapport.sequences.choices import EnrollmentStatus, StopReason
from rapport.sequences.models import OPEN_STATUSES, Enrollment


def move_contact_enrollments(loser, survivor, actor) -> None:
    taken = set(
        Enrollment.objects.filter(contact=survivor, status__in=OPEN_STATUSES).values_list(
            "sequence_id", flat=True
        )
    )
    Enrollment.objects.filter(
        contact=loser, status__in=OPEN_STATUSES, sequence_id__in=taken
    ).update(
        status=EnrollmentStatus.STOPPED,
        stop_reason=StopReason.STOPPED_BY_USER,
        status_detail=f"merged into {survivor}, who is already in this sequence"[:500],
        next_due_at=None,
        ended_at=timezone.now(),
    )
    Enrollment.objects.filter(contact=loser).update(contact=survivor)


def connect() -> None:
    from rapport.core.registry import MergeRelation, register_merge_relation

    register_merge_relation(
        MergeRelation(key="sequence_enrollments", entity="contact", move=move_contact_enrollments)
    )
