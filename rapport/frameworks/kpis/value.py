"""Differentiate and value: which customers carry the business and what they are worth.

Revenue figures come from the orders (paid or shipped, with a contact; each converted into the
company currency at its own day, see `kpis.money`), cut to any past day, so they have a full
history. Tier and CLV figures come from the analytics refresh: today's customer analytics,
or on a past day the analytics snapshot nearest before it. The concentration maths (top-20 %
share, Gini) is analytics' own (`analytics.metrics.pareto`).
"""

from __future__ import annotations

from django.db.models import Avg, Count, Exists, OuterRef, Q, Sum

from rapport.frameworks.kpis.base import (
    NOT_COMPUTED,
    SIGNIFICANT_TIERS,
    Direction,
    EvaluationContext,
    History,
    Kpi,
    Measurement,
    RecordsBehind,
    SeeAlso,
    Unit,
    Unmeasurable,
    count_meeting,
)
from rapport.frameworks.kpis.money import require_rates
from rapport.frameworks.kpis.populations import (
    customer_values,
    latest_refresh,
    lifecycle_customers,
    order_census,
    require_analytics,
    revenue_concentration,
    revenue_orders,
)

AREA = "value"
WINDOW_DAYS = 365
NO_REVENUE = "No revenue (paid or shipped orders with a contact) in the 12 months to this day."


def top20_revenue_share(ctx: EvaluationContext) -> Measurement:
    spread = revenue_concentration(ctx)
    if not spread["customers"]:
        raise Unmeasurable(NO_REVENUE)
    share, total = spread["top20_share"], spread["revenue"]
    return Measurement(value=100.0 * share, numerator=share * total, denominator=total)


def revenue_gini(ctx: EvaluationContext) -> Measurement:
    spread = revenue_concentration(ctx)
    if not spread["customers"]:
        raise Unmeasurable(NO_REVENUE)
    return Measurement(value=spread["gini"], denominator=float(spread["customers"]))


def revenue_per_customer(ctx: EvaluationContext) -> Measurement:
    counts = order_census(ctx)
    if not counts["recent"]:
        raise Unmeasurable(NO_REVENUE)
    require_rates(
        revenue_orders(ctx).filter(ctx.contact_q("contact_id"), ordered_at__gte=ctx.since(365))
    )
    total = float(counts["revenue"] or 0)
    return Measurement(
        value=total / counts["recent"], numerator=total, denominator=counts["recent"]
    )


def _tiered_q() -> Q:
    from rapport.analytics.models import CustomerAnalytics

    # EXISTS, not IN (subquery): inside an aggregate's FILTER an IN whose rows outgrow work_mem
    # is rescanned for every outer row (quadratic at a million contacts); EXISTS probes the
    # index, or is hashed when the planner finds that cheaper.
    return Q(Exists(CustomerAnalytics.objects.filter(contact_id=OuterRef("pk"))))


def value_tier_coverage(ctx: EvaluationContext) -> Measurement:
    if ctx.is_today:
        require_analytics()
        tiered = _tiered_q()
    else:
        # A past day: the tiers from the analytics snapshot standing for the day.
        tiered = Q(Exists(customer_values(ctx).filter(contact_id=OuterRef("pk"))))
    counts = count_meeting(lifecycle_customers(ctx), tiered)
    if not counts["total"]:
        raise Unmeasurable("There are no customers (customer, loyal or advocate stage) yet.")
    return Measurement(
        value=100.0 * counts["hits"] / counts["total"],
        numerator=counts["hits"],
        denominator=counts["total"],
    )


def _model_reason() -> str:
    """Why the last refresh has no CLV, as the refresh recorded it."""
    from rapport.analytics.models import ModelFit

    run = latest_refresh()
    if run is None:
        return f"{NOT_COMPUTED}no analytics refresh has run."
    fits = ModelFit.objects.filter(run=run).exclude(status="fitted").order_by("model")
    reasons = [f"{fit.get_model_display()}: {fit.reason}" for fit in fits if fit.reason]
    return " ".join(reasons) or "The last analytics refresh could not predict customer value."


def valued_customers(ctx: EvaluationContext, *, significant: bool):
    rows = customer_values(ctx).filter(ctx.contact_q("contact_id"))
    if significant:
        rows = rows.filter(value_tier__in=SIGNIFICANT_TIERS)
    return rows


def value_census(ctx: EvaluationContext) -> dict:
    """Customer-value figures as of the day in one scan of the stored analytics: customers,
    CLV and P(alive) (overall and for the significant tiers), revenue and revenue at risk."""
    key = ("value_census", ctx.population, getattr(ctx.segment, "pk", None), ctx.as_of)
    if key not in ctx.shared:
        significant = Q(value_tier__in=SIGNIFICANT_TIERS)
        ctx.shared[key] = valued_customers(ctx, significant=False).aggregate(
            customers=Count("pk"),
            predicted_clv_known=Count("predicted_clv"),
            predicted_clv_mean=Avg("predicted_clv"),
            significant_customers=Count("pk", filter=significant),
            significant_predicted_clv_known=Count("predicted_clv", filter=significant),
            significant_predicted_clv_mean=Avg("predicted_clv", filter=significant),
            significant_p_alive_known=Count("p_alive", filter=significant),
            significant_p_alive_mean=Avg("p_alive", filter=significant),
            revenue=Sum("revenue_total"),
            at_risk_revenue=Sum("revenue_total", filter=Q(is_at_risk=True)),
        )
    return ctx.shared[key]


def _average(ctx: EvaluationContext, column: str, *, significant: bool, scale: float = 1.0):
    counts = value_census(ctx)
    prefix = "significant_" if significant else ""
    customers = counts["significant_customers" if significant else "customers"]
    known = counts[f"{prefix}{column}_known"]
    if not customers:
        raise Unmeasurable(
            "There are no strategically significant customers (platinum or gold tier)."
            if significant
            else "No customer has a value yet: nobody has a paid or shipped order."
        )
    if not known:
        raise Unmeasurable(_model_reason())
    value = float(counts[f"{prefix}{column}_mean"]) * scale
    return Measurement(value=value, numerator=value * known, denominator=known)


def top_tier_clv(ctx: EvaluationContext) -> Measurement:
    return _average(ctx, "predicted_clv", significant=True)


def average_clv(ctx: EvaluationContext) -> Measurement:
    return _average(ctx, "predicted_clv", significant=False)


# --------------------------------------------------------------------------- records behind


def _untiered(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "contacts",
        "Customers without a value tier (no paid or shipped order)",
        lifecycle_customers(ctx).exclude(_tiered_q()),
    )


def _top_customers(ctx: EvaluationContext) -> RecordsBehind:
    from rapport.contacts.models import Contact

    return RecordsBehind(
        "contacts",
        "Strategically significant customers (platinum and gold)",
        Contact.objects.filter(pk__in=valued_customers(ctx, significant=True).values("contact_id")),
    )


def _valued(ctx: EvaluationContext) -> RecordsBehind:
    from rapport.contacts.models import Contact

    return RecordsBehind(
        "contacts",
        "Customers with a predicted value",
        Contact.objects.filter(
            pk__in=valued_customers(ctx, significant=False).values("contact_id")
        ),
    )


def _recent_buyers(ctx: EvaluationContext) -> RecordsBehind:
    from rapport.frameworks.kpis.populations import active_customers

    return RecordsBehind(
        "contacts", "Customers who bought in the last 12 months", active_customers(ctx)
    )


PARETO = SeeAlso("Revenue concentration", "analytics:pareto")
CUSTOMER_VALUE = SeeAlso("Customer value", "analytics:customers")

KPIS = (
    Kpi(
        key="value_tier_coverage",
        name="Customers with a value tier",
        definition=(
            "Share of customers (customer, loyal or advocate stage) that the analytics placed "
            "in a value tier — which needs at least one paid or shipped order."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=value_tier_coverage,
        history=History.SNAPSHOTS,
        records=_untiered,
        see_also=(CUSTOMER_VALUE,),
    ),
    Kpi(
        key="top20_revenue_share",
        name="Revenue share of the top 20 %",
        definition=(
            "Share of the last 12 months' revenue brought by the best 20 % of the customers who "
            "bought in that time (80 % is the classic Pareto rule)."
        ),
        unit=Unit.PERCENT,
        direction=Direction.NEUTRAL,
        area=AREA,
        formula=top20_revenue_share,
        history=History.DATED,
        records=_recent_buyers,
        see_also=(
            PARETO,
            SeeAlso("Top 20 % customers", "analytics:customers", "sort=-revenue&top_percent=20"),
        ),
    ),
    Kpi(
        key="revenue_gini",
        name="Revenue Gini coefficient",
        definition=(
            "Inequality of the last 12 months' revenue between customers: 0 when every customer "
            "brings the same, close to 1 when one customer brings it all."
        ),
        unit=Unit.RATIO,
        direction=Direction.NEUTRAL,
        area=AREA,
        formula=revenue_gini,
        history=History.DATED,
        records=_recent_buyers,
        see_also=(PARETO,),
    ),
    Kpi(
        key="top_tier_clv",
        name="CLV of the top tiers",
        definition=(
            "Mean predicted customer lifetime value (analytics CLV) of the strategically "
            "significant customers — the platinum and gold tiers."
        ),
        unit=Unit.CURRENCY,
        direction=Direction.HIGHER,
        area=AREA,
        about_significant=True,
        formula=top_tier_clv,
        history=History.SNAPSHOTS,
        records=_top_customers,
        see_also=(SeeAlso("Gold customers", "analytics:customers", "tier=gold"),),
    ),
    Kpi(
        key="average_clv",
        name="Average CLV",
        definition="Mean predicted customer lifetime value over every customer with one.",
        unit=Unit.CURRENCY,
        direction=Direction.HIGHER,
        area=AREA,
        formula=average_clv,
        history=History.SNAPSHOTS,
        records=_valued,
        see_also=(SeeAlso("CLV distribution", "analytics:clv"),),
    ),
    Kpi(
        key="revenue_per_customer",
        name="Revenue per customer",
        definition=(
            "Revenue of the last 12 months ÷ the customers who bought in that time (business "
            "currency)."
        ),
        unit=Unit.CURRENCY,
        direction=Direction.HIGHER,
        area=AREA,
        formula=revenue_per_customer,
        history=History.DATED,
        records=_recent_buyers,
        see_also=(CUSTOMER_VALUE,),
    ),
)
