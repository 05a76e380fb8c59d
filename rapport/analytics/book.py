"""The portfolio figures one user may see: the whole book, or only the customers in their scope.

Someone who sees every contact gets the figures the last refresh stored on its run. Someone who
sees part of the book (own or team records) gets the same figures computed from their own
customers' stored analytics (and, for cohorts, their orders), so a chart never counts
customers its link would not list. Those live figures are cached per user and run.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Sum

from rapport.accounts.choices import Domain, Scope
from rapport.analytics import portfolio, queries
from rapport.analytics.metrics.cohorts import build_cohorts
from rapport.analytics.models import CustomerAnalytics, RefreshRun

CACHE_SECONDS = 600


def sees_whole_book(user) -> bool:
    return user.is_authenticated and user.scope_for(Domain.CONTACTS) == Scope.ALL


def visible_analytics(user):
    return CustomerAnalytics.objects.visible_to(user)


def _cached(user, run: RefreshRun, name: str, compute):
    key = f"analytics:book:{run.pk}:{user.pk}:{name}"
    return cache.get_or_set(key, compute, CACHE_SECONDS)


def summary(user, run: RefreshRun) -> dict:
    """Customers, revenue, orders and at-risk counts of the user's book."""
    if sees_whole_book(user):
        figures = run.portfolio
        return {
            "customers": figures.get("customers", 0),
            "revenue": figures.get("revenue", 0.0),
            "orders": figures.get("orders", 0),
            "at_risk": figures.get("at_risk", {}),
            "pareto": figures.get("pareto", {}),
        }

    def compute():
        rows = visible_analytics(user)
        totals = rows.aggregate(
            customers=Count("pk"), revenue=Sum("revenue_total"), orders=Sum("orders_count")
        )
        risky = rows.filter(is_at_risk=True).aggregate(
            customers=Count("pk"), clv=Sum("predicted_clv"), revenue=Sum("revenue_total")
        )
        return {
            "customers": totals["customers"],
            "revenue": float(totals["revenue"] or 0),
            "orders": totals["orders"] or 0,
            "at_risk": {
                "customers": risky["customers"],
                "clv": None if run.tier_basis != "clv" else float(risky["clv"] or 0),
                "revenue": float(risky["revenue"] or 0),
            },
            "pareto": pareto(user, run),
        }

    return _cached(user, run, "summary", compute)


def rfm(user, run: RefreshRun) -> dict:
    """The R × FM grid and the segment table."""
    if sees_whole_book(user):
        return {
            "grid": run.portfolio.get("rfm_grid"),
            "segments": run.portfolio.get("segments", []),
        }

    def compute():
        rows = visible_analytics(user)
        counts = np.zeros((5, 5))
        money = np.zeros((5, 5))
        for cell in (
            rows.filter(r_score__gte=1, fm_score__gte=1)
            .values("r_score", "fm_score")
            .annotate(customers=Count("pk"), revenue=Sum("revenue_total"))
        ):
            counts[cell["r_score"] - 1, cell["fm_score"] - 1] = cell["customers"]
            money[cell["r_score"] - 1, cell["fm_score"] - 1] = float(cell["revenue"] or 0)
        segment, revenue, clv = _arrays(rows, "segment", "revenue_total", "predicted_clv")
        return {
            "grid": portfolio.grid_from_counts(counts, money),
            "segments": portfolio.segment_table(
                segment.astype(str), revenue, clv if run.tier_basis == "clv" else None
            ),
        }

    return _cached(user, run, "rfm", compute)


def _arrays(rows, *fields):
    data = list(rows.values_list(*fields))
    columns = list(zip(*data, strict=True)) if data else [() for _ in fields]
    result = []
    for field, column in zip(fields, columns, strict=True):
        if field in {"segment", "value_tier"}:
            result.append(np.asarray(column, dtype=object))
        else:
            result.append(
                np.asarray([np.nan if v is None else float(v) for v in column], dtype=float)
            )
    return result


def pareto(user, run: RefreshRun) -> dict:
    if sees_whole_book(user):
        return run.portfolio.get("pareto", {})

    def compute():
        (revenue,) = _arrays(visible_analytics(user), "revenue_total")
        return portfolio.pareto_summary(revenue)

    return _cached(user, run, "pareto", compute)


def clv(user, run: RefreshRun) -> dict:
    """The CLV histogram and the tier table."""
    if sees_whole_book(user):
        return {"histogram": run.portfolio.get("clv", {}), "tiers": run.portfolio.get("tiers", [])}

    def compute():
        tier, value, revenue = _arrays(
            visible_analytics(user), "value_tier", "predicted_clv", "revenue_total"
        )
        basis_value = value if run.tier_basis == "clv" else revenue
        return {
            "histogram": portfolio.clv_distribution(value),
            "tiers": portfolio.tier_table(
                tier.astype(str), basis_value, revenue, basis=run.tier_basis
            ),
        }

    return _cached(user, run, "clv", compute)


def cohorts(user, run: RefreshRun) -> dict:
    if sees_whole_book(user):
        return run.portfolio.get("cohorts", {"cohorts": [], "columns": 0})

    def compute():
        ids = list(visible_analytics(user).values_list("contact_id", flat=True))
        facts = queries.load_order_facts(currency=run.currency, as_of=run.as_of, contact_ids=ids)
        if facts.n_customers == 0:
            return {"cohorts": [], "columns": 0}
        months = queries.month_number(facts.day)
        last_month = int(queries.month_number(np.asarray([facts.as_of_day]))[0])
        matrices = build_cohorts(facts.customer_index, months, facts.amount, last_month=last_month)
        return portfolio.cohort_summary(matrices, month_label)

    return _cached(user, run, "cohorts", compute)


def month_label(month: int) -> str:
    return f"{1970 + month // 12:04d}-{month % 12 + 1:02d}"


def tier_migration(user, *, since_days: int = 30) -> dict | None:
    """How customers moved between value tiers since the snapshot about `since_days` ago.

    Compares each customer's newest snapshot with their snapshot on the latest snapshot day at
    or before the cut-off. None when there is no earlier snapshot day yet.
    """
    from rapport.analytics.models import AnalyticsSnapshot

    snapshots = AnalyticsSnapshot.objects.filter(
        contact__in=visible_analytics(user).values("contact_id")
    )
    latest = snapshots.order_by("-snapshot_date").values_list("snapshot_date", flat=True).first()
    if latest is None:
        return None
    cutoff = latest - dt.timedelta(days=since_days)
    earlier = (
        snapshots.filter(snapshot_date__lte=cutoff)
        .order_by("-snapshot_date")
        .values_list("snapshot_date", flat=True)
        .first()
    )
    if earlier is None:
        return None
    before = dict(snapshots.filter(snapshot_date=earlier).values_list("contact_id", "value_tier"))
    after = dict(snapshots.filter(snapshot_date=latest).values_list("contact_id", "value_tier"))
    names = ["platinum", "gold", "silver", "bronze", "new", "gone"]
    matrix = {a: dict.fromkeys(names, 0) for a in names}
    for contact_id in set(before) | set(after):
        source = before.get(contact_id, "new")
        target = after.get(contact_id, "gone")
        matrix[source][target] += 1
    return {"from": earlier, "to": latest, "names": names, "matrix": matrix}
