"""The whole-book figures the analytics charts draw, built from per-customer arrays.

No Django here: the refresh calls these on the arrays it has just scored (and stores the result
on its run), and the live charts of a user who sees only part of the book call the same
functions on that part. Every figure is plain JSON (lists, floats, ints, None for "cannot be
computed") so it can be stored and sent to the browser as is.
"""

from __future__ import annotations

import math

import numpy as np

from rapport.analytics.metrics.cohorts import CohortMatrices
from rapport.analytics.metrics.pareto import TIER_NAMES, revenue_concentration
from rapport.analytics.metrics.rfm import NO_ORDERS, SEGMENT_NAMES

HISTOGRAM_BINS = 16
COHORT_ROWS = 24
COHORT_COLUMNS = 24


def _number(value) -> float | None:
    value = float(value)
    return None if not math.isfinite(value) else value


def _money(value) -> float:
    return round(float(value), 2)


def rfm_grid(r, fm, revenue) -> dict:
    """Customers and revenue per (R, FM) cell; rows R = 5..1, columns FM = 1..5."""
    r = np.asarray(r, dtype=np.int64)
    fm = np.asarray(fm, dtype=np.int64)
    revenue = np.asarray(revenue, dtype=float)
    scored = (r > 0) & (fm > 0)
    cell = (r[scored] - 1) * 5 + (fm[scored] - 1)
    counts = np.bincount(cell, minlength=25).reshape(5, 5)
    money = np.bincount(cell, weights=revenue[scored], minlength=25).reshape(5, 5)
    return grid_from_counts(counts, money)


def grid_from_counts(counts: np.ndarray, money: np.ndarray) -> dict:
    """The grid dict from 5×5 arrays indexed [R - 1, FM - 1] (also used with database counts)."""
    rows = []
    for r_score in range(5, 0, -1):
        rows.append(
            {
                "r": r_score,
                "cells": [
                    {
                        "fm": fm_score,
                        "customers": int(counts[r_score - 1, fm_score - 1]),
                        "revenue": _money(money[r_score - 1, fm_score - 1]),
                    }
                    for fm_score in range(1, 6)
                ],
            }
        )
    return {"rows": rows, "max_customers": int(counts.max()) if counts.size else 0}


def segment_table(segment, revenue, clv=None) -> list[dict]:
    """Customers, revenue and predicted CLV per RFM segment, in the segment map's order."""
    segment = np.asarray(segment)
    revenue = np.asarray(revenue, dtype=float)
    clv_array = None if clv is None else np.asarray(clv, dtype=float)
    rows = []
    total_customers = max(int(segment.size), 1)
    names = [name for name in SEGMENT_NAMES if name != NO_ORDERS] + [NO_ORDERS]
    for name in names:
        members = segment == name
        count = int(members.sum())
        if not count and name == NO_ORDERS:
            continue
        clv_sum = None
        if clv_array is not None and count and np.all(np.isfinite(clv_array[members])):
            clv_sum = _money(clv_array[members].sum())
        rows.append(
            {
                "segment": name,
                "customers": count,
                "share": count / total_customers,
                "revenue": _money(revenue[members].sum()) if count else 0.0,
                "clv": clv_sum,
            }
        )
    return rows


def pareto_summary(revenue, *, curve_points: int = 101) -> dict:
    """Pareto curve, top-20 % share and Gini of per-customer revenue (None when no revenue)."""
    revenue = np.asarray(revenue, dtype=float)
    concentration = revenue_concentration(np.maximum(revenue, 0.0), curve_points=curve_points)
    return {
        "customer_share": [round(float(v), 4) for v in concentration.customer_share],
        "revenue_share": [
            None if not math.isfinite(v) else round(float(v), 6)
            for v in concentration.revenue_share
        ],
        "top_20_share": _number(concentration.top_20_share),
        "gini": _number(concentration.gini),
        "customers": concentration.n_customers,
        "revenue": _money(concentration.total_revenue),
    }


def _nice(value: float) -> float:
    """Round to two significant figures, so bin edges read well and filter exactly."""
    if value <= 0:
        return 0.0
    digits = 1 - math.floor(math.log10(value))
    return round(value, digits) if digits > 0 else float(round(value, digits))


def clv_distribution(clv, *, bins: int = HISTOGRAM_BINS) -> dict:
    """Histogram of predicted CLV on log-spaced bins; {"available": False} without CLV.

    Edges are rounded to two significant figures and the counts use the stored (cent-rounded)
    values, so a bar's link (clv_min <= CLV < clv_max) lists exactly the customers it counts.
    """
    values = np.round(np.asarray(clv, dtype=float), 2)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"available": False, "bins": []}
    top = float(finite.max())
    positive = finite[finite > 0]
    if positive.size == 0 or top <= 0:
        return {
            "available": True,
            "bins": [{"min": 0.0, "max": None, "customers": int(finite.size)}],
        }
    low = float(np.quantile(positive, 0.01))
    low = max(low, top / 10**6, 0.01)
    edges = sorted({0.0, *(_nice(v) for v in np.geomspace(low, top, bins))})
    edges = [edge for edge in edges if edge <= top]
    counts = []
    for index, lower in enumerate(edges):
        upper = edges[index + 1] if index + 1 < len(edges) else None
        if upper is None:
            count = int((finite >= lower).sum())
        else:
            count = int(((finite >= lower) & (finite < upper)).sum())
        counts.append({"min": lower, "max": upper, "customers": count})
    return {"available": True, "bins": counts}


def tier_table(tier, value, revenue, *, basis: str) -> list[dict]:
    """Per value tier: customers, the lowest value that reaches it, summed value and revenue."""
    tier = np.asarray(tier)
    value = np.asarray(value, dtype=float)
    revenue = np.asarray(revenue, dtype=float)
    total_value = float(np.nansum(value)) or 1.0
    rows = []
    for name in TIER_NAMES:
        members = tier == name
        count = int(members.sum())
        summed = float(np.nansum(value[members])) if count else 0.0
        rows.append(
            {
                "tier": name,
                "customers": count,
                "threshold": _money(np.nanmin(value[members])) if count else None,
                "value": _money(summed),
                "value_share": summed / total_value if count else 0.0,
                "revenue": _money(revenue[members].sum()) if count else 0.0,
                "basis": basis,
            }
        )
    return rows


def cohort_summary(
    cohorts: CohortMatrices,
    month_label,
    *,
    max_rows: int = COHORT_ROWS,
    max_columns: int = COHORT_COLUMNS,
) -> dict:
    """The newest `max_rows` cohorts × the first `max_columns` months, NaN as None.

    `month_label(month_number)` names a cohort (e.g. "2025-03").
    """
    if cohorts.cohort_month.size == 0:
        return {"cohorts": [], "columns": 0}
    start = max(0, cohorts.cohort_month.size - max_rows)
    columns = min(max_columns, cohorts.retention.shape[1])
    rows = []
    for index in range(start, cohorts.cohort_month.size):
        rows.append(
            {
                "month": month_label(int(cohorts.cohort_month[index])),
                "customers": int(cohorts.cohort_size[index]),
                "retention": [
                    None if not math.isfinite(v) else round(float(v), 4)
                    for v in cohorts.retention[index, :columns]
                ],
                "revenue": [
                    None if not math.isfinite(v) else _money(v)
                    for v in cohorts.revenue[index, :columns]
                ],
            }
        )
    return {"cohorts": rows, "columns": int(columns)}
