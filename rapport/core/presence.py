"""Which kinds of event anyone listens to, asked on every event and read rarely.

Every committed change emits events, and a few observers (webhook subscriptions, workflows)
react only to the kinds someone configured. Asking the database on each event costs a query
per change even when nothing is configured (a demo build or a bulk action emits thousands).
A `Presence` remembers the configured keys for `RAPPORT_PRESENCE_SECONDS` (2 s) per process,
and forgets at once when this process saves or deletes such a configuration. Another process's
change is seen within those seconds; tests set them to 0 (always read).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from django.conf import settings


class Presence:
    def __init__(self, load: Callable[[], Iterable[str]]):
        self._load = load
        self._keys: frozenset[str] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> frozenset[str]:
        """The keys configured now (or within the last few seconds)."""
        seconds = float(getattr(settings, "RAPPORT_PRESENCE_SECONDS", 2.0))
        with self._lock:
            if self._keys is None or time.monotonic() - self._read_at >= seconds:
                self._keys = frozenset(self._load())
                self._read_at = time.monotonic()
            return self._keys

    def any_of(self, wanted: Iterable[str]) -> bool:
        return not self.current().isdisjoint(wanted)

    def forget(self) -> None:
        with self._lock:
            self._keys = None
