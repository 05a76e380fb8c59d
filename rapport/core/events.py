"""Domain events: how one app reacts to another's change without importing it.

`emit` defers delivery to `transaction.on_commit`, so nothing reacts to a change that rolled
back. Subscribers register in their AppConfig.ready(); events are frozen dataclasses whose
fields are plain JSON-able values (they double as webhook payloads later).

A subscriber that can react to many events more cheaply than to each in turn (one query and
one queued task for a whole import batch) subscribes with `many=True`: it then always receives
a list of events of the one type — from `emit_many` the batch's events, from `emit` a list of
one — so it has a single code path.

An observer registered with `observe_in_transaction` is different: `emit_many` calls it at once,
inside the emitting transaction, with the whole list of events, before anything is deferred.
It exists for writes that must commit or roll back WITH the change (the webhook outbox): what it
writes is part of the change, and an exception it raises fails the change — so an observer does
only quick database writes, never I/O.
"""

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

from django.db import transaction

logger = logging.getLogger(__name__)

_subscribers: dict[type, list[Callable]] = defaultdict(list)
# (event type, handler) pairs whose handler takes a list of events.
_takes_many: set[tuple[type, Callable]] = set()
# Handlers called with every emitted batch inside the emitting transaction.
_in_transaction: list[Callable[[list], None]] = []


def subscribe(event_type: type, handler: Callable, *, many: bool = False) -> None:
    if handler not in _subscribers[event_type]:
        _subscribers[event_type].append(handler)
    if many:
        _takes_many.add((event_type, handler))
    else:
        _takes_many.discard((event_type, handler))


def observe_in_transaction(handler: Callable[[list], None]) -> None:
    """Call `handler(events)` synchronously from every `emit`/`emit_many`, inside the
    emitting transaction (see the module docstring); registering it twice is a no-op."""
    if handler not in _in_transaction:
        _in_transaction.append(handler)


def subscribers_of(event_type: type) -> list[Callable]:
    return list(_subscribers.get(event_type, ()))


def takes_many(event_type: type, handler: Callable) -> bool:
    return (event_type, handler) in _takes_many


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One call of one subscriber: with one event, or with a list of them (a many-handler)."""

    handler: Callable
    argument: object

    def __call__(self) -> None:
        self.handler(self.argument)


def deliveries(events: Iterable, *, skip: Iterable[Callable] = ()) -> list[Delivery]:
    """The subscriber calls that deliver `events`: by event type in order of first appearance,
    each subscriber in order of subscription; a many-handler once with all of its type's events,
    any other once per event in the order given. Handlers in `skip` are left out."""
    skip = set(skip)
    by_type: dict[type, list] = {}
    for event in events:
        if not dataclasses.is_dataclass(event):
            raise TypeError("events are dataclass instances")
        by_type.setdefault(type(event), []).append(event)
    calls = []
    for event_type, batch in by_type.items():
        for handler in subscribers_of(event_type):
            if handler in skip:
                continue
            if takes_many(event_type, handler):
                calls.append(Delivery(handler, list(batch)))
            else:
                calls.extend(Delivery(handler, event) for event in batch)
    return calls


def emit(event) -> None:
    """Deliver `event` to its subscribers once the current transaction commits."""
    emit_many([event])


def emit_many(events: Iterable) -> None:
    """Deliver `events` together once the current transaction commits: a many-handler gets
    all of its type in one call. In-transaction observers see them first, right now."""
    events = list(events)
    for event in events:
        if not dataclasses.is_dataclass(event):
            raise TypeError("events are dataclass instances")
    if events:
        for observer in list(_in_transaction):
            observer(events)
        transaction.on_commit(lambda: _deliver(events))


def _deliver(events: list) -> None:
    for delivery in deliveries(events):
        try:
            delivery()
        except Exception:
            # One failing subscriber must not stop the others nor undo the committed change.
            logger.exception(
                "event subscriber %r failed for %r", delivery.handler, delivery.argument
            )


def as_payload(event) -> dict:
    return {"type": type(event).__name__, **dataclasses.asdict(event)}
