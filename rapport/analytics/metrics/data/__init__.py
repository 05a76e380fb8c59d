"""The CDNOW reference data set (see README.md here), loaded as NumPy arrays."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CALIBRATION_END_DAY",
    "HOLDOUT_END_DAY",
    "CdnowSummary",
    "CdnowTransactions",
    "load_cdnow_summary",
    "load_cdnow_transactions",
]

_HERE = Path(__file__).resolve().parent
_FIRST_DAY = np.datetime64("1997-01-01")
# Day numbers count from 1997-01-01 (day 0); the calibration period ends on 1997-09-30 inclusive
# (39 weeks) and the holdout on 1998-06-30 (another 39 weeks).
CALIBRATION_END_DAY = int((np.datetime64("1997-09-30") - _FIRST_DAY).astype(int))
HOLDOUT_END_DAY = int((np.datetime64("1998-06-30") - _FIRST_DAY).astype(int))


@dataclass(frozen=True)
class CdnowSummary:
    """Per customer, calibration period, times in weeks: x, t_x, T and mean repeat spend ($)."""

    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    monetary: np.ndarray


@dataclass(frozen=True)
class CdnowTransactions:
    """One row per transaction: customer index 0..2356, day number from 1997-01-01, dollars."""

    customer_index: np.ndarray
    order_day: np.ndarray
    quantity: np.ndarray
    amount: np.ndarray


def load_cdnow_summary() -> CdnowSummary:
    """The 2,357-customer calibration summary exactly as published with the data."""
    table = np.loadtxt(
        _HERE / "cdnow_customers_summary_with_transactions.csv", delimiter=",", skiprows=1
    )
    return CdnowSummary(
        frequency=table[:, 1], recency=table[:, 2], age=table[:, 3], monetary=table[:, 4]
    )


def load_cdnow_transactions() -> CdnowTransactions:
    """All 6,919 transactions of the sample, calibration and holdout periods together."""
    with gzip.open(_HERE / "CDNOW_sample.txt.gz", "rt") as handle:
        table = np.loadtxt(handle, dtype=float)
    yyyymmdd = table[:, 2].astype(np.int64)
    dates = np.array(
        [f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}" for d in yyyymmdd],
        dtype="datetime64[D]",
    )
    return CdnowTransactions(
        customer_index=table[:, 1].astype(np.int64) - 1,
        order_day=(dates - _FIRST_DAY).astype(np.int64),
        quantity=table[:, 3].astype(np.int64),
        amount=table[:, 4],
    )
