"""The fault bench's own task (not a benchmark): each run records itself in a table of its own.

`bench_faults` enqueues `record_run` and `rapport worker` runs it; the worker finds this module
through PYTHONPATH, which `seed.configure()` points at benchmarks/. A run writes a "start" row,
sleeps, then writes a "done" row, each committed at once, so after a worker was killed the rows
say which jobs ran to the end once, which twice, which started and never finished, and which
never started. Import it only once Django is set up (the task decorator reads the settings).
"""

from __future__ import annotations

import os
import time

from django.db import connection
from django_tasks import task

TABLE = "bench_task_runs"


def create_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "scenario varchar(40) NOT NULL, job integer NOT NULL, "
            "phase varchar(8) NOT NULL, pid integer NOT NULL)"
        )


def clear(scenario: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE scenario = %s", [scenario])


def _record(scenario: str, job: int, phase: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (scenario, job, phase, pid) VALUES (%s, %s, %s, %s)",
            [scenario, job, phase, os.getpid()],
        )


@task()
def record_run(scenario: str, job: int, seconds: float) -> int:
    """Idempotent work that leaves a trace of each run: nothing but the two rows."""
    _record(scenario, job, "start")
    time.sleep(seconds)
    _record(scenario, job, "done")
    return job


def runs(scenario: str) -> dict[int, dict[str, int]]:
    """{job: {"start": n, "done": n}} for one scenario."""
    counts: dict[int, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT job, phase, COUNT(*) FROM {TABLE} WHERE scenario = %s GROUP BY job, phase",
            [scenario],
        )
        for job, phase, n in cursor.fetchall():
            counts.setdefault(job, {"start": 0, "done": 0})[phase] = n
    return counts
