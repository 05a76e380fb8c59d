"""Gartner's eight building blocks of CRM."""

from rapport.frameworks.catalog.base import CrmModel, FeatureLink, Question, Stage, StageKpi

GARTNER = CrmModel(
    key="gartner",
    name="Gartner eight building blocks",
    authors="Gartner",
    summary=(
        "Eight competencies a CRM initiative needs in balance: a vision, a strategy, a designed "
        "customer experience, collaboration across the organization, processes, information, "
        "technology and metrics."
    ),
    fits_when=(
        "A larger or growing organization planning a CRM program across departments, where "
        "vision, strategy and collaboration matter as much as data."
    ),
    stages=(
        Stage(
            key="vision",
            name="CRM vision",
            assessed=True,
            summary="A shared picture of what the customer relationship should be.",
            questions=(
                Question(
                    "vision_written",
                    "Is there a written CRM vision that staff can repeat?",
                    action="Write and share a short CRM vision with every team.",
                ),
                Question(
                    "vision_leadership",
                    "Do leaders communicate the vision and act on it?",
                    action="Have leadership open each quarter with progress against the vision.",
                ),
            ),
        ),
        Stage(
            key="strategy",
            name="CRM strategy",
            assessed=True,
            summary="Objectives and segments that turn the vision into choices.",
            kpis=(StageKpi("value_tier_coverage", 90),),
            questions=(
                Question(
                    "objectives_set",
                    "Are there measurable customer objectives with owners and deadlines?",
                    action="Set objectives in Rapport for the weakest stages of this scorecard.",
                ),
                Question(
                    "segments_defined",
                    "Are target segments defined and used for decisions?",
                    action="Define dynamic segments for your target groups.",
                ),
            ),
        ),
        Stage(
            key="customer_experience",
            name="Valued customer experience",
            summary="The experience customers get and what they think of it.",
            kpis=(
                StageKpi("nps", 30),
                StageKpi("csat", 85),
                StageKpi("lead_response_hours", 24),
                StageKpi("active_customers_touched_90d", 80),
            ),
        ),
        Stage(
            key="collaboration",
            name="Organizational collaboration",
            assessed=True,
            summary="Departments, partners and people working together around the customer.",
            kpis=(StageKpi("multi_team_touch_rate", 40),),
            questions=(
                Question(
                    "shared_goals",
                    "Do sales, marketing and service share customer goals?",
                    action="Give the three teams one shared retention objective.",
                ),
                Question(
                    "handoffs",
                    "Are hand-offs between teams tracked rather than left to email?",
                    action="Create hand-off tasks across teams in Rapport.",
                ),
            ),
        ),
        Stage(
            key="processes",
            name="CRM processes",
            summary="Customer processes designed, followed and timely.",
            kpis=(
                StageKpi("overdue_task_share", 10),
                StageKpi("stage_conversion_rate", 40),
                StageKpi("sales_cycle_days", 45),
                StageKpi("lead_conversion_rate", 20),
            ),
            features=(FeatureLink("My day", "sales:my_day"),),
        ),
        Stage(
            key="information",
            name="CRM information",
            summary="Complete, clean, consented customer data.",
            kpis=(
                StageKpi("identification_rate", 90),
                StageKpi("profile_completeness", 70),
                StageKpi("duplicate_rate", 2),
                StageKpi("consent_coverage", 80),
                StageKpi("email_consent_rate", 60),
            ),
            features=(FeatureLink("Data quality", "data_exchange:quality"),),
        ),
        Stage(
            key="technology",
            name="CRM technology",
            assessed=True,
            summary="The systems, integrations and their adoption.",
            kpis=(StageKpi("linked_interaction_share", 95), StageKpi("owner_coverage", 95)),
            questions=(
                Question(
                    "adoption",
                    "Do all customer-facing staff use Rapport daily?",
                    action="Review who logs interactions and coach the teams that do not.",
                ),
                Question(
                    "integrations",
                    "Are web forms, shop and email connected so data arrives by itself?",
                    action="Connect web forms and the shop webhook to Rapport.",
                ),
            ),
        ),
        Stage(
            key="metrics",
            name="CRM metrics",
            summary="Measures of value and retention that tell whether CRM works.",
            kpis=(
                StageKpi("retention_rate_12m", 75),
                StageKpi("churn_rate_12m", 15),
                StageKpi("average_clv", None),
                StageKpi("forecast_accuracy", 80),
            ),
        ),
    ),
)
