"""Purchase histories drawn from the BG/NBD and Gamma-Gamma processes with known parameters.

The demo data and the refresh benchmark use it, and the tests check that fitting its output
finds the parameters again. No Django here.

The process, per customer i (time in weeks, FHL 2005 and Fader & Hardie 2013):
    acquisition   first purchase on a day between `start_day` and `end_day`, more of them
                  recently (the business grows)
    lambda_i      ~ Gamma(shape r, rate alpha): purchase rate while alive
    p_i           ~ Beta(a, b): probability of dropping out after each repeat purchase
    nu_i          ~ Gamma(shape q, rate gamma); each purchase's value ~ Gamma(shape p, rate nu_i)
    seasonality   the rate is multiplied by 1 + amplitude * cos(2 pi (day of year - peak) / 365),
                  which averages to 1 over a year (thinning of a faster Poisson process)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DAYS_PER_WEEK = 7.0


@dataclass(frozen=True)
class PurchaseProcess:
    """The true parameters of a simulated history (time unit: weeks; money: the currency)."""

    r: float = 0.45
    alpha: float = 6.0
    a: float = 0.7
    b: float = 2.8
    p: float = 4.0
    q: float = 4.0
    gamma: float = 35.0
    seasonal_amplitude: float = 0.3
    seasonal_peak_day_of_year: int = 340

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def mean_spend(self) -> float:
        return self.p * self.gamma / (self.q - 1.0)


@dataclass(frozen=True)
class SimulatedHistory:
    """Purchases as aligned arrays, one row per purchase, sorted by customer and day.

    Days are integer day numbers (days since 1970-01-01). `acquisition_day`, `rate`,
    `dropout` and `spend_rate` are per customer (the drawn lambda, p and nu).
    """

    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    acquisition_day: np.ndarray
    rate: np.ndarray
    dropout: np.ndarray
    spend_rate: np.ndarray
    process: PurchaseProcess


def _seasonality(day: np.ndarray, process: PurchaseProcess) -> np.ndarray:
    day_of_year = (
        day.astype("datetime64[D]") - day.astype("datetime64[D]").astype("datetime64[Y]")
    ).astype(np.int64)
    angle = 2.0 * np.pi * (day_of_year - process.seasonal_peak_day_of_year) / 365.0
    return 1.0 + process.seasonal_amplitude * np.cos(angle)


def _repeat_purchases(rng, acquisition, end_day, rate, lifetime_purchases, process):
    """Repeat purchase days of every customer: a seasonal Poisson process (by thinning) that
    stops after the customer's last purchase or at the end of the window.

    Gaps are drawn in rounds of a few per still-active customer, so the work follows the
    purchases actually made, not the (much longer) purchases a customer would make if they
    never left.
    """
    peak = 1.0 + abs(process.seasonal_amplitude)
    horizon = (end_day - acquisition) / DAYS_PER_WEEK
    elapsed = np.zeros(acquisition.size)
    made = np.zeros(acquisition.size, dtype=np.int64)
    active = np.flatnonzero((horizon > 0) & (rate > 0))
    owners, days = [], []
    batch = 16
    while active.size:
        gaps = rng.exponential(1.0, size=(active.size, batch)) / (rate[active] * peak)[:, None]
        times = elapsed[active, None] + np.cumsum(gaps, axis=1)
        # Only times inside the window become purchases; capping the rest keeps the day cast
        # finite when a near-zero rate makes a gap infinite.
        capped = np.minimum(times, horizon[active, None])
        candidate = acquisition[active, None] + np.floor(capped * DAYS_PER_WEEK).astype(np.int64)
        inside = times < horizon[active, None]
        accepted = inside & (
            rng.random(times.shape) * peak < _seasonality(np.minimum(candidate, end_day), process)
        )
        count = made[active, None] + np.cumsum(accepted, axis=1)
        keep = accepted & (count <= lifetime_purchases[active, None])
        rows, columns = np.nonzero(keep)
        owners.append(active[rows])
        days.append(candidate[rows, columns])
        made[active] += keep.sum(axis=1)
        elapsed[active] = times[:, -1]
        still = (made[active] < lifetime_purchases[active]) & inside[:, -1]
        active = active[still]
    if not owners:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(owners), np.concatenate(days)


def simulate_history(
    rng: np.random.Generator,
    n_customers: int,
    *,
    start_day: int,
    end_day: int,
    process: PurchaseProcess = PurchaseProcess(),
    acquisition_day: np.ndarray | None = None,
) -> SimulatedHistory:
    """Draw `n_customers` customers' purchases in [start_day, end_day] (vectorised).

    `acquisition_day` fixes each customer's first purchase day (the demo uses the day a contact
    became a customer); the model's parameters do not depend on when customers arrive.
    """
    if n_customers < 1 or end_day <= start_day:
        raise ValueError("need at least one customer and end_day after start_day")
    span = end_day - start_day
    if acquisition_day is not None:
        acquisition = np.clip(np.asarray(acquisition_day, dtype=np.int64), start_day, end_day)
        if acquisition.shape != (n_customers,):
            raise ValueError("acquisition_day needs one day per customer")
    else:
        # sqrt of a uniform: acquisition density grows linearly towards the present.
        acquisition = start_day + np.floor(span * np.sqrt(rng.random(n_customers))).astype(np.int64)
    rate = rng.gamma(process.r, 1.0 / process.alpha, n_customers)
    dropout = rng.beta(process.a, process.b, n_customers)
    spend_rate = rng.gamma(process.q, 1.0 / process.gamma, n_customers)
    # Repeat purchases until (and including) the one after which the customer drops out.
    lifetime_purchases = rng.geometric(dropout)

    owner, candidate_day = _repeat_purchases(
        rng, acquisition, end_day, rate, lifetime_purchases, process
    )

    customer = np.concatenate([np.arange(n_customers), owner])
    day = np.concatenate([acquisition, candidate_day])
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]
    amount = rng.gamma(process.p, 1.0 / spend_rate[customer])
    amount = np.maximum(np.round(amount, 2), 0.01)
    return SimulatedHistory(
        customer=customer,
        day=day,
        amount=amount,
        acquisition_day=acquisition,
        rate=rate,
        dropout=dropout,
        spend_rate=spend_rate,
        process=process,
    )
