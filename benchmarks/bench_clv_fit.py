"""Benchmark: BG/NBD + Gamma-Gamma fit on CDNOW, ours vs lifetimes, and scoring at 1M customers.

    python benchmarks/bench_clv_fit.py                 # everything
    python benchmarks/bench_clv_fit.py --skip-peer     # no lifetimes comparison
    python benchmarks/bench_clv_fit.py --skip-scale    # no 1M-customer run

Part 1 fits both models on the CDNOW summary (2,357 customers) with our code and with the peer,
lifetimes 0.11.3, in the same run, and prints the median fit times, both parameter sets and the
speed ratio. lifetimes 0.11.3 does not import on today's numpy/scipy/pandas, so it runs in its own
virtual environment, benchmarks/.peer-venv, created here on first use (python -m venv + pip
install of the pins below, from PyPI) and driven through benchmarks/peer_clv.py, which prints
JSON. If that cannot be set up, the script says so and prints our figures alone.

Part 2 builds 1,000,000 synthetic customers with 10,000,000 orders in memory and times each step
from raw orders to RFM segments, Pareto/Gini/tiers, CLV (fit and scoring) and churn flags.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

import numpy as np
import scipy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rapport.analytics.metrics import churn, clv, data, pareto, rfm  # noqa: E402

PEER_VENV = REPO / "benchmarks" / ".peer-venv"
PEER_SCRIPT = REPO / "benchmarks" / "peer_clv.py"
CDNOW_CSV = REPO / "rapport/analytics/metrics/data/cdnow_customers_summary_with_transactions.csv"
# The newest stack lifetimes 0.11.3 runs on: numpy 2 breaks autograd's use of it, pandas 2.1+
# and scipy 1.12+ warn or break in its fitters, and it imports pkg_resources (setuptools < 70).
PEER_PINS = (
    "lifetimes==0.11.3",
    "numpy==1.26.4",
    "scipy==1.11.4",
    "pandas==2.0.3",
    "autograd==1.6.2",
    "dill==0.3.8",
    "setuptools<70",
)


def median_seconds(action, runs: int) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


# --------------------------------------------------------------------------- part 1: CDNOW


def fit_ours(runs: int) -> dict:
    summary = data.load_cdnow_summary()

    def fit_both():
        bg = clv.fit_bg_nbd(summary.frequency, summary.recency, summary.age)
        gg = clv.fit_gamma_gamma(summary.frequency, summary.monetary)
        return bg, gg

    fit_both()  # warm-up: imports, the BLAS thread-pool probe
    bg_median, bg = median_seconds(
        lambda: clv.fit_bg_nbd(summary.frequency, summary.recency, summary.age), runs
    )
    gg_median, gg = median_seconds(
        lambda: clv.fit_gamma_gamma(summary.frequency, summary.monetary), runs
    )
    total_median, _ = median_seconds(fit_both, runs)
    return {
        "bg": bg,
        "gg": gg,
        "bg_median": bg_median,
        "gg_median": gg_median,
        "total_median": total_median,
    }


def peer_python() -> Path:
    return PEER_VENV / ("Scripts/python.exe" if platform.system() == "Windows" else "bin/python")


def ensure_peer_venv() -> Path:
    """Create benchmarks/.peer-venv with the pinned stack unless it already has exactly those."""
    marker = PEER_VENV / "rapport-peer-pins.txt"
    wanted = "\n".join(PEER_PINS)
    if marker.exists() and marker.read_text() == wanted and peer_python().exists():
        return peer_python()
    print(f"setting up the peer environment in {PEER_VENV} (first run only) ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
    # pip's own chatter (and this machine's index warnings) only matter when it fails.
    subprocess.run(
        [
            str(peer_python()),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PEER_PINS,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    marker.write_text(wanted)
    return peer_python()


def fit_peer(runs: int) -> dict:
    python = ensure_peer_venv()
    completed = subprocess.run(
        [str(python), str(PEER_SCRIPT), "--data", str(CDNOW_CSV), "--runs", str(runs)],
        check=True,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return json.loads(completed.stdout)


def report_cdnow(runs: int, skip_peer: bool) -> None:
    print("== BG/NBD + Gamma-Gamma fit on CDNOW (2,357 customers, 946 repeat buyers)")
    print(
        f"   median of {runs} runs; python {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}"
    )
    ours = fit_ours(runs)
    bg, gg = ours["bg"], ours["gg"]
    print()
    print(f"{'':22}{'r':>9}{'alpha':>9}{'a':>9}{'b':>9}   {'p':>7}{'q':>7}{'gamma':>8}")
    print(
        f"{'published':22}{0.243:>9.3f}{4.414:>9.3f}{0.793:>9.3f}{2.426:>9.3f}   "
        f"{6.25:>7.2f}{3.74:>7.2f}{15.44:>8.2f}"
    )
    print(
        f"{'rapport':22}{bg.r:>9.4f}{bg.alpha:>9.4f}{bg.a:>9.4f}{bg.b:>9.4f}   "
        f"{gg.p:>7.3f}{gg.q:>7.3f}{gg.gamma:>8.3f}"
    )

    peer = None
    if skip_peer:
        print("\n(peer skipped: --skip-peer)")
    else:
        try:
            peer = fit_peer(runs)
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            detail = getattr(error, "stderr", "") or ""
            print(
                f"\nPEER NOT AVAILABLE: could not install or run lifetimes 0.11.3 in "
                f"{PEER_VENV}: {error}\n{detail[-2000:]}"
            )
    if peer is not None:
        pb, pg = peer["bg_nbd"], peer["gamma_gamma"]
        print(
            f"{'lifetimes ' + peer['versions']['lifetimes']:22}{pb['r']:>9.4f}"
            f"{pb['alpha']:>9.4f}{pb['a']:>9.4f}{pb['b']:>9.4f}   {pg['p']:>7.3f}"
            f"{pg['q']:>7.3f}{pg['gamma']:>8.3f}"
        )
        versions = peer["versions"]
        print(
            f"   (peer on python {versions['python']}, numpy {versions['numpy']}, "
            f"scipy {versions['scipy']}, pandas {versions['pandas']})"
        )

    print()
    print(f"{'fit time (median)':22}{'BG/NBD':>12}{'Gamma-Gamma':>14}{'both':>12}")
    print(
        f"{'rapport':22}{ours['bg_median'] * 1e3:>10.1f}ms{ours['gg_median'] * 1e3:>12.1f}ms"
        f"{ours['total_median'] * 1e3:>10.1f}ms"
    )
    if peer is not None:
        print(
            f"{'lifetimes':22}{peer['bg_median'] * 1e3:>10.1f}ms"
            f"{peer['gg_median'] * 1e3:>12.1f}ms{peer['total_median'] * 1e3:>10.1f}ms"
        )
        print(
            f"{'speed-up (x)':22}{peer['bg_median'] / ours['bg_median']:>12.1f}"
            f"{peer['gg_median'] / ours['gg_median']:>14.1f}"
            f"{peer['total_median'] / ours['total_median']:>12.1f}"
        )


# --------------------------------------------------------------------------- part 2: 1M customers


def synthetic_orders(n_customers: int, n_orders: int, horizon_days: int, seed: int = 42):
    """Customers join uniformly, stay active an exponential while (mean 400 days), and place
    orders at a gamma-distributed personal rate within that span; baskets are log-normal."""
    rng = np.random.default_rng(seed)
    first_day = rng.integers(0, horizon_days - 30, n_customers)
    last_active = np.minimum(
        first_day + rng.exponential(400, n_customers).astype(np.int64), horizon_days
    )
    active_days = last_active - first_day + 1
    propensity = rng.gamma(0.6, 1.0, n_customers) * active_days
    orders_per_customer = 1 + rng.multinomial(n_orders - n_customers, propensity / propensity.sum())
    customer = np.repeat(np.arange(n_customers), orders_per_customer)
    day = first_day[customer] + (rng.random(n_orders) * active_days[customer]).astype(np.int64)
    day[np.r_[True, customer[1:] != customer[:-1]]] = first_day
    basket = rng.lognormal(3.5, 0.5, n_customers)
    amount = np.round(basket[customer] * rng.lognormal(0.0, 0.3, n_orders), 2)
    return customer, day, amount


def report_scale(n_customers: int, n_orders: int) -> None:
    horizon = 3 * 365
    print(f"\n== {n_customers:,} synthetic customers, {n_orders:,} orders over {horizon} days")
    started = time.perf_counter()
    customer, day, amount = synthetic_orders(n_customers, n_orders, horizon)
    print(f"   (generated in {time.perf_counter() - started:.2f} s, not counted)")

    steps: list[tuple[str, float]] = []

    def step(name, action):
        began = time.perf_counter()
        result = action()
        steps.append((name, time.perf_counter() - began))
        return result

    orders = step(
        "RFM measures from orders (365-day window)",
        lambda: rfm.summarize_orders(
            customer, day, amount, as_of_day=horizon, window_days=365, n_customers=n_customers
        ),
    )
    scores = step(
        "RFM scores + segments",
        lambda: rfm.score_rfm(orders.recency_days, orders.frequency, orders.monetary),
    )
    revenue = orders.total_amount
    concentration = step(
        "Pareto curve + top 20 % + Gini (365 days)", lambda: pareto.revenue_concentration(revenue)
    )
    step("value tiers", lambda: pareto.assign_value_tiers(revenue))
    history = step(
        "CLV inputs (x, t_x, T, spend) from orders",
        lambda: clv.summarize_repeat_purchases(
            customer, day, amount, as_of_day=horizon, days_per_period=7
        ),
    )
    x, t_x, age, spend = history.frequency, history.recency, history.age, history.monetary
    bg = step("BG/NBD fit", lambda: clv.fit_bg_nbd(x, t_x, age))
    gg = step("Gamma-Gamma fit", lambda: clv.fit_gamma_gamma(x, spend))
    alive = step("P(alive)", lambda: clv.probability_alive(bg, x, t_x, age))
    step("expected purchases, next 13 weeks", lambda: clv.expected_purchases(bg, 13, x, t_x, age))
    value = step(
        "CLV, 12 months at 1 %/month",
        lambda: clv.customer_lifetime_value(
            bg, gg, x, t_x, age, spend, periods_per_month=clv.WEEKS_PER_MONTH
        ),
    )
    risk = step("churn-risk flags", lambda: churn.assess_churn_risk(alive, x, t_x, age))

    for name, seconds in steps:
        print(f"   {name:<46}{seconds:>7.2f} s")
    fits = {"BG/NBD fit", "Gamma-Gamma fit"}
    scoring = sum(seconds for name, seconds in steps if name not in fits)
    print(f"   {'scoring without the two fits':<46}{scoring:>7.2f} s")
    print(f"   {'total':<46}{sum(seconds for _, seconds in steps):>7.2f} s")
    champions = int((scores.segment_code == rfm.SEGMENT_NAMES.index("Champions")).sum())
    print(
        f"   sanity: {champions:,} Champions; top 20 % carry {concentration.top_20_share:.1%}, "
        f"Gini {concentration.gini:.3f}; BG/NBD r={bg.r:.3f} alpha={bg.alpha:.3f} "
        f"a={bg.a:.3f} b={bg.b:.3f}; mean CLV {value.mean():.2f}; "
        f"{risk.is_at_risk.mean():.1%} flagged at risk"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fits per side for the median")
    parser.add_argument("--skip-peer", action="store_true", help="do not run lifetimes")
    parser.add_argument("--skip-scale", action="store_true", help="skip the 1M-customer run")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    args = parser.parse_args()
    report_cdnow(args.runs, args.skip_peer)
    if not args.skip_scale:
        report_scale(args.customers, args.orders)


if __name__ == "__main__":
    main()
