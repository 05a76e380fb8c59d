"""What the workflow runner tells subscribers (webhooks among them) about its runs.

Payloads are ids, statuses and the step's place and type — never the record's content, a
step's outcome or its error in words, which can quote the record (a name, an address) and would
outlive an erasure in a receiver's hands. A receiver that needs the detail reads the run
through the API, where access decides what it may see.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkflowRunStarted:
    run_id: int
    workflow_id: int
    version: int
    record_type: str
    record_id: int | None


@dataclass(frozen=True)
class WorkflowRunFinished:
    """A run ended without failing: completed, stopped by a condition, cancelled, or not run
    because the loop guard stopped it (`status` says which)."""

    run_id: int
    workflow_id: int
    version: int
    record_type: str
    record_id: int | None
    status: str


@dataclass(frozen=True)
class WorkflowRunFailed:
    """A run ended on a failure: a step failed (`step_key` names it) or its record is gone."""

    run_id: int
    workflow_id: int
    version: int
    record_type: str
    record_id: int | None
    step_key: str


@dataclass(frozen=True)
class WorkflowStepFailed:
    run_id: int
    workflow_id: int
    version: int
    record_type: str
    record_id: int | None
    step_key: str
    step_type: str
