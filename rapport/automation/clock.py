"""The workflow clock: what no event starts. Each tick resumes due runs, fires the date and
schedule triggers whose `next_fire_at` has come and checks the watched dynamic segments for
who entered or left them (a workflow is taken by one conditional UPDATE
that moves its `next_fire_at` on, so two ticks at once fire it once)."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from rapport.automation import records, runner, segment_watch, triggers
from rapport.automation.models import Workflow

logger = logging.getLogger(__name__)


def tick(*, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    resumed = runner.resume_due(now=now)
    enrolled = fire_due(now=now)
    segments = segment_watch.check(now=now)
    return {"resumed": resumed, "enrolled": enrolled, "segments": segments}


def fire_due(*, now: dt.datetime | None = None) -> int:
    """Fire every active date or schedule workflow that is due; returns the runs started."""
    now = now or timezone.now()
    due = Workflow.objects.active().filter(
        trigger_type__in=triggers.CLOCK_TRIGGERS, next_fire_at__lte=now
    )
    started = 0
    for workflow in due.select_related("current_version"):
        trigger = workflow.current_version.trigger
        taken = Workflow.objects.filter(pk=workflow.pk, next_fire_at=workflow.next_fire_at).update(
            next_fire_at=triggers.next_fire(trigger, now)
        )
        if not taken:
            continue
        try:
            started += fire(workflow, now=now)
        except Exception:
            logger.exception("workflow %s could not fire", workflow.pk)
    return started


def due_records(workflow: Workflow, *, now: dt.datetime):
    """The records a clock trigger enrols today: those matching the conditions and, for a
    date trigger, whose date is the given number of days away."""
    trigger = workflow.current_version.trigger
    queryset = records.matching(workflow.record_type, workflow.current_version.conditions, now=now)
    if trigger["type"] == "date":
        days = int(trigger.get("days", 0))
        today = timezone.localtime(now).date()
        # "N days before the date" fires on the day that is N days before it.
        day = today + dt.timedelta(days=days if trigger.get("when") == "before" else -days)
        queryset = records.with_date(workflow.record_type, queryset, trigger["date_field"], day)
    return queryset


def fire(workflow: Workflow, *, now: dt.datetime) -> int:
    trigger = workflow.current_version.trigger
    today = timezone.localtime(now).date().isoformat()
    summary = triggers.describe(trigger, workflow.record_type)
    started = 0
    for record_id in due_records(workflow, now=now).values_list("pk", flat=True).iterator():
        run = runner.enrol(
            workflow=workflow,
            record_id=record_id,
            summary=summary,
            trigger_key=f"{trigger['type']}:{today}",
            checked=True,
            now=now,
        )
        started += run is not None
    return started
