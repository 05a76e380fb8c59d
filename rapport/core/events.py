"""Domain events: how one app reacts to another's change without importing it.

`emit` defers delivery to `transaction.on_commit`, so nothing reacts to a change that rolled
back. Subscribers register in their AppConfig.ready(); events are frozen dataclasses whose
fields are plain JSON-able values (they double as webhook payloads later).
"""

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

_subscribers: dict[type, list[Callable]] = defaultdict(list)


def subscribe(event_type: type, handler: Callable) -> None:
    if handler not in _subscribers[event_type]:
        _subscribers[event_type].append(handler)


def subscribers_of(event_type: type) -> list[Callable]:
    return list(_subscribers.get(event_type, ()))


def emit(event) -> None:
    """Deliver `event` to its subscribers once the current transaction commits."""
    if not dataclasses.is_dataclass(event):
        raise TypeError("events are dataclass instances")
    transaction.on_commit(lambda: _deliver(event))


def _deliver(event) -> None:
    for handler in subscribers_of(type(event)):
        try:
            handler(event)
        except Exception:
            # One failing subscriber must not stop the others nor undo the committed change.
            logger.exception("event subscriber %r failed for %r", handler, event)


def as_payload(event) -> dict:
    return {"type": type(event).__name__, **dataclasses.asdict(event)}
