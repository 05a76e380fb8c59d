"""KPIs the models ask for whose data Rapport does not hold yet.

They stay in the catalogue — the scorecards show them, plainly marked — with the reason and the
capability that will feed them, so nobody mistakes an empty cell for a good or a bad result.
No number is ever invented for them.
"""

from __future__ import annotations

from rapport.frameworks.kpis.base import Direction, Kpi, Unit

SURVEYS = "Service: customer surveys (NPS and CSAT) tied to contacts"
TICKETS = "Service: tickets with SLA policies"
OFFERS = "Marketing: offers and value propositions with eligibility rules"

KPIS = (
    Kpi(
        key="nps",
        name="Net Promoter Score",
        definition=(
            "Promoters (9–10) minus detractors (0–6), as a share of everyone who answered "
            "“How likely are you to recommend us?” in the last 12 months."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area="experience",
        capability=SURVEYS,
        not_measurable_reason="Rapport does not run customer surveys yet, so it holds no scores.",
    ),
    Kpi(
        key="csat",
        name="Customer satisfaction (CSAT)",
        definition=(
            "Share of survey answers of 4 or 5 on a 1–5 satisfaction scale in the last 90 days."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area="experience",
        capability=SURVEYS,
        not_measurable_reason="Rapport does not run customer surveys yet, so it holds no scores.",
    ),
    Kpi(
        key="ticket_first_response_sla",
        name="Tickets answered within SLA",
        definition=(
            "Share of the service tickets of the last 90 days whose first response came within "
            "the time their SLA policy allows."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area="experience",
        capability=TICKETS,
        not_measurable_reason="Rapport has no service tickets yet, so no response times.",
    ),
    Kpi(
        key="personalized_offer_share",
        name="Top customers with a personalized offer",
        definition=(
            "Share of the strategically significant customers who received an offer chosen for "
            "them in the last 90 days."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area="value",
        capability=OFFERS,
        not_measurable_reason="Rapport does not hold offers yet, so it cannot tell who got one.",
    ),
    Kpi(
        key="offer_acceptance_rate",
        name="Offer acceptance rate",
        definition="Share of the offers made in the last 90 days that the customer accepted.",
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area="value",
        capability=OFFERS,
        not_measurable_reason="Rapport does not hold offers yet, so it cannot tell who accepted one.",
    ),
)
