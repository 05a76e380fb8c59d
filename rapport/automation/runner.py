"""Running workflows: enrolling a record, taking its steps, waiting and resuming, the dry run.

Guarantees:

- **The database is the record of what is due.** A run is a row; its `position` is the next
  step of the version it started on. A task runs it at once (`tasks.run_workflow`); a wait
  queues the task for later with `core.schedules.queue_later`, and the workflow clock
  (`tasks.workflow_clock`) resumes any due run whose task was lost (a Redis wipe, the
  immediate backend in tests).
- **No step runs twice.** A worker takes a run with one conditional UPDATE of its lease; each
  step's effect, its `WorkflowStepRun` (unique per run and step) and the run's new position
  commit together, so a task delivered twice finds nothing to do, and a worker killed mid-run
  leaves the run at the step it was on (taken up again when its lease runs out). The one
  exception is a webhook call, whose receiver may see a repeat after such a crash (with the
  same `webhook-id`, so it can tell).
- **Pinned versions.** A run keeps the version it started with; editing a workflow makes a new
  version that only new runs use.
- **Loops stop.** A workflow that has run `LOOP_LIMIT` times for one record within
  `LOOP_WINDOW` (its own steps re-triggering it, say) records a run stopped with the reason
  instead of running again.
- **As the system.** Steps call services with `actor=None`; every audit record they write is
  stamped with source "workflow" and the run ("workflow-run-<id>" as the task id), and a done
  step notes "By workflow “X”" on the record's history.
- **Told.** A run's start, its end and a failed step are events (`automation.events`, also
  webhook events), emitted in the transaction that records them.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.automation import records
from rapport.automation.events import (
    WorkflowRunFailed,
    WorkflowRunFinished,
    WorkflowRunStarted,
    WorkflowStepFailed,
)
from rapport.automation.models import (
    RecordType,
    RunStatus,
    StepStatus,
    Workflow,
    WorkflowRun,
    WorkflowStepRun,
)
from rapport.automation.steps import STEPS, Branch, ContinueIf, Result, Step, StepContext
from rapport.core import display, events
from rapport.core.context import work_context

logger = logging.getLogger(__name__)

LOOP_LIMIT = 3
LOOP_WINDOW = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=10)
# A queued run whose task has not taken it by then is taken by the clock.
QUEUED_GRACE = dt.timedelta(minutes=1)
# Runs one task takes together (`queue_runs`, `chunks.advance_many`): beyond about a hundred a
# chunk's own statements no longer show in the cost per run (benchmarks/bench_segments.py).
RUNS_PER_TASK = 100
# `_take_step` reads the run's record of the step itself.
UNREAD = object()


@dataclass
class Instruction:
    """One entry of a version's steps laid out flat: a step, or a jump past an "else"."""

    key: str
    step: Step | None
    settings: dict
    else_at: int | None = None
    jump_to: int | None = None


def compile_steps(steps: list) -> list[Instruction]:
    """Lay nested steps out in one list: a branch is followed by its "yes" steps, a jump past
    the "no" steps, then the "no" steps (where the branch goes when its condition fails).
    Keys name the place in words a person can follow: "2", "3.yes.1", "3.no.2"."""
    program: list[Instruction] = []

    def lay(items, prefix):
        for index, item in enumerate(items or []):
            key = f"{prefix}{index + 1}"
            step = STEPS.get(item.get("type"))
            settings = {k: v for k, v in item.items() if k not in ("type", "yes", "no")}
            if step is not None and step.branches:
                at = len(program)
                program.append(Instruction(key, step, settings))
                lay(item.get("yes"), f"{key}.yes.")
                jump = len(program)
                program.append(Instruction(f"{key}.end", None, {}))
                program[at].else_at = len(program)
                lay(item.get("no"), f"{key}.no.")
                program[jump].jump_to = len(program)
            else:
                program.append(Instruction(key, step, settings))

    lay(steps, "")
    return program


def _noun(record_type: str) -> str:
    return "KPI objective" if record_type == RecordType.OBJECTIVE else record_type


def record_key(record_type: str, record_id: int) -> str:
    return f"{record_type}:{record_id}"


def _run_record_fields(record_type: str, record_id: int) -> dict:
    return {
        "contact_id": record_id if record_type == RecordType.CONTACT else None,
        "deal_id": record_id if record_type == RecordType.DEAL else None,
        "objective_id": record_id if record_type == RecordType.OBJECTIVE else None,
    }


# --- enrolling -------------------------------------------------------------------------------


def enrol(
    *,
    workflow: Workflow,
    record_id: int,
    summary: str,
    trigger_key: str = "",
    checked: bool = False,
    recent: int | None = None,
    now: dt.datetime | None = None,
) -> WorkflowRun | None:
    """Start a run of the workflow's current version for the record, if the record is live and
    matches its conditions (`checked`: the caller knows both, from `records.matching_ids`).
    Returns the run (possibly one stopped by the loop guard), or None when it does not enter.
    `recent`: the record's runs of the workflow in the loop window, when the caller counted
    them for a whole batch."""
    now = now or timezone.now()
    version = workflow.current_version
    if version is None:
        return None
    if not checked and (
        records.load(workflow.record_type, record_id) is None
        or not records.matches(workflow.record_type, version.conditions, record_id, now=now)
    ):
        return None
    key = record_key(workflow.record_type, record_id)
    if recent is None:
        recent = recent_runs(workflow, [key], now=now).get(key, 0)
    run = _new_run(workflow, record_id, summary, recent=recent, now=now, trigger_key=trigger_key)
    if run.status == RunStatus.LOOP_STOPPED:
        with transaction.atomic():
            run.save()
            events.emit(_ended_event(run))
        return run
    try:
        with transaction.atomic():
            run.save()
            # In the savepoint: an enrolment refused as a repeat announces nothing.
            events.emit(WorkflowRunStarted(**_event_fields(run)))
    except IntegrityError:
        return None  # already enrolled for this occasion (a date trigger fired twice)
    transaction.on_commit(lambda: queue_run(run.pk))
    return run


def _new_run(
    workflow: Workflow,
    record_id: int,
    summary: str,
    *,
    recent: int,
    now: dt.datetime,
    trigger_key: str = "",
) -> WorkflowRun:
    """The run to save: queued, or stopped by the loop guard when the record has had
    `recent` runs of the workflow within the window."""
    common = {
        "workflow": workflow,
        "version": workflow.current_version,
        "record_type": workflow.record_type,
        "record_key": record_key(workflow.record_type, record_id),
        "record_label": f"{RecordType(workflow.record_type).label} {record_id}",
        "trigger_summary": summary[:300],
        "trigger_key": trigger_key,
        **_run_record_fields(workflow.record_type, record_id),
    }
    if recent < LOOP_LIMIT:
        return WorkflowRun(**common)
    return WorkflowRun(
        **common,
        status=RunStatus.LOOP_STOPPED,
        outcome=(
            f"Not run: this workflow already ran {recent} times for this "
            f"{_noun(workflow.record_type)} in the last hour (at most {LOOP_LIMIT}), so "
            "its own steps are probably triggering it again. Check that no step changes "
            "what starts it."
        )[:500],
        finished_at=now,
    )


def enrol_many(*, workflow: Workflow, fired: list[tuple[int, str]], now: dt.datetime) -> int:
    """`enrol` for a batch of (record id, summary) the caller has checked (live, matching):
    the loop guard counted in one query, the runs in one INSERT with their events, and one
    task per `RUNS_PER_TASK` runs. For event triggers (no `trigger_key` to be unique on).
    Returns how many runs were written, loop-stopped ones included."""
    if workflow.current_version is None or not fired:
        return 0
    recent = recent_runs(
        workflow, [record_key(workflow.record_type, pk) for pk, _summary in fired], now=now
    )
    runs = []
    for record_id, summary in fired:
        key = record_key(workflow.record_type, record_id)
        run = _new_run(workflow, record_id, summary, recent=recent.get(key, 0), now=now)
        if run.status != RunStatus.LOOP_STOPPED:
            recent[key] = recent.get(key, 0) + 1
        runs.append(run)
    with transaction.atomic():
        WorkflowRun.objects.bulk_create(runs, batch_size=500)
        events.emit_many(
            _ended_event(run)
            if run.status == RunStatus.LOOP_STOPPED
            else WorkflowRunStarted(**_event_fields(run))
            for run in runs
        )
    queued = [run.pk for run in runs if run.status != RunStatus.LOOP_STOPPED]
    transaction.on_commit(lambda: queue_runs(queued))
    return len(runs)


def recent_runs(workflow: Workflow, keys: list[str], *, now: dt.datetime) -> dict[str, int]:
    """Runs of the workflow per record key within the loop window (the loop guard's count),
    for many records in one query."""
    rows = (
        WorkflowRun.objects.filter(
            workflow=workflow, record_key__in=keys, started_at__gte=now - LOOP_WINDOW
        )
        .exclude(status=RunStatus.LOOP_STOPPED)
        .values("record_key")
        .annotate(count=Count("id"))
    )
    return {row["record_key"]: row["count"] for row in rows}


def queue_runs(run_ids: list[int], run_after: dt.datetime | None = None) -> None:
    """Queue runs a task per `RUNS_PER_TASK` (at `run_after`, when given): a queue entry per
    run costs more than the run's own steps when thousands enter at once, and the task takes
    each step for its runs together (`chunks`). A task lost with its runs leaves them to the
    clock: queued runs after `QUEUED_GRACE`, waiting ones when due."""
    from rapport.automation import tasks
    from rapport.core import schedules

    for start in range(0, len(run_ids), RUNS_PER_TASK):
        chunk = run_ids[start : start + RUNS_PER_TASK]
        try:
            if run_after is None:
                tasks.run_workflows.enqueue(workflow_run_ids=chunk)
            else:
                schedules.queue_later(tasks.run_workflows, run_after, workflow_run_ids=chunk)
        except Exception:
            logger.exception(
                "could not queue %s workflow runs; the clock will take them", len(chunk)
            )


def queue_run(run_id: int, run_after: dt.datetime | None = None) -> None:
    """Queue the task that runs (or resumes) the run; when queuing fails the clock takes it."""
    from rapport.automation import tasks
    from rapport.core import schedules

    try:
        if run_after is None:
            tasks.run_workflow.enqueue(workflow_run_id=run_id)
        else:
            schedules.queue_later(tasks.run_workflow, run_after, workflow_run_id=run_id)
    except Exception:
        logger.exception("could not queue workflow run %s; the clock will take it", run_id)


# --- running ---------------------------------------------------------------------------------


def claimable(now: dt.datetime) -> Q:
    """Runs a worker may take now: queued or waiting and due, or held by a worker that died."""
    return (
        Q(status__in=[RunStatus.QUEUED, RunStatus.WAITING], resume_at__isnull=True)
        | Q(status__in=[RunStatus.QUEUED, RunStatus.WAITING], resume_at__lte=now)
        | Q(status=RunStatus.RUNNING, lease_until__lt=now)
    )


def _claim(run_id: int, now: dt.datetime) -> str | None:
    token = uuid.uuid4().hex
    claimed = (
        WorkflowRun.objects.filter(pk=run_id)
        .filter(claimable(now))
        .update(status=RunStatus.RUNNING, lease_token=token, lease_until=now + LEASE)
    )
    return token if claimed else None


def work_of(run: WorkflowRun) -> dict:
    """The work context a run's changes are stamped with (`core.context.work_context`)."""
    return {"source": "workflow", "task_id": f"workflow-run-{run.pk}"}


def _event_fields(run: WorkflowRun) -> dict:
    return {
        "run_id": run.pk,
        "workflow_id": run.workflow_id,
        "version": run.version.number,
        "record_type": run.record_type,
        "record_id": run.record_id,
    }


def _ended_event(run: WorkflowRun, step_key: str = ""):
    if run.status == RunStatus.FAILED:
        return WorkflowRunFailed(**_event_fields(run), step_key=step_key)
    return WorkflowRunFinished(**_event_fields(run), status=run.status)


def _finish(
    run: WorkflowRun, status: str, outcome: str, now: dt.datetime, *, step_key: str = ""
) -> None:
    run.status = status
    run.outcome = outcome[:500]
    run.finished_at = now
    run.lease_token = ""
    run.lease_until = None
    run.resume_at = None
    # The end and its webhook rows commit together, also where no step's transaction is open.
    with transaction.atomic():
        run.save(
            update_fields=[
                "status",
                "outcome",
                "finished_at",
                "lease_token",
                "lease_until",
                "resume_at",
                "position",
                "updated_at",
            ]
        )
        events.emit(_ended_event(run, step_key))


def advance(run_id: int, *, now: dt.datetime | None = None) -> str | None:
    """Take the run's steps from where it stands until it waits, stops or ends; returns its
    status, or None when it is not due or another worker holds it."""
    now = now or timezone.now()
    if _claim(run_id, now) is None:
        return None
    run = WorkflowRun.objects.select_related("workflow", "version").get(pk=run_id)
    with work_context(**work_of(run)):
        return _advance(run, now)


def _advance(run: WorkflowRun, now: dt.datetime) -> str:
    if run.workflow.is_deleted:
        _finish(run, RunStatus.CANCELLED, "The workflow was deleted.", now)
        return run.status
    program = compile_steps(run.version.steps)
    while run.position < len(program):
        instruction = program[run.position]
        if instruction.step is None:
            run.position = instruction.jump_to
            run.save(update_fields=["position", "updated_at"])
            continue
        record = records.load(run.record_type, run.record_id)
        if record is None:
            _finish(
                run,
                RunStatus.FAILED,
                f"The {run.get_record_type_display().lower()} was deleted or archived.",
                now,
            )
            return run.status
        with transaction.atomic():
            outcome = _take_step(run, instruction, record, now)
        if outcome == "wait":
            queue_run(run.pk, run.resume_at)
            return run.status
        if outcome in ("stop", "fail"):
            return run.status
    _finish(run, RunStatus.COMPLETED, "Every step was taken.", now)
    return run.status


def _take_step(run: WorkflowRun, instruction: Instruction, record, now, existing=UNREAD) -> str:
    """One step with its record and the run's new position, in the caller's transaction.
    `existing`: the run's record of this step (None: not taken yet), when the caller read it."""
    step = instruction.step
    if existing is UNREAD:
        existing = WorkflowStepRun.objects.filter(run=run, step_key=instruction.key).first()
    if existing is not None:
        if existing.status == StepStatus.WAITING:
            existing.status = StepStatus.DONE
            existing.outcome = f"Waited until {display.moment_text(now, 'dated')}"
            existing.finished_at = now
            existing.save(update_fields=["status", "outcome", "finished_at"])
        run.position += 1  # taken before (a repeated delivery): never again
        run.save(update_fields=["position", "updated_at"])
        return "next"
    context = StepContext(
        workflow=run.workflow,
        run=run,
        record_type=run.record_type,
        record=record,
        settings=instruction.settings,
        key=instruction.key,
        now=now,
    )
    next_position = run.position + 1
    if isinstance(step, Branch | ContinueIf):
        holds, words = step.check(context)
        result = Result(StepStatus.CONDITION_MET if holds else StepStatus.CONDITION_NOT_MET, words)
        if isinstance(step, Branch) and not holds:
            next_position = instruction.else_at
        if isinstance(step, ContinueIf) and not holds:
            result.stop = True
    else:
        try:
            with transaction.atomic():
                result = step.run(context)
        except (ValidationError, PermissionDenied) as exc:
            messages = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            result = Result(StepStatus.FAILED, "", error=messages[:500])
        except Exception as exc:  # a bug in one step must end its run, not the worker
            logger.exception("workflow step %s of run %s failed", instruction.key, run.pk)
            result = Result(StepStatus.FAILED, "", error=f"Unexpected error: {exc}"[:500])
    WorkflowStepRun.objects.create(
        run=run,
        step_key=instruction.key,
        step_type=step.type,
        label=step.describe(instruction.settings, run.record_type)[:300],
        status=result.status,
        outcome=result.outcome[:500],
        error=result.error[:500],
        started_at=now,
        finished_at=None if result.status == StepStatus.WAITING else timezone.now(),
    )
    if result.status == StepStatus.DONE and run.record_type != RecordType.OBJECTIVE:
        record_change(
            actor=None,
            action=ChangeAction.UPDATE,
            instance=record,
            after={"workflow": run.workflow.name, "step": instruction.key},
            message=f"By workflow “{run.workflow.name}”: {result.outcome}",
        )
    if result.status == StepStatus.FAILED:
        events.emit(
            WorkflowStepFailed(**_event_fields(run), step_key=instruction.key, step_type=step.type)
        )
        _finish(
            run,
            RunStatus.FAILED,
            f"Step {instruction.key} failed: {result.error}",
            now,
            step_key=instruction.key,
        )
        return "fail"
    if result.stop:
        run.position = next_position
        _finish(run, RunStatus.STOPPED, f"Stopped at step {instruction.key}: {result.outcome}", now)
        return "stop"
    if result.wait_until is not None:
        run.status = RunStatus.WAITING
        run.resume_at = result.wait_until
        run.lease_token = ""
        run.lease_until = None
        run.outcome = result.outcome
        run.save(
            update_fields=[
                "status",
                "resume_at",
                "lease_token",
                "lease_until",
                "outcome",
                "updated_at",
            ]
        )
        return "wait"
    run.position = next_position
    run.save(update_fields=["position", "updated_at"])
    return "next"


def resume_due(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Run every due run: waits that are over, queued runs whose task was lost, runs whose
    worker died (lease over). Returns how many were taken up."""
    from rapport.automation import chunks

    now = now or timezone.now()
    due = WorkflowRun.objects.filter(
        Q(status=RunStatus.WAITING, resume_at__lte=now)
        | Q(status=RunStatus.QUEUED, started_at__lte=now - QUEUED_GRACE)
        | Q(status=RunStatus.RUNNING, lease_until__lt=now)
    ).order_by("resume_at", "pk")
    run_ids = list(due.values_list("pk", flat=True)[:limit])
    taken = 0
    for start in range(0, len(run_ids), RUNS_PER_TASK):
        taken += chunks.advance_many(run_ids[start : start + RUNS_PER_TASK], now=now)
    return taken


# --- the dry run -----------------------------------------------------------------------------


def dry_run(*, workflow: Workflow, record, now: dt.datetime | None = None) -> dict:
    """What the workflow's current version would do for `record`, step by step, writing
    nothing: {"enters": bool, "misses": [conditions not met], "steps": [{key, label, would}]}."""
    now = now or timezone.now()
    version = workflow.current_version
    conditions = version.conditions if version else {}
    enters = records.matches(workflow.record_type, conditions, record.pk, now=now)
    report = {
        "enters": enters,
        "misses": [] if enters else records.explain(workflow.record_type, conditions, record.pk),
        "steps": [],
    }
    if not enters or version is None:
        return report
    program = compile_steps(version.steps)
    position = 0
    while position < len(program):
        instruction = program[position]
        if instruction.step is None:
            position = instruction.jump_to
            continue
        step = instruction.step
        context = StepContext(
            workflow=workflow,
            run=None,
            record_type=workflow.record_type,
            record=record,
            settings=instruction.settings,
            key=instruction.key,
            now=now,
        )
        label = step.describe(instruction.settings, workflow.record_type)
        position += 1
        if isinstance(step, Branch | ContinueIf):
            holds, words = step.check(context)
            if isinstance(step, Branch):
                would = (
                    f"Would take the “yes” path ({words})"
                    if holds
                    else (f"Would take the “no” path ({words})")
                )
                if not holds:
                    position = instruction.else_at
            else:
                would = f"Would go on ({words})" if holds else f"Would stop here ({words})"
            report["steps"].append({"key": instruction.key, "label": label, "would": would})
            if isinstance(step, ContinueIf) and not holds:
                break
            continue
        try:
            would = step.preview(context)
        except Exception as exc:  # a preview must never take the page down
            logger.exception("preview of step %s failed", instruction.key)
            would = f"Could not be previewed: {exc}"
        report["steps"].append({"key": instruction.key, "label": label, "would": would})
    return report
