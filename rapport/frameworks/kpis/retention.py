"""Retention: whether customers come back, stay, and how much value is at risk of leaving.

Purchase figures come from the orders (grouped per customer and day by the analytics loader) and
have a full history. P(alive) and churn-risk figures come from the analytics refresh (today's
values, or the analytics snapshot nearest before a past day).
"""

from __future__ import annotations

from django.db.models import Count, Min
from django.db.models.functions import TruncDate

from rapport.frameworks.kpis.base import (
    Direction,
    EvaluationContext,
    History,
    Kpi,
    Measurement,
    RecordsBehind,
    SeeAlso,
    Unit,
    Unmeasurable,
    site_zone,
)
from rapport.frameworks.kpis.populations import order_census, revenue_orders
from rapport.frameworks.kpis.value import _average, value_census, valued_customers

AREA = "retention"
YEAR = 365
NEW_CUSTOMER_DAYS = 90


def repeat_purchase_rate(ctx: EvaluationContext) -> Measurement:
    counts = order_census(ctx)
    if not counts["buyers"]:
        raise Unmeasurable("Nobody has bought anything (paid or shipped) up to this day.")
    return Measurement(
        value=100.0 * counts["repeat"] / counts["buyers"],
        numerator=counts["repeat"],
        denominator=counts["buyers"],
    )


def _retention_counts(ctx: EvaluationContext) -> tuple[int, int]:
    counts = order_census(ctx)
    if not counts["earlier"]:
        raise Unmeasurable(
            "Nobody bought in the year before the last 12 months, so there is no one whose "
            "return to measure."
        )
    return counts["kept"], counts["earlier"]


def retention_rate(ctx: EvaluationContext) -> Measurement:
    kept, base = _retention_counts(ctx)
    return Measurement(value=100.0 * kept / base, numerator=kept, denominator=base)


def churn_rate(ctx: EvaluationContext) -> Measurement:
    kept, base = _retention_counts(ctx)
    lost = base - kept
    return Measurement(value=100.0 * lost / base, numerator=lost, denominator=base)


def new_customers(ctx: EvaluationContext) -> Measurement:
    return Measurement(value=float(order_census(ctx)["new"]))


def top_tier_p_alive(ctx: EvaluationContext) -> Measurement:
    return _average(ctx, "p_alive", significant=True, scale=100.0)


def at_risk_value_share(ctx: EvaluationContext) -> Measurement:
    counts = value_census(ctx)
    revenue = float(counts["revenue"] or 0)
    if not counts["customers"] or revenue <= 0:
        raise Unmeasurable("No customer has any revenue yet.")
    at_risk = float(counts["at_risk_revenue"] or 0)
    return Measurement(value=100.0 * at_risk / revenue, numerator=at_risk, denominator=revenue)


# --------------------------------------------------------------------------- records behind


def _contacts(ids, label: str) -> RecordsBehind:
    from rapport.contacts.models import Contact

    return RecordsBehind("contacts", label, Contact.objects.filter(pk__in=ids))


def _orders_between(ctx: EvaluationContext, older_days: int, newer_days: int):
    """Revenue orders of the population placed in [end - older_days, end - newer_days)."""
    return (
        revenue_orders(ctx)
        .filter(ordered_at__gte=ctx.since(older_days), ordered_at__lt=ctx.since(newer_days))
        .filter(ctx.contact_q("contact_id"))
    )


def _one_time_buyers(ctx: EvaluationContext) -> RecordsBehind:
    once = (
        revenue_orders(ctx)
        .filter(ctx.contact_q("contact_id"))
        .values("contact_id")
        .annotate(days=Count(TruncDate("ordered_at", tzinfo=site_zone()), distinct=True))
        .filter(days=1)
        .values("contact_id")
    )
    return _contacts(once, "Customers who bought on one day only")


def _lapsed(ctx: EvaluationContext) -> RecordsBehind:
    from rapport.contacts.models import Contact

    earlier = _orders_between(ctx, 2 * YEAR, YEAR).values("contact_id")
    recent = _orders_between(ctx, YEAR, 0).values("contact_id")
    return RecordsBehind(
        "contacts",
        "Customers of the year before who have not bought since",
        Contact.objects.filter(pk__in=earlier).exclude(pk__in=recent),
    )


def _new(ctx: EvaluationContext) -> RecordsBehind:
    first = (
        revenue_orders(ctx)
        .filter(ctx.contact_q("contact_id"))
        .values("contact_id")
        .annotate(first=Min("ordered_at"))
        .filter(first__gte=ctx.since(NEW_CUSTOMER_DAYS))
        .values("contact_id")
    )
    return _contacts(first, "Customers whose first purchase was in the last 90 days")


def _at_risk(ctx: EvaluationContext) -> RecordsBehind:
    rows = valued_customers(ctx, significant=False).filter(is_at_risk=True)
    return _contacts(rows.values("contact_id"), "Customers at risk of churning")


def _fading_top(ctx: EvaluationContext) -> RecordsBehind:
    rows = valued_customers(ctx, significant=True).filter(p_alive__lt=0.5)
    return _contacts(
        rows.values("contact_id"), "Significant customers more likely gone than active"
    )


AT_RISK = SeeAlso("Customers at risk", "analytics:at_risk")
COHORTS = SeeAlso("Cohort retention", "analytics:cohorts")

KPIS = (
    Kpi(
        key="repeat_purchase_rate",
        name="Repeat purchase rate",
        definition=(
            "Share of the customers who ever bought (paid or shipped) that bought again on a "
            "later day."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=repeat_purchase_rate,
        history=History.DATED,
        records=_one_time_buyers,
        see_also=(SeeAlso("RFM segments", "analytics:rfm"),),
    ),
    Kpi(
        key="retention_rate_12m",
        name="Retention rate (12 months)",
        definition=(
            "Of the customers who bought in the 12 months before the last 12, the share who "
            "bought again in the last 12 months."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=retention_rate,
        history=History.DATED,
        records=_lapsed,
        see_also=(COHORTS,),
    ),
    Kpi(
        key="churn_rate_12m",
        name="Churn rate (12 months)",
        definition=(
            "Of the customers who bought in the 12 months before the last 12, the share who "
            "have not bought since (100 % − retention rate)."
        ),
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        area=AREA,
        formula=churn_rate,
        history=History.DATED,
        records=_lapsed,
        see_also=(COHORTS, AT_RISK),
    ),
    Kpi(
        key="new_customers_90d",
        name="New customers (90 days)",
        definition="Customers whose first paid or shipped order was in the last 90 days.",
        unit=Unit.COUNT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=new_customers,
        history=History.DATED,
        records=_new,
    ),
    Kpi(
        key="top_tier_p_alive",
        name="P(alive) of the top tiers",
        definition=(
            "Mean probability (BG/NBD model) that a strategically significant customer — "
            "platinum or gold tier — is still an active buyer."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        about_significant=True,
        formula=top_tier_p_alive,
        history=History.SNAPSHOTS,
        records=_fading_top,
        see_also=(AT_RISK,),
    ),
    Kpi(
        key="at_risk_value_share",
        name="Revenue held by customers at risk",
        definition=(
            "Share of the customers' total revenue to date held by customers the analytics "
            "flag as at risk of churning (low P(alive) or overdue for their next purchase)."
        ),
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        area=AREA,
        formula=at_risk_value_share,
        history=History.SNAPSHOTS,
        records=_at_risk,
        see_also=(AT_RISK,),
    ),
)
