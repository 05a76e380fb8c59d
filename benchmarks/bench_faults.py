"""Faults: PostgreSQL restarted under a write load, and the task worker killed (and Redis wiped).

(a) DATABASE RESTART (PostgreSQL only, and only with `--allow-restart`: it restarts the local
cluster with pg_ctlcluster, which every user of that server notices). Seeds N contacts through
seed.py (reusing a seeded database), serves the app with bench_contacts' Server with the
worker and thread counts `rapport serve` uses, and 4 writers create contacts through `POST /api/v1/contacts/`, each
with a unique email and an Idempotency-Key, recording every acknowledged one (201).
`--restart-at` seconds in, the bench stops PostgreSQL (`-m fast`), waits `--outage` seconds,
and starts it again; the writers keep
going (no Retry-After is honoured: a failed request waits 0.1 s and the next one is sent). It
prints how many answers were 503 with Retry-After, 503 without, 500, other statuses, broken
connections, the time from the stop and from PostgreSQL's return to the first acknowledged
create, and then looks up every acknowledged email in the database: lost acknowledged writes
must be 0. Creates answered with an error but written anyway are retried with the same key and
body (with up to 20 others), at once and again past the key's 90 s lease (`--lease-wait`):
contacts written twice must be 0. Contacts it made are deleted afterwards.

(b) WORKER KILLED, for each of: the database queue; RQ (RAPPORT_TASKS_BACKEND=rq, REDIS_URL
redis://127.0.0.1:6379/14 unless --redis-url); RQ with Redis wiped (FLUSHDB of that database
only) after the kill. Enqueues `--jobs` runs of `fault_task.record_run` (each writes a "start"
row, sleeps, writes a "done" row), starts `rapport worker`, SIGKILLs it and every process under
it (RQ's work horse leaves the process group) once a third have finished and one is mid-run, then starts the worker again and waits until the
queue is quiet. Prints per scenario how many jobs finished once, more than once, started and
never finished, and never started. Each scenario runs in a child process, since the backend is
chosen by the environment when Django starts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_loadbench \\
        python benchmarks/run.py faults --contacts 100000 --allow-restart
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed as seeding  # benchmarks/ is not a package: found through sys.path
from bench_contacts import Server, _safe, api_token, free_port
from bench_load import (
    SERVE_THREADS,
    LoadClient,
    delete_written_contacts,
    descendants,
    load_average,
    new_contact,
    pick_pools,
    serve_workers,
    start_task_worker,
    stop_process,
)

FAULT_DOMAIN = "faultbench.example"
WRITERS = 4
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SCENARIOS = {
    "database queue, worker killed": {"backend": "database", "wipe": False},
    "RQ, worker killed": {"backend": "rq", "wipe": False},
    "RQ, worker killed, Redis wiped": {"backend": "rq", "wipe": True},
}


# -- (a) PostgreSQL restarted under writes ----------------------------------------------------


def pg_cluster() -> tuple[str, str]:
    versions = sorted(os.listdir("/etc/postgresql"))
    return versions[-1], "main"


def pg_ctl(action: str) -> None:
    version, name = pg_cluster()
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action]
    if action == "stop":
        command += ["-m", "fast"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@dataclass
class Attempt:
    started: float
    ended: float
    email: str
    status: int | None  # None: the connection broke
    retry_after: str | None = None
    failure: str = ""
    body: dict | None = None


@dataclass
class Outage:
    stop_issued: float = 0.0
    stopped: float = 0.0
    start_issued: float = 0.0
    start_done: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def writer(index, port, headers, organizations, deadline, outage: Outage, run: str) -> None:
    import random

    rng = random.Random(index)
    client = LoadClient(port, {})
    try:
        for n in range(100_000):
            if time.perf_counter() >= deadline:
                break
            email = f"fault-{run}-{index}-{n}@{FAULT_DOMAIN}"
            body = new_contact(rng, email, organizations)
            keyed = {**headers, "Idempotency-Key": email}  # so a retry is safe, as documented
            started = time.perf_counter()
            try:
                status, response, _data = client.send("POST", "/api/v1/contacts/", body, keyed)
                attempt = Attempt(
                    started,
                    time.perf_counter(),
                    email,
                    status,
                    retry_after=response.getheader("Retry-After"),
                    body=body,
                )
            except (http.client.HTTPException, OSError) as exc:
                attempt = Attempt(
                    started, time.perf_counter(), email, None, failure=type(exc).__name__, body=body
                )
            with outage.lock:
                outage.attempts.append(attempt)
            if attempt.status != 201:
                time.sleep(0.1)
    finally:
        client.close()


def timeline(attempts: list[Attempt], began: float) -> str:
    """Seconds in which anything but 201 was answered, with what: '6: 201×2 503×9 | 7: …'."""
    seconds: dict[int, Counter] = {}
    for a in attempts:
        label = "conn" if a.status is None else str(a.status)
        seconds.setdefault(int(a.started - began), Counter())[label] += 1
    failing = sorted(k for k, c in seconds.items() if set(c) - {"201"})
    if not failing:
        return "every answer 201"
    shown = range(max(0, failing[0] - 1), failing[-1] + 2)
    return " | ".join(
        f"{k}: " + " ".join(f"{label}×{n}" for label, n in sorted(seconds.get(k, {}).items()))
        for k in shown
        if k in seconds
    )


def restart_under_writes(args, console) -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        console.print("(a) database restart: skipped — DATABASE_URL is not PostgreSQL")
        return 0
    if connection.settings_dict.get("HOST") not in ("127.0.0.1", "localhost", "", None):
        console.print("(a) database restart: skipped — PostgreSQL is not on this machine")
        return 0
    if not args.allow_restart:
        console.print(
            "(a) database restart: [yellow]skipped[/yellow] — it restarts the local PostgreSQL "
            "cluster; pass --allow-restart to run it"
        )
        return 0

    leftovers = delete_written_contacts(FAULT_DOMAIN)
    if leftovers:
        console.print(f"  deleted {leftovers:,} contacts left by an interrupted run")
    counts = seeding.seed_contacts(args.contacts, seed=args.seed, console=console)
    admin, _reps = seeding.bench_staff()
    pools = pick_pools(args.seed)
    headers = {"Authorization": f"Bearer {api_token(admin)}", "Accept": "application/json"}
    connection.close()

    port = free_port()
    server = Server(port, args.workers, args.threads)
    console.print(
        f"(a) database restart: {counts['contacts']:,} contacts; gunicorn {args.workers} × "
        f"{args.threads}; {WRITERS} writers for {args.seconds:.0f} s, PostgreSQL stopped at "
        f"{args.restart_at:.0f} s for {args.outage:.0f} s; {load_average()}"
    )
    outage = Outage()
    run = uuid.uuid4().hex[:8]
    try:
        warm = LoadClient(port, {})
        for _ in range(8):
            warm.send("GET", "/api/v1/contacts/?limit=1", None, headers)
        warm.close()
        began = time.perf_counter()
        deadline = began + args.seconds
        threads = [
            threading.Thread(
                target=writer,
                args=(i, port, headers, pools.organization_ids, deadline, outage, run),
                daemon=True,
            )
            for i in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(args.restart_at)
        outage.stop_issued = time.perf_counter()
        pg_ctl("stop")
        outage.stopped = time.perf_counter()
        time.sleep(args.outage)
        outage.start_issued = time.perf_counter()
        pg_ctl("start")
        outage.start_done = time.perf_counter()
        for thread in threads:
            thread.join(args.seconds + 120)
        console.print(f"  after: {load_average()}")
        retries = retry_failed(outage, port, headers, args.lease_wait)
    finally:
        server.stop()
    return report_outage(outage, began, console, retries)


def _written(emails) -> dict[str, int]:
    """{email: contacts having it} for those of `emails` in the database."""
    from django.db import connection
    from django.db.models import Count

    from rapport.contacts.models import ContactEmail

    connection.close()  # this process's own connection may have died with the server
    values = sorted(emails)
    found: dict[str, int] = {}
    for start in range(0, len(values), 1000):
        rows = (
            ContactEmail.objects.filter(email__in=values[start : start + 1000])
            .values("email")
            .annotate(n=Count("contact_id", distinct=True))
        )
        found.update({row["email"]: row["n"] for row in rows})
    return found


def retry_failed(outage: Outage, port: int, headers: dict, lease_wait: float) -> dict:
    """Retry creates that were not acknowledged with their Idempotency-Key and body, as a
    careful client would: every one that was written anyway, and up to 20 that were not. Once
    right after the load, and once more `lease_wait` seconds after the stop (past the key's
    lease, when a key left pending is taken over). Duplicates: emails on two contacts."""
    failed = [a for a in outage.attempts if a.status != 201]
    written = _written(a.email for a in failed)
    chosen = [a for a in failed if a.email in written]
    chosen += [a for a in failed if a.email not in written][:20]
    rounds = []
    for number in (1, 2):
        if number == 2:
            time.sleep(max(0.0, outage.stop_issued + lease_wait - time.perf_counter()))
        outcomes: Counter = Counter()
        client = LoadClient(port, {})
        try:
            for a in chosen:
                keyed = {**headers, "Idempotency-Key": a.email}
                try:
                    status, _r, _d = client.send("POST", "/api/v1/contacts/", a.body, keyed)
                except (http.client.HTTPException, OSError) as exc:
                    status = type(exc).__name__
                side = "written" if a.email in written else "not written"
                outcomes[f"{side} → {status}"] += 1
        finally:
            client.close()
        rounds.append(outcomes)
    after = _written(a.email for a in chosen)
    return {
        "written before": len(written),
        "retried": len(chosen),
        "rounds": rounds,
        "duplicates": sorted(email for email, n in after.items() if n > 1),
    }


def report_outage(outage: Outage, began: float, console, retries: dict) -> int:
    attempts = outage.attempts
    kinds = Counter()
    for a in attempts:
        if a.status is None:
            kinds[f"connection error ({a.failure})"] += 1
        elif a.status == 503:
            kinds["503 with Retry-After" if a.retry_after else "503 without Retry-After"] += 1
        else:
            kinds[str(a.status)] += 1
    acknowledged = {a.email for a in attempts if a.status == 201}
    unacknowledged = {a.email for a in attempts if a.status != 201}
    after_stop = [a for a in attempts if a.status == 201 and a.started >= outage.stopped]
    first_ok = min((a.ended for a in after_stop), default=None)

    console.print(
        f"  {len(attempts):,} creates sent: " + ", ".join(f"{k} {v:,}" for k, v in kinds.items())
    )
    console.print(
        f"  PostgreSQL: stop issued at {outage.stop_issued - began:.1f} s (done in "
        f"{outage.stopped - outage.stop_issued:.2f} s), start issued at "
        f"{outage.start_issued - began:.1f} s, pg_ctlcluster start returned at "
        f"{outage.start_done - began:.1f} s"
    )
    console.print("  timeline (by second the request was sent): " + timeline(attempts, began))
    if first_ok is None:
        console.print("  [red]no create succeeded after the restart: the app did not recover[/]")
    else:
        console.print(
            f"  first acknowledged create sent once PostgreSQL had stopped: answered "
            f"{first_ok - outage.stop_issued:.2f} s after the stop was issued, "
            f"{first_ok - outage.start_issued:.2f} s after the start was issued"
        )
    found = set(_written(acknowledged))
    lost = acknowledged - found
    colour = "green" if not lost else "red"
    console.print(
        f"  acknowledged (201): {len(acknowledged):,}; found in the database: "
        f"{len(found):,}; [{colour}]lost acknowledged writes: {len(lost)}[/]"
        f" (aim 0); unacknowledged ({len(unacknowledged):,}) but written anyway: "
        f"{retries['written before']} (looked up before any retry)"
    )
    for email in sorted(lost)[:10]:
        console.print(f"    lost: {email}")
    for number, outcomes in enumerate(retries["rounds"], 1):
        console.print(
            f"  retry {number} of {retries['retried']} unacknowledged creates with the same "
            "Idempotency-Key and body (written before → answer): "
            + ", ".join(f"{k} ×{v}" for k, v in sorted(outcomes.items()))
        )
    duplicates = retries["duplicates"]
    colour = "green" if not duplicates else "red"
    console.print(
        f"  [{colour}]contacts written twice by a keyed retry: {len(duplicates)}[/{colour}] "
        "(aim 0: a retry with the same Idempotency-Key writes nothing new)"
    )
    five_hundreds = kinds.get("500", 0)
    console.print(
        "  aim: requests during the outage get 503 with Retry-After (not 500), the app recovers "
        "by itself, no acknowledged write is lost — "
        + (
            "[green]met[/green]"
            if not lost and not five_hundreds and first_ok is not None
            else "[red]not met[/red]"
        )
    )
    deleted = delete_written_contacts(FAULT_DOMAIN)
    console.print(f"  [dim]deleted the {deleted:,} contacts the writers created[/dim]")
    return 0


# -- (b) the worker killed --------------------------------------------------------------------


def run_worker_scenario(name: str, jobs: int, seconds: float, timeout: float) -> dict:
    """One scenario, inside a child process whose environment chose the backend."""
    import fault_task
    from django.db import connection

    wipe = SCENARIOS[name]["wipe"]
    backend = SCENARIOS[name]["backend"]
    redis = None
    if backend == "rq":
        import redis as redis_client
        from django.conf import settings

        redis = redis_client.Redis.from_url(settings.REDIS_URL)
        redis.flushdb()  # the bench's own Redis database: leftovers of an earlier run
    fault_task.create_table()
    fault_task.clear(name)
    from rapport.core.models import TaskOutbox

    outbox = TaskOutbox.objects.filter(task_path="fault_task.record_run")
    outbox.delete()  # an earlier run's rows would be replayed into this one
    for job in range(jobs):
        fault_task.record_run.enqueue(scenario=name, job=job, seconds=seconds)

    def progress():
        runs = fault_task.runs(name)
        done = sum(1 for r in runs.values() if r["done"])
        in_flight = sum(r["start"] - r["done"] for r in runs.values())
        rows = sum(r["start"] + r["done"] for r in runs.values())
        return done, in_flight, rows

    outcome: dict = {"scenario": name, "jobs": jobs}
    worker = start_task_worker()
    try:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            done, in_flight, _rows = progress()
            if done >= jobs // 3 and in_flight > 0:
                break
            if worker.poll() is not None:
                outcome["error"] = f"the worker exited (code {worker.returncode}) before the kill"
                return outcome
            time.sleep(0.02)
        # The worker and everything it forked: RQ's work horse runs the job in a session of its
        # own, so a signal to the worker's process group would miss it.
        for pid in descendants(worker.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.wait()
        outcome["done_at_kill"], outcome["in_flight_at_kill"], _ = progress()
        if wipe:
            redis.flushdb()
        worker = start_task_worker()
        quiet_since, last_rows = time.monotonic(), -1
        while time.monotonic() < limit:
            done, _in_flight, rows = progress()
            if done >= jobs and rows >= 2 * jobs:
                break
            if rows != last_rows:
                quiet_since, last_rows = time.monotonic(), rows
            elif time.monotonic() - quiet_since > max(15.0, 20 * seconds):
                break  # nothing has moved for a while: what is left will not run
            time.sleep(0.2)
        time.sleep(2 * seconds + 1)  # a duplicate delivery still on its way
    finally:
        stop_process(worker)
    runs = fault_task.runs(name)
    outcome["finished once"] = sum(1 for r in runs.values() if r["done"] == 1)
    outcome["finished twice or more"] = sum(1 for r in runs.values() if r["done"] >= 2)
    outcome["started, never finished"] = sum(
        1 for r in runs.values() if r["start"] and not r["done"]
    )
    outcome["never started"] = jobs - len(runs)
    outcome["extra starts"] = sum(max(0, r["start"] - 1) for r in runs.values())
    if backend == "database":
        from django_tasks_db.models import DBTaskResult

        statuses = Counter(
            DBTaskResult.objects.filter(task_path="fault_task.record_run").values_list(
                "status", flat=True
            )
        )
        outcome["queue statuses"] = dict(statuses)
        DBTaskResult.objects.filter(task_path="fault_task.record_run").delete()
    else:
        outcome["left in Redis"] = redis.dbsize()
        outcome["outbox not done"] = outbox.filter(done_at=None).count()
        outcome["outbox replayed"] = outbox.filter(attempts__gte=1).count()
        outbox.delete()
        redis.flushdb()
    connection.close()
    return outcome


def worker_faults(args, console) -> int:
    here = Path(__file__).resolve()
    rows = []
    for name in SCENARIOS:
        backend = SCENARIOS[name]["backend"]
        env = {**os.environ, "RAPPORT_TASKS_BACKEND": backend}
        if backend == "rq":
            env["REDIS_URL"] = args.redis_url
            if not redis_reachable(args.redis_url):
                console.print(f"  {name}: skipped — Redis at {_safe(args.redis_url)} answers not")
                continue
        console.print(f"(b) {name}: {args.jobs} jobs of {args.job_seconds:.2f} s; {load_average()}")
        child = subprocess.run(
            [sys.executable, str(here), "--worker-scenario", name, *args.passthrough],
            env=env,
            capture_output=True,
            text=True,
            timeout=args.job_timeout + 180,
        )
        result = None
        for line in child.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
        if result is None:
            console.print(f"  [red]{name}: no result (exit {child.returncode})[/red]")
            console.print(child.stdout[-2000:] + child.stderr[-3000:], markup=False)
            continue
        rows.append(result)
    if rows:
        from rich.table import Table

        grid = Table(
            title=f"Worker killed (SIGKILL to it and its children) mid-run; {load_average()}",
            title_justify="left",
        )
        columns = [
            "jobs",
            "done_at_kill",
            "in_flight_at_kill",
            "finished once",
            "finished twice or more",
            "started, never finished",
            "never started",
            "extra starts",
        ]
        grid.add_column("scenario")
        for column in columns:
            grid.add_column(column.replace("_", " "), justify="right")
        grid.add_column("notes")
        for row in rows:
            notes = row.get("error", "")
            if "queue statuses" in row:
                notes = "queue rows: " + ", ".join(
                    f"{k.lower()} {v}" for k, v in sorted(row["queue statuses"].items())
                )
            if "left in Redis" in row:
                notes = (
                    f"Redis keys left: {row['left in Redis']}; outbox: "
                    f"{row.get('outbox replayed', 0)} replayed, "
                    f"{row.get('outbox not done', 0)} not done"
                )
            grid.add_row(row["scenario"], *[str(row.get(c, "")) for c in columns], notes)
        console.print(grid)
        console.print(
            "  aim: every queued job still runs once — "
            + ", ".join(
                f"{r['scenario']}: "
                + (
                    "[green]met[/green]"
                    if r.get("finished once") == r["jobs"]
                    else f"[red]{r['jobs'] - r.get('finished once', 0)} not once[/red]"
                )
                for r in rows
            )
        )
    return 0


def redis_reachable(url: str) -> bool:
    import redis as redis_client

    try:
        return bool(redis_client.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:  # any failure means: not usable here
        return False


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0, help="Length of the write load.")
    parser.add_argument("--restart-at", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=3.0, help="Seconds PostgreSQL is down.")
    parser.add_argument("--allow-restart", action="store_true")
    parser.add_argument(
        "--lease-wait",
        type=float,
        default=95.0,
        help="Second retry this many seconds after the stop (past the 90 s key lease).",
    )
    parser.add_argument("--workers", type=int, default=serve_workers())
    parser.add_argument("--threads", type=int, default=SERVE_THREADS)
    parser.add_argument("--jobs", type=int, default=120)
    parser.add_argument("--job-seconds", type=float, default=0.1)
    parser.add_argument("--job-timeout", type=float, default=240.0)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--only", default="restart,worker", help="restart, worker or both.")
    parser.add_argument("--worker-scenario", help=argparse.SUPPRESS)
    args, _others = parser.parse_known_args(argv)
    args.passthrough = [
        f"--jobs={args.jobs}",
        f"--job-seconds={args.job_seconds}",
        f"--job-timeout={args.job_timeout}",
    ]
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    url = seeding.configure()
    if args.worker_scenario:
        outcome = run_worker_scenario(
            args.worker_scenario, args.jobs, args.job_seconds, args.job_timeout
        )
        print("RESULT " + json.dumps(outcome), flush=True)
        return 0

    from django.db import connection
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(f"database: {connection.vendor} ({_safe(url)}); {load_average()}")
    only = {p.strip() for p in args.only.split(",")}
    if "restart" in only:
        restart_under_writes(args, console)
    if "worker" in only:
        worker_faults(args, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
