"""What the sales app tells other apps. Fields are plain values (they double as webhook payloads)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DealCreated:
    deal_id: int
    pipeline_id: int
    stage_id: int
    actor_id: int | None


@dataclass(frozen=True)
class DealUpdated:
    deal_id: int
    actor_id: int | None
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class DealStageChanged:
    deal_id: int
    pipeline_id: int
    from_stage_id: int | None
    to_stage_id: int
    status: str
    actor_id: int | None
    is_undo: bool = False


@dataclass(frozen=True)
class LeadConverted:
    contact_id: int
    deal_id: int
    actor_id: int | None


@dataclass(frozen=True)
class LeadAssigned:
    contact_id: int
    owner_id: int | None
    previous_owner_id: int | None
    method: str
    rule_id: int | None


@dataclass(frozen=True)
class LeadScoreChanged:
    contact_id: int
    score: int
    previous_score: int | None
    basis: str


@dataclass(frozen=True)
class WebFormSubmitted:
    form_id: int
    submission_id: int
    contact_id: int
    is_new_contact: bool


@dataclass(frozen=True)
class TaskCreated:
    task_id: int
    assignee_id: int
    actor_id: int | None


@dataclass(frozen=True)
class TaskCompleted:
    task_id: int
    assignee_id: int
    actor_id: int | None


@dataclass(frozen=True)
class LeadModelTrained:
    model_id: int
    status: str
    roc_auc: float | None
