"""Reports at scale: one report over every order line, and a manager's dashboard.

    python benchmarks/run.py reports --quick                       # 100,000 contacts, SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench \\
        python benchmarks/run.py reports                           # 1,000,000 contacts
    python benchmarks/run.py reports --only report --explain       # EXPLAIN ANALYZE both queries

**Seeds** (once per size, into a database of its own: DATABASE_URL's database + "_reports_<N>",
or var/bench/bench_reports_<N>.sqlite3, reused while it holds that size) N contacts with an email
and a lifecycle entry, ~2.9 orders and ~10 order lines per contact over three years (200
products, two shops, 80 % EUR and the rest USD or GBP with monthly rates), two interactions per
contact, one deal in thirty and one task in a hundred (bench_kpis' seeder); then the real
analytics refresh gives every buyer an RFM segment and a value tier. Rows are written by
`INSERT … SELECT` over a series (generate_series on PostgreSQL; foreign-key triggers skipped, the
rows being consistent by construction). Each stage is recorded when done, so an interrupted
seeding resumes.

**Report** "Revenue lines by month and RFM segment": the sum of line totals of paid and shipped
orders, grouped by the order's month and the buyer's RFM segment, in the company currency. Run
through `reports.services.run_report` (the same call the report page and its widget make) as the
administrator (every line) and as a rep with the team scope (a quarter of them), `--repeat`
times each after a warm-up. The **baseline** is the hand-written SQL of the same aggregate —
the same joins and filters, GROUP BY the month, the segment and the currency — on the same
connection, run in turns with the report so both meet the same load. Both are checked to count
the same lines.
Aim (issue 14): at 1,000,000 contacts and 10,000,000 lines on PostgreSQL, p50 under 2 s and
within 1.5× of the SQL.

**Dashboard** (`--dashboard-contacts`, 100,000 by default, a database of that size): the built-in
"Sales manager" dashboard seen by a manager (team scope over two of the four teams) through
Django's test client: Home's response time (the first paint: the grid of placeholders, each
widget then loads from its own URL), each widget's request computed afresh, the same served from
the reports cache, and once more right after a deal is written (which must recompute it).
Aim: first paint under 300 ms at 100,000 contacts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import seed as seeding  # noqa: E402 - benchmarks/ is not a package: found through sys.path

AIM_P50_SECONDS = 2.0
AIM_RATIO = 1.5
AIM_FIRST_PAINT_MS = 300
HISTORY_DAYS = 1095
ORDERS_PER_CONTACT = 2.857  # with 1–6 lines each (3.5 on average): ~10 lines per contact
PRODUCTS = 200
REPORT_NAME = "Revenue lines by month and RFM segment"
REVENUE = {"all": [{"field": "order.status", "op": "in", "value": ["paid", "shipped"]}]}
MANAGER = "bench-manager"
# ASCII names: the search column is then lower(name), as `contacts.search.search_text` has it.
FIRST_NAMES = (  # noqa: SIM905 - a word list reads best as words
    "Ada Alan Anna Ben Clara David Eva Felix Grace Hanna Ivan Julia Karl Lena Marc Nora Oskar "
    "Paula Quinn Rosa Sam Tara Ugo Vera Walt Xenia Yara Zoe Emil Frida Hugo Ines Jonas Kim Lars "
    "Mia Nils Olga Pia Rolf"
).split()
LAST_NAMES = (  # noqa: SIM905
    "Adler Baker Berg Brandt Carter Costa Dahl Evans Fischer Garcia Hahn Hughes Jansen Keller "
    "Klein Larsen Lopez Meyer Moreau Novak Olsen Perez Quist Roth Santos Schmidt Silva Svensson "
    "Thomas Vogel Walker Weber Wolf Young Zimmer Bauer Blanc Dubois Eriksen Ferrari Graf Horn "
    "Ibsen Jung Kraus Lind Marino Nagel Ortiz Petit"
).split()
COUNTRIES = ["DE", "GB", "FR", "NL", "US", "ES", "IT", "SE"]
CATEGORIES = ["Books", "Garden", "Kitchen", "Toys", "Outdoor", "Office", "Music", "Tools"]


# --------------------------------------------------------------------------- the database


def configure(contacts: int) -> str:
    """Point Django at this size's own database (reused between runs) and migrate it."""
    seeding.BENCH_DIR.mkdir(parents=True, exist_ok=True)
    url = seeding.own_database_url(f"reports_{contacts}")
    if url.startswith("postgres"):
        seeding.ensure_postgres_database(url)
    # Tasks a write sets off are queued, not run inline: the benchmark times reads.
    os.environ["RAPPORT_TASKS_BACKEND"] = "database"
    seeding._setup(url)
    return url


def vendor() -> str:
    from django.db import connection

    return connection.vendor


def execute(sql: str, params=()) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, list(params) if params else None)


def series(name: str, first: int, last: int) -> str:
    """A CTE `name(i)` of the whole numbers first..last."""
    if vendor() == "postgresql":
        return f"{name}(i) AS (SELECT generate_series({first}::bigint, {last}::bigint))"
    return f"{name}(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM {name} WHERE i < {last})"


def table(name: str, rows: list[tuple]) -> str:
    """A CTE of literal rows (numbers and plain ASCII text only: written by this file)."""
    columns = {2: "(k, v)", 3: "(k, v, w)"}[len(rows[0])]

    def literal(value):
        return repr(value) if isinstance(value, str) else str(value)

    values = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
    return f"{name}{columns} AS (VALUES {values})"


def days_before(anchor: dt.datetime, days: str, hours: str = "0") -> str:
    """SQL for `anchor` minus an integer expression of days and of hours."""
    if vendor() == "postgresql":
        return (
            f"(TIMESTAMPTZ '{anchor.isoformat()}' - ({days}) * INTERVAL '1 day'"
            f" - ({hours}) * INTERVAL '1 hour')"
        )
    text = anchor.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"datetime('{text}', '-' || ({days}) || ' days', '-' || ({hours}) || ' hours')"


def insert_select(model, values: dict[str, str], source: str, *, with_: str = "") -> None:
    """INSERT INTO the model's table every row of `source`: the columns in `values` from their
    SQL expressions, every other one its model default (the primary key, when not given, from
    the table's own sequence)."""
    from django.db import connection

    columns, expressions, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.attname in values:
            columns.append(field.column)
            expressions.append(values[field.attname].replace("%", "%%"))
            continue
        if field.primary_key:
            continue
        if field.has_default():
            default = field.get_default()
        elif field.null:
            default = None
        else:
            default = "" if isinstance(field.get_default(), str) else field.get_default()
        columns.append(field.column)
        expressions.append("%s")
        params.append(field.get_db_prep_save(default, connection))
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    prefix = f"WITH RECURSIVE {with_} " if with_ else ""
    sql = (
        f"{prefix.replace('%', '%%')}INSERT INTO {model._meta.db_table} ({quoted}) "
        f"SELECT {', '.join(expressions)} {source.replace('%', '%%')}"
    )
    execute(sql, params)


def reset_sequences(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    for statement in connection.ops.sequence_reset_sql(no_style(), list(models)):
        execute(statement)


STAGES_TABLE = "bench_reports_stage"


def done_stages() -> set[str]:
    execute(f"CREATE TABLE IF NOT EXISTS {STAGES_TABLE} (name VARCHAR(40) PRIMARY KEY)")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name FROM {STAGES_TABLE}")
        return {row[0] for row in cursor.fetchall()}


def skip_foreign_key_triggers() -> None:
    """The seeded rows are consistent by construction (each points at rows made before it or
    in the same stage): checking millions of them one by one is most of a stage's time. Only
    a superuser may; anyone else's stages just run slower."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        pass


def run_stage(name: str, step, say) -> None:
    from django.db import transaction

    if name in done_stages():
        return
    started = time.perf_counter()
    with transaction.atomic():
        if vendor() == "postgresql":
            skip_foreign_key_triggers()
        detail = step()
        execute(f"INSERT INTO {STAGES_TABLE} (name) VALUES (%s)", [name])
    say(
        f"  seeded {name}{f' ({detail})' if detail else ''} in {time.perf_counter() - started:.0f} s"
    )


# --------------------------------------------------------------------------- seeding


def seed(contacts: int, say) -> None:
    from django.core.management import call_command

    from rapport.contacts.models import Contact

    stages = done_stages()
    if "contacts" not in stages and Contact.objects.exists():
        say("  [yellow]an interrupted seeding: emptying the database to start again[/yellow]")
        call_command("flush", interactive=False, verbosity=0)
        execute(f"DELETE FROM {STAGES_TABLE}")
    if "analyze" in stages:
        say(f"  reusing the seeded database: {Contact.objects.count():,} contacts")
        return
    admin, reps = seeding.bench_staff()
    anchor = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    run_stage("contacts", lambda: seed_contacts(contacts, reps, anchor), say)
    run_stage("catalogue", lambda: seed_catalogue(admin, anchor), say)
    run_stage("orders", lambda: seed_orders(contacts, anchor), say)
    run_stage("interactions", lambda: seed_interactions(anchor), say)
    import bench_kpis

    run_stage("deals", lambda: bench_kpis.seed_deals_and_tasks(admin, reps, say), say)
    if "analytics" not in done_stages():
        # The real refresh: segments and tiers from the orders, as the nightly run gives them.
        from rapport.analytics import refresh

        started = time.perf_counter()
        run = refresh.refresh_now(actor=None)
        say(
            f"  analytics refresh: {run.get_status_display()}, {run.n_customers:,} customers "
            f"in {time.perf_counter() - started:.0f} s"
        )
        execute(f"INSERT INTO {STAGES_TABLE} (name) VALUES (%s)", ["analytics"])
    started = time.perf_counter()
    execute("VACUUM ANALYZE" if vendor() == "postgresql" else "ANALYZE")
    execute(f"INSERT INTO {STAGES_TABLE} (name) VALUES (%s)", ["analyze"])
    say(f"  VACUUM ANALYZE in {time.perf_counter() - started:.0f} s")


def seed_contacts(count: int, reps, anchor) -> str:
    from rapport.contacts.models import Contact, ContactEmail, LifecycleChange

    # 46 of 50 contacts have an owner, spread over the reps (and so over their four teams).
    owners = [(k, reps[k % len(reps)].pk) for k in range(46)]
    stages = [
        (0, "subscriber"),
        (17, "lead"),
        (39, "marketing_qualified"),
        (52, "sales_qualified"),
        (61, "opportunity"),
        (68, "customer"),
        (85, "loyal"),
        (91, "advocate"),
        (94, "churned"),
    ]
    stage = (
        "CASE "
        + " ".join(
            f"WHEN (s.i * 13) % 100 >= {start} THEN '{name}'" for start, name in reversed(stages)
        )
        + " END"
    )
    email = "lower(fn.v) || '.' || lower(ln.v) || s.i || '@mail.example'"
    created = days_before(anchor, "(s.i * 7919) % 1095")
    insert_select(
        Contact,
        {
            "id": "s.i",
            "created_at": created,
            "updated_at": created,
            "first_name": "fn.v",
            "last_name": "ln.v",
            "primary_email": email,
            "country": "cy.v",
            "lifecycle_stage": stage,
            "lifecycle_changed_at": created,
            "owner_id": "rep.v",
            "source": "'import'",
            # The services' rule (`contacts.search.search_text`) for ASCII names and an email.
            "search_text": f"lower(fn.v || ' ' || ln.v || ' ' || {email})",
        },
        "FROM s JOIN fn ON fn.k = s.i % 40 JOIN ln ON ln.k = (s.i / 40) % 50 "
        "JOIN cy ON cy.k = s.i % 8 LEFT JOIN rep ON rep.k = (s.i * 7) % 50",
        with_=", ".join(
            [
                series("s", 1, count),
                table("fn", list(enumerate(FIRST_NAMES))),
                table("ln", list(enumerate(LAST_NAMES))),
                table("cy", list(enumerate(COUNTRIES))),
                table("rep", owners),
            ]
        ),
    )
    insert_select(
        ContactEmail,
        {"contact_id": "c.id", "email": "c.primary_email", "label": "'work'"},
        "FROM contacts_contact c",
    )
    insert_select(
        LifecycleChange,
        {
            "contact_id": "c.id",
            "from_stage": "''",
            "to_stage": "c.lifecycle_stage",
            "changed_at": "c.created_at",
            "reason": "'created'",
        },
        "FROM contacts_contact c",
    )
    reset_sequences(Contact)
    return f"{count:,} contacts"


def seed_catalogue(admin, anchor) -> str:
    """Products, two shops and monthly USD and GBP rates, through the services."""
    from rapport.commerce import rates, services

    for number in range(PRODUCTS):
        services.create_product(
            actor=admin,
            name=f"{CATEGORIES[number % len(CATEGORIES)]} item {number:03d}",
            sku=f"BENCH-{number:03d}",
            price=f"{5 + (number * 37) % 195}.{(number * 7) % 100:02d}",
            category=CATEGORIES[number % len(CATEGORIES)],
            currency="EUR",
        )
    for key in ("north", "south"):
        services.create_shop(actor=admin, name=f"Shop {key}", key=f"bench-{key}")
    month = (anchor.date() - dt.timedelta(days=HISTORY_DAYS + 31)).replace(day=1)
    count = 0
    while month <= anchor.date():
        index = month.year * 12 + month.month
        for currency, base in (("USD", 0.90), ("GBP", 1.15)):
            rate = f"{base + (index % 7) / 100:.4f}"
            rates.add_rate(actor=admin, currency=currency, rate=rate, valid_on=month)
            count += 1
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return f"{PRODUCTS} products, 2 shops, {count} rates"


def seed_orders(contacts: int, anchor) -> str:
    """~2.9 orders per contact with 1–6 lines each at the product's price. The lines are
    written first (their order ids are the series), then each order with the sum of its lines
    as its total: one pass over each table, no UPDATE of millions of orders."""
    from rapport.commerce.models import Order, OrderLine, Product, Shop

    count = round(contacts * ORDERS_PER_CONTACT)
    products = [
        (k, pk, price)
        for k, (pk, price) in enumerate(Product.objects.order_by("pk").values_list("pk", "price"))
    ]
    quantity = "(1 + ((o.i + n.i) * 11) % 3)"
    insert_select(
        OrderLine,
        {
            "order_id": "o.i",
            "product_id": "p.v",
            "quantity": quantity,
            "unit_price": "p.w",
            "line_total": f"ROUND({quantity} * p.w, 2)",
        },
        "FROM o JOIN n ON n.i <= 1 + (o.i * 37) % 6 "
        f"JOIN p ON p.k = (o.i * 13 + n.i * 7) % {len(products)}",
        with_=", ".join([series("o", 1, count), series("n", 1, 6), table("p", products)]),
    )
    shops = list(Shop.objects.order_by("pk").values_list("pk", flat=True))
    placed = days_before(anchor, "(s.i * 7919) % 1095", "(s.i * 31) % 24")
    insert_select(
        Order,
        {
            "id": "s.i",
            # A multiplicative hash spreads orders over contacts: some buy often, ~6 % never.
            "contact_id": f"(s.i * 2654435761) % {contacts} + 1",
            "ordered_at": placed,
            "created_at": placed,
            "updated_at": placed,
            "status": "CASE WHEN (s.i * 17) % 100 < 90 THEN 'shipped' WHEN (s.i * 17) % 100 < 95 "
            "THEN 'paid' WHEN (s.i * 17) % 100 < 98 THEN 'refunded' ELSE 'cancelled' END",
            "currency": "CASE WHEN (s.i * 29) % 100 < 80 THEN 'EUR' WHEN (s.i * 29) % 100 < 92 "
            "THEN 'USD' ELSE 'GBP' END",
            "total": "t.total",
            "source": "'import'",
            "kind": "'shop'",
            "shop_id": "shop.v",
        },
        "FROM (SELECT order_id AS i, SUM(line_total) AS total FROM commerce_orderline "
        "GROUP BY order_id) AS t JOIN s ON s.i = t.i JOIN shop ON shop.k = s.i % 2",
        with_=", ".join([series("s", 1, count), table("shop", list(enumerate(shops)))]),
    )
    reset_sequences(Order)
    return f"{count:,} orders, {OrderLine.objects.count():,} lines"


def seed_interactions(anchor) -> str:
    from rapport.interactions.models import Interaction

    when = days_before(anchor, "(c.id * 7 + n.i * 131) % 700", "(c.id + n.i) % 24")
    kind = "(c.id + n.i) % 4"
    insert_select(
        Interaction,
        {
            "created_at": when,
            "updated_at": when,
            "occurred_at": when,
            "kind": f"CASE {kind} WHEN 0 THEN 'call' WHEN 1 THEN 'email' WHEN 2 THEN 'meeting' "
            "ELSE 'note' END",
            "channel": f"CASE {kind} WHEN 0 THEN 'phone' WHEN 1 THEN 'email' WHEN 2 THEN 'video' "
            "ELSE 'internal' END",
            "direction": f"CASE {kind} WHEN 3 THEN 'internal' ELSE 'outbound' END",
            "subject": "'Benchmark interaction'",
            "body": "'Benchmark interaction.'",
            "contact_id": "c.id",
            "actor_id": "c.owner_id",
        },
        "FROM contacts_contact c JOIN n ON n.i <= 2",
        with_=series("n", 1, 2),
    )
    return f"{Interaction.objects.count():,} interactions"


# --------------------------------------------------------------------------- timing


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def timed(call, repeat: int, before=None) -> tuple[list[float], object]:
    """Seconds of each of `repeat` calls after one warm-up, and the last call's answer;
    `before` (untimed) runs ahead of each."""
    answer = call()
    seconds = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        answer = call()
        seconds.append(time.perf_counter() - started)
    return seconds, answer


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- the report


def raw_sql(user) -> tuple[str, list]:
    """The report's aggregate as one would write it by hand, for `user`'s records."""
    from django.conf import settings

    from rapport.accounts.access import sees_all, teammate_ids
    from rapport.accounts.choices import Domain

    if vendor() == "postgresql":
        month = "date_trunc('month', o.ordered_at AT TIME ZONE %s)"
        params = [settings.TIME_ZONE]
    else:
        month = "strftime('%%Y-%%m-01', o.ordered_at)"
        params = []
    joins, scope = "", "(o.contact_id IS NOT NULL OR o.organization_id IS NOT NULL)"
    if not sees_all(user, Domain.CONTACTS):
        ids = ", ".join(str(pk) for pk in teammate_ids(user))
        joins = (
            "LEFT JOIN contacts_contact c ON c.id = o.contact_id "
            "LEFT JOIN contacts_organization org ON org.id = o.organization_id "
        )
        scope = (
            f"((o.contact_id IS NOT NULL AND c.owner_id IN ({ids})) "
            f"OR (o.organization_id IS NOT NULL AND org.owner_id IN ({ids})))"
        )
    sql = (
        f"SELECT {month} AS month, a.segment, o.currency, COUNT(*), SUM(l.line_total) "
        "FROM commerce_orderline l JOIN commerce_order o ON o.id = l.order_id "
        f"LEFT JOIN analytics_customeranalytics a ON a.contact_id = o.contact_id {joins}"
        f"WHERE o.status IN ('paid', 'shipped') AND {scope} GROUP BY 1, 2, 3"
    )
    return sql, params


def run_raw(user):
    from django.db import connection

    sql, params = raw_sql(user)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def report_sql(report, user) -> str:
    """The GROUP BY query `run_report` sends, as the database received it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rapport.reports import services

    with CaptureQueriesContext(connection) as captured:
        services.run_report(report, user)
    return max((q["sql"] for q in captured.captured_queries), key=len)


def explain(sql: str, params=()) -> str:
    from django.db import connection

    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if vendor() == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, list(params))
        return "\n".join(" | ".join(str(c) for c in row) for row in cursor.fetchall())


def bench_report(args, say) -> int:
    from rapport.accounts.models import User
    from rapport.commerce.models import Order, OrderLine
    from rapport.reports import services
    from rapport.reports.models import Report

    admin, reps = seeding.bench_staff()
    rep = User.objects.get(pk=reps[0].pk)
    report = Report.objects.filter(name=REPORT_NAME).first() or services.create_report(
        actor=admin,
        name=REPORT_NAME,
        source="order_lines",
        conditions=REVENUE,
        group_by="ordered",
        group_period="month",
        then_by="contact.segment",
        measure="sum",
        measure_field="line_total",
        chart="bar",
        shared_roles=[rep.role_id],
    )
    lines, orders = OrderLine.objects.count(), Order.objects.count()
    say(f"\n[bold]Report[/bold] “{REPORT_NAME}” over {lines:,} lines of {orders:,} orders")
    rows = []
    failed = False
    for who, user in (("administrator (all)", admin), ("rep (team scope)", rep)):
        # In turns, so both meet the same load on a shared machine.
        result, answer = services.run_report(report, user), run_raw(user)
        orm, raw = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = services.run_report(report, user)
            orm.append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = run_raw(user)
            raw.append(time.perf_counter() - started)
        same = result.table.total.records == sum(row[3] for row in answer)
        failed |= not same
        rows.append((who, orm, raw, result, answer, same))
        if args.explain:
            say(f"\n[bold]EXPLAIN run_report, {who}[/bold]\n{explain(report_sql(report, user))}")
            sql, params = raw_sql(user)
            say(f"\n[bold]EXPLAIN hand-written SQL, {who}[/bold]\n{explain(sql, params)}")
    say(f"  database {vendor()}, load {load()} (1, 5, 15 min)")
    for who, orm, raw, result, answer, same in rows:
        ratio = statistics.median(orm) / statistics.median(raw)
        say(
            f"  {who:<20} run_report p50 {statistics.median(orm):6.2f} s  "
            f"p95 {percentile(orm, 0.95):6.2f} s │ SQL p50 {statistics.median(raw):6.2f} s  "
            f"p95 {percentile(raw, 0.95):6.2f} s │ ratio {ratio:4.2f}× │ "
            f"{result.table.total.records:,} lines, {len(answer)} SQL groups"
            + ("" if same else "  [red]COUNTS DIFFER[/red]")
        )
    say(
        f"  aim at 1,000,000 contacts / 10,000,000 lines on PostgreSQL: p50 < {AIM_P50_SECONDS:.0f}"
        f" s and ≤ {AIM_RATIO}× the SQL"
    )
    return 1 if failed else 0


# --------------------------------------------------------------------------- the dashboard


def manager_and_dashboard(admin):
    """A sales manager (team scope over two teams) and the built-in dashboard Home shows them."""
    from rapport.accounts import services as accounts
    from rapport.accounts.models import Role, Team, User
    from rapport.reports import dashboards
    from rapport.reports.builtin_dashboards import ensure_builtin_dashboards
    from rapport.reports.models import Dashboard

    role = Role.objects.filter(name="Sales manager").first() or accounts.create_role(
        actor=admin,
        name="Sales manager",
        scopes={"contacts": "team", "sales": "team", "analytics": "all"},
    )
    manager = User.objects.filter(username=MANAGER).first() or accounts.create_user(
        actor=admin,
        username=MANAGER,
        email="bench-manager@bench.example",
        role=role,
        teams=list(Team.objects.filter(name__in=["Bench team 0", "Bench team 1"])),
    )
    ensure_builtin_dashboards()
    dashboard = Dashboard.objects.get(key="manager")
    if not dashboard.default_for_roles.filter(pk=role.pk).exists():
        dashboards.set_role_defaults(
            actor=admin, dashboard=dashboard, roles=[role, *dashboard.default_for_roles.all()]
        )
    return manager, dashboard


def ensure_kpis(say) -> None:
    """The KPI tiles read stored values: take the day's snapshot once, as the nightly run does."""
    from rapport.frameworks import snapshots
    from rapport.frameworks.models import KpiSnapshot

    if KpiSnapshot.objects.exists():
        return
    started = time.perf_counter()
    snapshots.take_snapshot(source="on_demand")
    say(f"  KPI snapshot taken in {time.perf_counter() - started:.0f} s")


def bench_dashboard(args, say) -> int:
    from django.test import Client
    from django.utils import timezone

    from rapport.reports import caching, dashboards
    from rapport.reports.dashboard_views import grid_entries
    from rapport.sales.models import Pipeline
    from rapport.sales.services.deals import archive_deal, create_deal

    admin, _reps = seeding.bench_staff()
    manager, dashboard = manager_and_dashboard(admin)
    ensure_kpis(say)
    client = Client()
    client.force_login(manager)

    def get(url):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        return response

    entries = grid_entries(dashboard)
    home, page = timed(lambda: get("/"), args.repeat * 2)
    text = page.content.decode()
    placeholders = sum(entry["url"] in text for entry in entries)
    say(
        f"\n[bold]Dashboard[/bold] “{dashboard.name}” for a manager (team scope), "
        f"{len(entries)} widgets, database {vendor()}, load {load()}"
    )
    say(
        f"  first paint (Home)   p50 {statistics.median(home) * 1000:7.0f} ms  p95 "
        f"{percentile(home, 0.95) * 1000:7.0f} ms   ({placeholders} of {len(entries)} widgets "
        f"load from their own URL; aim < {AIM_FIRST_PAINT_MS} ms)"
    )
    fresh_total = cached_total = 0.0
    for entry in entries:
        url = entry["url"]

        # Before each computed run every area's data counts as changed: nothing is cached.
        computed, _answer = timed(
            lambda url=url: get(url), args.repeat, before=lambda: caching.bump(*caching.AREAS)
        )
        served, _answer = timed(lambda url=url: get(url), args.repeat)
        fresh_total += statistics.median(computed)
        cached_total += statistics.median(served)
        # Reports are cached; KPI tiles read stored values and lists are small queries.
        again = "cached" if entry["widget"].kind == "report" else "again "
        say(
            f"  {entry['title'][:38]:<38} computed p50 {statistics.median(computed) * 1000:7.0f} ms"
            f" │ {again} p50 {statistics.median(served) * 1000:6.0f} ms"
        )
    say(
        f"  {'all widgets, one after another':<38} computed {fresh_total * 1000:9.0f} ms │ "
        f"repeated {cached_total * 1000:6.0f} ms"
    )

    pipeline_widget = next(
        e for e in entries if dashboards.widget_title(e["widget"]).startswith("Open pipeline")
    )
    before = get(pipeline_widget["url"]).content
    pipeline = Pipeline.objects.order_by("pk").first()
    deal = create_deal(
        actor=manager,
        owner=manager,
        name="Bench invalidation deal",
        pipeline=pipeline,
        amount="123456.00",
        expected_close_date=timezone.localdate(),
    )
    started = time.perf_counter()
    after = get(pipeline_widget["url"]).content
    seconds = time.perf_counter() - started
    archive_deal(actor=manager, deal=deal)
    changed = before != after
    say(
        f"  after a deal is written, the pipeline widget {seconds * 1000:.0f} ms, "
        + ("recomputed (its figure changed)" if changed else "[red]unchanged: served stale[/red]")
    )
    return 0 if changed else 1


# --------------------------------------------------------------------------- main


def run_part(part: str, contacts: int, args) -> int:
    from rich.console import Console

    console = Console()
    url = configure(contacts)
    console.print(
        f"[bold]bench_reports {part}[/bold]: {contacts:,} contacts on {vendor()} "
        f"({url.split('@')[-1]})"
    )
    seed(contacts, console.print)
    if part == "report":
        return bench_report(args, console.print)
    return bench_dashboard(args, console.print)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    parser.add_argument("--contacts", type=int, default=None, help="contacts for the report")
    parser.add_argument("--full", action="store_true", help="1,000,000 contacts")
    parser.add_argument("--quick", action="store_true", help="100,000 contacts, 1M lines")
    parser.add_argument("--dashboard-contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each")
    parser.add_argument("--only", choices=["report", "dashboard"], default=None)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE both queries")
    parser.add_argument("--part", choices=["report", "dashboard"], help=argparse.SUPPRESS)
    args, _others = parser.parse_known_args(argv)
    if args.quick:
        contacts = 100_000
    elif args.contacts:
        contacts = args.contacts
    else:
        contacts = 1_000_000 if args.full or on_postgres else 100_000
    if args.part:
        size = contacts if args.part == "report" else args.dashboard_contacts
        return run_part(args.part, size, args)
    # Each part in a process of its own: Django is set up for one database per process.
    outcome = 0
    for part in [args.only] if args.only else ["report", "dashboard"]:
        child = [sys.executable, str(Path(__file__).resolve()), "--part", part, *argv]
        outcome |= subprocess.call(child)
    return outcome


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
