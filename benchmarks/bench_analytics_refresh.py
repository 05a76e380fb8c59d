"""The whole analytics refresh on a large purchase history: load, fit, score, store.

    python benchmarks/run.py analytics_refresh              # 100,000 customers, ~1,000,000 orders
    python benchmarks/run.py analytics_refresh --full       # 1,000,000 customers, ~10,000,000 orders
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench_analytics \\
        python benchmarks/run.py analytics_refresh

Seeds N contacts and their orders, drawn from a BG/NBD + Gamma-Gamma process with known
parameters (rapport.analytics.simulation), straight into the tables: COPY on PostgreSQL,
executemany on SQLite (seeding is not what is measured). Then runs the real refresh
(`rapport.analytics.refresh.refresh_now`) in a fresh process, so the peak memory it reports
(getrusage maxrss) is the refresh's own, and prints seconds per stage. Beside the load it times
the bare aggregation the load asks the database for (the same GROUP BY, counted in the database
without sending rows) as the floor the load cannot beat, and prints the ratio.

The data goes into DATABASE_URL when set, else into var/bench/analytics.sqlite3. A database is
seeded only when it holds no contacts, or exactly the bench's own data of another size (then it
is emptied first); anything else is refused, so a real database is never touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench"
MARKER_SOURCE = "bench-analytics"
AIM_SECONDS_AT_1M = 120.0
HISTORY_DAYS = 1200
BATCH = 100_000


def configure() -> str:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{BENCH_DIR / 'analytics.sqlite3'}"
    os.environ["DATABASE_URL"] = url
    os.environ["RAPPORT_VAR_DIR"] = str(BENCH_DIR)
    os.environ.setdefault("RAPPORT_LOG_LEVEL", "WARNING")
    os.environ["RAPPORT_TASKS_BACKEND"] = "immediate"
    os.environ["DJANGO_SETTINGS_MODULE"] = "rapport.settings"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return url


def process():
    from rapport.analytics.simulation import PurchaseProcess

    # About ten purchases per customer over the window: busier than the demo's shop.
    return PurchaseProcess(r=1.5, alpha=4.0, a=1.2, b=12.0, p=4.0, q=4.0, gamma=35.0)


# --------------------------------------------------------------------------- seeding


def current_size() -> tuple[int, int, bool]:
    from rapport.commerce.models import Order
    from rapport.contacts.models import Contact

    contacts = Contact.objects.count()
    ours = Contact.objects.filter(source_detail=MARKER_SOURCE).count()
    return contacts, Order.objects.count(), contacts == ours


def empty_bench_data() -> None:
    from django.db import connection

    tables = [
        "analytics_analyticssnapshot",
        "analytics_customeranalytics",
        "analytics_modelfit",
        "analytics_refreshrun",
        "commerce_orderline",
        "commerce_order",
        "contacts_contact",
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")


def seed(customers: int, seed_value: int) -> tuple[int, float]:
    """Insert `customers` contacts and their simulated orders; returns (orders, seconds)."""
    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from rapport.analytics.simulation import simulate_history

    started = time.perf_counter()
    rng = np.random.default_rng(seed_value)
    end = (timezone.localdate() - dt.date(1970, 1, 1)).days
    history = simulate_history(
        rng, customers, start_day=end - HISTORY_DAYS, end_day=end, process=process()
    )
    now = timezone.now().isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM contacts_contact")
        (first_id,) = cursor.fetchone()
        first_id += 1
        contact_ids = np.arange(first_id, first_id + customers, dtype=np.int64)
        contact_columns = (
            "id, first_name, last_name, job_title, primary_email, primary_phone, street, city, "
            "postcode, region, country, lifecycle_stage, source, source_detail, about, "
            "custom_fields, is_archived, search_text, created_at, updated_at"
        )
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            for contact_id in contact_ids.tolist():
                buffer.write(
                    f"{contact_id}\tBench\tCustomer {contact_id}\t\t\t\t\t\t\t\t\tcustomer\timport"
                    f"\t{MARKER_SOURCE}\t\t{{}}\tf\tbench customer {contact_id}\t{now}\t{now}\n"
                )
            buffer.seek(0)
            with cursor.cursor.copy(
                f"COPY contacts_contact ({contact_columns}) FROM STDIN"
            ) as copy:
                while chunk := buffer.read(1 << 20):
                    copy.write(chunk)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('contacts_contact', 'id'), "
                "(SELECT MAX(id) FROM contacts_contact))"
            )
        else:
            rows = (
                (
                    cid,
                    "Bench",
                    f"Customer {cid}",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "customer",
                    "import",
                    MARKER_SOURCE,
                    "",
                    "{}",
                    False,
                    f"bench customer {cid}",
                    now,
                    now,
                )
                for cid in contact_ids.tolist()
            )
            cursor.executemany(
                f"INSERT INTO contacts_contact ({contact_columns}) VALUES ({', '.join(['%s'] * 20)})",
                rows,
            )
        order_columns = (
            "contact_id, ordered_at, status, currency, total, source, external_system, "
            "external_id, note, created_at, updated_at, kind"
        )
        dates = np.datetime_as_string(history.day.astype("datetime64[D]"), unit="D")
        owners = contact_ids[history.customer]
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY commerce_order ({order_columns}) FROM STDIN") as copy:
                for start in range(0, owners.size, BATCH):
                    stop = min(owners.size, start + BATCH)
                    lines = [
                        f"{c}\t{d} 12:00:00+00\tshipped\tEUR\t{a:.2f}\timport\t\t\t\t{now}\t{now}\tshop\n"
                        for c, d, a in zip(
                            owners[start:stop].tolist(),
                            dates[start:stop].tolist(),
                            history.amount[start:stop].tolist(),
                            strict=True,
                        )
                    ]
                    copy.write("".join(lines))
        else:
            for start in range(0, owners.size, BATCH):
                stop = min(owners.size, start + BATCH)
                rows = (
                    (
                        c,
                        f"{d} 12:00:00",
                        "shipped",
                        "EUR",
                        round(a, 2),
                        "import",
                        "",
                        "",
                        "",
                        now,
                        now,
                        "shop",
                    )
                    for c, d, a in zip(
                        owners[start:stop].tolist(),
                        dates[start:stop].tolist(),
                        history.amount[start:stop].tolist(),
                        strict=True,
                    )
                )
                cursor.executemany(
                    f"INSERT INTO commerce_order ({order_columns}) VALUES ({', '.join(['%s'] * 12)})",
                    rows,
                )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE contacts_contact")
            cursor.execute("ANALYZE commerce_order")
    return int(owners.size), time.perf_counter() - started


# --------------------------------------------------------------------------- measuring


def raw_baselines() -> dict[str, float]:
    """Two floors for the load, timed in the database alone (no rows sent back):

    scan      read the revenue orders once (COUNT and SUM): what any load must at least cost
    group_by  the same rows grouped by contact and day in SQL: what the load would cost the
              database if it asked it to aggregate (it does not; see rapport/analytics/queries.py)
    """
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    table = "commerce_order" if postgres else "commerce_order NOT INDEXED"
    day = (
        "(ordered_at AT TIME ZONE 'UTC')::date"
        if postgres
        else "CAST(julianday(ordered_at) AS INTEGER)"
    )
    where = "WHERE contact_id IS NOT NULL AND status IN ('paid', 'shipped') AND currency = 'EUR'"
    queries = {
        "scan": f"SELECT COUNT(*), SUM(total) FROM {table} {where}",
        "group_by": (
            f"SELECT COUNT(*) FROM (SELECT contact_id, {day}, COUNT(*), SUM(total) "
            f"FROM {table} {where} GROUP BY 1, 2) AS days"
        ),
    }
    seconds = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            seconds[name] = time.perf_counter() - started
    return seconds


def refresh_in_this_process() -> dict:
    """Run one refresh and report its stage timings and this process's peak memory."""
    from rapport.analytics import refresh
    from rapport.analytics.models import ModelFit

    started = time.perf_counter()
    run = refresh.refresh_now(actor=None)
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fits = {
        fit.model: {"status": fit.status, **fit.parameters}
        for fit in ModelFit.objects.filter(run=run)
    }
    return {
        "status": run.status,
        "message": run.message,
        "customers": run.n_customers,
        "orders": run.n_orders,
        "timings": run.timings,
        "total": total,
        "peak_rss_mb": peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024,
        "fits": fits,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--full", action="store_true", help="1,000,000 customers")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--refresh-only", action="store_true", help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args(argv)
    customers = args.customers or (1_000_000 if args.full else 100_000)
    url = configure()

    if args.refresh_only:
        print(json.dumps(refresh_in_this_process()))
        return 0

    from django.db import connection

    vendor = connection.vendor
    contacts, orders, ours = current_size()
    if contacts and not ours:
        print(f"{url} holds other contacts; give the benchmark its own database.", file=sys.stderr)
        return 2
    if contacts != customers:
        if contacts:
            print(f"emptying the bench data ({contacts:,} contacts) to seed {customers:,}")
            empty_bench_data()
        orders, seconds = seed(customers, args.seed)
        print(
            f"seeded {customers:,} customers with {orders:,} orders in {seconds:.0f} s ({vendor})"
        )
    else:
        print(f"reusing {customers:,} customers with {orders:,} orders ({vendor})")
    connection.close()

    child = subprocess.run(
        [sys.executable, __file__, "--refresh-only", "--customers", str(customers)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        return 1
    result = json.loads(child.stdout.strip().splitlines()[-1])
    floors = raw_baselines()
    timings = result["timings"]
    print()
    print(
        f"Analytics refresh on {vendor}: {result['customers']:,} customers, {result['orders']:,} orders"
    )
    print(
        f"  status            {result['status']}{' — ' + result['message'] if result['message'] else ''}"
    )
    for stage in ("load", "fit", "score", "store"):
        print(f"  {stage:<17} {timings.get(stage, float('nan')):8.2f} s")
    print(f"  total (wall)      {result['total']:8.2f} s")
    print(f"  peak memory       {result['peak_rss_mb']:8.0f} MB (maxrss of the refresh process)")
    load = timings.get("load", 0.0)
    print(
        f"  raw scan          {floors['scan']:8.2f} s (COUNT, SUM of the same orders in SQL); "
        f"load / scan = {load / floors['scan']:.2f}"
    )
    print(
        f"  raw GROUP BY      {floors['group_by']:8.2f} s (grouping by contact and day in SQL "
        "instead, not counting the transfer)"
    )
    truth = process()
    for model, names in (
        ("bg_nbd", ("r", "alpha", "a", "b")),
        ("gamma_gamma", ("p", "q", "gamma")),
    ):
        fit = result["fits"].get(model, {})
        pairs = ", ".join(f"{n} {fit[n]:.3f} (true {getattr(truth, n)})" for n in names if n in fit)
        print(f"  {model:<17} {fit.get('status', '—')}: {pairs}")
    if customers >= 1_000_000:
        verdict = "within" if result["total"] <= AIM_SECONDS_AT_1M else "over"
        print(f"  aim               {verdict} {AIM_SECONDS_AT_1M:.0f} s at 1,000,000 customers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
