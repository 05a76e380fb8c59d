"""Periodic jobs: each app registers how to start its own chain, the worker starts them all.

A periodic job in Rapport is a task that, when it runs, queues its next run (the Tasks API has no
cron). Such a chain must be started once on a new installation and again whenever it was lost
(a queue emptied, a backend switched), so `rapport worker` calls `start_all()` each time it starts.
Every registered starter must therefore be idempotent, or its chain must end itself when it
finds another chain already did the work (a claim on the period).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_starters: dict[str, Callable[[], object]] = {}


def register(name: str, start: Callable[[], object]) -> None:
    """Register `start` (no arguments) as the way to start the periodic job `name`."""
    _starters[name] = start


def registered() -> list[str]:
    return sorted(_starters)


def start_all() -> dict[str, str]:
    """Start every registered chain; one that fails is logged and does not stop the others."""
    outcome = {}
    for name in registered():
        try:
            _starters[name]()
        except Exception as exc:  # a broken schedule must not keep the worker from starting
            logger.exception("could not start the periodic job %s", name)
            outcome[name] = f"failed: {exc}"
        else:
            outcome[name] = "started"
    return outcome
