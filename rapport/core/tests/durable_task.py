"""A task for the worker fault tests (not a test module): each run leaves a row per phase.

A run writes a "start" row, sleeps, then writes a "done" row, each committed at once, so after
a worker was killed the rows tell which jobs ran to the end, and how often.
"""

from __future__ import annotations

import os
import time

from django.db import connection
from django_tasks import task

TABLE = "core_test_durable_runs"


def create_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(job integer NOT NULL, phase varchar(8) NOT NULL, pid integer NOT NULL)"
        )
        cursor.execute("DELETE FROM core_test_durable_runs")


def drop_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _record(job: int, phase: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_test_durable_runs (job, phase, pid) VALUES (%s, %s, %s)",
            [job, phase, os.getpid()],
        )


@task()
def record_run(job: int, seconds: float) -> int:
    _record(job, "start")
    time.sleep(seconds)
    _record(job, "done")
    return job


def runs() -> dict[int, dict[str, int]]:
    """{job: {"start": n, "done": n}}."""
    counts: dict[int, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT job, phase, COUNT(*) FROM core_test_durable_runs GROUP BY job, phase"
        )
        for job, phase, n in cursor.fetchall():
            counts.setdefault(job, {"start": 0, "done": 0})[phase] = n
    return counts
