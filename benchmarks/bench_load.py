"""Load: a read mix with 8 connections and API writes with 4, against gunicorn as `rapport serve`
runs it, beside a bare Django view under the same concurrency.

Seeds N contacts (default 100,000) through seed.py into DATABASE_URL (PostgreSQL is the target;
SQLite works), then serves the app with bench_contacts' gunicorn Server (production settings)
given the worker processes and threads `rapport serve` starts by default (WEB_CONCURRENCY, else
2 workers, and 4 threads each), and the task worker `rapport serve` starts beside it
(`--no-task-worker` leaves it out). Then, each phase for a fixed time (`--seconds`):

- READ MIX, 8 threads each with its own kept-alive connection, taking turns through the kinds:
  the contacts list's first page, a search (a name fragment or an exact email), a contact's 360
  page, an organization page, the API list and the API contact detail, each on a random target;
- WRITES, 4 threads: `POST /api/v1/contacts/` (a new contact with a unique email) and
  `PATCH /api/v1/contacts/{id}` of a contact the thread created, in turn;
- BASELINE, before each: `GET /health/` (a bare Django view: the middleware stack and one
  `SELECT 1`) with the same number of connections, so the ratio to the framework's floor shows.

Prints requests/s, p50/p95/p99 per kind and overall, the errors (any answer not 2xx/3xx, or a
broken connection) and the issue's aims beside them, and the server's CPU time per request from
/proc (gunicorn workers and their PostgreSQL backends; the task worker and its backend apart),
which a busy shared machine inflates far less than wall time. Timing starts once every
connection has warmed up and the task queue has nothing due. Contacts the writes made are deleted at the
end, so the seeded database is reused by the next run. The machine is shared: the load average
is printed beside every phase.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_loadbench \\
        python benchmarks/run.py load --contacts 100000 --seconds 30
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed as seeding
from bench_contacts import (
    Client,
    Server,
    _safe,
    api_token,
    free_port,
    percentile,
    session_cookie,
)

READ_CONNECTIONS = 8
WRITE_CONNECTIONS = 4
AIM_READ_RPS = 120.0
AIM_READ_P99_MS = 250.0
AIM_WRITE_RPS = 80.0
AIM_WRITE_P99_MS = 200.0
AIM_PAGE_P50_MS = 25.0  # the list and 360 pages
MAX_REQUESTS_PER_THREAD = 100_000  # a bound on every loop besides its time
LOAD_DOMAIN = "loadbench.example"  # the emails of contacts the writes create


def serve_workers() -> int:
    """The gunicorn worker processes `rapport serve` starts (its --workers default)."""
    return int(os.environ.get("WEB_CONCURRENCY", "2"))


SERVE_THREADS = 4  # `rapport serve --threads` default


class LoadClient(Client):
    """A kept-alive connection that also sends bodies, and reports a broken connection to the
    caller (no silent retry: a retried POST could write twice)."""

    def send(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        merged = {**self.headers, **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            merged["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, body=payload, headers=merged)
            response = self.connection.getresponse()
            return response.status, response, response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


# -- what to request ---------------------------------------------------------------------------


@dataclass
class Pools:
    contact_ids: list[int]
    organization_ids: list[int]
    searches: list[str]


def pick_pools(rng_seed: int, size: int = 400) -> Pools:
    """Random active contacts and organizations, and search terms taken from those contacts:
    a name fragment (first name prefix and part of the last name, as bench_contacts searches)
    or an exact email."""
    from rapport.contacts.models import Contact, Organization

    rng = random.Random(rng_seed)
    ids = list(Contact.objects.filter(is_archived=False).values_list("pk", flat=True))
    chosen = rng.sample(ids, min(size, len(ids)))
    organizations = list(
        Organization.objects.filter(is_archived=False).values_list("pk", flat=True)
    )
    searches = []
    for contact in Contact.objects.filter(pk__in=chosen[: size // 2]):
        last = contact.last_name.casefold()
        fragment = last[1:6] if len(last) > 6 else last
        searches.append(f"{contact.first_name.casefold()[:3]} {fragment}")
        if contact.primary_email:
            searches.append(contact.primary_email)
    return Pools(
        contact_ids=chosen,
        organization_ids=rng.sample(organizations, min(size, len(organizations))),
        searches=searches,
    )


def read_kinds(pools: Pools) -> dict:
    """Each kind of the read mix: a function of a random generator giving (path, is_api)."""
    return {
        "list page": lambda rng: ("/contacts/", False),
        "search": lambda rng: (
            f"/contacts/?q={urllib.parse.quote(rng.choice(pools.searches))}",
            False,
        ),
        "360 page": lambda rng: (f"/contacts/{rng.choice(pools.contact_ids)}/", False),
        "organization page": lambda rng: (
            f"/organizations/{rng.choice(pools.organization_ids)}/",
            False,
        ),
        "API list": lambda rng: ("/api/v1/contacts/?limit=50", True),
        "API detail": lambda rng: (f"/api/v1/contacts/{rng.choice(pools.contact_ids)}", True),
    }


# -- running a phase ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What one phase measured, by kind: milliseconds of each answer, and the failures."""

    times: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)  # (kind, status or exception name)
    elapsed: float = 0.0
    server_cpu: dict[str, float] | None = None  # CPU seconds by side (ServerCpu)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, millis: float, failure: str | None) -> None:
        with self.lock:
            self.times.setdefault(kind, []).append(millis)
            if failure:
                self.errors[(kind, failure)] += 1

    def count(self) -> int:
        return sum(len(v) for v in self.times.values())

    def error_count(self, kind: str | None = None) -> int:
        return sum(n for (k, _f), n in self.errors.items() if kind is None or k == kind)

    def rate(self) -> float:
        return self.count() / self.elapsed if self.elapsed else 0.0


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> set[int]:
    """`pid` and every process under it, from /proc (RQ's work horses leave the group)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(child) for child in children]
    return found


WEB_APP_NAME = "rapport-bench-web"  # PostgreSQL application_name of each side's connections
WORKER_APP_NAME = "rapport-bench-task-worker"


class ServerCpu:
    """CPU seconds of the server side, split in two: "web" (the gunicorn workers and their
    PostgreSQL backends) and "worker" (the task worker, whatever it forks, and its backends).
    Backends are told apart by the application_name each side's libpq takes from PGAPPNAME.
    Read from /proc, so a busy machine does not inflate it the way it does wall time; None
    where /proc or pg_stat_activity cannot be read (or PostgreSQL is not local)."""

    def __init__(self, server: Server, worker: subprocess.Popen | None):
        self.server = server
        self.worker = worker

    def snapshot(self) -> dict[tuple[str, int], float] | None:
        from django.db import connection

        pids = {("web", pid) for pid in descendants(self.server.process.pid)}
        pids.discard(("web", self.server.process.pid))  # the master only hands out sockets
        if self.worker is not None and self.worker.poll() is None:
            pids |= {("worker", pid) for pid in descendants(self.worker.pid)}
        if connection.vendor == "postgresql" and connection.settings_dict.get("HOST") in (
            "127.0.0.1",
            "localhost",
            "",
            None,
        ):
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pid, application_name FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    rows = cursor.fetchall()
            except Exception:  # the database cannot be asked: no CPU figure
                return None
            finally:
                connection.close()
            sides = {WEB_APP_NAME: "web", WORKER_APP_NAME: "worker"}
            pids |= {(sides[name], pid) for pid, name in rows if name in sides}
        seconds = {key: _cpu_seconds(key[1]) for key in pids}
        return {key: value for key, value in seconds.items() if value is not None}

    @staticmethod
    def used(before: dict | None, after: dict | None) -> dict[str, float] | None:
        if not before or not after:
            return None
        sides: dict[str, float] = {"web": 0.0, "worker": 0.0}
        for key, value in after.items():
            sides[key[0]] += value - before.get(key, 0.0)
        return sides


def measured(cpu: ServerCpu, phase) -> Tally:
    """Run `phase()` (giving a Tally) and note the server side's CPU seconds during it."""
    before = cpu.snapshot()
    tally = phase()
    tally.server_cpu = ServerCpu.used(before, cpu.snapshot())
    return tally


def run_threads(count: int, seconds: float, work) -> Tally:
    """`count` threads each calling `work(index, tally, deadline)` until the deadline."""
    tally = Tally()
    start = threading.Barrier(count + 1)
    deadline_box: list[float] = []

    def body(index: int) -> None:
        start.wait()
        work(index, tally, deadline_box[0])

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline_box.append(began + seconds)
    start.wait()
    for thread in threads:
        thread.join(seconds + 120)
    tally.elapsed = time.perf_counter() - began
    return tally


def timed(client: LoadClient, method: str, path: str, body=None, headers=None):
    """(milliseconds, status or None, response, body, failure label or None)."""
    started = time.perf_counter()
    try:
        status, response, data = client.send(method, path, body, headers)
    except (http.client.HTTPException, OSError) as exc:
        return (time.perf_counter() - started) * 1000, None, None, b"", type(exc).__name__
    millis = (time.perf_counter() - started) * 1000
    return millis, status, response, data, (None if status < 400 else str(status))


def read_phase(port, kinds, ui_headers, api_headers, connections, seconds, seed) -> Tally:
    names = list(kinds)

    def work(index, tally, deadline):
        rng = random.Random(seed * 1000 + index)
        client = LoadClient(port, {})
        try:
            for n in range(MAX_REQUESTS_PER_THREAD):
                if time.perf_counter() >= deadline:
                    break
                kind = names[(index + n) % len(names)]
                path, api = kinds[kind](rng)
                millis, _s, _r, _b, failure = timed(
                    client, "GET", path, headers=api_headers if api else ui_headers
                )
                tally.add(kind, millis, failure)
        finally:
            client.close()

    return run_threads(connections, seconds, work)


def baseline_phase(port, connections, seconds) -> Tally:
    """The framework's floor: a bare Django view (`/health/`, one SELECT 1) at the same
    concurrency."""

    def work(index, tally, deadline):
        client = LoadClient(port, {})
        try:
            for _ in range(MAX_REQUESTS_PER_THREAD):
                if time.perf_counter() >= deadline:
                    break
                millis, _s, _r, _b, failure = timed(client, "GET", "/health/")
                tally.add("GET /health/", millis, failure)
        finally:
            client.close()

    return run_threads(connections, seconds, work)


def new_contact(rng: random.Random, email: str, organization_ids: list[int]) -> dict:
    body = {
        "first_name": rng.choice(["Ada", "Lena", "Jonas", "Mia", "Noah", "Sofia", "Elif", "Tom"]),
        "last_name": rng.choice(["Becker", "Moreau", "Jansen", "Rossi", "Lund", "Garcia"]),
        "emails": [{"email": email, "is_primary": True}],
        "country": rng.choice(seeding.COUNTRIES),
        "lifecycle_stage": "lead",
        "source": "api",
    }
    if organization_ids and rng.random() < 0.5:
        body["organization_id"] = rng.choice(organization_ids)
    return body


def write_phase(port, api_headers, organization_ids, connections, seconds, seed) -> Tally:
    """Creates and updates in turn; each update changes a contact the thread created."""
    run = uuid.uuid4().hex[:8]

    def work(index, tally, deadline):
        rng = random.Random(seed * 1000 + 500 + index)
        client = LoadClient(port, {})
        mine: list[int] = []
        try:
            for n in range(MAX_REQUESTS_PER_THREAD):
                if time.perf_counter() >= deadline:
                    break
                if n % 2 == 0 or not mine:
                    email = f"load-{run}-{index}-{n}@{LOAD_DOMAIN}"
                    body = new_contact(rng, email, organization_ids)
                    millis, status, _r, data, failure = timed(
                        client, "POST", "/api/v1/contacts/", body, api_headers
                    )
                    tally.add("API create", millis, failure)
                    if status == 201:
                        mine.append(json.loads(data)["id"])
                else:
                    changes = {
                        "job_title": rng.choice(["CTO", "Buyer", "Head of Sales", "Engineer"]),
                        "city": rng.choice(["Berlin", "Lyon", "Utrecht", "Leeds", "Malmö"]),
                    }
                    millis, _s, _r, _b, failure = timed(
                        client, "PATCH", f"/api/v1/contacts/{mine[-1]}", changes, api_headers
                    )
                    tally.add("API update", millis, failure)
        finally:
            client.close()

    return run_threads(connections, seconds, work)


def warm_up(port, kinds, ui_headers, api_headers, say) -> list[str]:
    """Six untimed requests of each kind (every gunicorn worker loads its code and opens its
    connection); a kind answering only 404 (not built) is dropped with a note."""
    client = LoadClient(port, {})
    rng = random.Random(0)
    dropped = []
    try:
        for kind, make in kinds.items():
            statuses = set()
            for _ in range(6):
                path, api = make(rng)
                _m, status, _r, _b, failure = timed(
                    client, "GET", path, headers=api_headers if api else ui_headers
                )
                statuses.add(status if failure is None else failure)
            if any(s not in (200,) for s in statuses):
                say(f"  [yellow]{kind}: answered {sorted(map(str, statuses))} while warming[/]")
                if all(s in ("404", 404) for s in statuses):
                    dropped.append(kind)
        for _ in range(10):
            timed(client, "GET", "/health/")
    finally:
        client.close()
    return dropped


# -- printing ----------------------------------------------------------------------------------


def summary(tally: Tally, title: str, aims: dict[str, float] | None = None):
    from rich.table import Table

    grid = Table(title=title, title_justify="left")
    for heading in ("kind", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        grid.add_column(heading, justify="left" if heading == "kind" else "right")
    page_aim = (aims or {}).get("page_p50")

    def row(label, values, errors, rate, flag_p50=False):
        p50 = percentile(values, 0.5)
        shown = f"{p50:.1f}"
        if flag_p50 and page_aim is not None:
            colour = "green" if p50 < page_aim else "red"
            shown = f"[{colour}]{shown}[/{colour}]"
        grid.add_row(
            label,
            f"{len(values):,}",
            f"{rate:.1f}",
            shown,
            f"{percentile(values, 0.95):.1f}",
            f"{percentile(values, 0.99):.1f}",
            str(errors),
        )

    for kind, values in tally.times.items():
        row(
            kind,
            values,
            tally.error_count(kind),
            len(values) / tally.elapsed,
            flag_p50=kind in ("list page", "360 page"),
        )
    everything = [v for values in tally.times.values() for v in values]
    row("[bold]overall[/bold]", everything, tally.error_count(), tally.rate())
    return grid


def verdict(tally: Tally, rps_aim: float, p99_aim: float, errors_aim: int | None) -> str:
    everything = [v for values in tally.times.values() for v in values]
    p99 = percentile(everything, 0.99)
    parts = [
        _mark(tally.rate() >= rps_aim, f"{tally.rate():.1f} req/s (aim ≥ {rps_aim:.0f})"),
        _mark(p99 <= p99_aim, f"p99 {p99:.0f} ms (aim ≤ {p99_aim:.0f})"),
    ]
    if errors_aim is not None:
        errors = tally.error_count()
        parts.append(_mark(errors <= errors_aim, f"{errors} errors (aim {errors_aim})"))
    return ", ".join(parts)


def cpu_line(tally: Tally, base: Tally) -> str:
    """Server-side CPU per request, and the rate it would allow if the machine's cores were the
    server's alone: a figure a busy shared machine does not distort the way it does wall time."""
    if tally.server_cpu is None or not tally.count():
        return "server CPU per request: n/a"
    cores = os.cpu_count() or 1
    web = tally.server_cpu["web"] * 1000 / tally.count()
    worker = tally.server_cpu["worker"] * 1000 / tally.count()
    text = (
        f"server CPU per request: web {web:.1f} ms (gunicorn workers and their PostgreSQL "
        f"backends), task worker {worker:.1f} ms; on {cores} otherwise idle cores at most "
        f"≈ {cores * 1000 / web:.0f} req/s (web alone), ≈ {cores * 1000 / (web + worker):.0f} "
        "(with the worker's share)"
    )
    if base.server_cpu is not None and base.count():
        base_web = base.server_cpu["web"] * 1000 / base.count()
        text += f"; bare view {base_web:.1f} ms, ≈ {cores * 1000 / base_web:.0f} req/s"
    return text


def _mark(ok: bool, text: str) -> str:
    return f"[green]{text}[/green]" if ok else f"[red]{text}[/red]"


def error_lines(tally: Tally) -> list[str]:
    return [f"    {kind}: {failure} × {n}" for (kind, failure), n in sorted(tally.errors.items())]


# -- the task worker and the written rows ----------------------------------------------------


def start_task_worker() -> subprocess.Popen:
    """`rapport worker`, as `rapport serve` starts one beside gunicorn (its own process group,
    so it and anything it forks stop together)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rapport.cli", "worker", "-v", "0"],
        cwd=seeding.REPO_ROOT,
        env={
            **os.environ,
            "RAPPORT_DEBUG": "0",
            "RAPPORT_LOG_LEVEL": "WARNING",
            "PGAPPNAME": WORKER_APP_NAME,
        },
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen | None, timeout: float = 15) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tasks_finished_between(started, finished) -> dict[str, int]:
    """Tasks the database queue finished in a window, by task (empty on other backends)."""
    from django.db import connection

    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:
        return {}
    connection.close()  # the bench's own connection may be stale after a long phase
    rows = (
        DBTaskResult.objects.filter(finished_at__gte=started, finished_at__lte=finished)
        .values_list("task_path", "status")
        .order_by()
    )
    counts = Counter(f"{path.rsplit('.', 1)[-1]} {status.lower()}" for path, status in rows)
    return dict(counts)


def wait_for_idle_queue(timeout: float) -> str:
    """Wait until the database queue has nothing due or running (a fresh database starts its
    periodic chains: lead model training and scoring would share the measured phase). "" when
    idle, else what is still running."""
    from django.db import connection

    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:
        return ""
    deadline = time.monotonic() + timeout
    busy = ""
    while time.monotonic() < deadline:
        running = list(DBTaskResult.objects.running().values_list("task_path", flat=True))
        due = DBTaskResult.objects.ready().count()
        connection.close()
        if not running and not due:
            return ""
        busy = f"{due} due, running: {', '.join(p.rsplit('.', 1)[-1] for p in running)}"
        time.sleep(1)
    return busy


def delete_written_contacts(domain: str) -> int:
    """Delete the contacts a bench created (their emails are on `domain`) and the lead tasks
    still queued for them, so the seeded database keeps its size and is reused."""
    from django.db import connection

    from rapport.contacts.models import Contact

    connection.close()
    queryset = Contact.objects.filter(primary_email__endswith=f"@{domain}")
    ids = list(queryset.values_list("pk", flat=True))
    if not ids:
        return 0
    deleted = 0
    for start in range(0, len(ids), 2000):
        Contact.objects.filter(pk__in=ids[start : start + 2000]).delete()
        deleted += len(ids[start : start + 2000])
    try:
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.filter(
            status__in=["READY"], task_path__contains="process_new_lead"
        ).delete()
    except ImportError:
        pass
    return deleted


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 contacts.")
    parser.add_argument("--seconds", type=float, default=30.0, help="Length of each phase.")
    parser.add_argument(
        "--baseline-seconds", type=float, default=None, help="Baseline length (default a third)."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=serve_workers())
    parser.add_argument("--threads", type=int, default=SERVE_THREADS)
    parser.add_argument("--no-task-worker", action="store_true")
    parser.add_argument(
        "--only", default="reads,writes", help="Comma-separated phases: reads, writes."
    )
    args, _others = parser.parse_known_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    total = 1_000_000 if args.full else args.contacts
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    baseline_seconds = args.baseline_seconds or max(5.0, args.seconds / 3)

    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    url = seeding.configure()
    from django.db import connection
    from django.utils import timezone

    console.print(f"database: {connection.vendor} ({_safe(url)}); contacts wanted: {total:,}")
    leftovers = delete_written_contacts(LOAD_DOMAIN)
    if leftovers:
        console.print(f"  deleted {leftovers:,} contacts left by an interrupted run")
    counts = seeding.seed_contacts(total, seed=args.seed, console=console)
    console.print("  " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    problems = seeding.check_against_services()
    if problems:
        console.print("[red]seeded search columns differ from the services':[/red]")
        for problem in problems[:10]:
            console.print(f"  {problem}")
        return 1
    admin, _reps = seeding.bench_staff()
    pools = pick_pools(args.seed)
    ui_headers = {"Cookie": session_cookie(admin)}
    api_headers = {"Authorization": f"Bearer {api_token(admin)}", "Accept": "application/json"}
    connection.close()

    port = free_port()
    os.environ["PGAPPNAME"] = WEB_APP_NAME  # for gunicorn's environment (ServerCpu)
    try:
        server = Server(port, args.workers, args.threads)
    finally:
        os.environ.pop("PGAPPNAME")
    worker = None if args.no_task_worker else start_task_worker()
    console.print(
        f"server: gunicorn, {args.workers} worker processes × {args.threads} threads (gthread), "
        f"as `rapport serve` starts it; task worker: "
        f"{'none' if worker is None else 'one `rapport worker`, as `rapport serve` starts'}"
    )
    kinds = read_kinds(pools)
    cpu = ServerCpu(server, worker)
    warm = min(5.0, args.seconds / 3)
    figures = []
    try:
        for kind in warm_up(port, kinds, ui_headers, api_headers, console.print):
            kinds.pop(kind)
        # Every gunicorn thread opens its database connection and warms its caches: untimed.
        read_phase(port, kinds, ui_headers, api_headers, READ_CONNECTIONS, warm, args.seed + 7)
        if worker is not None:
            busy = wait_for_idle_queue(timeout=90)
            if busy:
                console.print(f"  [yellow]the task worker is still busy: {busy}[/yellow]")
        if "reads" in phases:
            console.print(f"[bold]reads[/bold] — {load_average()}")
            base = measured(cpu, lambda: baseline_phase(port, READ_CONNECTIONS, baseline_seconds))
            began = timezone.now()
            reads = measured(
                cpu,
                lambda: read_phase(
                    port, kinds, ui_headers, api_headers, READ_CONNECTIONS, args.seconds, args.seed
                ),
            )
            console.print(f"  after: {load_average()}")
            figures.append(("reads", base, reads, began, timezone.now(), load_average()))
        if "writes" in phases:
            console.print(f"[bold]writes[/bold] — {load_average()}")
            base = measured(cpu, lambda: baseline_phase(port, WRITE_CONNECTIONS, baseline_seconds))
            began = timezone.now()
            writes = measured(
                cpu,
                lambda: write_phase(
                    port,
                    api_headers,
                    pools.organization_ids,
                    WRITE_CONNECTIONS,
                    args.seconds,
                    args.seed,
                ),
            )
            console.print(f"  after: {load_average()}")
            figures.append(("writes", base, writes, began, timezone.now(), load_average()))
    finally:
        server.stop()
        stop_process(worker)

    header = f"{counts['contacts']:,} contacts on {connection.vendor}"
    for name, base, tally, began, ended, load in figures:
        connections = READ_CONNECTIONS if name == "reads" else WRITE_CONNECTIONS
        console.print(
            summary(
                tally,
                f"{name.upper()}: {connections} connections, {tally.elapsed:.0f} s, {header}; "
                f"{load} at the end",
                aims={"page_p50": AIM_PAGE_P50_MS} if name == "reads" else None,
            )
        )
        for line in error_lines(tally):
            console.print(line)
        if name == "reads":
            console.print(
                "  aim (read mix): " + verdict(tally, AIM_READ_RPS, AIM_READ_P99_MS, 0) + "; "
                f"list and 360 page p50 < {AIM_PAGE_P50_MS:.0f} ms (coloured above)"
            )
        else:
            console.print(
                "  aim (writes): " + verdict(tally, AIM_WRITE_RPS, AIM_WRITE_P99_MS, None)
            )
        base_all = [v for values in base.times.values() for v in values]
        console.print(
            f"  baseline, bare Django view (GET /health/) with {connections} connections: "
            f"{base.rate():.1f} req/s, p50 {percentile(base_all, 0.5):.1f} ms, "
            f"p99 {percentile(base_all, 0.99):.1f} ms, {base.error_count()} errors; "
            f"{name} reach {tally.rate() / base.rate():.2f} of it"
            if base.rate()
            else "  baseline: no answers"
        )
        console.print("  " + cpu_line(tally, base))
        if worker is not None:
            ran = tasks_finished_between(began, ended)
            if ran:
                console.print(
                    "  task worker finished during the phase: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(ran.items()))
                )
    deleted = delete_written_contacts(LOAD_DOMAIN)
    if deleted:
        console.print(f"[dim]deleted the {deleted:,} contacts the writes created[/dim]")
    console.print(
        "[dim]Times are wall-clock from this process (the load generator shares the machine's "
        "cores with the server and the database); errors = any answer ≥ 400 or a broken "
        "connection.[/dim]"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
