"""The groups of contacts KPIs are measured over, each defined once.

- customers: active contacts in a customer lifecycle stage (customer, loyal, advocate);
- buyers: contacts with a paid or shipped order (in any currency) in a window — "active
  customers" are the buyers of the last 12 months; revenue sums convert each order into the
  company currency at its own day (`kpis.money`);
- strategically significant customers: the analytics platinum and gold tiers, today from the
  current customer analytics, on a past day from the analytics snapshot nearest before it;
- a segment's members: an analytics segment, dynamic (its conditions evaluated as of the day) or
  static (its list).

Subqueries, never lists of ids: every filter stays one SQL statement.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Max, QuerySet

from rapport.frameworks.kpis.base import (
    NOT_COMPUTED,
    SIGNIFICANT_TIERS,
    EvaluationContext,
    Unmeasurable,
)

ACTIVE_CUSTOMER_DAYS = 365
# A past day's significant customers come from the analytics snapshot at most this long before
# it (snapshots are daily for a few weeks, then thinned to one a month).
SNAPSHOT_REACH_DAYS = 31


def business_currency() -> str:
    from rapport.frameworks.kpis.money import company_currency

    return company_currency()


def revenue_orders(ctx: EvaluationContext) -> QuerySet:
    """Revenue orders (paid or shipped, any currency, with a contact) up to the day, of the
    kinds the revenue setting counts (shop orders, won deals or both). Sum their amounts with
    `money.order_amount()`, after `money.require_rates`."""
    from rapport.commerce.choices import REVENUE_STATUSES
    from rapport.commerce.models import Order
    from rapport.commerce.revenue import counted_kinds

    return Order.objects.filter(
        status__in=REVENUE_STATUSES,
        kind__in=counted_kinds(),
        contact__isnull=False,
        ordered_at__lt=ctx.end,
    )


def buyer_ids(ctx: EvaluationContext, days: int = ACTIVE_CUSTOMER_DAYS) -> QuerySet:
    """Contact ids with a revenue order in the `days` days up to the day (a subquery)."""
    return revenue_orders(ctx).filter(ordered_at__gte=ctx.since(days)).values("contact_id")


def active_customers(ctx: EvaluationContext) -> QuerySet:
    """Active customers: contacts who bought in the last 12 months, of the context's population."""
    from rapport.contacts.models import Contact

    return Contact.objects.filter(is_archived=False, pk__in=buyer_ids(ctx)).filter(ctx.contact_q())


def lifecycle_customers(ctx: EvaluationContext) -> QuerySet:
    """Active contacts in a customer lifecycle stage, of the context's population: today's
    stage, on a past day the stage then (from the stage history, `past.lifecycle_customers`)."""
    from rapport.contacts.choices import CUSTOMER_STAGES
    from rapport.frameworks.kpis import past

    if not ctx.is_today:
        return past.lifecycle_customers(ctx)
    return ctx.contacts().filter(lifecycle_stage__in=CUSTOMER_STAGES)


def latest_refresh():
    from rapport.analytics.refresh import latest_run

    return latest_run()


def require_analytics() -> object:
    run = latest_refresh()
    if run is None:
        raise Unmeasurable(
            f"{NOT_COMPUTED}no analytics refresh has run, so no customer has a value tier or a "
            "predicted value. Run one under Analytics.",
            "Analytics refresh",
        )
    return run


def analytics_snapshot_day(ctx: EvaluationContext) -> dt.date:
    """The analytics snapshot day standing for a past day, or Unmeasurable."""
    from rapport.analytics.models import AnalyticsSnapshot

    key = ("analytics_snapshot_day", ctx.as_of)
    if key not in ctx.shared:
        ctx.shared[key] = AnalyticsSnapshot.objects.filter(
            snapshot_date__lte=ctx.as_of,
            snapshot_date__gte=ctx.as_of - dt.timedelta(days=SNAPSHOT_REACH_DAYS),
        ).aggregate(day=Max("snapshot_date"))["day"]
    day = ctx.shared[key]
    if day is None:
        raise Unmeasurable(
            f"Not computed: no analytics refresh had run within {SNAPSHOT_REACH_DAYS} days "
            f"before {ctx.as_of.day} {ctx.as_of:%b %Y}."
        )
    return day


def customer_values(ctx: EvaluationContext) -> QuerySet:
    """Per-customer value rows as of the day: the current analytics today, the analytics
    snapshot of the nearest earlier day in the past. Both have contact_id, value_tier,
    predicted_clv, p_alive, is_at_risk and revenue_total."""
    from rapport.analytics.models import AnalyticsSnapshot, CustomerAnalytics

    if ctx.is_today:
        require_analytics()
        return CustomerAnalytics.objects.filter(contact__is_archived=False)
    day = analytics_snapshot_day(ctx)
    return AnalyticsSnapshot.objects.filter(snapshot_date=day, contact__is_archived=False)


def significant_contact_ids(ctx: EvaluationContext) -> QuerySet:
    """Contact ids of the strategically significant customers as of the day (a subquery)."""
    return customer_values(ctx).filter(value_tier__in=SIGNIFICANT_TIERS).values("contact_id")


def segment_contact_ids(ctx: EvaluationContext) -> QuerySet:
    """Contact ids of the context's segment, its conditions evaluated as of the day."""
    from rapport.analytics.choices import SegmentKind
    from rapport.analytics.models import SegmentMember
    from rapport.analytics.segments import compile_conditions
    from rapport.contacts.models import Contact
    from rapport.core.conditions import ConditionError

    segment = ctx.segment
    if segment.kind == SegmentKind.STATIC:
        return SegmentMember.objects.filter(segment=segment).values("contact_id")
    try:
        q, aliases = compile_conditions(segment.conditions or {"all": []}, now=ctx.moment)
    except ConditionError as exc:
        raise Unmeasurable(f"The segment's conditions can no longer be used: {exc}") from exc
    return Contact.objects.alias(**aliases).filter(q).values("pk")


# --------------------------------------------------------------------------- order census


def order_census(ctx: EvaluationContext) -> dict:
    """Per-customer purchase facts up to the day, counted over the customers in one query:

    buyers (ever bought), repeat (bought on two or more days), earlier (bought in the 12 months
    before the last 12), kept (of those, bought again in the last 12), new (first purchase in
    the last 90 days), recent (bought in the last 12 months) and their revenue.
    """
    from django.db import connection
    from django.db.models import Count, Max, Min, Q, Sum
    from django.db.models.functions import TruncDate

    from rapport.frameworks.kpis.base import site_zone
    from rapport.frameworks.kpis.money import order_amount

    key = ("order_census", ctx.population, getattr(ctx.segment, "pk", None), ctx.as_of)
    if key in ctx.shared:
        return ctx.shared[key]
    year_ago, two_years_ago, quarter_ago = ctx.since(365), ctx.since(730), ctx.since(90)
    zone = site_zone()
    # "Bought on two or more days", "bought in the last 12 months" and "new" are read from
    # each customer's first and last order: the order days differ exactly when the first and
    # last order's days do (the day only grows with the time). Counting distinct order days
    # instead sorted every customer's orders and converted every order's time to a day.
    per_customer = (
        revenue_orders(ctx)
        .filter(ctx.contact_q("contact_id"))
        .values("contact_id")
        .annotate(
            first_day=TruncDate(Min("ordered_at"), tzinfo=zone),
            last_day=TruncDate(Max("ordered_at"), tzinfo=zone),
            first_at=Min("ordered_at"),
            last_at=Max("ordered_at"),
            earlier=Count("pk", filter=Q(ordered_at__gte=two_years_ago, ordered_at__lt=year_ago)),
            recent_revenue=Sum(order_amount(), filter=Q(ordered_at__gte=year_ago)),
        )
        .values("first_day", "last_day", "first_at", "last_at", "earlier", "recent_revenue")
    )
    inner, params = per_customer.query.sql_with_params()
    # Django cannot aggregate over aggregates, so the per-customer query is wrapped here; only
    # its compiled SQL and fixed text are put together, values stay parameters.
    sql = (
        "SELECT COUNT(*), "  # noqa: S608
        "SUM(CASE WHEN first_day < last_day THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN earlier > 0 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN earlier > 0 AND last_at >= %s THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN first_at >= %s THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN last_at >= %s THEN 1 ELSE 0 END), "
        "SUM(recent_revenue) "
        f"FROM ({inner}) AS per_customer"
    )
    bounds = [
        connection.ops.adapt_datetimefield_value(moment) for moment in (year_ago, quarter_ago)
    ]
    params = (bounds[0], bounds[1], bounds[0], *params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    names = ("buyers", "repeat", "earlier", "kept", "new", "recent", "revenue")
    counts = {name: (value or 0) for name, value in zip(names, row, strict=True)}
    counts["revenue"] = float(counts["revenue"])
    for name in names[:-1]:
        counts[name] = int(counts[name])
    ctx.shared[key] = counts
    return counts


def revenue_concentration(ctx: EvaluationContext) -> dict:
    """How the last 12 months' revenue spreads over the customers who bought, by the Pareto and
    Gini definitions of `rapport.analytics.metrics.pareto`, computed in the database: customers
    ranked by revenue (window functions), the sum of rank × revenue (Gini) and the revenue of the
    best 20 %, interpolating within the customer at the edge."""
    from django.db import connection
    from django.db.models import Sum

    from rapport.frameworks.kpis.money import order_amount, require_rates

    key = ("concentration", ctx.population, getattr(ctx.segment, "pk", None), ctx.as_of)
    if key in ctx.shared:
        return ctx.shared[key]
    orders = revenue_orders(ctx).filter(ctx.contact_q("contact_id"), ordered_at__gte=ctx.since(365))
    require_rates(orders)
    per_customer = (
        orders.values("contact_id")
        .annotate(revenue=Sum(order_amount()))
        .filter(revenue__gt=0)
        .values("revenue")
    )
    inner, params = per_customer.query.sql_with_params()
    # Only Django's own compiled SQL and fixed text are put together here; values are params.
    # One ranking serves both ends: the descending rank is n + 1 − the ascending one (among
    # equal revenues which one ranks first changes no sum), so the customers are sorted once.
    sql = (
        "SELECT n, total, SUM(ascending * revenue), "  # noqa: S608
        "SUM(CASE WHEN n + 1 - ascending <= (n * 2) / 10 THEN revenue ELSE 0 END), "
        "MAX(CASE WHEN n + 1 - ascending = (n * 2) / 10 + 1 THEN revenue END) "
        "FROM (SELECT revenue, "
        "ROW_NUMBER() OVER (ORDER BY revenue) AS ascending, "
        "COUNT(*) OVER () AS n, SUM(revenue) OVER () AS total "
        f"FROM ({inner}) AS per_customer) AS ranked GROUP BY n, total"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        result = {"customers": 0, "revenue": 0.0, "top20_share": None, "gini": None}
    else:
        n, total, weighted, head, edge = (float(v) if v is not None else None for v in row)
        n = int(n)
        whole = (n * 2) // 10
        top = head + (0.2 * n - whole) * (edge or 0.0)
        gini = 2.0 * weighted / (n * total) - (n + 1.0) / n
        result = {
            "customers": n,
            "revenue": total,
            "top20_share": min(max(top / total, 0.2), 1.0),
            "gini": min(max(gini, 0.0), (n - 1.0) / n),
        }
    ctx.shared[key] = result
    return result
