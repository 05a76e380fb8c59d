"""The figures of sequences and their steps, counted from the enrollments, the step records and
the sent messages' own tracking fields (first opened, first clicked, replied)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q

from rapport.sequences.choices import EnrollmentStatus, StepOutcome, StopReason
from rapport.sequences.models import Enrollment, StepRun


def rate(part: int, whole: int) -> float | None:
    """A share in percent with one decimal, None when there is nothing to divide by."""
    return round(100 * part / whole, 1) if whole else None


@dataclass
class MailFigures:
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0

    @property
    def reply_rate(self) -> float | None:
        return rate(self.replied, self.sent)

    @property
    def open_rate(self) -> float | None:
        return rate(self.opened, self.sent)


@dataclass
class SequenceFigures:
    enrolled: int = 0
    active: int = 0
    paused: int = 0
    finished: int = 0
    stopped: int = 0
    stopped_by_reason: dict[str, int] = field(default_factory=dict)
    mail: MailFigures = field(default_factory=MailFigures)


@dataclass
class StepFigures(MailFigures):
    position: int = 0
    tasks: int = 0
    skipped: int = 0
    waiting_for_limit: int = 0


def for_sequences(sequence_ids) -> dict[int, SequenceFigures]:
    """Figures of many sequences in three queries (the list page)."""
    sequence_ids = list(sequence_ids)
    figures = {pk: SequenceFigures() for pk in sequence_ids}
    labels = dict(StopReason.choices)
    rows = (
        Enrollment.objects.filter(sequence_id__in=sequence_ids)
        .values("sequence_id", "status", "stop_reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        target = figures[row["sequence_id"]]
        target.enrolled += row["n"]
        status = row["status"]
        if status == EnrollmentStatus.STOPPED:
            target.stopped += row["n"]
            label = labels.get(row["stop_reason"], "Other")
            target.stopped_by_reason[label] = target.stopped_by_reason.get(label, 0) + row["n"]
        else:
            setattr(target, status, getattr(target, status) + row["n"])
    mail_rows = (
        StepRun.objects.filter(enrollment__sequence_id__in=sequence_ids, outcome=StepOutcome.SENT)
        .values("enrollment__sequence_id")
        .order_by()
        .annotate(
            sent=Count("pk"),
            opened=Count("pk", filter=Q(message__first_opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(message__first_clicked_at__isnull=False)),
            replied=Count("pk", filter=Q(message__replied_at__isnull=False)),
        )
    )
    for row in mail_rows:
        figures[row["enrollment__sequence_id"]].mail = MailFigures(
            sent=row["sent"], opened=row["opened"], clicked=row["clicked"], replied=row["replied"]
        )
    return figures


def for_sequence(sequence) -> SequenceFigures:
    return for_sequences([sequence.pk])[sequence.pk]


def for_steps(sequence) -> list[StepFigures]:
    """One row per current step, in order: its emails and their opens, clicks and replies (the
    reply rate per step), the tasks it created, what it skipped and what waits for the limit."""
    counts: dict[int, dict] = defaultdict(dict)
    rows = (
        StepRun.objects.filter(step__sequence=sequence)
        .values("step_id")
        .order_by()
        .annotate(
            sent=Count("pk", filter=Q(outcome=StepOutcome.SENT)),
            opened=Count(
                "pk", filter=Q(outcome=StepOutcome.SENT, message__first_opened_at__isnull=False)
            ),
            clicked=Count(
                "pk", filter=Q(outcome=StepOutcome.SENT, message__first_clicked_at__isnull=False)
            ),
            replied=Count(
                "pk", filter=Q(outcome=StepOutcome.SENT, message__replied_at__isnull=False)
            ),
            tasks=Count("pk", filter=Q(outcome=StepOutcome.TASK_CREATED)),
            skipped=Count("pk", filter=Q(outcome=StepOutcome.SKIPPED)),
            waiting=Count("pk", filter=Q(outcome=StepOutcome.DEFERRED)),
        )
    )
    for row in rows:
        counts[row["step_id"]] = row
    result = []
    for step in sequence.steps.all():
        row = counts.get(step.pk, {})
        result.append(
            StepFigures(
                position=step.position,
                sent=row.get("sent", 0),
                opened=row.get("opened", 0),
                clicked=row.get("clicked", 0),
                replied=row.get("replied", 0),
                tasks=row.get("tasks", 0),
                skipped=row.get("skipped", 0),
                waiting_for_limit=row.get("waiting", 0),
            )
        )
    return result
