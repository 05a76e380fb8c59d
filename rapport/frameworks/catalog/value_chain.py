"""Buttle's CRM Value Chain: five primary stages on strategically significant customers, four
supporting conditions."""

from rapport.frameworks.catalog.base import CrmModel, FeatureLink, Question, Stage, StageKpi

VALUE_CHAIN = CrmModel(
    key="value_chain",
    name="CRM Value Chain",
    authors="Francis Buttle",
    summary=(
        "Find the strategically significant customers — the few who carry the revenue — and build "
        "the whole chain around them: know them intimately, work with partners to serve them, "
        "develop a value proposition for them and manage the relationship over its life."
    ),
    fits_when=(
        "Revenue is concentrated in a handful of customers, or account management of key "
        "customers is where the business wins or loses."
    ),
    stages=(
        Stage(
            key="portfolio_analysis",
            name="Customer portfolio analysis",
            group="primary",
            summary=(
                "Analyse the customer base by actual and potential value and name the strategically "
                "significant customers (the platinum and gold tiers)."
            ),
            kpis=(
                StageKpi("value_tier_coverage", 95),
                StageKpi("top20_revenue_share", None),
                StageKpi("revenue_gini", None),
                StageKpi("top_tier_clv", None),
            ),
            features=(
                FeatureLink("Portfolio (Pareto)", "analytics:pareto"),
                FeatureLink("Customer value", "analytics:customers"),
            ),
        ),
        Stage(
            key="customer_intimacy",
            population="significant",
            name="Customer intimacy",
            group="primary",
            summary=(
                "Know the significant customers in depth: complete profiles, recorded needs and "
                "regular conversation with them."
            ),
            kpis=(
                StageKpi("profile_completeness", 80),
                StageKpi("needs_captured_share", 70),
                StageKpi("interactions_per_significant_customer_90d", 4),
            ),
            features=(FeatureLink("Contacts", "contacts:contact_list"),),
        ),
        Stage(
            key="network_development",
            population="significant",
            name="Network development",
            group="primary",
            summary=(
                "Serve key customers as a network: several teams in touch with them, and the "
                "partners, suppliers and parent companies around them mapped."
            ),
            kpis=(
                StageKpi("multi_team_touch_rate", 50),
                StageKpi("organization_network_coverage", 30),
            ),
            features=(FeatureLink("Organizations", "contacts:organization_list"),),
        ),
        Stage(
            key="value_proposition",
            population="significant",
            name="Value proposition development",
            group="primary",
            summary="Offer the significant customers something worth more to them than alternatives.",
            kpis=(
                StageKpi("personalized_offer_share", 60),
                StageKpi("offer_acceptance_rate", 25),
                StageKpi("revenue_per_customer", None),
            ),
        ),
        Stage(
            key="managing_relationship",
            population="significant",
            name="Managing the relationship",
            group="primary",
            summary=(
                "Keep significant customers over the long run: retention, low churn, predicted "
                "activity, and problems solved fast."
            ),
            kpis=(
                StageKpi("retention_rate_12m", 80),
                StageKpi("churn_rate_12m", 10),
                StageKpi("top_tier_p_alive", 85),
                StageKpi("at_risk_value_share", 10),
                StageKpi("csat", 85),
            ),
            features=(FeatureLink("Customers at risk", "analytics:at_risk"),),
        ),
        Stage(
            key="leadership_culture",
            name="Leadership and culture",
            group="support",
            assessed=True,
            summary="Leaders sponsor a customer-centric way of working and model it.",
            questions=(
                Question(
                    "sponsor",
                    "Does a senior leader own customer strategy and review it regularly?",
                    action="Name an executive sponsor and put the scorecard on the monthly leadership agenda.",
                ),
                Question(
                    "customer_first",
                    "Are decisions routinely checked against their effect on key customers?",
                    action="Add 'effect on strategically significant customers' to decision templates.",
                ),
                Question(
                    "rewards",
                    "Do incentives reward retention and customer value, not only new sales?",
                    action="Add retention or CLV to team objectives.",
                ),
            ),
        ),
        Stage(
            key="procurement",
            name="Procurement processes",
            group="support",
            assessed=True,
            summary="Suppliers are chosen and managed with the end customer's value in mind.",
            questions=(
                Question(
                    "supplier_alignment",
                    "Are key suppliers measured on what matters to your key customers?",
                    action="Share key-customer service levels with the suppliers that affect them.",
                ),
                Question(
                    "partner_data",
                    "Do partners and suppliers get the customer information they need?",
                    action="Agree what customer data partners receive and how.",
                ),
            ),
        ),
        Stage(
            key="human_resources",
            name="Human resource management",
            group="support",
            assessed=True,
            summary="People are hired, trained and rewarded for building customer relationships.",
            questions=(
                Question(
                    "training",
                    "Are customer-facing staff trained in relationship skills and in Rapport?",
                    action="Plan onboarding and yearly refresher training for customer-facing staff.",
                ),
                Question(
                    "roles",
                    "Is it clear who owns each key customer relationship?",
                    action="Assign an owner to every strategically significant customer.",
                ),
            ),
        ),
        Stage(
            key="data_it",
            name="Data and IT",
            group="support",
            assessed=True,
            summary="Systems give one trusted view of the customer to everyone who needs it.",
            kpis=(StageKpi("identification_rate", 90), StageKpi("duplicate_rate", 2)),
            questions=(
                Question(
                    "integration",
                    "Do sales, service and marketing systems share one customer record?",
                    action="Connect or retire the systems that keep their own customer copies.",
                ),
            ),
        ),
    ),
)
