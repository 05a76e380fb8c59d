"""Contacts at scale, through the real HTTP stack, against the same queries run as raw SQL.

Seeds N contacts (default 100,000; --full for 1,000,000) into the benchmark database (see
seed.py), starts gunicorn with one worker on a free loopback port against it, signs in, and
times each page and API call over a kept-alive connection: the list's first page, a page deep
in the list (a keyset cursor 90 % of the way in), a search by a name fragment, a search by an
exact email, and the 360 page of one contact. For each, the queries the view runs are captured
in-process; the slowest of them (the view's main query) and all of them together are then
replayed through a plain DB-API cursor, so the table shows what the database costs and what the
framework adds above it.

    python benchmarks/run.py contacts                       # SQLite file under var/bench/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_bench \\
        python benchmarks/run.py contacts --contacts 100000
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed as seeding  # benchmarks/ is not a package: found through sys.path

AIM_P50_MS = 25.0
AIM_OVERHEAD_MS = 10.0


@dataclass
class Endpoint:
    label: str
    path: str
    api: bool = False


@dataclass
class Result:
    endpoint: Endpoint
    status: int = 0
    http: list[float] = field(default_factory=list)
    raw_main: list[float] = field(default_factory=list)
    raw_all: list[float] = field(default_factory=list)
    queries: int = 0
    main_sql: str = ""
    skipped: str = ""
    # Mean CPU milliseconds per request / per replay: robust where wall time is not (a busy
    # machine stretches wall time, not CPU time). None when it cannot be read.
    server_cpu: float | None = None
    raw_main_cpu: float | None = None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the server ------------------------------------------------------------------------------


class Server:
    """gunicorn on a loopback port, against the benchmark database: one worker with one thread
    unless told otherwise (bench_load runs it as `rapport serve` does)."""

    def __init__(self, port: int, workers: int = 1, threads: int = 1):
        self.port = port
        self.workers, self.threads = workers, threads
        env = {
            **os.environ,
            "RAPPORT_DEBUG": "0",
            "RAPPORT_LOG_LEVEL": "WARNING",
            # One connection for the whole run, as a busy production server keeps it; it also
            # keeps the PostgreSQL backend (whose CPU time is read) the same process throughout.
            "RAPPORT_DB_CONN_MAX_AGE": "3600",
        }
        env.pop("RAPPORT_HTTPS", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "rapport.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                # gthread keeps connections alive, so each timing is one request, not a handshake.
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=seeding.REPO_ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("gunicorn exited before it served a request")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
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


class Client:
    """One kept-alive HTTP connection carrying a session cookie or a bearer token."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.port = port
        self.headers = {"Host": f"127.0.0.1:{port}", **headers}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.connection.request("GET", path, headers=self.headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


# -- credentials and targets ----------------------------------------------------------------


def session_cookie(user) -> str:
    """A signed-in session for `user`, made the way the login view makes one."""
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

    _token, key = create_api_token(actor=user, user=user, name="benchmark")
    return key


@dataclass
class Targets:
    contact_id: int
    name_fragment: str
    email: str
    deep_values: list
    deep_pk: int


def pick_targets(rng_seed: int) -> Targets:
    """A typical contact for the 360 page and searches, and the row 90 % into the name order."""
    import random

    from rapport.contacts.models import Contact

    rng = random.Random(rng_seed)
    total = Contact.objects.count()
    active = Contact.objects.filter(is_archived=False)
    contact = None
    for _ in range(50):
        candidate = active.order_by("pk")[rng.randrange(total)]
        if candidate.primary_email and candidate.interactions.exists():
            contact = candidate
            break
    contact = contact or active.order_by("pk").first()
    deep = active.order_by("last_name", "first_name", "pk")[int(active.count() * 0.9)]
    last = contact.last_name.casefold()
    fragment = last[1:6] if len(last) > 6 else last
    return Targets(
        contact_id=contact.pk,
        name_fragment=f"{contact.first_name.casefold()[:3]} {fragment}",
        email=contact.primary_email,
        deep_values=[deep.last_name, deep.first_name],
        deep_pk=deep.pk,
    )


def deep_cursor(targets: Targets, sample_cursor: str | None) -> str | None:
    """A cursor 90 % into the name ordering, checked against a cursor the app itself issued."""
    from rapport.core.pagination import encode_cursor

    cursor = encode_cursor(
        targets.deep_values, targets.deep_pk, fields=("last_name", "first_name"), descending=False
    )
    if sample_cursor is None:
        return None

    def fingerprint(token: str) -> str:
        padded = token + "=" * (-len(token) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode())).get("o", "")

    try:
        return cursor if fingerprint(cursor) == fingerprint(sample_cursor) else None
    except (ValueError, json.JSONDecodeError):
        return None


def endpoints(client_ui: Client, client_api: Client, targets: Targets, say) -> list[Endpoint]:
    """The pages and API calls to time; deep pages only when the app's cursor format is known."""
    q_name = urllib.parse.quote(targets.name_fragment)
    q_email = urllib.parse.quote(targets.email)
    found = [
        Endpoint("list, first page", "/contacts/"),
        Endpoint("search: name fragment", f"/contacts/?q={q_name}"),
        Endpoint("search: email", f"/contacts/?q={q_email}"),
        Endpoint("360 page", f"/contacts/{targets.contact_id}/"),
    ]
    status, body = client_ui.get("/contacts/")
    match = re.search(rb"[?&;]after=([A-Za-z0-9_\-]+)", body) if status == 200 else None
    cursor = deep_cursor(targets, match.group(1).decode() if match else None)
    if cursor:
        found.insert(1, Endpoint("list, deep page (90 %)", f"/contacts/?after={cursor}"))
    else:
        say("  [yellow]list deep page skipped: no next-page cursor found on the list[/yellow]")

    api_list = "/api/v1/contacts/"
    status, body = client_api.get(f"{api_list}?limit=50")
    if status == 404:
        api_list = "/api/v1/contacts"
        status, body = client_api.get(f"{api_list}?limit=50")
    if status == 404:
        say("  [yellow]API endpoints skipped: /api/v1/contacts/ answers 404[/yellow]")
        return found
    found.append(Endpoint("API list, first page", f"{api_list}?limit=50", api=True))
    try:
        sample = json.loads(body).get("next_cursor")
    except (ValueError, AttributeError):
        sample = None
    cursor = deep_cursor(targets, sample)
    if cursor:
        found.append(
            Endpoint("API list, deep page", f"{api_list}?limit=50&cursor={cursor}", api=True)
        )
    found += [
        Endpoint("API search: name", f"{api_list}?q={q_name}&limit=50", api=True),
        Endpoint("API search: email", f"{api_list}?q={q_email}&limit=50", api=True),
        Endpoint("API contact", f"/api/v1/contacts/{targets.contact_id}", api=True),
    ]
    return found


# -- raw SQL --------------------------------------------------------------------------------


def capture_queries(path: str, user, api_key: str | None) -> list[tuple[str, tuple, float]]:
    """The (sql, params, seconds) of every query one request runs, made in-process."""
    from django.db import connection
    from django.test import Client as DjangoClient

    captured = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if not many:
                captured.append((sql, tuple(params or ()), time.perf_counter() - started))

    client = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {api_key}") if api_key else DjangoClient()
    if not api_key:
        client.force_login(user)
    best: list = []
    for _ in range(3):
        captured.clear()
        with connection.execute_wrapper(record):
            client.get(path)
        if not best or sum(q[2] for q in captured) < sum(q[2] for q in best):
            best = list(captured)
    # Session, token and bookkeeping writes are not the page's reads.
    return [q for q in best if q[0].lstrip().upper().startswith(("SELECT", "WITH"))]


def raw_runner():
    """A function running (sql, params) on a plain DB-API cursor of the same database."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    sqlite = connection.vendor == "sqlite"

    def run(sql: str, params: tuple) -> None:
        if sqlite:
            # Django writes %s placeholders; sqlite3 takes ?.
            sql = sql.replace("%%", "\0").replace("%s", "?").replace("\0", "%")
        cursor = raw.cursor()
        cursor.execute(sql, params)
        cursor.fetchall()
        cursor.close()

    return run


# -- measuring -------------------------------------------------------------------------------


def main_query(queries, run_raw, table: str = "contacts_contact"):
    """The request's main query: of those reading `table`, the one slowest when replayed.

    Replaying each a few times, rather than trusting one captured timing, keeps a stray slow
    query (a busy machine, a cold cache) from being mistaken for the page's real work.
    """
    reading = [q for q in queries if f'FROM "{table}"' in q[0]] or queries

    def cost(query) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run_raw(query[0], query[1])
            times.append(time.perf_counter() - started)
        return sorted(times)[2]

    return max(reading, key=cost)


class CpuMeter:
    """CPU seconds used by the server (its gunicorn worker and, on a local PostgreSQL, the
    worker's backend) and by the raw-SQL side (this process and its own backend), from /proc."""

    def __init__(self, server: Server):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.master = server.process.pid
        self.server_pids: list[int] = []
        self.raw_pids: list[int] = []

    def find_processes(self) -> None:
        """Once the server has answered: its worker, and the PostgreSQL backends serving it
        and this process."""
        from django.db import connection

        self.server_pids, self.raw_pids = [], []
        children = Path(f"/proc/{self.master}/task/{self.master}/children")
        if children.exists():
            self.server_pids = [int(pid) for pid in children.read_text().split()]

        if connection.vendor != "postgresql" or connection.settings_dict.get("HOST") not in (
            "127.0.0.1",
            "localhost",
            "",
            None,
        ):
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, pid = pg_backend_pid() FROM pg_stat_activity "
                "WHERE datname = current_database()"
            )
            for pid, own in cursor.fetchall():
                (self.raw_pids if own else self.server_pids).append(pid)

    def _seconds(self, pids) -> float | None:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += int(fields[11]) + int(fields[12])  # utime + stime, in ticks
        return total / self.tick

    def server(self) -> float | None:
        return self._seconds(self.server_pids) if self.server_pids else None

    def raw(self) -> float | None:
        own = self._seconds(self.raw_pids)  # 0 on SQLite: the database works in this process
        return None if own is None else own + time.process_time()


def measure(result: Result, client: Client, queries, run_raw, requests: int, cpu: CpuMeter) -> None:
    for _ in range(max(5, requests // 20)):  # warm caches and connections
        client.get(result.endpoint.path)
    before = cpu.server()
    for _ in range(requests):
        started = time.perf_counter()
        status, _body = client.get(result.endpoint.path)
        result.http.append((time.perf_counter() - started) * 1000)
        result.status = status
    after = cpu.server()
    if before is not None and after is not None:
        result.server_cpu = (after - before) * 1000 / requests
    if not queries:
        return
    main = main_query(queries, run_raw)
    result.queries = len(queries)
    result.main_sql = main[0]
    before = cpu.raw()
    for _ in range(requests):
        started = time.perf_counter()
        run_raw(main[0], main[1])
        result.raw_main.append((time.perf_counter() - started) * 1000)
    after = cpu.raw()
    if before is not None and after is not None:
        result.raw_main_cpu = (after - before) * 1000 / requests
    for _ in range(max(20, requests // 4)):
        started = time.perf_counter()
        for sql, params, _seconds in queries:
            run_raw(sql, params)
        result.raw_all.append((time.perf_counter() - started) * 1000)


def table(results: list[Result], title: str):
    from rich.table import Table

    grid = Table(title=title, title_justify="left")
    for heading in (
        "endpoint",
        "status",
        "HTTP p50",
        "HTTP p99",
        "raw main p50",
        "raw main p99",
        "overhead p50",
        "queries",
        "all queries p50",
        "server CPU/req",
        "raw main CPU",
    ):
        grid.add_column(heading, justify="left" if heading == "endpoint" else "right")
    for r in results:
        if r.skipped:
            grid.add_row(r.endpoint.label, "-", r.skipped, *[""] * 8)
            continue
        p50 = percentile(r.http, 0.5)
        raw50 = percentile(r.raw_main, 0.5)
        overhead = p50 - raw50
        flag = "red" if p50 > AIM_P50_MS or overhead > AIM_OVERHEAD_MS else "green"
        grid.add_row(
            r.endpoint.label,
            str(r.status),
            f"[{flag}]{p50:.1f} ms[/{flag}]",
            f"{percentile(r.http, 0.99):.1f} ms",
            f"{raw50:.2f} ms",
            f"{percentile(r.raw_main, 0.99):.2f} ms",
            f"{overhead:.1f} ms",
            str(r.queries),
            f"{percentile(r.raw_all, 0.5):.2f} ms",
            "n/a" if r.server_cpu is None else f"{r.server_cpu:.1f} ms",
            "n/a" if r.raw_main_cpu is None else f"{r.raw_main_cpu:.2f} ms",
        )
    return grid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 contacts.")
    parser.add_argument("--requests", type=int, default=200, help="Timed requests per endpoint.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show-sql", action="store_true", help="Print each main query.")
    args, _others = parser.parse_known_args(argv)  # flags meant for other benchmarks
    # A terminated run still stops its gunicorn (the `finally` below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    total = 1_000_000 if args.full else args.contacts

    from rich.console import Console

    # A piped run gets a table wide enough to read, not the 80-column default.
    console = Console(width=None if sys.stdout.isatty() else 200)
    url = seeding.configure()
    from django.db import connection

    console.print(f"database: {connection.vendor} ({_safe(url)}); contacts wanted: {total:,}")
    counts = seeding.seed_contacts(total, seed=args.seed, console=console)
    console.print("  " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    problems = seeding.check_against_services()
    if problems:
        console.print("[red]seeded search columns differ from the services':[/red]")
        for problem in problems[:10]:
            console.print(f"  {problem}")
        return 1

    admin, _reps = seeding.bench_staff()
    targets = pick_targets(args.seed)
    cookie = session_cookie(admin)
    key = api_token(admin)
    console.print(
        f"  360 contact #{targets.contact_id}; name search {targets.name_fragment!r}; "
        f"email search {targets.email!r}"
    )
    connection.close()

    port = free_port()
    server = Server(port)
    ui = Client(port, {"Cookie": cookie})
    api = Client(port, {"Authorization": f"Bearer {key}", "Accept": "application/json"})
    results = []
    cpu = CpuMeter(server)
    try:
        run_raw = raw_runner()
        ui.get("/contacts/")  # so the server's database connection exists for the meter
        cpu.find_processes()
        for endpoint in endpoints(ui, api, targets, console.print):
            client = api if endpoint.api else ui
            status, _body = client.get(endpoint.path)
            result = Result(endpoint=endpoint, status=status)
            if status == 404:
                result.skipped = "404: not built yet"
                console.print(f"  [yellow]{endpoint.label}: 404, skipped[/yellow]")
            elif status != 200:
                result.skipped = f"answered {status}"
                console.print(f"  [red]{endpoint.label}: answered {status}[/red]")
            else:
                queries = capture_queries(endpoint.path, admin, key if endpoint.api else None)
                # Connections are renewed after CONN_MAX_AGE: look the backends up each time.
                cpu.find_processes()
                measure(result, client, queries, run_raw, args.requests, cpu)
                console.print(f"  measured {endpoint.label}")
                if args.show_sql:
                    console.print(
                        f"    [dim]{result.main_sql}[/dim]", highlight=False, soft_wrap=True
                    )
            results.append(result)
    finally:
        ui.close()
        api.close()
        server.stop()

    console.print(
        table(
            results,
            f"Contacts at {counts['contacts']:,} rows on {connection.vendor}: "
            f"{args.requests} requests each, times in ms",
        )
    )
    console.print(
        "raw main = the view's main query (the slowest reading contacts) replayed on a plain DB-API cursor; overhead = "
        "HTTP p50 - raw main p50 (HTTP, Django, other queries, rendering); all queries = every "
        "SELECT the request runs, replayed. CPU columns: mean CPU time per request of the gunicorn "
        "worker (plus its PostgreSQL backend when the database is local) and per raw replay, "
        "which a busy machine does not inflate the way it does wall time. "
        f"Aim: HTTP p50 < {AIM_P50_MS:.0f} ms and overhead < {AIM_OVERHEAD_MS:.0f} ms on PostgreSQL."
    )
    return 0


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
