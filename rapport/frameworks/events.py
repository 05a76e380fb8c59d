"""What the CRM models tell the rest of Rapport (delivered after commit; also webhook payloads)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelChosen:
    choice_id: int
    model_key: str
    actor_id: int | None


@dataclass(frozen=True)
class ObjectiveSet:
    objective_id: int
    model_key: str
    stage_key: str
    kpi: str
    owner_id: int


@dataclass(frozen=True)
class ObjectiveOffTrack:
    objective_id: int
    kpi: str
    owner_id: int
    projected: float | None


@dataclass(frozen=True)
class AssessmentCompleted:
    assessment_id: int
    model_key: str
    respondents: int
