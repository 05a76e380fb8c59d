"""Workflows and their runs over JSON (administrators only: 403 for everyone else).

/workflows (CRUD, activate, deactivate, dry-run, the workflow's runs) and
/workflow-runs/{workflow_run_id} (one run with its steps). Thin: the services check and audit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, StringConstraints

from rapport.accounts import access
from rapport.automation import triggers, workflows
from rapport.automation.models import RecordType, RunStatus, Workflow, WorkflowRun
from rapport.core.api_types import PathId, RecordId
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate

router = Router(tags=["workflows"])

RecordTypeName = Literal[tuple(RecordType.values)]  # type: ignore[valid-type]
RunStatusName = Literal[tuple(RunStatus.values)]  # type: ignore[valid-type]
Name = Annotated[str, StringConstraints(max_length=120)]
Description = Annotated[str, StringConstraints(max_length=500)]
TRIGGER_HELP = (
    'The trigger: {"type": …} and its settings, e.g. {"type": "deal_stage_changed", "stage": "12"}.'
)
STEPS_HELP = (
    'The steps in order, e.g. [{"type": "add_tag", "tag": "VIP"}, {"type": "wait", "days": 2}]; '
    'a "branch" holds "condition", "yes" and "no".'
)


class WorkflowIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    record_type: RecordTypeName
    trigger: dict = Field(description=TRIGGER_HELP)
    conditions: dict | None = Field(None, description="A condition of the rule language.")
    steps: list[dict] = Field(default_factory=list, max_length=100, description=STEPS_HELP)


class WorkflowPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    trigger: dict | None = None
    conditions: dict | None = None
    steps: list[dict] | None = Field(None, max_length=100)


class WorkflowOut(Schema):
    id: int
    name: str
    description: str
    record_type: str
    is_active: bool
    version: int = Field(description="The version new runs start on.")
    trigger: dict
    trigger_words: str
    conditions: dict
    steps: list[dict]
    next_fire_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_version(obj):
        return obj.current_version.number

    @staticmethod
    def resolve_trigger(obj):
        return obj.current_version.trigger

    @staticmethod
    def resolve_trigger_words(obj):
        return triggers.describe(obj.current_version.trigger, obj.record_type)

    @staticmethod
    def resolve_conditions(obj):
        return obj.current_version.conditions

    @staticmethod
    def resolve_steps(obj):
        return obj.current_version.steps


class WorkflowStepRunOut(Schema):
    step_key: str
    step_type: str
    label: str
    status: str
    outcome: str
    error: str
    started_at: dt.datetime
    finished_at: dt.datetime | None


class WorkflowRunOut(Schema):
    id: int
    workflow_id: int
    version: int
    record_type: str
    record_id: int | None
    record_label: str
    trigger_summary: str
    status: str
    outcome: str
    resume_at: dt.datetime | None
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_version(obj):
        return obj.version.number

    @staticmethod
    def resolve_record_id(obj):
        return obj.record_id


class RunDetailOut(WorkflowRunOut):
    steps: list[WorkflowStepRunOut]

    @staticmethod
    def resolve_steps(obj):
        return list(obj.step_runs.all())


class RunPage(Schema):
    items: list[WorkflowRunOut]
    next_cursor: str | None


class RunParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    status: RunStatusName | None = None


class DryRunIn(Schema):
    model_config = ConfigDict(extra="forbid")

    record_id: RecordId = Field(description="The contact, deal or objective to test on.")


class DryRunStepOut(Schema):
    key: str
    label: str
    would: str


class DryRunOut(Schema):
    record: str
    trigger: str
    enters: bool = Field(description="Whether the record matches the workflow's conditions.")
    misses: list[str] = Field(description="The conditions it does not meet, in words.")
    steps: list[DryRunStepOut]


def _administrators_only(request) -> None:
    access.require(request.user, access.Action.ADMINISTER)


def _workflow(request, workflow_id: int) -> Workflow:
    _administrators_only(request)
    return get_object_or_404(
        Workflow.objects.listed().select_related("current_version"), pk=workflow_id
    )


@router.get("/workflows", response=list[WorkflowOut])
def list_workflows(request):
    """Every workflow (deleted ones are gone from the list; their runs stay)."""
    _administrators_only(request)
    return list(Workflow.objects.listed().select_related("current_version"))


@router.post("/workflows", response={201: WorkflowOut})
def create_workflow(request, payload: WorkflowIn):
    """Make a workflow, switched off: test it with dry-run, then activate it."""
    _administrators_only(request)
    try:
        workflow = workflows.create_workflow(actor=request.user, **payload.dict())
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(201, workflow)


@router.get("/workflows/{workflow_id}", response=WorkflowOut)
def get_workflow(request, workflow_id: PathId):
    return _workflow(request, workflow_id)


@router.patch("/workflows/{workflow_id}", response=WorkflowOut)
def patch_workflow(request, workflow_id: PathId, payload: WorkflowPatch):
    """Change it; a new trigger, conditions or steps make a new version (runs already started
    finish on theirs)."""
    workflow = _workflow(request, workflow_id)
    try:
        return workflows.update_workflow(
            actor=request.user, workflow=workflow, **payload.dict(exclude_unset=True)
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None


@router.delete("/workflows/{workflow_id}", response={204: None})
def delete_workflow(request, workflow_id: PathId):
    """Delete it: it never runs again and its waiting runs are cancelled."""
    workflow = _workflow(request, workflow_id)
    workflows.delete_workflow(actor=request.user, workflow=workflow)
    return Status(204, None)


@router.post("/workflows/{workflow_id}/activate", response=WorkflowOut)
def activate_workflow(request, workflow_id: PathId):
    workflow = _workflow(request, workflow_id)
    try:
        return workflows.activate_workflow(actor=request.user, workflow=workflow)
    except ValidationError as exc:
        raise relocate(exc, "body") from None


@router.post("/workflows/{workflow_id}/deactivate", response=WorkflowOut)
def deactivate_workflow(request, workflow_id: PathId):
    workflow = _workflow(request, workflow_id)
    return workflows.deactivate_workflow(actor=request.user, workflow=workflow)


@router.post("/workflows/{workflow_id}/dry-run", response=DryRunOut)
def dry_run(request, workflow_id: PathId, payload: DryRunIn):
    """What the workflow would do for one record, step by step; nothing is written."""
    workflow = _workflow(request, workflow_id)
    try:
        return workflows.dry_run(actor=request.user, workflow=workflow, record_id=payload.record_id)
    except ValidationError as exc:
        raise relocate(exc, "body") from None


@router.get("/workflows/{workflow_id}/runs", response=RunPage)
def list_runs(request, workflow_id: PathId, params: Query[RunParams]):
    """The workflow's runs, newest first."""
    check_query_params(request.GET, RunParams.model_fields)
    workflow = _workflow(request, workflow_id)
    queryset = workflow.runs.select_related("version")
    if params.status:
        queryset = queryset.filter(status=params.status)
    page = keyset_page(
        queryset,
        order_fields=("started_at",),
        descending=True,
        cursor=params.cursor,
        limit=params.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/workflow-runs/{workflow_run_id}", response=RunDetailOut)
def get_run(request, workflow_run_id: PathId):
    """One run with what each of its steps did."""
    _administrators_only(request)
    return get_object_or_404(
        WorkflowRun.objects.select_related("version").prefetch_related("step_runs"),
        pk=workflow_run_id,
    )
