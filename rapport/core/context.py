"""Who and what caused the current unit of work: a request, a task or a command.

Services read this to stamp audit records without every caller threading the request id through.
"""

import contextvars
import uuid
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkContext:
    request_id: str = ""
    task_id: str = ""
    source: str = ""  # "web", "api", "task", "cli", "import"
    # Bulk work (the demo builder) that runs each record's costly after-write checks once for
    # everything when it ends: subscribers may skip their per-record pass while this is set.
    checks_deferred: bool = False


_current = contextvars.ContextVar("rapport_work_context", default=WorkContext())


def current() -> WorkContext:
    return _current.get()


@contextmanager
def work_context(**fields):
    """Run a block with the given request/task id; nested blocks inherit what they don't set."""
    base = _current.get()
    merged = WorkContext(
        request_id=fields.get("request_id", base.request_id),
        task_id=fields.get("task_id", base.task_id),
        source=fields.get("source", base.source),
        checks_deferred=fields.get("checks_deferred", base.checks_deferred),
    )
    token = _current.set(merged)
    try:
        yield merged
    finally:
        _current.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex
