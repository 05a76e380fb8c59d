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
from rapport.sales.models.quotas import Quota, QuotaPeriod
from rapport.sales.models.quotes import (
    Quote,
    QuoteLine,
    QuoteNumberCounter,
    QuoteSettings,
    QuoteStatus,
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
    "Quota",
    "QuotaPeriod",
    "Quote",
    "QuoteLine",
    "QuoteNumberCounter",
    "QuoteSettings",
    "QuoteStatus",
    "RoundRobinState",
    "SalesSettings",
    "ScoringRule",
    "Stage",
    "Task",
    "WebForm",
    "WebFormRateCounter",
    "WebFormSubmission",
]
