"""Writing a refresh's results in bulk: the current row per customer and the day's snapshot.

PostgreSQL gets the scores through a binary COPY into a temporary table (built straight from
the NumPy arrays, no Python loop per row) and one INSERT … SELECT that turns codes into names;
SQLite gets one executemany. Both replace the current rows in one transaction, so readers see
either the old analytics or the new, never a mix.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.db import connection, transaction

from rapport.analytics.metrics.pareto import TIER_NAMES
from rapport.analytics.metrics.rfm import SEGMENT_NAMES
from rapport.analytics.models import AnalyticsSnapshot, CustomerAnalytics
from rapport.analytics.scoring import CustomerScores

CURRENT_TABLE = CustomerAnalytics._meta.db_table
SNAPSHOT_TABLE = AnalyticsSnapshot._meta.db_table
_COPY_ROWS = 200_000
_SQLITE_ROWS = 50_000

CURRENT_COLUMNS = [
    "contact_id",
    "run_id",
    "computed_on",
    "first_order_date",
    "last_order_date",
    "cohort_month",
    "orders_count",
    "revenue_total",
    "average_order_value",
    "recency_days",
    "repeat_purchases",
    "r_score",
    "f_score",
    "m_score",
    "fm_score",
    "segment",
    "p_alive",
    "expected_purchases",
    "predicted_clv",
    "value_tier",
    "is_at_risk",
    "churn_reason",
    "overdue_ratio",
]
SNAPSHOT_COLUMNS = [
    "contact_id",
    "snapshot_date",
    "run_id",
    "orders_count",
    "revenue_total",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "p_alive",
    "expected_purchases",
    "predicted_clv",
    "value_tier",
    "is_at_risk",
]

# Columns of the temporary table, in COPY order, with their binary type.
_TEMP_COLUMNS = [
    ("contact_id", "int8", ">i8"),
    ("first_day", "int4", ">i4"),
    ("last_day", "int4", ">i4"),
    ("cohort_day", "int4", ">i4"),
    ("orders_count", "int4", ">i4"),
    ("revenue", "float8", ">f8"),
    ("average_order_value", "float8", ">f8"),
    ("recency_days", "int4", ">i4"),
    ("repeat_purchases", "int4", ">i4"),
    ("r_score", "int2", ">i2"),
    ("f_score", "int2", ">i2"),
    ("m_score", "int2", ">i2"),
    ("fm_score", "int2", ">i2"),
    ("segment_code", "int2", ">i2"),
    ("p_alive", "float8", ">f8"),
    ("expected_purchases", "float8", ">f8"),
    ("clv", "float8", ">f8"),
    ("tier_code", "int2", ">i2"),
    ("is_at_risk", "bool", "?"),
    ("churn_reason", "int2", ">i2"),
    ("overdue_ratio", "float8", ">f8"),
]


def _cohort_days(scores: CustomerScores) -> np.ndarray:
    """Day number of the first of each customer's cohort month."""
    return scores.cohort_month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _codes(values: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Position of each value in `names`; one comparison pass per name beats sorting strings."""
    codes = np.full(values.size, -1, dtype=np.int16)
    for code, name in enumerate(names):
        codes[values == name] = code
    if np.any(codes < 0):
        raise ValueError("a value is not among the known names")
    return codes


def _column_values(scores: CustomerScores, contact_ids: np.ndarray) -> dict[str, np.ndarray]:
    # Infinite overdue ratios (a zero purchase gap) are stored as NULL: "no rhythm known".
    overdue = np.where(np.isfinite(scores.overdue_ratio), scores.overdue_ratio, np.nan)
    return {
        "contact_id": contact_ids,
        "first_day": scores.first_day,
        "last_day": scores.last_day,
        "cohort_day": _cohort_days(scores),
        "orders_count": scores.orders_count,
        "revenue": scores.revenue,
        "average_order_value": scores.average_order_value,
        "recency_days": scores.recency_days,
        "repeat_purchases": scores.repeat_purchases,
        "r_score": scores.r,
        "f_score": scores.f,
        "m_score": scores.m,
        "fm_score": scores.fm,
        "segment_code": scores.segment_code.astype(np.int16),
        "p_alive": scores.p_alive,
        "expected_purchases": scores.expected_purchases,
        "clv": scores.clv,
        "tier_code": _codes(scores.tier, TIER_NAMES),
        "is_at_risk": scores.is_at_risk,
        "churn_reason": scores.churn_reason,
        "overdue_ratio": overdue,
    }


@transaction.atomic
def store_scores(
    *, run_id: int, as_of: dt.date, contact_ids: np.ndarray, scores: CustomerScores
) -> int:
    """Replace every customer's current analytics and write (or replace) today's snapshots.

    Contacts deleted since the load are skipped. Returns the number of customers stored.
    """
    values = _column_values(scores, np.asarray(contact_ids, dtype=np.int64))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {CURRENT_TABLE}")  # noqa: S608 - table names are ours
        if connection.vendor == "postgresql":
            stored = _store_postgresql(cursor, run_id, as_of, values)
        else:
            stored = _store_portable(cursor, run_id, as_of, values)
        cursor.execute(f"DELETE FROM {SNAPSHOT_TABLE} WHERE snapshot_date = %s", [as_of])  # noqa: S608
        snapshot_columns = ", ".join(SNAPSHOT_COLUMNS)
        source_columns = ", ".join(
            "computed_on" if column == "snapshot_date" else column for column in SNAPSHOT_COLUMNS
        )
        cursor.execute(
            f"INSERT INTO {SNAPSHOT_TABLE} ({snapshot_columns}) "  # noqa: S608
            f"SELECT {source_columns} FROM {CURRENT_TABLE} ORDER BY contact_id"
        )
    return stored


def _binary_copy_block(values: dict[str, np.ndarray], start: int, stop: int) -> bytes:
    """Rows start..stop as PostgreSQL binary COPY tuples (no header), built by NumPy."""
    fields = [("field_count", ">i2")]
    for name, _sql_type, dtype in _TEMP_COLUMNS:
        fields += [(f"{name}_length", ">i4"), (name, dtype)]
    block = np.empty(stop - start, dtype=np.dtype(fields))
    block["field_count"] = len(_TEMP_COLUMNS)
    for name, _sql_type, dtype in _TEMP_COLUMNS:
        block[f"{name}_length"] = np.dtype(dtype).itemsize
        block[name] = values[name][start:stop]
    return block.tobytes()


def _store_postgresql(cursor, run_id: int, as_of: dt.date, values: dict) -> int:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in _TEMP_COLUMNS)
    # Dropped explicitly too: inside an enclosing transaction ON COMMIT comes too late.
    cursor.execute("DROP TABLE IF EXISTS refresh_scores")
    cursor.execute(f"CREATE TEMPORARY TABLE refresh_scores ({columns}) ON COMMIT DROP")
    total = int(values["contact_id"].size)
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    with cursor.cursor.copy("COPY refresh_scores FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(header)
        for start in range(0, total, _COPY_ROWS):
            copy.write(_binary_copy_block(values, start, min(total, start + _COPY_ROWS)))
        copy.write((-1).to_bytes(2, "big", signed=True))
    # Without statistics the planner takes the temporary table for a few rows and probes the
    # contacts index once per row; with them it hashes the contacts once.
    cursor.execute("ANALYZE refresh_scores")
    segments = ", ".join(f"({code}, %s)" for code in range(len(SEGMENT_NAMES)))
    tiers = ", ".join(f"({code}, %s)" for code in range(len(TIER_NAMES)))
    epoch = "DATE '1970-01-01'"
    cursor.execute(
        f"INSERT INTO {CURRENT_TABLE} ({', '.join(CURRENT_COLUMNS)}) "  # noqa: S608
        f"SELECT s.contact_id, %s, %s, {epoch} + s.first_day, {epoch} + s.last_day, "
        f"{epoch} + s.cohort_day, s.orders_count, s.revenue, "
        "s.average_order_value, s.recency_days, s.repeat_purchases, "
        "s.r_score, s.f_score, s.m_score, s.fm_score, segment.name, "
        "NULLIF(s.p_alive, 'NaN'), NULLIF(s.expected_purchases, 'NaN'), "
        "NULLIF(s.clv, 'NaN'), tier.name, s.is_at_risk, s.churn_reason, "
        "NULLIF(s.overdue_ratio, 'NaN') "
        "FROM refresh_scores s "
        "JOIN contacts_contact c ON c.id = s.contact_id "
        f"JOIN (VALUES {segments}) AS segment(code, name) ON segment.code = s.segment_code "
        f"JOIN (VALUES {tiers}) AS tier(code, name) ON tier.code = s.tier_code "
        # In key order, the primary key index grows at its right edge instead of everywhere.
        "ORDER BY s.contact_id",
        [run_id, as_of, *SEGMENT_NAMES, *TIER_NAMES],
    )
    stored = cursor.rowcount
    cursor.execute("DROP TABLE refresh_scores")
    return stored


def _dates(day_numbers: np.ndarray) -> list[str]:
    return np.datetime_as_string(day_numbers.astype("datetime64[D]"), unit="D").tolist()


def _nullable(array: np.ndarray, digits: int | None = None) -> list:
    finite = np.isfinite(array)
    rounded = np.round(array, digits) if digits is not None else array
    return [
        value if ok else None for value, ok in zip(rounded.tolist(), finite.tolist(), strict=True)
    ]


def _store_portable(cursor, run_id: int, as_of: dt.date, values: dict) -> int:
    """SQLite: executemany in batches; the contact join drops contacts deleted meanwhile."""
    total = int(values["contact_id"].size)
    placeholders = ", ".join(["%s"] * len(CURRENT_COLUMNS))
    sql = (
        f"INSERT INTO {CURRENT_TABLE} ({', '.join(CURRENT_COLUMNS)}) "  # noqa: S608
        f"VALUES ({placeholders})"
    )
    with connection.cursor() as lookup:
        lookup.execute("SELECT MAX(id) FROM contacts_contact")
        (top,) = lookup.fetchone()
    present = np.zeros(int(top or 0) + 1, dtype=bool)
    with connection.cursor() as lookup:
        lookup.execute("SELECT id FROM contacts_contact")
        while True:
            ids = lookup.fetchmany(500_000)
            if not ids:
                break
            present[np.fromiter((row[0] for row in ids), dtype=np.int64, count=len(ids))] = True
    contact_ids = values["contact_id"]
    keep = (contact_ids < present.size) & present[np.minimum(contact_ids, present.size - 1)]
    stored = 0
    as_of_text = as_of.isoformat()
    for start in range(0, total, _SQLITE_ROWS):
        stop = min(total, start + _SQLITE_ROWS)
        mask = keep[start:stop]

        def column(name, _start=start, _stop=stop, _mask=mask):
            return values[name][_start:_stop][_mask]

        count = int(mask.sum())
        rows = zip(
            column("contact_id").tolist(),
            [run_id] * count,
            [as_of_text] * count,
            _dates(column("first_day")),
            _dates(column("last_day")),
            _dates(column("cohort_day")),
            column("orders_count").tolist(),
            np.round(column("revenue"), 2).tolist(),
            np.round(column("average_order_value"), 2).tolist(),
            column("recency_days").tolist(),
            column("repeat_purchases").tolist(),
            column("r_score").tolist(),
            column("f_score").tolist(),
            column("m_score").tolist(),
            column("fm_score").tolist(),
            np.asarray(SEGMENT_NAMES, dtype=object)[column("segment_code")].tolist(),
            _nullable(column("p_alive")),
            _nullable(column("expected_purchases")),
            _nullable(column("clv"), 2),
            np.asarray(TIER_NAMES, dtype=object)[column("tier_code")].tolist(),
            column("is_at_risk").tolist(),
            column("churn_reason").tolist(),
            _nullable(column("overdue_ratio")),
            strict=True,
        )
        cursor.executemany(sql, rows)
        stored += count
    return stored


def prune_snapshots(*, today: dt.date, keep_daily_days: int) -> int:
    """Thin snapshots older than `keep_daily_days` to the last one of each month."""
    cutoff = today - dt.timedelta(days=keep_daily_days)
    dates = list(
        AnalyticsSnapshot.objects.filter(snapshot_date__lt=cutoff)
        .values_list("snapshot_date", flat=True)
        .distinct()
    )
    last_of_month: dict[tuple[int, int], dt.date] = {}
    for day in dates:
        key = (day.year, day.month)
        if key not in last_of_month or day > last_of_month[key]:
            last_of_month[key] = day
    drop = sorted(set(dates) - set(last_of_month.values()))
    if not drop:
        return 0
    deleted, _ = AnalyticsSnapshot.objects.filter(snapshot_date__in=drop).delete()
    return deleted


def clear_scores() -> int:
    """Remove every current row (a refresh that found no customers at all)."""
    deleted, _ = CustomerAnalytics.objects.all().delete()
    return deleted
