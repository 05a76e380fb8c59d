"""Sales at scale: the Kanban board, stage moves, public web-form submissions, lead scoring and
training the lead model.

Seeds its own database (a pipeline with 5,000 open deals and 3,000 closed ones, and 100,000
historical leads whose conversion depends on their attributes and behaviour), then measures:

1. **Board render** — p50 / p99 of the board page through real gunicorn (one worker, one
   thread, a kept-alive connection with a session cookie), and of the board API; beside them
   the same queries replayed as raw SQL on a DB-API cursor, and the overhead above them.
2. **Stage move** — p50 / p99 of `POST /api/v1/deals/{id}/move` through gunicorn, beside the
   same `move_deal` service call in-process (what HTTP, auth and the API layer add).
3. **Web-form throughput** (PostgreSQL only) — concurrent visitors (threads, each request from
   its own loopback address, as real visitors are) post to the public endpoint of a gunicorn
   run like `rapport serve` (2 workers × 4 threads); requests/s, p50 / p99, and a count that
   every accepted submission is in the database (zero lost). The queued assign-and-score tasks
   are then drained by one `rapport worker --batch`, timed separately.
4. **Scoring 100,000 leads** — `score_leads` in-process, with the rules and the trained model.
5. **Training on 100,000 historical leads** — `train_lead_model` in-process: seconds, the held-
   out ROC AUC, and how the time splits between reading the history and fitting.

The database: `DATABASE_URL` with `_sales` added to its name on PostgreSQL (created when
missing), else `var/bench/bench_sales.sqlite3`. Seeded rows are bulk-inserted (no audit
records): the benchmark measures reads, the endpoints and the scoring, not the seeding.

    python benchmarks/run.py sales
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench python benchmarks/run.py sales
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import decimal
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
BENCH_DIR = REPO_ROOT / "var" / "bench"
sys.path.insert(0, str(HERE))

import seed as seeding  # noqa: E402

PIPELINE = "Bench pipeline"
BENCH_ADMIN = "bench-sales-admin"
FORM_NAME = "Bench form"
SECTIONS = ("board", "moves", "training", "scoring", "forms")


# -- set-up ----------------------------------------------------------------------------------


def database_url() -> str:
    return seeding.own_database_url("sales")


def ensure_postgres_database(url: str) -> None:
    seeding.ensure_postgres_database(url)


def configure() -> str:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    url = database_url()
    if url.startswith("postgres"):
        ensure_postgres_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_settings"
    os.environ["RAPPORT_VAR_DIR"] = str(BENCH_DIR)
    os.environ.setdefault("RAPPORT_LOG_LEVEL", "WARNING")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    for path in (str(HERE), str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return url


def percentile(values, share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- seeding ---------------------------------------------------------------------------------


def staff():
    from rapport.accounts import services as accounts
    from rapport.accounts.models import Role, User

    admin = User.objects.filter(username=BENCH_ADMIN).first()
    if admin is None:
        role = Role.objects.filter(name="Bench sales admin").first() or accounts.create_role(
            actor=None, name="Bench sales admin", scopes={}, is_admin=True
        )
        admin = accounts.create_user(
            actor=None,
            username=BENCH_ADMIN,
            email="bench-sales-admin@bench.example",
            password="bench-password-not-secret",
            role=role,
        )
    reps = list(User.objects.filter(username__startswith="bench-sales-rep-").order_by("id"))
    if not reps:
        rep_role = accounts.create_role(
            actor=admin, name="Bench sales rep", scopes={"contacts": "team", "sales": "team"}
        )
        team = accounts.create_team(actor=admin, name="Bench sales team", kind="sales")
        reps = [
            accounts.create_user(
                actor=admin,
                username=f"bench-sales-rep-{i:02d}",
                email=f"bench-sales-rep-{i:02d}@bench.example",
                role=rep_role,
                teams=[team],
            )
            for i in range(20)
        ]
    return admin, reps


def seed_deals(pipeline, reps, *, open_deals: int, closed_deals: int, rng: random.Random, say):
    from django.utils import timezone

    from rapport.sales.models import Deal, DealStageChange

    existing = Deal.objects.filter(pipeline=pipeline, status="open").count()
    if existing == open_deals:
        say(f"  reusing {existing:,} open deals")
        return
    Deal.objects.filter(pipeline=pipeline).delete()
    stages = list(pipeline.stages.all())
    open_stages = [s for s in stages if s.kind == "open"]
    won = next(s for s in stages if s.kind == "won")
    lost = next(s for s in stages if s.kind == "lost")
    now = timezone.now()
    today = timezone.localdate()
    rows = []
    for i in range(open_deals + closed_deals):
        closed = i >= open_deals
        stage = (won if rng.random() < 0.35 else lost) if closed else rng.choice(open_stages)
        entered = now - dt.timedelta(days=rng.uniform(1, 120))
        rows.append(
            Deal(
                name=f"Bench deal {i}",
                pipeline=pipeline,
                stage=stage,
                status=stage.kind,
                amount=decimal.Decimal(rng.randrange(500, 90_000, 50)),
                currency="EUR" if rng.random() < 0.9 else "USD",
                expected_close_date=today + dt.timedelta(days=rng.randint(-30, 180)),
                owner=rng.choice(reps),
                source=rng.choice(["web_form", "referral", "trade_show", "manual", "campaign"]),
                stage_entered_at=entered,
                closed_at=entered if closed else None,
            )
        )
    Deal.objects.bulk_create(rows, batch_size=2000)
    changes = []
    for deal in rows:
        created = deal.stage_entered_at - dt.timedelta(days=rng.uniform(2, 60))
        changes.append(
            DealStageChange(
                deal=deal, pipeline=pipeline, to_stage=open_stages[0], changed_at=created
            )
        )
        if deal.stage_id != open_stages[0].pk:
            changes.append(
                DealStageChange(
                    deal=deal,
                    pipeline=pipeline,
                    from_stage=open_stages[0],
                    to_stage=deal.stage,
                    changed_at=deal.stage_entered_at,
                )
            )
    DealStageChange.objects.bulk_create(changes, batch_size=5000)
    say(f"  seeded {open_deals:,} open and {closed_deals:,} closed deals")


def seed_history(count: int, *, seed: int, window_days: int, say) -> None:
    """`count` leads that entered 120–700 days ago; their chance to convert within the window
    follows a known logistic model of title, email domain, company size and behaviour."""
    from django.utils import timezone

    from rapport.contacts.models import Contact, LifecycleChange, Membership, Organization
    from rapport.interactions.models import Interaction

    existing = Contact.objects.filter(last_name="Historylead").count()
    if existing == count:
        say(f"  reusing {existing:,} historical leads")
        return
    if existing:
        Contact.objects.filter(last_name="Historylead").delete()
    rng = np.random.default_rng(seed)
    now = timezone.now()
    organizations = Organization.objects.bulk_create(
        [
            Organization(
                name=f"Bench Org {i}",
                size=["1-10", "11-50", "51-200", "201-1000", "1001+"][i % 5],
                industry=["software", "retail", "logistics", "energy", "health"][i % 7 % 5],
                country=["DE", "FR", "GB", "US", "NL"][i % 5],
            )
            for i in range(max(100, count // 50))
        ],
        batch_size=2000,
    )
    executive = rng.random(count) < 0.3
    business = rng.random(count) < 0.6
    forms = rng.poisson(0.6, count)
    inbound = rng.poisson(0.9, count)
    org_index = rng.integers(0, len(organizations), count)
    employed = rng.random(count) < 0.7
    big = np.array([o.size in ("201-1000", "1001+") for o in organizations])[org_index] & employed
    logit = -2.2 + 1.3 * executive + 0.7 * business + 0.6 * big + 0.5 * forms + 0.35 * inbound
    converts = rng.random(count) < 1 / (1 + np.exp(-logit))
    entered_days = rng.uniform(window_days + 30, 700, count)
    convert_after = rng.uniform(3, window_days - 3, count)
    titles = np.where(executive, "Head of Procurement", "Purchasing Assistant")
    countries = np.array(["DE", "FR", "GB", "US", "NL"])[rng.integers(0, 5, count)]
    sources = np.array(["web_form", "referral", "trade_show", "api", "campaign"])[
        rng.integers(0, 5, count)
    ]
    started = time.perf_counter()
    for start in range(0, count, 5000):
        stop = min(count, start + 5000)
        batch = [
            Contact(
                first_name=f"Hist{i}",
                last_name="Historylead",
                job_title=str(titles[i]),
                primary_email=f"h{i}@corp{i % 97}.example" if business[i] else f"h{i}@gmail.com",
                country=str(countries[i]),
                lifecycle_stage="customer" if converts[i] else "lead",
                source=str(sources[i]),
            )
            for i in range(start, stop)
        ]
        Contact.objects.bulk_create(batch, batch_size=5000)
        changes, touches, members = [], [], []
        for offset, contact in enumerate(batch):
            i = start + offset
            since = now - dt.timedelta(days=float(entered_days[i]))
            changes.append(
                LifecycleChange(contact=contact, from_stage="", to_stage="lead", changed_at=since)
            )
            if converts[i]:
                changes.append(
                    LifecycleChange(
                        contact=contact,
                        from_stage="lead",
                        to_stage="customer",
                        changed_at=since + dt.timedelta(days=float(convert_after[i])),
                    )
                )
            for k in range(int(forms[i])):
                touches.append(
                    Interaction(
                        contact=contact,
                        kind="form_submission",
                        channel="web",
                        direction="inbound",
                        occurred_at=since + dt.timedelta(hours=1 + k),
                    )
                )
            for k in range(int(inbound[i])):
                touches.append(
                    Interaction(
                        contact=contact,
                        kind="email",
                        channel="email",
                        direction="inbound",
                        occurred_at=since + dt.timedelta(days=1 + k),
                    )
                )
            if employed[i]:
                members.append(
                    Membership(
                        contact=contact,
                        organization=organizations[int(org_index[i])],
                        is_primary=True,
                    )
                )
        LifecycleChange.objects.bulk_create(changes, batch_size=5000)
        Interaction.objects.bulk_create(touches, batch_size=5000)
        Membership.objects.bulk_create(members, batch_size=5000)
    say(
        f"  seeded {count:,} historical leads ({int(converts.sum()):,} converted) "
        f"in {time.perf_counter() - started:.0f} s"
    )


def seed_rules(admin) -> None:
    from rapport.sales.models import ScoringRule
    from rapport.sales.scoring.services import create_scoring_rule

    if ScoringRule.objects.exists():
        return
    for name, points, condition, extra in [
        ("Senior title", 25, {"field": "seniority", "op": "eq", "value": "executive"}, {}),
        ("Business email", 10, {"field": "business_email", "op": "eq", "value": True}, {}),
        (
            "Large company",
            15,
            {"field": "organization_size", "op": "in", "value": ["201-1000", "1001+"]},
            {},
        ),
        (
            "Sent a form",
            20,
            {"field": "form_submissions", "op": "gte", "value": 1},
            {"half_life_days": 14, "decay_anchor": "last_form_submission"},
        ),
        (
            "Writes to us",
            15,
            {"field": "inbound_interactions", "op": "gte", "value": 2},
            {"half_life_days": 30, "decay_anchor": "last_inbound"},
        ),
        ("Referred", 10, {"field": "source", "op": "eq", "value": "referral"}, {}),
        ("Germany", 5, {"field": "country", "op": "eq", "value": "DE"}, {}),
        ("Gone quiet", -10, {"field": "days_since_last_touch", "op": "gt", "value": 90}, {}),
    ]:
        create_scoring_rule(actor=admin, name=name, points=points, condition=condition, **extra)


# -- HTTP ------------------------------------------------------------------------------------


class Server:
    """gunicorn on a free loopback port against the benchmark database."""

    def __init__(self, *, workers: int, threads: int, extra_env: dict | None = None):
        self.port = free_port()
        env = {
            **os.environ,
            "RAPPORT_DEBUG": "0",
            "RAPPORT_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        env.pop("RAPPORT_HTTPS", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "rapport.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--log-level",
                "warning",
                "--backlog",
                "2048",
            ],
            cwd=REPO_ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("gunicorn exited before it served a request")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("gunicorn did not start within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


class KeptAlive:
    def __init__(self, port: int, headers: dict[str, str]):
        self.port = port
        self.headers = {"Host": f"127.0.0.1:{port}", **headers}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        for attempt in range(2):
            try:
                self.connection.request(
                    method, path, body=body, headers={**self.headers, **(headers or {})}
                )
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def session_cookie(user) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def api_token(user) -> str:
    from rapport.accounts.services import create_api_token

    return create_api_token(actor=user, user=user, name="bench-sales")[1]


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def captured_selects(path: str, user) -> list[tuple[str, tuple]]:
    """The SELECTs one in-process request runs, to replay as raw SQL."""
    from django.db import connection
    from django.test import Client

    captured = []

    def record(execute, sql, params, many, context):
        if not many:
            captured.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    client = Client()
    client.force_login(user)
    client.get(path)  # warm
    with connection.execute_wrapper(record):
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    return [q for q in captured if q[0].lstrip().upper().startswith(("SELECT", "WITH"))]


def replay(queries) -> float:
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    sqlite = connection.vendor == "sqlite"
    started = time.perf_counter()
    for sql, params in queries:
        if sqlite:
            sql = sql.replace("%%", "\0").replace("%s", "?").replace("\0", "%")
        cursor = raw.cursor()
        cursor.execute(sql, params)
        cursor.fetchall()
        cursor.close()
    return (time.perf_counter() - started) * 1000


# -- the measurements ------------------------------------------------------------------------


def bench_board(pipeline, admin, requests: int, say) -> dict:
    from django.db import connection

    from rapport.sales.board import FIRST_CARDS_ON_PAGE

    path = f"/sales/pipelines/{pipeline.pk}/"
    api_path = f"/api/v1/pipelines/{pipeline.pk}/board"
    queries = captured_selects(path, admin)
    raw_times = [replay(queries) for _ in range(max(20, requests // 2))]
    server = Server(workers=1, threads=1)
    try:
        page = KeptAlive(server.port, {"Cookie": session_cookie(admin)})
        api = KeptAlive(server.port, {"Authorization": f"Bearer {api_token(admin)}"})
        for _ in range(5):
            status, body = page.request("GET", path)
            assert status == 200, status
            api.request("GET", api_path)
        cards = body.count(b'class="deal-card"')
        page_times = timed(lambda: page.request("GET", path), requests)
        api_times = timed(lambda: api.request("GET", api_path), requests)
    finally:
        server.stop()
    say(
        f"  board page: {cards} cards rendered (at most {FIRST_CARDS_ON_PAGE} per column), "
        f"{len(queries)} SELECTs "
        f"({connection.vendor})"
    )
    return {"page": page_times, "api": api_times, "raw": raw_times, "queries": len(queries)}


def bench_moves(pipeline, admin, requests: int) -> dict:
    from rapport.sales.models import Deal
    from rapport.sales.services.deals import move_deal

    stages = [s for s in pipeline.stages.all() if s.kind == "open"]
    deals = list(
        Deal.objects.filter(pipeline=pipeline, status="open").order_by("pk")[: requests * 2]
    )
    in_process = []
    for deal in deals[:requests]:
        target = stages[(stages.index(deal.stage) + 1) % len(stages)]
        started = time.perf_counter()
        move_deal(actor=admin, deal=deal, stage=target)
        in_process.append((time.perf_counter() - started) * 1000)
    server = Server(workers=1, threads=1)
    try:
        client = KeptAlive(
            server.port,
            {"Authorization": f"Bearer {api_token(admin)}", "Content-Type": "application/json"},
        )
        by_id = {s.pk: s for s in stages}
        http_times = []
        for deal in deals[requests:]:
            target = stages[(stages.index(by_id[deal.stage_id]) + 1) % len(stages)]
            body = json.dumps({"stage_id": target.pk}).encode()
            started = time.perf_counter()
            status, _ = client.request("POST", f"/api/v1/deals/{deal.pk}/move", body)
            http_times.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
    finally:
        server.stop()
    return {"http": http_times, "service": in_process}


def bench_forms(admin, submissions: int, threads: int, say) -> dict | str:
    from django.db import connection

    from rapport.sales.models import WebForm, WebFormSubmission
    from rapport.sales.services.webforms import create_webform

    if connection.vendor != "postgresql":
        return (
            "skipped: form throughput is measured on PostgreSQL only (SQLite serializes every "
            "write, which is not what a public endpoint runs on); set DATABASE_URL"
        )
    form = WebForm.objects.filter(name=FORM_NAME).first() or create_webform(
        actor=admin,
        name=FORM_NAME,
        fields=[
            {"target": "first_name", "required": True},
            {"target": "last_name", "required": True},
            {"target": "email", "required": True},
            {"target": "company"},
            {"target": "job_title"},
            {"target": "country"},
            {"target": "message"},
        ],
        max_submissions_per_minute=100_000,
    )
    before = WebFormSubmission.objects.filter(form=form).count()
    latest_before = (
        WebFormSubmission.objects.filter(form=form).order_by("-pk").values_list("pk", flat=True)
    ).first() or 0
    # Each visitor comes from its own address; the per-address limit (20 a minute) is never hit.
    addresses = [f"127.0.{1 + n // 250}.{1 + n % 250}" for n in range(max(250, submissions // 10))]
    run_id = int(time.time())
    server = Server(workers=2, threads=4)
    path = f"/sales/forms/{form.public_id}/submit"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def submit(n: int) -> None:
        body = urllib.parse.urlencode(
            {
                "first_name": f"Visitor{n}",
                "last_name": "Bench",
                "email": f"visitor{run_id}-{n}@bench-forms.example",
                "company": f"Visitor Company {n % 500}",
                "job_title": "Head of Operations" if n % 3 == 0 else "Buyer",
                "country": "DE",
                "message": "Please call me back about prices.",
                "consent": "yes",
            }
        ).encode()
        connection_ = http.client.HTTPConnection(
            "127.0.0.1", server.port, timeout=120, source_address=(addresses[n % len(addresses)], 0)
        )
        started = time.perf_counter()
        try:
            connection_.request(
                "POST",
                path,
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "Origin": "https://visitor-site.example",
                },
            )
            response = connection_.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
        finally:
            connection_.close()
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    try:
        for n in range(20):  # warm both workers
            submit(-1 - n)
        latencies.clear()
        statuses.clear()
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(submit, range(submissions)))
        wall = time.perf_counter() - started
    finally:
        server.stop()
    stored = WebFormSubmission.objects.filter(form=form).count() - before - 20
    accepted = statuses.get(200, 0)
    say(f"  statuses: {dict(sorted(statuses.items()))}")
    drained = drain_queue(say)
    # The endpoint stores and answers; the worker makes each submission a lead. After the
    # drain every one of this run's submissions must have its contact.
    this_run = WebFormSubmission.objects.filter(form=form, pk__gt=latest_before)
    unprocessed = this_run.filter(contact__isnull=True).count()
    drained += f"; {unprocessed} of {this_run.count():,} submissions still without their contact"
    return {
        "sent": submissions,
        "accepted": accepted,
        "stored": stored,
        "lost": accepted - stored,
        "wall": wall,
        "rps": submissions / wall,
        "latencies": latencies,
        "threads": threads,
        "drain": drained,
    }


def drain_queue(say) -> str:
    """Run the queued tasks (assignment and scoring of the new leads) with one worker."""
    from django.conf import settings

    if "django_tasks_db" not in settings.TASKS["default"]["BACKEND"]:
        return "tasks run by another backend; not drained here"
    from django_tasks_db.models import DBTaskResult

    queued = DBTaskResult.objects.filter(status="READY").count()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rapport.cli", "worker", "--batch"],
        cwd=REPO_ROOT,
        env={**os.environ, "RAPPORT_LOG_LEVEL": "WARNING"},
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # one INFO line per task; failures are counted below
    )
    seconds = time.perf_counter() - started
    failed = DBTaskResult.objects.filter(status="FAILED").count()
    left = DBTaskResult.objects.filter(status="READY").count()
    text = f"{queued:,} queued tasks drained by one worker in {seconds:.1f} s ({failed} failed, {left} left)"
    say(f"  {text}")
    return text


def bench_training(say) -> dict:
    from rapport.sales.scoring import model as learned
    from rapport.sales.scoring.facts import load_training_history
    from rapport.sales.scoring.features import build_matrix, feature_names, learn_vocabulary
    from rapport.sales.scoring.services import train_lead_model
    from rapport.sales.services.settings import get_sales_settings

    window = get_sales_settings().conversion_window_days
    started = time.perf_counter()
    leads, labels = load_training_history(window_days=window)
    read = time.perf_counter() - started
    vocabulary = learn_vocabulary(leads)
    matrix = build_matrix(leads, vocabulary)
    features = time.perf_counter() - started - read
    fit_started = time.perf_counter()
    learned.train(matrix, labels, feature_names(vocabulary), seed=1)
    fit = time.perf_counter() - fit_started
    started = time.perf_counter()
    run = train_lead_model(trigger="benchmark", seed=1)
    total = time.perf_counter() - started
    say(f"  training run #{run.pk}: {run.get_status_display()} {run.message}")
    return {"run": run, "seconds": total, "read": read, "features": features, "fit": fit}


def bench_scoring(count: int) -> dict:
    from rapport.contacts.models import Contact
    from rapport.sales.models import LeadScore, LeadScoreHistory
    from rapport.sales.scoring.services import active_model, score_leads

    # Score from scratch, as the first run after an import would: every row is written.
    LeadScoreHistory.objects.filter(contact__last_name="Historylead").delete()
    LeadScore.objects.filter(contact__last_name="Historylead").delete()
    ids = list(
        Contact.objects.filter(last_name="Historylead")
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )
    started = time.perf_counter()
    run = score_leads(contact_ids=ids)
    seconds = time.perf_counter() - started
    return {
        "count": len(ids),
        "seconds": seconds,
        "basis": run.basis,
        "changed": run.changed,
        "model": active_model(),
    }


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=5000, help="open deals on the board")
    parser.add_argument("--leads", type=int, default=100_000, help="historical leads")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per endpoint")
    parser.add_argument("--submissions", type=int, default=2000, help="web-form submissions")
    parser.add_argument("--threads", type=int, default=16, help="concurrent form visitors")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated measurements to run (of {', '.join(SECTIONS)})",
    )
    args, _unknown = parser.parse_known_args(argv or [])

    from rich.console import Console
    from rich.table import Table

    console = Console()
    say = console.print
    url = configure()
    from django.db import connection

    from rapport.sales.models import Pipeline
    from rapport.sales.services.pipelines import create_pipeline
    from rapport.sales.services.settings import update_sales_settings

    say(f"[bold]bench_sales[/bold] on {connection.vendor} ({url.split('@')[-1]})")
    admin, reps = staff()
    pipeline = Pipeline.objects.filter(name=PIPELINE).first() or create_pipeline(
        actor=admin, name=PIPELINE, currency="EUR"
    )
    update_sales_settings(actor=admin, min_labelled_leads=200, min_per_class=20)
    rng = random.Random(args.seed)
    seed_deals(pipeline, reps, open_deals=args.deals, closed_deals=3000, rng=rng, say=say)
    seed_history(args.leads, seed=args.seed, window_days=90, say=say)
    seed_rules(admin)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"--only: no measurement named {', '.join(sorted(unknown))}")
    board = moves = training = scoring = forms = None
    if "board" in only:
        say("[bold]1. board render[/bold]")
        board = bench_board(pipeline, admin, args.requests, say)
    if "moves" in only:
        say("[bold]2. stage move[/bold]")
        moves = bench_moves(pipeline, admin, args.requests)
    if "training" in only:
        say("[bold]3. training on historical leads[/bold]")
        training = bench_training(say)
    if "scoring" in only:
        say("[bold]4. scoring leads[/bold]")
        scoring = bench_scoring(args.leads)
    if "forms" in only:
        say("[bold]5. web-form submissions[/bold]")
        forms = bench_forms(admin, args.submissions, args.threads, say)

    table = Table(title=f"Sales benchmark ({connection.vendor})")
    table.add_column("measure")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("note")
    if board is not None:
        raw50 = percentile(board["raw"], 0.5)
        for label, times in (
            ("board page (gunicorn)", board["page"]),
            ("board API (gunicorn)", board["api"]),
        ):
            p50 = percentile(times, 0.5)
            table.add_row(
                f"{label}, {args.deals:,} open deals",
                f"{p50:.1f}",
                f"{percentile(times, 0.99):.1f}",
                f"raw SQL {raw50:.1f} ms",
                f"overhead {p50 - raw50:.1f} ms; {board['queries']} SELECTs replayed",
            )
    if moves is not None:
        move50 = percentile(moves["service"], 0.5)
        table.add_row(
            "stage move API (gunicorn)",
            f"{percentile(moves['http'], 0.5):.1f}",
            f"{percentile(moves['http'], 0.99):.1f}",
            f"service {move50:.1f} ms",
            f"HTTP + auth + API add {percentile(moves['http'], 0.5) - move50:.1f} ms",
        )
    if isinstance(forms, str):
        table.add_row("web-form submissions", "—", "—", "—", forms)
    elif forms is not None:
        table.add_row(
            f"web-form submissions ({forms['threads']} visitors)",
            f"{percentile(forms['latencies'], 0.5):.1f}",
            f"{percentile(forms['latencies'], 0.99):.1f}",
            f"{forms['rps']:.0f} req/s",
            f"{forms['sent']:,} sent, {forms['accepted']:,} accepted, {forms['stored']:,} stored, "
            f"{forms['lost']} lost; gunicorn 2×4",
        )
    if training is not None:
        run = training["run"]
        auc = f"AUC {run.roc_auc:.3f}" if run.roc_auc is not None else run.message
        table.add_row(
            f"training on {run.n_labelled:,} historical leads",
            "—",
            "—",
            f"{training['seconds']:.1f} s",
            f"{auc} on {run.n_test:,} held out; read {training['read']:.1f} s, "
            f"features {training['features']:.1f} s, fit {training['fit']:.1f} s",
        )
    if scoring is not None:
        table.add_row(
            f"scoring {scoring['count']:,} leads",
            "—",
            "—",
            f"{scoring['seconds']:.1f} s",
            f"{scoring['count'] / scoring['seconds']:,.0f} leads/s by {scoring['basis']} "
            f"(rules + model), {scoring['changed']:,} history rows",
        )
    console.print(table)
    load = os.getloadavg()
    console.print(
        f"  machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} at the end (other processes share the CPUs: figures include waiting)"
    )
    if isinstance(forms, dict):
        console.print(f"  after the run: {forms['drain']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
