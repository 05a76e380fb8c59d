"""Workflows: the services that make, change, switch and test them (administrators only).

A workflow is administrators' configuration, like a webhook subscription: every service here
requires `Action.ADMINISTER` of a user actor (no access rule is registered for it). Its steps
then run as the system (`runner`), whoever's record they meet.

Guarantees: everything given is checked before anything is written, and a problem is a
ValidationError naming the field ("trigger.stage", "conditions", "steps[2].template");
a change of trigger, conditions or steps writes a new `WorkflowVersion` (runs already
started keep theirs); each service writes one audit record.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.automation import records, runner, steps, triggers, webhooks
from rapport.automation.models import (
    OPEN_RUN_STATUSES,
    RecordType,
    RunStatus,
    Workflow,
    WorkflowRun,
    WorkflowVersion,
)
from rapport.core.conditions import ConditionError
from rapport.mail import secrets as stored_secrets


def _require(actor) -> None:
    access.require(actor, access.Action.ADMINISTER)


def clean_definition(
    *, record_type: str, trigger, conditions, steps_: list, errors: dict
) -> tuple[dict, dict, list]:
    """The trigger, conditions and steps checked for the record type (problems in `errors`)."""
    trigger = triggers.clean_trigger(trigger, record_type, errors)
    conditions = conditions if conditions not in (None, "") else {"all": []}
    try:
        records.check_conditions(record_type, conditions)
    except ConditionError as exc:
        errors["conditions"] = [exc.in_words]
    cleaned_steps = steps.clean_steps(steps_ if steps_ is not None else [], record_type, errors)
    return trigger, conditions, cleaned_steps


def _state(workflow: Workflow) -> dict:
    version = workflow.current_version
    return {
        "name": workflow.name,
        "description": workflow.description,
        "record_type": workflow.record_type,
        "is_active": workflow.is_active,
        "version": version.number if version else None,
        "trigger": version.trigger if version else {},
        "conditions": version.conditions if version else {},
        "steps": version.steps if version else [],
    }


def _clean_name(name, errors: dict) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = ["Give the workflow a name."]
    elif len(name) > 120:
        errors["name"] = ["At most 120 characters."]
    return name


def _clean_description(description, errors: dict) -> str:
    description = (description or "").strip() if isinstance(description, str) else ""
    if len(description) > 500:
        errors["description"] = ["At most 500 characters."]
    return description


@transaction.atomic
def create_workflow(
    *,
    actor,
    name: str,
    record_type: str,
    trigger: dict,
    conditions: dict | None = None,
    steps: list | None = None,
    description: str = "",
) -> Workflow:
    """Make a workflow, switched off (test it with a dry run, then `activate_workflow`)."""
    _require(actor)
    errors: dict[str, list[str]] = {}
    name = _clean_name(name, errors)
    description = _clean_description(description, errors)
    if record_type not in RecordType.values:
        errors["record_type"] = [f"Choose one of: {', '.join(RecordType.values)}."]
        raise ValidationError(errors)
    trigger, conditions, steps = clean_definition(
        record_type=record_type, trigger=trigger, conditions=conditions, steps_=steps, errors=errors
    )
    if errors:
        raise ValidationError(errors)
    secret = webhooks.new_secret()
    workflow = Workflow.objects.create(
        name=name,
        description=description,
        record_type=record_type,
        trigger_type=trigger["type"],
        signing_secret_encrypted=stored_secrets.encrypt(secret),
        signing_secret_hint=secret[-4:],
        created_by=actor,
        updated_by=actor,
    )
    workflow.current_version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=1,
        trigger=trigger,
        conditions=conditions,
        steps=steps,
        created_by=actor,
    )
    workflow.save(update_fields=["current_version"])
    record_change(
        actor=actor, action=ChangeAction.CREATE, instance=workflow, after=_state(workflow)
    )
    return workflow


@transaction.atomic
def update_workflow(
    *,
    actor,
    workflow: Workflow,
    name: str | None = None,
    description: str | None = None,
    trigger: dict | None = None,
    conditions: dict | None = None,
    steps: list | None = None,
) -> Workflow:
    """Change what is given (None leaves it). A new trigger, conditions or steps make a new
    version: new runs use it, runs already started finish on theirs."""
    _require(actor)
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if workflow.is_deleted:
        raise ValidationError({"workflow": ["This workflow was deleted."]})
    before = _state(workflow)
    current = workflow.current_version
    errors: dict[str, list[str]] = {}
    if name is not None:
        workflow.name = _clean_name(name, errors)
    if description is not None:
        workflow.description = _clean_description(description, errors)
    new_trigger, new_conditions, new_steps = clean_definition(
        record_type=workflow.record_type,
        trigger=current.trigger if trigger is None else trigger,
        conditions=current.conditions if conditions is None else conditions,
        steps_=current.steps if steps is None else steps,
        errors=errors,
    )
    if errors:
        raise ValidationError(errors)
    if (new_trigger, new_conditions, new_steps) != (
        current.trigger,
        current.conditions,
        current.steps,
    ):
        workflow.current_version = WorkflowVersion.objects.create(
            workflow=workflow,
            number=current.number + 1,
            trigger=new_trigger,
            conditions=new_conditions,
            steps=new_steps,
            created_by=actor,
        )
        workflow.trigger_type = new_trigger["type"]
        if workflow.is_active:
            workflow.next_fire_at = triggers.next_fire(new_trigger, timezone.now())
    workflow.updated_by = actor
    workflow.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=workflow,
        before=before,
        after=_state(workflow),
    )
    return workflow


@transaction.atomic
def activate_workflow(*, actor, workflow: Workflow) -> Workflow:
    """Switch the workflow on: from now its trigger enrols records."""
    _require(actor)
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if workflow.is_deleted:
        raise ValidationError({"workflow": ["This workflow was deleted."]})
    if not workflow.current_version.steps:
        raise ValidationError({"steps": ["Add at least one step before switching it on."]})
    if workflow.is_active:
        return workflow
    workflow.is_active = True
    workflow.activated_at = timezone.now()
    workflow.next_fire_at = triggers.next_fire(workflow.current_version.trigger, timezone.now())
    workflow.updated_by = actor
    workflow.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=workflow,
        before={"is_active": False},
        after={"is_active": True},
        message="Switched on.",
    )
    return workflow


@transaction.atomic
def deactivate_workflow(*, actor, workflow: Workflow) -> Workflow:
    """Switch the workflow off: nothing new enters; runs already started finish."""
    _require(actor)
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if not workflow.is_active:
        return workflow
    workflow.is_active = False
    workflow.next_fire_at = None
    workflow.updated_by = actor
    workflow.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=workflow,
        before={"is_active": True},
        after={"is_active": False},
        message="Switched off.",
    )
    return workflow


@transaction.atomic
def delete_workflow(*, actor, workflow: Workflow) -> int:
    """Delete the workflow: it never runs again and its open runs are cancelled (its runs are
    kept as history). Returns how many runs were cancelled."""
    _require(actor)
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    now = timezone.now()
    cancelled = WorkflowRun.objects.filter(workflow=workflow, status__in=OPEN_RUN_STATUSES).update(
        status=RunStatus.CANCELLED,
        outcome="Cancelled: the workflow was deleted.",
        finished_at=now,
        resume_at=None,
    )
    before = _state(workflow)
    workflow.is_deleted = True
    workflow.is_active = False
    workflow.next_fire_at = None
    workflow.updated_by = actor
    workflow.save()
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        instance=workflow,
        before=before,
        message=f"{cancelled} open runs cancelled." if cancelled else "",
    )
    return cancelled


def dry_run(*, actor, workflow: Workflow, record_id) -> dict:
    """What the workflow would do for one record, writing nothing (see `runner.dry_run`)."""
    _require(actor)
    record = None
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record = records.load(workflow.record_type, record_id)
    if record is None:
        noun = RecordType(workflow.record_type).label.lower()
        raise ValidationError({"record_id": [f"No such {noun} (or it is archived)."]})
    report = runner.dry_run(workflow=workflow, record=record)
    report["record"] = records.label(record)
    report["trigger"] = triggers.describe(workflow.current_version.trigger, workflow.record_type)
    return report


def signing_secret(*, actor, workflow: Workflow) -> str:
    """The secret that signs the workflow's webhook calls, for its administrators."""
    _require(actor)
    return stored_secrets.decrypt(workflow.signing_secret_encrypted)
