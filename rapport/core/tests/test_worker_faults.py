"""A real `rapport worker` SIGKILLed mid-job, then started again: every job still runs.

Delivery is at least once (`core.durability`): a job the killed worker left running is queued
again, and on RQ a job Redis lost (FLUSHDB between the kill and the restart) is queued again
from the outbox. Each job's effect must happen once or more, never zero times. The workers are
subprocesses on the test database, so these tests need PostgreSQL (SQLite's test database lives
in memory); the RQ ones also need Redis (RAPPORT_TEST_REDIS_URL, else database 13, which they
empty).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from rapport.core import durability
from rapport.core.models import TaskOutbox, WorkerHeartbeat
from rapport.core.tests import durable_task

REPO = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("RAPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
JOBS = 6
SECONDS = 0.6

needs_postgres = pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="a worker subprocess needs a database it can share (DATABASE_URL=postgres://…)",
)


def _environment(backend: str) -> dict[str, str]:
    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD'] or ''}@"
        f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/"
        f"{settings_dict['NAME']}"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAPPORT_TESTING"}
    env.update(
        DJANGO_SETTINGS_MODULE="rapport.settings",
        DATABASE_URL=url,
        RAPPORT_TASKS_BACKEND=backend,
        REDIS_URL=REDIS_URL,
        RAPPORT_TASK_LEASE_SECONDS="4",
        RAPPORT_DEBUG="0",
        RAPPORT_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO),
    )
    return env


def _start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rapport.cli", "worker", "-v", "0"],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _tree(pid: int) -> set[int]:
    """`pid` and every process under it (RQ's work horse leaves the process group)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            todo += [int(child) for child in children]
    return found


def _kill(worker: subprocess.Popen) -> None:
    for pid in _tree(worker.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(10)


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            _kill(worker)


def _wait(condition, worker: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited: {worker.stderr.read().decode()[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out; runs so far: {durable_task.runs()}")


def _mid_run() -> bool:
    runs = durable_task.runs().values()
    return any(r["done"] for r in runs) and any(r["start"] > r["done"] for r in runs)


def _all_done() -> bool:
    runs = durable_task.runs()
    return len(runs) == JOBS and all(r["done"] for r in runs.values())


@pytest.fixture
def runs_table():
    durable_task.create_table()
    yield
    durable_task.drop_table()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_running_when_its_database_worker_is_killed_runs_again(settings, runs_table):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    results = [durable_task.record_run.enqueue(job=n, seconds=SECONDS) for n in range(JOBS)]
    env = _environment("database")

    worker = _start_worker(env)
    try:
        _wait(_mid_run, worker)
        _kill(worker)
    finally:
        _stop(worker)
    interrupted = [n for n, r in durable_task.runs().items() if r["start"] > r["done"]]
    assert interrupted
    assert DBTaskResult.objects.filter(status="RUNNING").count() == len(interrupted)

    worker = _start_worker(env)  # reclaims the running job: its worker's process is gone
    try:
        _wait(_all_done, worker)
    finally:
        _stop(worker)

    runs = durable_task.runs()
    assert all(r["done"] >= 1 for r in runs.values()), runs
    for result in results:
        result.refresh()
        assert result.status == "SUCCESSFUL"
    retried = DBTaskResult.objects.get(pk=results[interrupted[0]].id)
    assert len(retried.worker_ids) == 2  # the killed worker's attempt, then the new one's
    assert not WorkerHeartbeat.objects.exists()  # the stopped worker said goodbye


@pytest.mark.django_db
def test_a_job_abandoned_too_often_fails_and_a_live_workers_job_is_left_alone(settings):
    from django_tasks_db.models import DBTaskResult

    settings.RAPPORT_TASK_MAX_ATTEMPTS = 3
    settings.RAPPORT_TASK_LEASE_SECONDS = 60
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    durable_task.record_run.enqueue(job=1, seconds=0)
    durable_task.record_run.enqueue(job=2, seconds=0)
    durable_task.record_run.enqueue(job=3, seconds=0)
    dead_thrice, alive, dead_once = DBTaskResult.objects.order_by("enqueued_at")
    durability.beat("live-worker")  # this process: alive, and seen just now
    DBTaskResult.objects.filter(pk=dead_thrice.pk).update(
        status="RUNNING", started_at=long_ago, worker_ids=["a", "b", "c"]
    )
    DBTaskResult.objects.filter(pk=alive.pk).update(
        status="RUNNING", started_at=long_ago, worker_ids=["live-worker"]
    )
    DBTaskResult.objects.filter(pk=dead_once.pk).update(
        status="RUNNING", started_at=long_ago, worker_ids=["gone"]
    )

    assert durability.reclaim_database() == {"requeued": 1, "failed": 1}

    statuses = dict(DBTaskResult.objects.values_list("pk", "status"))
    assert statuses[dead_thrice.pk] == "FAILED"
    assert statuses[alive.pk] == "RUNNING"
    assert statuses[dead_once.pk] == "READY"
    failed = DBTaskResult.objects.get(pk=dead_thrice.pk)
    assert failed.exception_class_path == durability.ABANDONED
    assert "3 attempts" in failed.traceback
    # A heartbeat older than the lease is a gone worker too.
    WorkerHeartbeat.objects.update(seen_at=long_ago)
    assert durability.reclaim_database()["requeued"] == 1


@pytest.fixture
def redis_alone():
    """The test Redis database, which these tests empty: one test at a time holds it, across
    pytest-xdist's processes too (a file lock: a key in that database would be flushed)."""
    import fcntl
    import hashlib
    import tempfile

    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    name = hashlib.sha256(REDIS_URL.encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"rapport-test-redis-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client.flushdb()
            yield client
            client.flushdb()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _enqueue_on_rq(env) -> None:
    # The last job is due a second later: RQ keeps it in its scheduled registry until then.
    code = (
        "import datetime as dt\n"
        "from django.utils import timezone\n"
        "from rapport.core.tests import durable_task as d\n"
        f"for n in range({JOBS - 1}): d.record_run.enqueue(job=n, seconds={SECONDS})\n"
        "later = d.record_run.using(run_after=timezone.now() + dt.timedelta(seconds=1))\n"
        f"later.enqueue(job={JOBS - 1}, seconds={SECONDS})\n"
    )
    subprocess.run(
        [sys.executable, "-m", "rapport.cli", "shell", "-c", code],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )


@needs_postgres
@pytest.mark.parametrize("wipe", [False, True], ids=["redis-kept", "redis-wiped"])
@pytest.mark.django_db(transaction=True)
def test_a_job_killed_on_rq_runs_again_even_when_redis_was_wiped(runs_table, redis_alone, wipe):
    redis = redis_alone
    env = _environment("rq")
    _enqueue_on_rq(env)
    ours = TaskOutbox.objects.filter(task_path=durable_task.record_run.module_path)
    assert ours.filter(done_at=None).count() == JOBS

    worker = _start_worker(env)
    try:
        _wait(_mid_run, worker)
        _kill(worker)
    finally:
        _stop(worker)
    if wipe:
        redis.flushdb()  # the queued jobs, the started registry, the results: all gone

    worker = _start_worker(env)
    try:
        _wait(_all_done, worker)
        _wait(lambda: not ours.filter(done_at=None).exists(), worker, 20)
    finally:
        _stop(worker)

    runs = durable_task.runs()
    assert all(r["done"] >= 1 for r in runs.values()), runs
    # (The periodic chains the worker starts are in the outbox too, due later.)
    assert set(ours.values_list("outcome", flat=True)) == {"SUCCESSFUL"}
    assert ours.filter(attempts__gte=1).exists() == wipe


@pytest.mark.django_db
def test_the_rq_outbox_records_each_enqueue_and_replays_what_redis_lost(settings, redis_alone):
    import django_rq
    from django_tasks_rq.backend import Job
    from rq import SimpleWorker

    from rapport.core import schedules

    redis = redis_alone
    settings.RQ_QUEUES = {"default": {"URL": REDIS_URL}}
    settings.TASKS = {
        "default": {"BACKEND": "rapport.core.durability.DurableRQBackend", "QUEUES": ["default"]}
    }
    result = durable_task.record_run.enqueue(job=1, seconds=0)
    row = TaskOutbox.objects.get()
    assert row.id == result.id and row.done_at is None
    assert row.arguments == {"args": [], "kwargs": {"job": 1, "seconds": 0}}
    assert schedules.is_waiting(durable_task.record_run)

    redis.flushdb()  # Redis loses the job; the outbox still has it
    backend = durability.DurableRQBackend("default", settings.TASKS["default"])
    assert durability.replay_outbox(backend) == {"replayed": 1}
    assert durability.replay_outbox(backend) == {"replayed": 0}  # Redis holds it again
    assert Job.exists(result.id, connection=django_rq.get_connection())

    durable_task.create_table()
    queue = django_rq.get_queue("default", job_class=Job)
    SimpleWorker([queue], connection=queue.connection, job_class=Job).work(burst=True)
    row.refresh_from_db()
    assert (row.outcome, row.attempts) == ("SUCCESSFUL", 1)
    assert row.done_at is not None
    assert not schedules.is_waiting(durable_task.record_run)
    assert durable_task.runs() == {1: {"start": 1, "done": 1}}
