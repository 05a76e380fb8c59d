"""Fit the peer, lifetimes 0.11.3, on the CDNOW summary and print JSON (times and parameters).

Runs inside benchmarks/.peer-venv (see bench_clv_fit.py), because lifetimes 0.11.3 needs an old
numpy/scipy/pandas stack. Standard library + lifetimes only; never imports rapport.

    python peer_clv.py --data path/to/cdnow_customers_summary_with_transactions.csv --runs 7
"""

import argparse
import json
import statistics
import sys
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    import lifetimes
    import numpy
    import pandas
    import scipy
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    # Same file as our side reads: ID, x, t_x, T, zbar.
    table = pandas.read_csv(args.data)
    frequency, recency, age, spend = table["x"], table["t_x"], table["T"], table["zbar"]
    repeat = frequency > 0

    bg_seconds, gg_seconds = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        bg = BetaGeoFitter().fit(frequency, recency, age)
        bg_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        gg = GammaGammaFitter().fit(frequency[repeat], spend[repeat])
        gg_seconds.append(time.perf_counter() - started)

    json.dump(
        {
            "versions": {
                "python": sys.version.split()[0],
                "lifetimes": lifetimes.__version__,
                "numpy": numpy.__version__,
                "scipy": scipy.__version__,
                "pandas": pandas.__version__,
            },
            "bg_nbd": {key: float(value) for key, value in bg.params_.items()},
            "gamma_gamma": {
                "p": float(gg.params_["p"]),
                "q": float(gg.params_["q"]),
                "gamma": float(gg.params_["v"]),
            },
            "bg_seconds": bg_seconds,
            "gg_seconds": gg_seconds,
            "bg_median": statistics.median(bg_seconds),
            "gg_median": statistics.median(gg_seconds),
            "total_median": statistics.median(
                b + g for b, g in zip(bg_seconds, gg_seconds, strict=True)
            ),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
