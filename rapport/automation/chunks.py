"""Running many workflow runs together: each step taken for every run that stands at it at once.

Thousands of runs start together when a segment fills up, and taking them one by one costs a
few dozen statements per run. `advance_many` claims a task's runs with one UPDATE and then,
step by step, loads the runs' records in one query and takes the step for all of them — the
step's own `run_many` (one service call for the batch: tags, notifications, waits, conditions)
or, for steps that act one record at a time (email, webhook, another app's step), `runner`'s
own `_take_step` for each run with what was loaded for all. Runs that part ways at a branch go
on in their own groups.

It keeps every guarantee of `runner`, and writes the same rows: a `WorkflowStepRun` per run and
step, the service's ChangeRecords and the "By workflow" note stamped with each run's own task id
("workflow-run-<id>"), the same events (webhook outbox rows included), the same run outcomes.
A step's effects, its records and the runs' new positions commit together, so a task delivered
again, or a chunk whose worker died half-way, finds the steps already recorded and takes them
never again. A batch that raises (one record refused by the access decision, a bug) writes
nothing, and its runs take that step one by one, each with its own failure as `runner` records
it. A run appears once per group: two runs of one record take a step one after the other.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import defaultdict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from rapport.audit.models import ChangeAction
from rapport.audit.services import change_record, record_changes
from rapport.automation import records, runner
from rapport.automation.events import WorkflowRunFailed, WorkflowRunFinished, WorkflowStepFailed
from rapport.automation.models import (
    RecordType,
    RunStatus,
    StepStatus,
    WorkflowRun,
    WorkflowStepRun,
)
from rapport.automation.runner import Instruction, compile_steps, work_of
from rapport.automation.steps import Branch, ContinueIf, Result, StepContext
from rapport.core import display, events
from rapport.core.context import work_context

logger = logging.getLogger(__name__)

# How often a chunk still at work renews its lease on the runs it holds.
LEASE_RENEWAL = dt.timedelta(minutes=1)


class Lease:
    """A chunk's hold on its runs, renewed while it works: a chunk of slow steps (a webhook per
    run) can outlast one `runner.LEASE`, and the clock would then take its runs from under it.
    Time runs on from the chunk's `now`, so a run taken at a given moment keeps that clock."""

    def __init__(self, run_ids: list[int], token: str, now: dt.datetime):
        self.run_ids = run_ids
        self.token = token
        self.now = now
        self.started = self.renewed = time.monotonic()

    def keep(self) -> None:
        moment = time.monotonic()
        if moment - self.renewed < LEASE_RENEWAL.total_seconds():
            return
        self.renewed = moment
        until = self.now + dt.timedelta(seconds=moment - self.started) + runner.LEASE
        WorkflowRun.objects.filter(
            pk__in=self.run_ids, lease_token=self.token, status=RunStatus.RUNNING
        ).update(lease_until=until)


def advance_many(run_ids: list[int], *, now: dt.datetime | None = None) -> int:
    """Take the steps of these runs (those due and not held by another worker) until each
    waits, stops or ends; returns how many were taken."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    WorkflowRun.objects.filter(pk__in=run_ids).filter(runner.claimable(now)).update(
        status=RunStatus.RUNNING, lease_token=token, lease_until=now + runner.LEASE
    )
    runs = list(
        WorkflowRun.objects.filter(pk__in=run_ids, lease_token=token)
        .select_related("workflow", "version")
        .order_by("pk")
    )
    lease = Lease([run.pk for run in runs], token, now)
    by_version = defaultdict(list)
    for run in runs:
        by_version[run.version_id].append(run)
    for group in by_version.values():
        try:
            _advance_together(group, now, lease)
        except Exception:
            # Whatever committed stands; the runs still held go on one by one.
            logger.exception("workflow runs %s could not be taken together", [r.pk for r in group])
            _one_by_one([run.pk for run in group], token, now)
    return len(runs)


def _one_by_one(run_ids: list[int], token: str, now: dt.datetime) -> None:
    held = WorkflowRun.objects.filter(
        pk__in=run_ids, lease_token=token, status=RunStatus.RUNNING
    ).select_related("workflow", "version")
    for run in held:
        try:
            with work_context(**work_of(run)):
                runner._advance(run, now)
        except Exception:
            # One run's crash leaves it to the clock (its lease ends); the others go on.
            logger.exception("workflow run %s could not be advanced", run.pk)


def _advance_together(runs: list[WorkflowRun], now: dt.datetime, lease: Lease) -> None:
    """Runs of one version, from wherever each stands: the runs at the earliest step take it
    together, then those at the next, and so on (steps only ever lead forward)."""
    if runs[0].workflow.is_deleted:
        for run in runs:
            with work_context(**work_of(run)):
                runner._finish(run, RunStatus.CANCELLED, "The workflow was deleted.", now)
        return
    program = compile_steps(runs[0].version.steps)
    at: dict[int, list[WorkflowRun]] = defaultdict(list)
    for run in runs:
        at[run.position].append(run)
    while at:
        position = min(at)
        group = at.pop(position)
        if position >= len(program):
            _complete(group, now)
            continue
        instruction = program[position]
        if instruction.step is None:
            # Written with the run's next step (a crash before then only jumps again).
            for run in group:
                run.position = instruction.jump_to
            at[instruction.jump_to].extend(group)
            continue
        group, later = _one_per_record(group)
        if later:
            at[position].extend(later)
        for run in _take(group, instruction, now, lease):
            at[run.position].append(run)


def _one_per_record(group: list[WorkflowRun]) -> tuple[list[WorkflowRun], list[WorkflowRun]]:
    seen, first, later = set(), [], []
    for run in group:
        (later if run.record_key in seen else first).append(run)
        seen.add(run.record_key)
    return first, later


def _take(group: list[WorkflowRun], instruction: Instruction, now, lease) -> list[WorkflowRun]:
    """The step for every run of the group; returns the runs that go on (at their new
    position)."""
    lease.keep()
    record_type = group[0].record_type
    loaded = records.load_many(record_type, [run.record_id for run in group])
    live = []
    for run in group:
        if run.record_id in loaded:
            live.append(run)
            continue
        with work_context(**work_of(run)):
            runner._finish(
                run,
                RunStatus.FAILED,
                f"The {run.get_record_type_display().lower()} was deleted or archived.",
                now,
            )
    if not live:
        return []
    taken = {
        step_run.run_id: step_run
        for step_run in WorkflowStepRun.objects.filter(run__in=live, step_key=instruction.key)
    }
    step = instruction.step
    if isinstance(step, Branch | ContinueIf) or step.takes_together(record_type):
        try:
            return _take_together(live, instruction, loaded, taken, now)
        except (ValidationError, PermissionDenied) as exc:
            # A record the batch refuses: one by one, that run records the refusal as its own.
            logger.info(
                "step %s refused for one of %s runs (%s); taking them one by one",
                instruction.key,
                len(live),
                exc,
            )
        except Exception:
            logger.exception(
                "step %s could not be taken for %s runs together; taking it one by one",
                instruction.key,
                len(live),
            )
    return _take_in_turn(live, instruction, loaded, taken, now, lease)


def _take_in_turn(live, instruction, loaded, taken, now, lease) -> list[WorkflowRun]:
    going = []
    for run in live:
        lease.keep()
        try:
            with work_context(**work_of(run)), transaction.atomic():
                outcome = runner._take_step(
                    run, instruction, loaded[run.record_id], now, existing=taken.get(run.pk)
                )
        except Exception:
            logger.exception("workflow run %s could not be advanced", run.pk)
            continue
        if outcome == "wait":
            runner.queue_run(run.pk, run.resume_at)
        elif outcome == "next":
            going.append(run)
    return going


def _take_together(live, instruction, loaded, taken, now) -> list[WorkflowRun]:
    """`runner._take_step` for all of `live` at once: the step's effects, its records, the
    notes on the records' history and the runs' new positions in one transaction. Run objects
    change only once it has committed."""
    step = instruction.step
    fresh = [run for run in live if run.pk not in taken]
    contexts = [
        StepContext(
            workflow=run.workflow,
            run=run,
            record_type=run.record_type,
            record=loaded[run.record_id],
            settings=instruction.settings,
            key=instruction.key,
            now=now,
            work=work_of(run),
        )
        for run in fresh
    ]
    # (run, its new state, the events its step set off), in the order of `live`.
    plan: list[tuple[WorkflowRun, dict, list]] = []
    with transaction.atomic():
        plan += _repeats([run for run in live if run.pk in taken], taken, now)
        results, next_positions = _results(step, instruction, fresh, contexts)
        _record_steps(instruction, fresh, contexts, results, now)
        for run, result, next_position in zip(fresh, results, next_positions, strict=True):
            plan.append(_after_step(run, instruction, result, next_position, now))
        _write_runs(plan)
        events.emit_many(event for _run, _state, emitted in plan for event in emitted)
    going, waiting = [], defaultdict(list)
    for run, state, _emitted in plan:
        for name, value in state.items():
            setattr(run, name, value)
        if run.status == RunStatus.WAITING:
            waiting[run.resume_at].append(run.pk)
        elif run.status == RunStatus.RUNNING:
            going.append(run)
    for resume_at, run_ids in waiting.items():
        runner.queue_runs(run_ids, run_after=resume_at)
    return going


def _repeats(runs, taken, now) -> list[tuple[WorkflowRun, dict, list]]:
    """Runs that took this step before (a wait now over, or a task delivered again): the wait
    is marked done, and none of them takes the step again."""
    waited = [taken[run.pk].pk for run in runs if taken[run.pk].status == StepStatus.WAITING]
    if waited:
        WorkflowStepRun.objects.filter(pk__in=waited).update(
            status=StepStatus.DONE,
            outcome=f"Waited until {display.moment_text(now, 'dated')}",
            finished_at=now,
        )
    return [(run, {"position": run.position + 1}, []) for run in runs]


def _results(step, instruction, runs, contexts) -> tuple[list[Result], list[int]]:
    """Each run's result and the position it goes on at (the "no" path of a failed branch)."""
    if not contexts:
        return [], []
    if isinstance(step, Branch | ContinueIf):
        results, positions = [], []
        for run, (holds, words) in zip(runs, step.check_many(contexts), strict=True):
            status = StepStatus.CONDITION_MET if holds else StepStatus.CONDITION_NOT_MET
            results.append(Result(status, words, stop=isinstance(step, ContinueIf) and not holds))
            positions.append(
                instruction.else_at if isinstance(step, Branch) and not holds else run.position + 1
            )
        return results, positions
    with transaction.atomic():
        results = step.run_many(contexts)
    if len(results) != len(contexts):
        raise ValueError(f"{step.type}.run_many gave {len(results)} results for {len(contexts)}")
    return results, [run.position + 1 for run in runs]


def _record_steps(instruction, runs, contexts, results, now) -> None:
    """The step's records and the "By workflow" notes on the records' history."""
    if not runs:
        return
    step = instruction.step
    label = step.describe(instruction.settings, runs[0].record_type)[:300]
    finished = timezone.now()
    WorkflowStepRun.objects.bulk_create(
        WorkflowStepRun(
            run=run,
            step_key=instruction.key,
            step_type=step.type,
            label=label,
            status=result.status,
            outcome=result.outcome[:500],
            error=result.error[:500],
            started_at=now,
            finished_at=None if result.status == StepStatus.WAITING else finished,
        )
        for run, result in zip(runs, results, strict=True)
    )
    notes = []
    for run, ctx, result in zip(runs, contexts, results, strict=True):
        if result.status != StepStatus.DONE or run.record_type == RecordType.OBJECTIVE:
            continue
        with work_context(**ctx.work):
            notes.append(
                change_record(
                    actor=None,
                    action=ChangeAction.UPDATE,
                    instance=ctx.record,
                    after={"workflow": run.workflow.name, "step": instruction.key},
                    message=f"By workflow “{run.workflow.name}”: {result.outcome}",
                )
            )
    record_changes(notes)


def _ended(status: str, outcome: str, now, **also) -> dict:
    return {
        "status": status,
        "outcome": outcome[:500],
        "finished_at": now,
        "lease_token": "",
        "lease_until": None,
        "resume_at": None,
        **also,
    }


def _after_step(run, instruction, result: Result, next_position: int, now):
    """What `runner._take_step` makes of a result: (run, its new state, events). The state
    always holds the position, as a jump before the step is only written with it."""
    fields = runner._event_fields(run)
    key = instruction.key
    if result.status == StepStatus.FAILED:
        state = _ended(
            RunStatus.FAILED, f"Step {key} failed: {result.error}", now, position=run.position
        )
        return (
            run,
            state,
            [
                WorkflowStepFailed(**fields, step_key=key, step_type=instruction.step.type),
                WorkflowRunFailed(**fields, step_key=key),
            ],
        )
    if result.stop:
        state = _ended(
            RunStatus.STOPPED,
            f"Stopped at step {key}: {result.outcome}",
            now,
            position=next_position,
        )
        return run, state, [WorkflowRunFinished(**fields, status=RunStatus.STOPPED)]
    if result.wait_until is not None:
        state = {
            "status": RunStatus.WAITING,
            "resume_at": result.wait_until,
            "lease_token": "",
            "lease_until": None,
            "outcome": result.outcome,
            "position": run.position,
        }
        return run, state, []
    return run, {"position": next_position}, []


def _write_runs(plan) -> None:
    """The runs' new states, one UPDATE per distinct state (most runs share one)."""
    alike = defaultdict(list)
    for run, state, _events in plan:
        alike[tuple(sorted(state.items(), key=lambda item: item[0]))].append(run.pk)
    updated_at = timezone.now()
    for state, run_ids in alike.items():
        WorkflowRun.objects.filter(pk__in=run_ids).update(**dict(state), updated_at=updated_at)


def _complete(group: list[WorkflowRun], now) -> None:
    """Every step taken: the runs end as completed, each told as `runner._finish` tells it."""
    position = group[0].position
    state = _ended(RunStatus.COMPLETED, "Every step was taken.", now, position=position)
    with transaction.atomic():
        WorkflowRun.objects.filter(pk__in=[run.pk for run in group]).update(
            **state, updated_at=timezone.now()
        )
        for run in group:
            for name, value in state.items():
                setattr(run, name, value)
        events.emit_many(runner._ended_event(run) for run in group)
