"""Acquisition cohorts: customers by first-purchase month x months since, retention and revenue.

Months are integers on any consecutive numbering (``year * 12 + month - 1`` is the usual one).
A customer's cohort is the month of their first order; in month k of their life (k = 0 is the
acquisition month) they are *active* if they ordered at least once in that month.

    retention[c, k] = active customers of cohort c in month k / customers in cohort c
    revenue[c, k]   = sum of the cohort's order amounts in month k

retention[c, 0] is 1 by construction. Cells after the last observed month are NaN (not yet
observable), never 0, so an incomplete month does not read as churn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CohortMatrices", "build_cohorts"]


@dataclass(frozen=True)
class CohortMatrices:
    """Rows: cohorts in month order; columns: months since acquisition, 0..n_columns - 1."""

    cohort_month: np.ndarray
    cohort_size: np.ndarray
    active_customers: np.ndarray
    retention: np.ndarray
    revenue: np.ndarray

    @property
    def revenue_per_customer(self) -> np.ndarray:
        """Cohort revenue in month k divided by the cohort's original size."""
        return self.revenue / self.cohort_size[:, None]


def build_cohorts(
    customer_index, order_month, amount, *, last_month: int | None = None
) -> CohortMatrices:
    """Retention and revenue matrices from order rows (customer, month number, amount).

    Orders after ``last_month`` (default: the latest month in the data) are ignored and define
    the observation edge. Cohorts with no customers between the first and last are left out.
    Guarantees: retention in [0, 1] with retention[:, 0] == 1; observed months without activity
    are 0, unobservable ones NaN in retention and revenue (0 in the integer active_customers);
    the non-NaN revenue sums to the total of the orders considered.
    """
    customers = np.asarray(customer_index)
    months = np.asarray(order_month)
    values = np.asarray(amount, dtype=float)
    if customers.ndim != 1 or not (customers.shape == months.shape == values.shape):
        raise ValueError("customer_index, order_month and amount must be 1-D of the same length")
    if not np.issubdtype(customers.dtype, np.integer) or not np.issubdtype(
        months.dtype, np.integer
    ):
        raise ValueError("customer_index and order_month must be integer arrays")
    if customers.size and customers.min() < 0:
        raise ValueError("customer_index must be non-negative")
    if not np.all(np.isfinite(values)):
        raise ValueError("amount contains NaN or infinite values")
    if last_month is not None:
        keep = months <= last_month
        customers, months, values = customers[keep], months[keep], values[keep]
    if customers.size == 0:
        empty = np.zeros((0, 0))
        return CohortMatrices(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), empty, empty, empty
        )

    months = months.astype(np.int64)
    edge = int(months.max()) if last_month is None else int(last_month)
    n_customers = int(customers.max()) + 1
    first_month = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first_month, customers, months)

    cohort_month, cohort_of_customer = np.unique(
        first_month[first_month != np.iinfo(np.int64).max], return_inverse=True
    )
    row_of_customer = np.full(n_customers, -1, dtype=np.int64)
    row_of_customer[first_month != np.iinfo(np.int64).max] = cohort_of_customer
    n_rows = cohort_month.size
    n_columns = edge - int(cohort_month[0]) + 1

    order_row = row_of_customer[customers]
    order_column = months - first_month[customers]
    cell = order_row * n_columns + order_column
    revenue = np.bincount(cell, weights=values, minlength=n_rows * n_columns).reshape(
        n_rows, n_columns
    )
    # A customer counts once per month however many orders they place: dedupe (customer, month).
    span = edge - int(months.min()) + 1
    keys = np.sort(customers.astype(np.int64) * span + (months - months.min()))
    first_in_month = np.r_[True, keys[1:] != keys[:-1]]
    active_customer = keys[first_in_month] // span
    active_month = keys[first_in_month] % span + months.min()
    active_cell = (
        row_of_customer[active_customer] * n_columns + active_month - first_month[active_customer]
    )
    active = np.bincount(active_cell, minlength=n_rows * n_columns).reshape(n_rows, n_columns)
    cohort_size = np.bincount(cohort_of_customer, minlength=n_rows)

    observable = np.arange(n_columns)[None, :] <= (edge - cohort_month)[:, None]
    retention = np.where(observable, active / cohort_size[:, None], np.nan)
    return CohortMatrices(
        cohort_month=cohort_month,
        cohort_size=cohort_size,
        active_customers=active,
        retention=retention,
        revenue=np.where(observable, revenue, np.nan),
    )
