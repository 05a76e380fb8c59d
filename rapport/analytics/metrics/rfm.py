"""RFM: recency, frequency and monetary value per customer, quintile scores and named segments.

Measures, over a window ending on ``as_of_day`` (inclusive)
    recency    days from the customer's last order in the window to ``as_of_day``
    frequency  number of orders in the window
    monetary   mean order value in the window

Scores (1-5, 5 best; recency is scored so the most recent customers get 5)
    score = 1 + floor(5 * (customers strictly worse) / (customers scored))

    So equal values always share a score (a tie is never split across bins), the worst value
    always scores 1, and a score of k means at least (k - 1) fifths of the customers are strictly
    worse. With distinct values this is exactly the quintile. Heavy ties leave gaps (if 60 % of
    customers bought once, they all score F = 1 and the next value starts at F = 4): the score
    says where a customer stands, it does not force five equal bins.

Segments over (R, FM) with FM = round-half-up((F + M) / 2)

    ====  ==================  ==================  ==================  ===============  ===============
    R     FM = 1              FM = 2              FM = 3              FM = 4           FM = 5
    ====  ==================  ==================  ==================  ===============  ===============
    5     New                 Potential loyalist  Potential loyalist  Champions        Champions
    4     Promising           Potential loyalist  Potential loyalist  Loyal            Champions
    3     About to sleep      About to sleep      Need attention      Loyal            Loyal
    2     Hibernating         Hibernating         At risk             At risk          Can't lose them
    1     Lost                Lost                At risk             Can't lose them  Can't lose them
    ====  ==================  ==================  ==================  ===============  ===============

    Customers without an order in the window are not scored: R = F = M = 0, segment "No orders".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "NO_ORDERS",
    "SEGMENT_NAMES",
    "OrderSummary",
    "RfmScores",
    "rfm_segment",
    "score_quintiles",
    "score_rfm",
    "summarize_orders",
]

NO_ORDERS = "No orders"
# Code 0 is reserved for customers who were not scored; codes index this tuple.
SEGMENT_NAMES: tuple[str, ...] = (
    NO_ORDERS,
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)
_CODE = {name: code for code, name in enumerate(SEGMENT_NAMES)}

# Rows R = 5 .. 1, columns FM = 1 .. 5, exactly the table in the module docstring.
_SEGMENT_GRID = (
    ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Champions"),
    ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"),
    ("Lost", "Lost", "At risk", "Can't lose them", "Can't lose them"),
)
# Lookup by [R, FM] with index 0 meaning "not scored".
_SEGMENT_CODE_BY_R_FM = np.zeros((6, 6), dtype=np.int8)
for _row, _names in enumerate(_SEGMENT_GRID):
    for _column, _name in enumerate(_names):
        _SEGMENT_CODE_BY_R_FM[5 - _row, _column + 1] = _CODE[_name]


@dataclass(frozen=True)
class OrderSummary:
    """Per-customer RFM measures from raw orders; arrays indexed by customer.

    Customers with no order in the window have frequency 0, total 0 and NaN recency, monetary
    and last order day.
    """

    recency_days: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray
    total_amount: np.ndarray
    last_order_day: np.ndarray

    @property
    def has_orders(self) -> np.ndarray:
        return self.frequency > 0


@dataclass(frozen=True)
class RfmScores:
    """Scores 1-5 (0 = not scored) and segment per customer, aligned with the input arrays."""

    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    fm: np.ndarray
    segment_code: np.ndarray

    @property
    def segment(self) -> np.ndarray:
        """Segment names (see ``SEGMENT_NAMES``) as an array of strings."""
        return np.asarray(SEGMENT_NAMES)[self.segment_code]


def summarize_orders(
    customer_index,
    order_day,
    amount,
    *,
    as_of_day: int,
    window_days: int | None = None,
    n_customers: int | None = None,
) -> OrderSummary:
    """Recency, frequency and monetary value per customer from order rows.

    Orders are rows of (customer index 0..n-1, integer day number, amount). Only orders with
    ``as_of_day - window_days < day <= as_of_day`` count (no lower limit without a window).
    Vectorised with bincount and ufunc.at: 10 million orders take well under a second.
    """
    customers = np.asarray(customer_index)
    days = np.asarray(order_day)
    values = np.asarray(amount, dtype=float)
    if customers.ndim != 1 or not (customers.shape == days.shape == values.shape):
        raise ValueError("customer_index, order_day and amount must be 1-D of the same length")
    if not np.issubdtype(customers.dtype, np.integer) or not np.issubdtype(days.dtype, np.integer):
        raise ValueError("customer_index and order_day must be integer arrays")
    if customers.size and customers.min() < 0:
        raise ValueError("customer_index must be non-negative")
    if not np.all(np.isfinite(values)):
        raise ValueError("amount contains NaN or infinite values")
    if window_days is not None and window_days <= 0:
        raise ValueError("window_days must be positive")
    n = int(
        n_customers if n_customers is not None else (customers.max() + 1 if customers.size else 0)
    )
    if customers.size and customers.max() >= n:
        raise ValueError("customer_index has values >= n_customers")

    in_window = days <= as_of_day
    if window_days is not None:
        in_window &= days > as_of_day - window_days
    customers, days, values = (
        customers[in_window],
        days[in_window].astype(np.int64),
        values[in_window],
    )

    frequency = np.bincount(customers, minlength=n)
    total = np.bincount(customers, weights=values, minlength=n)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, customers, days)

    has_orders = frequency > 0
    recency = np.full(n, np.nan)
    recency[has_orders] = as_of_day - last[has_orders]
    monetary = np.full(n, np.nan)
    monetary[has_orders] = total[has_orders] / frequency[has_orders]
    last_order_day = np.full(n, np.nan)
    last_order_day[has_orders] = last[has_orders]
    return OrderSummary(
        recency_days=recency,
        frequency=frequency,
        monetary=monetary,
        total_amount=total,
        last_order_day=last_order_day,
    )


def score_quintiles(values, *, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1-5 by the rule in the module docstring; equal values always get equal scores.

    Guarantees: every score is in 1..5, the score is monotone in the value (non-decreasing when
    ``higher_is_better``, non-increasing otherwise) and the worst value scores 1.
    """
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError("values must be one-dimensional")
    if not np.all(np.isfinite(array)):
        raise ValueError("values contain NaN or infinite values")
    if array.size == 0:
        return np.zeros(0, dtype=np.int8)
    oriented = array if higher_is_better else -array
    strictly_worse = np.searchsorted(np.sort(oriented), oriented, side="left")
    # Integer arithmetic keeps exact quintile edges (e.g. 2 of 10 is exactly 1/5).
    return (1 + (5 * strictly_worse) // array.size).astype(np.int8)


def rfm_segment(r, f, m) -> np.ndarray:
    """Segment names for score arrays (1-5; 0 anywhere means not scored -> "No orders")."""
    return np.asarray(SEGMENT_NAMES)[_segment_codes(r, f, m)[0]]


def _segment_codes(r, f, m) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(r, dtype=np.int64)
    f = np.asarray(f, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    for name, scores in (("r", r), ("f", f), ("m", m)):
        if np.any((scores < 0) | (scores > 5)):
            raise ValueError(f"{name} scores must be between 0 and 5")
    scored = (r > 0) & (f > 0) & (m > 0)
    # Round half up: F + M odd means the mean ends in .5, which goes to the higher score.
    fm = np.where(scored, (f + m + 1) // 2, 0)
    codes = _SEGMENT_CODE_BY_R_FM[np.where(scored, r, 0), fm]
    return codes, fm


def score_rfm(recency_days, frequency, monetary) -> RfmScores:
    """Quintile scores and segments for customers' recency (days), order count and mean value.

    Only customers with frequency > 0 are ranked (against each other); the others get scores 0
    and segment "No orders", whatever their recency and monetary hold (NaN is fine there).
    """
    recency = np.asarray(recency_days, dtype=float)
    orders = np.asarray(frequency, dtype=float)
    mean_value = np.asarray(monetary, dtype=float)
    if recency.ndim != 1 or not (recency.shape == orders.shape == mean_value.shape):
        raise ValueError("recency_days, frequency and monetary must be 1-D of the same length")
    if np.any(orders < 0) or not np.all(np.isfinite(orders)):
        raise ValueError("frequency must be finite and non-negative")
    scored = orders > 0
    if not (np.all(np.isfinite(recency[scored])) and np.all(np.isfinite(mean_value[scored]))):
        raise ValueError("recency_days and monetary must be finite for customers with orders")
    if np.any(recency[scored] < 0):
        raise ValueError("recency_days must be non-negative")

    r = np.zeros(orders.size, dtype=np.int8)
    f = np.zeros(orders.size, dtype=np.int8)
    m = np.zeros(orders.size, dtype=np.int8)
    r[scored] = score_quintiles(recency[scored], higher_is_better=False)
    f[scored] = score_quintiles(orders[scored])
    m[scored] = score_quintiles(mean_value[scored])
    codes, fm = _segment_codes(r, f, m)
    return RfmScores(r=r, f=f, m=m, fm=fm.astype(np.int8), segment_code=codes)
