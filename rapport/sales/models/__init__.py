"""The sales app's tables."""

from rapport.sales.models.leads import (
    AssignmentRule,
    LeadAssignment,
    LeadScore,
    LeadScoreHistory,
    LeadScoringModel,
    ProductInterest,
    RoundRobinState,
    SalesSettings,
    ScoringRule,
    WebForm,
    WebFormRateCounter,
    WebFormSubmission,
)
from rapport.sales.models.pipelines import (
    Deal,
    DealLine,
    DealStageChange,
    LostReason,
    Pipeline,
    Stage,
)
from rapport.sales.models.work import Notification, PeriodicJob, Task

__all__ = [
    "AssignmentRule",
    "Deal",
    "DealLine",
    "DealStageChange",
    "LeadAssignment",
    "LeadScore",
    "LeadScoreHistory",
    "LeadScoringModel",
    "LostReason",
    "Notification",
    "PeriodicJob",
    "Pipeline",
    "ProductInterest",
    "RoundRobinState",
    "SalesSettings",
    "ScoringRule",
    "Stage",
    "Task",
    "WebForm",
    "WebFormRateCounter",
    "WebFormSubmission",
]
