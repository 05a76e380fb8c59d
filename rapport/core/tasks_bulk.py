"""The worker's side of bulk operations: thin tasks that load the operation by id and run it.

Both are idempotent: `bulk.execute` skips the members that already have an outcome (each chunk
of 500 commits its changes with their outcomes), so a task run twice — a retry after a lost
worker, a replay from the outbox — finishes the work once and changes nothing twice.
"""

from __future__ import annotations

from django_tasks import task

from rapport.core import bulk


@task(takes_context=True)
def run_bulk_operation(context, operation_id: int) -> dict:
    """Run (or resume) one bulk operation; the progress page reads its counts per chunk."""
    operation = bulk.execute(operation_id, task_id=str(context.task_result.id))
    if operation is None:
        return {"missing": operation_id}
    return {"status": operation.status, "done": operation.done, "changed": operation.changed}


@task(takes_context=True)
def undo_bulk_operation(context, operation_id: int) -> dict:
    """Take back what one bulk operation changed (or finish doing so)."""
    operation = bulk.execute_undo(operation_id, task_id=str(context.task_result.id))
    if operation is None:
        return {"missing": operation_id}
    return {"status": operation.status, "undone": operation.undone}
