"""IDIC (Peppers & Rogers): Identify, Differentiate, Interact, Customize."""

from rapport.frameworks.catalog.base import CrmModel, FeatureLink, Question, Stage, StageKpi

IDIC = CrmModel(
    key="idic",
    name="IDIC",
    authors="Don Peppers & Martha Rogers",
    summary=(
        "Know each customer individually and let what you learn shape every interaction: identify "
        "who they are, differentiate them by value and need, interact in ways that teach you more, "
        "and customize what you offer."
    ),
    fits_when=(
        "A small or mid-size team that wants deep personalization, or a product that solves a "
        "complex need where knowing the individual customer is the advantage."
    ),
    journey=("identify", "differentiate", "interact", "customize"),
    stages=(
        Stage(
            key="identify",
            name="Identify",
            summary=(
                "Recognize each customer as one person across every channel: a usable identity "
                "(name plus email or phone), a complete profile, no duplicates, consent on record, "
                "and every interaction linked to a known contact."
            ),
            kpis=(
                StageKpi("identification_rate", 90),
                StageKpi("profile_completeness", 70),
                StageKpi("duplicate_rate", 2),
                StageKpi("consent_coverage", 80),
                StageKpi("linked_interaction_share", 95),
            ),
            features=(
                FeatureLink("Contacts", "contacts:contact_list"),
                FeatureLink("Duplicates", "data_exchange:duplicates"),
                FeatureLink("Data quality", "data_exchange:quality"),
            ),
            questions=(
                Question(
                    "single_view",
                    "Do all teams look up customers in one shared record?",
                    action="Move every team's customer lists into Rapport and retire side spreadsheets.",
                ),
            ),
        ),
        Stage(
            key="differentiate",
            name="Differentiate",
            summary=(
                "Rank customers by their value to the business, now and predicted, and record what "
                "each needs, so effort goes where it returns most."
            ),
            kpis=(
                StageKpi("value_tier_coverage", 95),
                StageKpi("needs_captured_share", 50),
                StageKpi("top20_revenue_share", None),
                StageKpi("top_tier_clv", None),
            ),
            features=(
                FeatureLink("Customer value", "analytics:customers"),
                FeatureLink("RFM segments", "analytics:rfm"),
                FeatureLink("Portfolio (Pareto)", "analytics:pareto"),
            ),
            questions=(
                Question(
                    "needs_recorded",
                    "Do reps record each key customer's needs and interests?",
                    action="Add needs/interests custom fields and make them part of the call template.",
                ),
            ),
        ),
        Stage(
            key="interact",
            name="Interact",
            summary=(
                "Stay in touch with active customers on the channels they use, answer quickly, and "
                "let every interaction add to what you know."
            ),
            kpis=(
                StageKpi("active_customers_touched_90d", 80),
                StageKpi("lead_response_hours", 24),
                StageKpi("channel_count_90d", 3),
                StageKpi("interactions_per_significant_customer_90d", 3),
                StageKpi("email_consent_rate", 60),
                StageKpi("email_engagement_rate", 25),
            ),
            features=(
                FeatureLink("Contacts", "contacts:contact_list"),
                FeatureLink("My day", "sales:my_day"),
            ),
        ),
        Stage(
            key="customize",
            name="Customize",
            summary=(
                "Adapt offers, products and service to what each valuable customer needs, and check "
                "that customized treatment keeps customers buying."
            ),
            kpis=(
                StageKpi("personalized_offer_share", 50),
                StageKpi("offer_acceptance_rate", 20),
                StageKpi("repeat_purchase_rate", 40),
            ),
            features=(FeatureLink("Segments", "analytics:segment_list"),),
        ),
    ),
)
