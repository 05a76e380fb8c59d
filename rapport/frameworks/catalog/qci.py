"""QCI (Customer Management Model, QCi Ltd): eight areas from analysis to customer experience."""

from rapport.frameworks.catalog.base import CrmModel, FeatureLink, Question, Stage, StageKpi

QCI = CrmModel(
    key="qci",
    name="QCI customer management model",
    authors="QCi Assessment Ltd",
    summary=(
        "A competency model of customer management: analyse and plan, build the proposition, "
        "equip people with information and technology, organize them, run the processes and "
        "customer management activities, measure the effect, and check the experience customers "
        "actually get."
    ),
    fits_when=(
        "An organization that wants to audit its customer management end to end and improve "
        "area by area, with people and organization as explicit concerns."
    ),
    stages=(
        Stage(
            key="analysis_planning",
            name="Analysis & planning",
            summary="Understand the value and behaviour of customer groups and plan for them.",
            kpis=(
                StageKpi("value_tier_coverage", 95),
                StageKpi("top20_revenue_share", None),
                StageKpi("revenue_gini", None),
            ),
            features=(FeatureLink("RFM segments", "analytics:rfm"),),
        ),
        Stage(
            key="proposition",
            name="The proposition",
            summary="What each customer group is offered, and how well it lands.",
            kpis=(StageKpi("personalized_offer_share", 50), StageKpi("offer_acceptance_rate", 20)),
        ),
        Stage(
            key="information_technology",
            name="Information & technology",
            summary="Data quality and the systems that put it in front of people.",
            kpis=(
                StageKpi("identification_rate", 90),
                StageKpi("profile_completeness", 70),
                StageKpi("duplicate_rate", 2),
                StageKpi("stale_contact_rate", 20),
            ),
            features=(FeatureLink("Data quality", "data_exchange:quality"),),
        ),
        Stage(
            key="people_organization",
            name="People & organization",
            assessed=True,
            summary="Roles, skills, ownership of customers and how teams work together.",
            kpis=(StageKpi("owner_coverage", 95),),
            questions=(
                Question(
                    "ownership",
                    "Does every valuable customer have a named owner?",
                    action="Use assignment rules to give every customer an owner.",
                ),
                Question(
                    "skills",
                    "Do people have the skills and time to manage customers well?",
                    action="Review workloads and training needs of customer-facing roles.",
                ),
                Question(
                    "collaboration",
                    "Do teams hand customers over without loss (sales ↔ service ↔ marketing)?",
                    action="Define hand-off tasks between teams and track them in My day.",
                ),
            ),
        ),
        Stage(
            key="process_management",
            name="Process management",
            summary="Customer processes are defined, followed and kept on time.",
            kpis=(
                StageKpi("overdue_task_share", 10),
                StageKpi("sales_cycle_days", 45),
                StageKpi("stage_conversion_rate", 40),
            ),
            features=(FeatureLink("My day", "sales:my_day"),),
        ),
        Stage(
            key="customer_management",
            name="Customer management activity",
            summary="Acquiring, developing and retaining customers day to day.",
            kpis=(
                StageKpi("win_rate", 25),
                StageKpi("lead_conversion_rate", 20),
                StageKpi("pipeline_coverage", 3),
                StageKpi("new_customers_90d", None),
                StageKpi("active_customers_touched_90d", 80),
                StageKpi("repeat_purchase_rate", 40),
            ),
            features=(FeatureLink("Pipeline", "sales:board_default"),),
        ),
        Stage(
            key="measuring_effect",
            name="Measuring the effect",
            summary="Whether customer management pays off: retention, churn, value.",
            kpis=(
                StageKpi("retention_rate_12m", 75),
                StageKpi("churn_rate_12m", 15),
                StageKpi("average_clv", None),
                StageKpi("forecast_accuracy", 80),
            ),
        ),
        Stage(
            key="customer_experience",
            name="The customer experience",
            summary="What customers actually experience: satisfaction, recommendation, service speed.",
            kpis=(
                StageKpi("nps", 30),
                StageKpi("csat", 85),
                StageKpi("ticket_first_response_sla", 90),
                StageKpi("lead_response_hours", 24),
            ),
        ),
    ),
)
