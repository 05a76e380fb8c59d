"""Every KPI of the CRM models, measured the way the daily snapshot does, on a large database.

    python benchmarks/run.py kpis                           # 100,000 customers
    python benchmarks/run.py kpis --full                    # 1,000,000 customers
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench_kpis \\
        python benchmarks/run.py kpis --full

Seeds N contacts with organizations, emails, phones, memberships, tags, lifecycle entries and
0–6 interactions each (`seed.seed_contacts`, the contacts benchmark's seeder); then, straight into
the tables, a purchase history for every contact drawn from the analytics simulation (a BG/NBD +
Gamma-Gamma process, ~3 orders each over three years), one deal in thirty with its dated stage
changes, and one open task in a hundred. It runs the real analytics refresh once (the tiers,
CLV and P(alive) the value KPIs read), then times `frameworks.snapshots.take_snapshot()` — every
KPI over everyone, the Value Chain's KPIs over the strategically significant customers, and the
IDIC funnel — and prints the seconds per KPI.

The baseline, measured in the same run, is the floor any snapshot pays: one full scan of each
table the KPIs read (contacts, interactions, orders, deals, stage changes, tasks) counted in the
database. The aim is the whole snapshot under 30 s at 1,000,000 customers on PostgreSQL.

Data goes into DATABASE_URL when set, else into var/bench/kpis.sqlite3; a database is only
seeded when it is empty or was seeded by a benchmark (see seed.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import seed as seeding  # noqa: E402 - benchmarks/ is not a package: found through sys.path

AIM_SECONDS_AT_1M = 30.0
HISTORY_DAYS = 1100
DEAL_EVERY = 30
TASK_EVERY = 100
BATCH = 100_000
STALE_AFTER_RESEED = (
    "frameworks_kpisnapshot",
    "analytics_analyticssnapshot",
    "analytics_customeranalytics",
    "analytics_modelfit",
    "analytics_refreshrun",
    "commerce_order",
    "sales_dealstagechange",
    "sales_task",
    "sales_deal",
)
SCANNED_TABLES = (
    "contacts_contact",
    "interactions_interaction",
    "commerce_order",
    "sales_deal",
    "sales_dealstagechange",
    "sales_task",
)


def configure() -> str:
    if not os.environ.get("DATABASE_URL"):
        seeding.BENCH_DIR.mkdir(parents=True, exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{seeding.BENCH_DIR / 'kpis.sqlite3'}"
    os.environ["RAPPORT_TASKS_BACKEND"] = "immediate"
    return seeding.configure()


def purchase_process():
    from rapport.analytics.simulation import PurchaseProcess

    # About three orders per customer over three years, most of them one-time buyers.
    return PurchaseProcess(r=0.6, alpha=60.0, a=0.8, b=3.0, p=4.0, q=4.0, gamma=35.0)


def seed_orders(say) -> int:
    """A purchase history for every contact without orders (COPY / executemany)."""
    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from rapport.analytics.simulation import simulate_history
    from rapport.commerce.models import Order
    from rapport.contacts.models import Contact

    if Order.objects.exists():
        return Order.objects.count()
    started = time.perf_counter()
    ids = np.fromiter(
        Contact.objects.values_list("pk", flat=True).iterator(chunk_size=100_000), dtype=np.int64
    )
    rng = np.random.default_rng(17)
    end = (timezone.localdate() - dt.date(1970, 1, 1)).days
    history = simulate_history(
        rng, ids.size, start_day=end - HISTORY_DAYS, end_day=end, process=purchase_process()
    )
    owners = ids[history.customer]
    dates = np.datetime_as_string(history.day.astype("datetime64[D]"), unit="D")
    now = timezone.now().isoformat()
    columns = "contact_id, ordered_at, status, currency, total, source, external_system, external_id, note, created_at, updated_at, kind"
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, owners.size, BATCH):
            stop = min(owners.size, start + BATCH)
            triples = zip(
                owners[start:stop].tolist(),
                dates[start:stop].tolist(),
                history.amount[start:stop].tolist(),
                strict=True,
            )
            if connection.vendor == "postgresql":
                text = "".join(
                    f"{c}\t{d} 12:00:00+00\tshipped\tEUR\t{a:.2f}\timport\t\t\t\t{now}\t{now}\tshop\n"
                    for c, d, a in triples
                )
                with cursor.cursor.copy(f"COPY commerce_order ({columns}) FROM STDIN") as copy:
                    copy.write(text)
            else:
                cursor.executemany(
                    f"INSERT INTO commerce_order ({columns}) VALUES ({', '.join(['%s'] * 12)})",
                    [
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
                        for c, d, a in triples
                    ],
                )
    say(f"  seeded {owners.size:,} orders in {time.perf_counter() - started:.0f} s")
    return int(owners.size)


def seed_deals_and_tasks(admin, reps, say) -> None:
    """One deal in thirty contacts (with dated stage changes) and one open task in a hundred."""
    from django.db import connection, transaction
    from django.utils import timezone

    from rapport.contacts.models import Contact
    from rapport.sales.models import Deal, DealStageChange, Task
    from rapport.sales.services.pipelines import create_pipeline, default_pipeline

    if Deal.objects.exists():
        return
    started = time.perf_counter()
    pipeline = default_pipeline() or create_pipeline(
        actor=admin, name="Bench pipeline", currency="EUR"
    )
    stages = list(pipeline.stages.order_by("position", "id"))
    open_stages = [s for s in stages if s.kind == "open"]
    won = next(s for s in stages if s.kind == "won")
    lost = next(s for s in stages if s.kind == "lost")
    rng = random.Random(5)
    now = timezone.now()
    writer = seeding.RowWriter(connection)
    contact_ids = list(Contact.objects.values_list("pk", flat=True).order_by("pk")[::DEAL_EVERY])
    deals, changes = [], []
    deal_ids = writer.reserve_ids(Deal, len(contact_ids))
    for deal_id, contact_id in zip(deal_ids, contact_ids, strict=True):
        created = now - dt.timedelta(days=rng.uniform(5, 700))
        moment = created
        path = [(None, open_stages[0], moment)]
        outcome = rng.random()
        for stage in open_stages[1 : rng.randint(1, len(open_stages))]:
            moment = min(now, moment + dt.timedelta(days=rng.uniform(2, 30)))
            path.append((path[-1][1], stage, moment))
        if outcome < 0.6 and moment + dt.timedelta(days=10) < now:
            final = won if rng.random() < 0.35 else lost
            moment = moment + dt.timedelta(days=rng.uniform(1, 10))
            path.append((path[-1][1], final, moment))
        last = path[-1][1]
        status = "won" if last == won else "lost" if last == lost else "open"
        owner = rng.choice(reps)
        deals.append(
            {
                "id": deal_id,
                "name": f"Bench deal {deal_id}",
                "pipeline_id": pipeline.pk,
                "stage_id": last.pk,
                "status": status,
                "amount": round(rng.uniform(500, 50_000), 2),
                "currency": "EUR",
                "expected_close_date": (moment + dt.timedelta(days=rng.uniform(-20, 90))).date(),
                "owner_id": owner.pk,
                "contact_id": contact_id,
                "products": [],
                "custom_fields": {},
                "stage_entered_at": moment,
                "closed_at": moment if status != "open" else None,
                "created_at": created,
                "updated_at": moment,
            }
        )
        for from_stage, to_stage, at in path:
            changes.append(
                {
                    "deal_id": deal_id,
                    "pipeline_id": pipeline.pk,
                    "from_stage_id": from_stage.pk if from_stage else None,
                    "to_stage_id": to_stage.pk,
                    "changed_at": at,
                    "recorded_at": at,
                    "actor_id": owner.pk,
                }
            )
    for row, pk in zip(changes, writer.reserve_ids(DealStageChange, len(changes)), strict=True):
        row["id"] = pk
    task_contacts = contact_ids[:: max(1, TASK_EVERY // DEAL_EVERY)]
    tasks = [
        {
            "id": pk,
            "title": "Follow up",
            "due_at": now + dt.timedelta(days=rng.uniform(-20, 20)),
            "priority": "normal",
            "status": "open",
            "assignee_id": rng.choice(reps).pk,
            "contact_id": contact_id,
            "created_at": now - dt.timedelta(days=30),
            "updated_at": now,
        }
        for pk, contact_id in zip(
            writer.reserve_ids(Task, len(task_contacts)), task_contacts, strict=True
        )
    ]
    with transaction.atomic():
        writer.insert(Deal, deals)
        for start in range(0, len(changes), BATCH):
            writer.insert(DealStageChange, changes[start : start + BATCH])
        writer.insert(Task, tasks)
    writer.finish()
    say(
        f"  seeded {len(deals):,} deals ({len(changes):,} stage changes) and {len(tasks):,} tasks in {time.perf_counter() - started:.0f} s"
    )


def spread_arrivals(say) -> None:
    """The contacts seeder dates every contact (and its first lifecycle entry) today; a real
    database gathered them over years. Spread them over the last three years, deterministically
    by id, so "new leads of the last 90 days" are a few percent of the base, not all of it."""
    from django.db import connection
    from django.db.models import Max, Min

    from rapport.contacts.models import Contact

    span = Contact.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    if span["first"] is None or (span["last"] - span["first"]).days > 1:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE contacts_contact SET created_at = created_at - "
                "MOD(id * 7919, 1095) * INTERVAL '1 day'"
            )
            cursor.execute(
                "UPDATE contacts_lifecyclechange AS change SET changed_at = contact.created_at "
                "FROM contacts_contact AS contact WHERE change.contact_id = contact.id"
            )
        else:
            cursor.execute(
                "UPDATE contacts_contact SET created_at = "
                "datetime(created_at, '-' || ((id * 7919) % 1095) || ' days')"
            )
            cursor.execute(
                "UPDATE contacts_lifecyclechange SET changed_at = (SELECT created_at FROM "
                "contacts_contact WHERE contacts_contact.id = contacts_lifecyclechange.contact_id)"
            )
    say("  spread the contacts' arrival over the last three years")


def ensure_analytics(say) -> None:
    from rapport.analytics import refresh
    from rapport.analytics.models import CustomerAnalytics

    if CustomerAnalytics.objects.exists() and refresh.latest_run() is not None:
        return
    started = time.perf_counter()
    run = refresh.refresh_now(actor=None)
    say(
        f"  analytics refresh: {run.get_status_display()}, {run.n_customers:,} customers in {time.perf_counter() - started:.0f} s"
    )


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def table_scans() -> dict[str, float]:
    """Seconds to read every row of each table the KPIs read: the floor of any snapshot."""
    from django.db import connection

    seconds = {}
    with connection.cursor() as cursor:
        for table in SCANNED_TABLES:
            started = time.perf_counter()
            # `id + 0` keeps the count from answering out of the smallest index (SQLite does
            # that for a bare COUNT(*)), so every row of the table is read, as a KPI reads it.
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE id + 0 >= 0")
            cursor.fetchone()
            seconds[table] = time.perf_counter() - started
    return seconds


def group_seconds(rows) -> list[tuple[str, float, int]]:
    """(KPI group, seconds, series) for the stored rows, slowest group first. A census shared
    by several KPIs is paid by the first of them measured, so groups are the honest unit."""
    from rapport.frameworks.kpis import AREAS, KPIS

    totals: dict[str, list] = {}
    for kpi, _population, seconds, _value, _reason in rows:
        label = AREAS.get(KPIS[kpi].area, KPIS[kpi].area) if kpi in KPIS else kpi
        entry = totals.setdefault(label, [0.0, 0])
        entry[0] += seconds
        entry[1] += 1
    return sorted(
        ((area, seconds, count) for area, (seconds, count) in totals.items()),
        key=lambda item: -item[1],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=None, help="customers to seed (100,000)")
    parser.add_argument("--full", action="store_true", help="1,000,000 customers")
    parser.add_argument("--repeat", type=int, default=1, help="snapshots to time (best is kept)")
    args, _unknown = parser.parse_known_args(argv)
    count = args.contacts or (1_000_000 if args.full else 100_000)
    url = configure()
    from django.db import connection
    from rich.console import Console

    console = Console()
    say = console.print
    vendor = connection.vendor
    say(
        f"[bold]KPI snapshot benchmark[/bold] — {count:,} customers on {vendor} ({url.split('@')[-1]})"
    )
    before = seeding.counts()["contacts"]
    seeding.seed_contacts(count, console=console)
    if seeding.counts()["contacts"] != before:
        # New contacts: their orders, deals, tasks and analytics are drawn again for everyone.
        with connection.cursor() as cursor:
            for table in STALE_AFTER_RESEED:
                cursor.execute(f"DELETE FROM {table}")
    admin, reps = seeding.bench_staff()
    spread_arrivals(say)
    orders = seed_orders(say)
    seed_deals_and_tasks(admin, reps, say)
    ensure_analytics(say)
    analyze()

    from rapport.frameworks import snapshots
    from rapport.frameworks.models import KpiSnapshot

    scans = table_scans()
    best = None
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        run = snapshots.take_snapshot(source="on_demand")
        total = time.perf_counter() - started
        if best is None or total < best[1]:
            best = (run, total)
    run, total = best
    rows = list(
        KpiSnapshot.objects.filter(day=run.day)
        .order_by("-seconds")
        .values_list("kpi", "population", "seconds", "value", "reason")
    )
    kpi_seconds = sum(seconds for _k, _p, seconds, _v, _r in rows)
    floor = sum(scans.values())

    say("")
    say(f"Every KPI on {vendor}: {count:,} contacts, {orders:,} orders")
    say(
        f"  series measured       {run.measured + run.not_measurable:>8} ({run.measured} with a value, {run.not_measurable} not measurable, {len(run.failed)} failed)"
    )
    say(
        f"  whole snapshot        {total:8.2f} s   (aim at 1,000,000 on PostgreSQL: < {AIM_SECONDS_AT_1M:.0f} s)"
    )
    say(f"    KPI formulas        {kpi_seconds:8.2f} s")
    say(f"    machine load        {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    say(f"    IDIC funnel + rest  {total - kpi_seconds:8.2f} s")
    detail = ", ".join(
        f"{table.split('_', 1)[1]} {seconds:.2f}" for table, seconds in scans.items()
    )
    say(f"  raw table scans       {floor:8.2f} s   ({detail})")
    say(f"  snapshot / scans      {total / floor if floor else float('nan'):8.1f} ×")
    say("")
    say("  seconds per KPI group (all series of the group, every population):")
    for area, seconds, series in group_seconds(rows):
        say(f"    {area:<28} {seconds:7.2f} s  ({series} series)")
    say("")
    say("  slowest series:")
    for kpi, population, seconds, value, reason in rows[:12]:
        shown = f"{value:.2f}" if value is not None else f"— {reason[:60]}"
        say(f"    {kpi:<44} {population or 'all':<12} {seconds:7.2f} s  {shown}")
    if run.failed:
        say(f"  [red]failed: {run.failed}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
