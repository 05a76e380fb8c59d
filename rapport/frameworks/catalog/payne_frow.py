"""Payne & Frow's five cross-functional CRM processes."""

from rapport.frameworks.catalog.base import CrmModel, FeatureLink, Question, Stage, StageKpi

PAYNE_FROW = CrmModel(
    key="payne_frow",
    name="Five-process model",
    authors="Adrian Payne & Pennie Frow",
    summary=(
        "CRM as five processes that cross every department: set the business and customer "
        "strategy, create value for both sides, integrate every channel into one experience, "
        "manage the information behind it, and assess performance."
    ),
    fits_when=(
        "Many channels and several departments touch the customer, and the risk is an "
        "inconsistent experience between them."
    ),
    stages=(
        Stage(
            key="strategy_development",
            name="Strategy development",
            assessed=True,
            summary=(
                "Decide where the business competes and which customers it serves, with which "
                "segments, and write it down."
            ),
            kpis=(StageKpi("value_tier_coverage", 90),),
            questions=(
                Question(
                    "customer_strategy",
                    "Is there a written customer strategy naming target segments?",
                    action="Write a one-page customer strategy: segments, value to them, value from them.",
                ),
                Question(
                    "strategy_review",
                    "Is the customer strategy reviewed against results at least yearly?",
                    action="Schedule a yearly strategy review using this scorecard.",
                ),
            ),
        ),
        Stage(
            key="value_creation",
            name="Value creation",
            summary=(
                "The value the business gives customers (propositions, offers) and the value "
                "customers give back (revenue, lifetime value)."
            ),
            kpis=(
                StageKpi("average_clv", None),
                StageKpi("revenue_per_customer", None),
                StageKpi("repeat_purchase_rate", 40),
                StageKpi("new_customers_90d", None),
                StageKpi("offer_acceptance_rate", 20),
            ),
            features=(FeatureLink("Customer value", "analytics:customers"),),
        ),
        Stage(
            key="multichannel_integration",
            name="Multichannel integration",
            summary=(
                "Every channel and department works from the same record, so the customer gets one "
                "consistent experience."
            ),
            kpis=(
                StageKpi("channel_count_90d", 3),
                StageKpi("linked_interaction_share", 95),
                StageKpi("multi_team_touch_rate", 40),
                StageKpi("lead_response_hours", 24),
                StageKpi("email_engagement_rate", 25),
            ),
            features=(FeatureLink("Contacts", "contacts:contact_list"),),
        ),
        Stage(
            key="information_management",
            name="Information management",
            summary=(
                "The data repository and tools behind the other processes: complete, unique, "
                "consented, owned data."
            ),
            kpis=(
                StageKpi("identification_rate", 90),
                StageKpi("profile_completeness", 70),
                StageKpi("duplicate_rate", 2),
                StageKpi("consent_coverage", 80),
                StageKpi("owner_coverage", 95),
            ),
            features=(FeatureLink("Data quality", "data_exchange:quality"),),
        ),
        Stage(
            key="performance_assessment",
            name="Performance assessment",
            summary=(
                "Measure whether the strategy pays: retention, churn, sales results, forecast "
                "accuracy and customer satisfaction."
            ),
            kpis=(
                StageKpi("retention_rate_12m", 75),
                StageKpi("churn_rate_12m", 15),
                StageKpi("win_rate", 25),
                StageKpi("forecast_accuracy", 80),
                StageKpi("nps", 30),
            ),
            features=(FeatureLink("Pipelines", "sales:pipeline_list"),),
        ),
    ),
)
