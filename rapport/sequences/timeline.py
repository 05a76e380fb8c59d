"""Sequences on the contact's timeline: the enrollment, each step's outcome, a step's task done,
and how the enrollment ended (the stop reason in words).

A timeline source (`core.registry.register_timeline_source`) reads these from the enrollment
and its `StepRun`s rather than writing Interactions: they are already the dated record, and an
Interaction would count as touching the contact (`last_touched_at`, which the at-risk and
"last touched" lists read), set off `interaction.logged` for webhooks and workflows, and repeat
the email entry the mail module already puts on the timeline for a sent step.
"""

from __future__ import annotations

from rapport.core.registry import TimelineEntry
from rapport.sequences.choices import EnrollmentStatus, StepOutcome, StopReason
from rapport.sequences.models import Enrollment, StepRun

KIND = "sequence"
ICON = "S"
STEP_WORDS = {
    StepOutcome.SENT: "email sent",
    StepOutcome.TASK_CREATED: "task created",
    StepOutcome.SKIPPED: "skipped",
    StepOutcome.DEFERRED: "moved by the daily limit",
}


def _entry(at, title: str, body: str = "") -> TimelineEntry:
    return TimelineEntry(occurred_at=at, kind=KIND, title=title, body=body, icon=ICON)


def _who(enrollment: Enrollment, named: bool) -> str:
    # On an organization's timeline the entries of all its people mix: name whose it is.
    return f"{enrollment.contact}: " if named else ""


def _enrolled(enrollment: Enrollment, named: bool) -> TimelineEntry:
    by = f"by {enrollment.enrolled_by}" if enrollment.enrolled_by_id else "by automation"
    return _entry(
        enrollment.created_at,
        f"{_who(enrollment, named)}Enrolled in the sequence “{enrollment.sequence}”",
        by,
    )


def _ended(enrollment: Enrollment, named: bool) -> TimelineEntry:
    who = _who(enrollment, named)
    if enrollment.status == EnrollmentStatus.FINISHED:
        return _entry(
            enrollment.ended_at,
            f"{who}Finished the sequence “{enrollment.sequence}”",
            enrollment.status_detail,
        )
    reason = StopReason(enrollment.stop_reason).label if enrollment.stop_reason else "Stopped"
    detail = enrollment.status_detail
    body = "" if detail.casefold() == reason.casefold() else detail
    return _entry(
        enrollment.ended_at,
        f"{who}Stopped in the sequence “{enrollment.sequence}”: {reason}",
        body,
    )


def _step(run: StepRun, named: bool) -> TimelineEntry:
    enrollment = run.enrollment
    return _entry(
        run.occurred_at,
        f"{_who(enrollment, named)}Sequence “{enrollment.sequence}”, step {run.position}: "
        f"{STEP_WORDS.get(run.outcome, run.get_outcome_display().lower())}",
        run.detail,
    )


def _task_done(run: StepRun, named: bool) -> TimelineEntry:
    enrollment = run.enrollment
    done_by = f" by {run.task.completed_by}" if run.task.completed_by_id else ""
    return _entry(
        run.task.completed_at,
        f"{_who(enrollment, named)}Sequence “{enrollment.sequence}”, step {run.position}: done",
        f"Task “{run.task.title}” completed{done_by}.",
    )


def timeline_entries(contact_ids, organization_ids, limit) -> list[TimelineEntry]:
    """The newest `limit` sequence entries of each kind for these contacts (an organization's
    timeline passes its members), newest first."""
    contact_ids = list(contact_ids or [])
    if not contact_ids or limit < 1:
        return []
    if not Enrollment.objects.filter(contact_id__in=contact_ids).exists():
        return []  # most contacts were never in a sequence: one query says so, not four
    named = bool(organization_ids)
    enrollments = Enrollment.objects.filter(contact_id__in=contact_ids).select_related(
        "sequence", "contact", "enrolled_by"
    )
    runs = StepRun.objects.filter(enrollment__contact_id__in=contact_ids).select_related(
        "enrollment__sequence", "enrollment__contact", "task__completed_by"
    )
    entries = [_enrolled(e, named) for e in enrollments.order_by("-created_at", "-id")[:limit]]
    entries += [
        _ended(e, named)
        for e in enrollments.filter(
            ended_at__isnull=False,
            status__in=[EnrollmentStatus.STOPPED, EnrollmentStatus.FINISHED],
        ).order_by("-ended_at", "-id")[:limit]
    ]
    entries += [_step(run, named) for run in runs.order_by("-occurred_at", "-id")[:limit]]
    entries += [
        _task_done(run, named)
        for run in runs.filter(task__completed_at__isnull=False).order_by(
            "-task__completed_at", "-id"
        )[:limit]
    ]
    entries.sort(key=lambda entry: entry.occurred_at, reverse=True)
    return entries[:limit]


def connect() -> None:
    from rapport.core.registry import TimelineSource, register_timeline_source

    register_timeline_source(TimelineSource(key="sequences", entries=timeline_entries))
