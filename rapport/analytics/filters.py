"""The customers list's filters and sort orders, shared by the page, its CSV export and the API.

Every filter reads a plain query parameter, so each chart can link to the customers behind a
bar or a cell (e.g. `?r=5&fm=4`, `?tier=gold`, `?clv_min=100&clv_max=200`).
"""

from __future__ import annotations

import datetime as dt
import math

from django.core.exceptions import ValidationError

from rapport.analytics.choices import SEGMENT_ORDER, VALUABLE_TIERS, ValueTier
from rapport.analytics.models import CustomerAnalytics
from rapport.contacts.models import Contact

# sort parameter -> (column, descending)
SORTS = {
    "-clv": ("predicted_clv", True),
    "clv": ("predicted_clv", False),
    "-revenue": ("revenue_total", True),
    "revenue": ("revenue_total", False),
    "-p_alive": ("p_alive", True),
    "p_alive": ("p_alive", False),
    "-expected": ("expected_purchases", True),
    "expected": ("expected_purchases", False),
    "-orders": ("orders_count", True),
    "orders": ("orders_count", False),
    "recency": ("recency_days", False),
    "-recency": ("recency_days", True),
}
NULLABLE_SORT_COLUMNS = {"predicted_clv", "p_alive", "expected_purchases"}
FILTER_NAMES = [
    "q",
    "segment",
    "tier",
    "at_risk",
    "r",
    "fm",
    "cohort",
    "clv_min",
    "clv_max",
    "p_alive_max",
    "top_percent",
]


def _number(params, name, errors, *, low=None, high=None, whole=False):
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        errors.setdefault(name, []).append("Give a number.")
        return None
    if (
        not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        errors.setdefault(name, []).append(f"Give a number between {low} and {high}.")
        return None
    return value


def apply_filters(rows, params) -> tuple:
    """Filter a CustomerAnalytics queryset by the request's parameters.

    Returns (rows, cleaned, errors): `cleaned` holds the values used (for the form and the
    links), `errors` names each parameter that could not be used (it is then ignored).
    """
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    q = (params.get("q") or "").strip()[:200]
    if q:
        cleaned["q"] = q
        rows = rows.filter(contact__in=Contact.objects.search(q).values("pk"))
    segment = (params.get("segment") or "").strip()
    if segment:
        if segment in SEGMENT_ORDER:
            cleaned["segment"] = segment
            rows = rows.filter(segment=segment)
        else:
            errors["segment"] = ["Unknown segment."]
    tier = (params.get("tier") or "").strip()
    if tier:
        if tier in ValueTier.values:
            cleaned["tier"] = tier
            rows = rows.filter(value_tier=tier)
        elif tier == "valuable":
            cleaned["tier"] = tier
            rows = rows.filter(value_tier__in=VALUABLE_TIERS)
        else:
            errors["tier"] = ["Unknown tier."]
    if (params.get("at_risk") or "") in {"1", "true", "yes", "on"}:
        cleaned["at_risk"] = True
        rows = rows.filter(is_at_risk=True)
    for name in ("r", "fm"):
        score = _number(params, name, errors, low=1, high=5, whole=True)
        if score is not None:
            cleaned[name] = score
            rows = rows.filter(**{"r_score" if name == "r" else "fm_score": score})
    cohort = (params.get("cohort") or "").strip()
    if cohort:
        try:
            month = dt.date.fromisoformat(f"{cohort}-01")
        except ValueError:
            errors["cohort"] = ["Give a month as YYYY-MM."]
        else:
            cleaned["cohort"] = cohort
            rows = rows.filter(cohort_month=month)
    clv_min = _number(params, "clv_min", errors, low=0, high=1e12)
    clv_max = _number(params, "clv_max", errors, low=0, high=1e12)
    if clv_min is not None:
        cleaned["clv_min"] = clv_min
        rows = rows.filter(predicted_clv__gte=clv_min)
    if clv_max is not None:
        cleaned["clv_max"] = clv_max
        rows = rows.filter(predicted_clv__lt=clv_max)
    p_alive_max = _number(params, "p_alive_max", errors, low=0, high=1)
    if p_alive_max is not None:
        cleaned["p_alive_max"] = p_alive_max
        rows = rows.filter(p_alive__lt=p_alive_max)
    top = _number(params, "top_percent", errors, low=0.1, high=100)
    if top is not None:
        cleaned["top_percent"] = top
        rows = _top_by_revenue(rows, top)
    return rows, cleaned, errors


def _top_by_revenue(rows, percent: float):
    """The best `percent` % of these customers by revenue (ties at the edge included)."""
    total = rows.count()
    keep = max(1, math.ceil(total * percent / 100.0)) if total else 0
    if not keep:
        return rows.none()
    edge = rows.order_by("-revenue_total", "-pk").values_list("revenue_total", flat=True)[
        keep - 1 : keep
    ]
    edge_value = next(iter(edge), None)
    if edge_value is None:
        return rows
    return rows.filter(revenue_total__gte=edge_value)


def sort_rows(rows, sort: str, *, clv_available: bool) -> tuple:
    """(rows, sort key, column, descending). Unknown sorts fall back to the default."""
    default = "-clv" if clv_available else "-revenue"
    if sort not in SORTS or (SORTS[sort][0] == "predicted_clv" and not clv_available):
        sort = default
    column, descending = SORTS[sort]
    if column in NULLABLE_SORT_COLUMNS:
        # Model columns are null only when the run could not fit the model, for everyone alike.
        rows = rows.filter(**{f"{column}__isnull": False})
    return rows, sort, column, descending


def customer_rows(user):
    return CustomerAnalytics.objects.visible_to(user).select_related("contact", "contact__owner")


def params_error(errors: dict) -> ValidationError:
    return ValidationError({f"query.{key}": value for key, value in errors.items()})
