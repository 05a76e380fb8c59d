"""The bulk actions API: the same `core.bulk.start` as a list's selection bar.

    POST /api/v1/bulk/{entity}          {action, params, ids | filter}  → 202 and the operation
    GET  /api/v1/bulk/operations/{id}   the operation's progress and result
    POST /api/v1/bulk/operations/{id}/undo                             → 202

A read-only seat gets 403; records outside the caller's writable scope are counted
"skipped: not yours", even when their ids are sent. An operation is visible to the person who
started it (and administrators); anyone else gets 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from rapport.core import bulk
from rapport.core.api_types import PathId, RecordId
from rapport.core.models import BulkOperation

# A list's filter as its query string parses (a module-level name: the schema's `list` field
# would shadow the builtin inside the class).
FilterValues = dict[str, str | list[str]]


class BulkFilterIn(Schema):
    model_config = ConfigDict(extra="forbid")

    list: str = Field(
        max_length=40,
        description='The list whose filter chooses the records: "contacts", "organizations", '
        '"leads", "deals", "segment", "customers", "at_risk".',
    )
    params: FilterValues = Field(
        default_factory=dict,
        description='The list\'s filter, as its page\'s query string has it (e.g. {"tag": "vip"}).',
    )


class BulkIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=60, description="The action's key, e.g. assign_owner.")
    params: dict[str, Any] = Field(default_factory=dict, description="The action's parameters.")
    ids: list[RecordId] | None = Field(default=None, max_length=bulk.MAX_MEMBERS)
    filter: BulkFilterIn | None = None


class BulkOperationOut(Schema):
    id: int
    entity: str
    action: str
    action_label: str
    status: str
    params: dict[str, Any]
    selection: dict[str, Any]
    total: int
    done: int
    changed: int
    skipped: int
    failed: int
    reasons: dict[str, int]
    undone: int
    can_undo: bool
    request_id: str
    url: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    undone_at: dt.datetime | None
    error: str


def operation_out(user, operation: BulkOperation) -> dict:
    return {
        **{
            name: getattr(operation, name)
            for name in BulkOperationOut.model_fields
            if hasattr(operation, name)
        },
        "id": operation.pk,
        "can_undo": bulk.can_undo(user, operation),
        "url": reverse("core:bulk_operation", args=[operation.pk]),
    }


def make_router() -> Router:
    """The bulk routes on a new Router (the API mounts `router`; a test may mount its own)."""
    router = Router(tags=["bulk"])

    @router.get("/bulk/operations/{operation_id}", response=BulkOperationOut)
    def get_bulk_operation(request, operation_id: PathId):
        operation = BulkOperation.objects.filter(pk=operation_id).first()
        if operation is None or not bulk.may_see_operation(request.user, operation):
            raise Http404
        return operation_out(request.user, operation)

    @router.post("/bulk/operations/{operation_id}/undo", response={202: BulkOperationOut})
    def undo_bulk_operation(request, operation_id: PathId):
        operation = BulkOperation.objects.filter(pk=operation_id).first()
        if operation is None or not bulk.may_see_operation(request.user, operation):
            raise Http404
        operation = bulk.start_undo(actor=request.user, operation=operation)
        return Status(202, operation_out(request.user, operation))

    @router.post("/bulk/{entity}", response={202: BulkOperationOut})
    def start_bulk_operation(request, entity: str, payload: BulkIn):
        """Start a bulk action on the `ids` given or on every record the `filter` matches (send one
        of the two). Up to 200 records it has finished when this answers; larger ones run in the
        worker: follow `GET /bulk/operations/{id}`."""
        # Who may act is asked first: a read-only seat gets 403 whatever it names.
        if not any(kind.may_act(request.user) for kind in bulk.entities().values()):
            raise PermissionDenied("Your role may not change records.")
        kind = bulk.entity(entity)
        if not kind.may_act(request.user):
            raise PermissionDenied("Your role may not change these records.")
        selection: dict[str, Any] = {}
        if payload.ids is not None:
            selection["ids"] = payload.ids
        if payload.filter is not None:
            selection["list_key"] = payload.filter.list
            selection["list_params"] = payload.filter.params
        if not selection:
            selection["ids"] = []
        operation = bulk.start(
            actor=request.user,
            entity_key=entity,
            action_key=payload.action,
            params=payload.params,
            **selection,
        )
        return Status(202, operation_out(request.user, operation))

    return router


router = make_router()
