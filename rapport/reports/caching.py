"""A report's figures, kept until a write changes the records they count.

A dashboard runs its reports on every view, and a report over millions of records takes
seconds: the figures are cached, keyed by everything that decides them:

- the report (its id and last save) and its definition;
- the viewer's access scope, not the viewer: administrators share one entry, a rep's is theirs
  (own and team scopes also see what they are assigned, so the user's id is part of it);
- the day and the time zone (conditions relative to today, periods filled up to today);
- the data version of each *area* the report's source reads (contacts, deals, orders…).

A version is a random token, replaced whenever one of its area's tables is written. Writes are
noticed at the database connection (`watch_writes`: an execute wrapper reads the table of every
INSERT, UPDATE and DELETE), so the services, bulk `update()`s and the analytics refresh's own
SQL all count. The token is replaced when the write's transaction commits (a view
computed meanwhile from the old rows is kept under the old token, which nobody asks for after);
until then the writing connection, the only one that sees the new rows, adds its own count of
writes to its keys. COPY bypasses the connection's
wrappers, so the domain events an import emits replace the tokens too, and an entry lives at
most `TTL` seconds whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import secrets

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain, Scope

logger = logging.getLogger(__name__)

TTL = 15 * 60  # seconds: the bound on staleness from writes no wrapper sees (psql, COPY)
PREFIX = "reports:v1"
AREAS = ("contacts", "deals", "tasks", "orders", "interactions", "analytics", "setup")

# What each area is made of (app label.model: every table of the model, its many-to-many
# tables included). "setup" is what labels and converts the figures: users' names, teams,
# stages, custom fields, exchange rates.
AREA_MODELS = {
    "contacts": (
        "contacts.Contact",
        "contacts.Organization",
        "contacts.Tag",
        "contacts.ContactEmail",
        "contacts.ContactPhone",
        "contacts.Membership",
        "contacts.LifecycleChange",
        "contacts.Consent",
        "sales.LeadScore",
        "sales.ProductInterest",
    ),
    "deals": ("sales.Deal", "sales.DealStageChange", "sales.DealLine"),
    "tasks": ("sales.Task",),
    "orders": ("commerce.Order", "commerce.OrderLine", "commerce.Product", "commerce.Shop"),
    "interactions": ("interactions.Interaction",),
    "analytics": ("analytics.CustomerAnalytics", "analytics.SegmentMember", "analytics.Segment"),
    "setup": (
        "accounts.User",
        "accounts.Team",
        "accounts.Role",
        "sales.Pipeline",
        "sales.Stage",
        "sales.LostReason",
        "customfields.CustomFieldDefinition",
        "commerce.ExchangeRate",
        "commerce.CompanyCurrency",
        "commerce.RevenueSettings",
    ),
}

# The areas each report source reads: its own records, the contacts its conditions may reach,
# and the setup. Contacts' conditions reach every area (orders, interactions, deals…).
SOURCE_AREAS = {
    "contacts": AREAS,
    "leads": AREAS,
    "organizations": ("contacts", "setup"),
    "deals": ("deals", "contacts", "setup"),
    "orders": ("orders", "contacts", "analytics", "setup"),
    "order_lines": ("orders", "contacts", "analytics", "setup"),
    "tasks": ("tasks", "deals", "contacts", "setup"),
    "interactions": ("interactions", "contacts", "setup"),
}

# Domain events (`rapport.<app>.events`) by their app: the events of an import's COPY, mostly.
EVENT_AREAS = {
    "contacts": ("contacts",),
    "sales": ("deals", "tasks", "contacts"),
    "commerce": ("orders",),
    "interactions": ("interactions",),
    "analytics": ("analytics",),
    "data_exchange": AREAS,
}

_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
# Signing in writes `last_login` alone: no figure depends on it.
_LAST_LOGIN = re.compile(r'UPDATE "?accounts_user"? SET "?last_login"? = %s WHERE', re.I)


# --------------------------------------------------------------------------- versions


def _version_key(area: str) -> str:
    # "~" sorts after the figures' keys: the database cache, when full, culls the lowest keys
    # first, and losing a token throws away every figure kept under it.
    return f"{PREFIX}:~data:{area}"


def bump(*areas: str) -> None:
    """Mark the data of `areas` as changed: every cached figure that counts it is now stale."""
    cache.set_many({_version_key(area): secrets.token_hex(8) for area in areas}, timeout=None)


def versions(areas) -> list[str]:
    """The current token of each area (made on first use, and again if the cache lost it)."""
    keys = [_version_key(area) for area in areas]
    found = cache.get_many(keys)
    for key in keys:
        if key not in found:
            cache.add(key, secrets.token_hex(8), timeout=None)
            found[key] = cache.get(key)
    return [found[key] for key in keys]


@functools.cache
def _table_areas() -> dict[str, tuple[str, ...]]:
    from django.apps import apps

    tables: dict[str, set[str]] = {}
    for area, labels in AREA_MODELS.items():
        for label in labels:
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            names = [model._meta.db_table]
            names += [f.remote_field.through._meta.db_table for f in model._meta.local_many_to_many]
            for name in names:
                tables.setdefault(name, set()).add(area)
    return {name: tuple(sorted(areas)) for name, areas in tables.items()}


def _bump_quietly(areas) -> None:
    try:
        bump(*areas)
    except Exception:
        # A cache that cannot be written (not created yet, Redis away) must not fail the
        # write that changed the data; the entries expire after TTL anyway.
        logger.warning("could not mark report data as changed", exc_info=True)


def _changed(areas, connection) -> None:
    """`areas` were written on `connection`: replace their tokens, at once when the write is
    committed already, else when its transaction commits, or when `held()` ends. Until then
    this connection keys its own figures by what it wrote (`_written`)."""
    held = _held(connection)
    if held is None and not connection.in_atomic_block:
        _bump_quietly(areas)
        return
    written = _written(connection)
    for area in areas:
        written[area] = written.get(area, 0) + 1
    if held is not None:
        held.update(areas)
        return
    _bump_on_commit(connection, areas)


def _bump_on_commit(connection, areas) -> None:
    """Queue the replacement of `areas`' tokens on the transaction's commit, once per area."""
    queued = _queued(connection)
    fresh = frozenset(areas) - queued
    if fresh:
        queued.update(fresh)
        callback = functools.partial(_committed, connection, fresh)
        callback.report_areas = fresh
        transaction.on_commit(callback, using=connection.alias, robust=True)


def _queued(connection) -> set[str]:
    """The areas whose bump is already queued on this transaction's commit. Django replaces
    `run_on_commit` with a new list whenever it runs or drops callbacks (commit, rollback, a
    savepoint rolled back), so the set is kept with the list it belongs to: looking through
    the callbacks instead made each write cost as much as the transaction's writes so far."""
    kept = connection.__dict__.get("_rapport_report_queued")
    if kept is None or kept[0] is not connection.run_on_commit:
        kept = (connection.run_on_commit, set())
        connection.__dict__["_rapport_report_queued"] = kept
    return kept[1]


def _held(connection) -> set[str] | None:
    return connection.__dict__.get("_rapport_report_held")


@contextlib.contextmanager
def held(using: str = "default"):
    """Replace the tokens of what was written once, when the block ends, instead of at every
    commit. For batch work (the demo, an import, a workflow's chunk) that commits thousands of
    small transactions: each replacement is a cache write, with the database cache a write
    transaction of its own, and cost the demo a tenth of its build. Meanwhile other
    connections may be served figures from before the batch, as they would be during one
    long transaction; this connection's own keys count its writes."""
    from django.db import connections

    connection = connections[using]
    if _held(connection) is not None:  # nested: the outer block bumps
        yield
        return
    areas: set[str] = set()
    connection.__dict__["_rapport_report_held"] = areas
    try:
        yield
    finally:
        del connection.__dict__["_rapport_report_held"]
        if areas and connection.in_atomic_block:
            _bump_on_commit(connection, areas)
        elif areas:
            _committed(connection, areas)


def _written(connection) -> dict[str, int]:
    """Writes per area this connection made in transactions not committed yet (a rolled-back
    one's stay counted: its figures are then only computed once more)."""
    return connection.__dict__.setdefault("_rapport_report_writes", {})


def _committed(connection, areas) -> None:
    written = _written(connection)
    for area in areas:
        written.pop(area, None)
    _bump_quietly(areas)


def _watch(execute, sql, params, many, context):
    result = execute(sql, params, many, context)
    if sql[:1] in "IUDiud\t\n ":
        match = _WRITE.match(sql)
        if match and not _LAST_LOGIN.match(sql):
            areas = _table_areas().get(match.group(1).lower())
            if areas:
                _changed(areas, context["connection"])
    return result


def _install(sender=None, connection=None, **kwargs) -> None:
    if _watch not in connection.execute_wrappers:
        # First, not last: `connection.execute_wrapper()` blocks pop the last one on leaving,
        # and a connection may be made inside such a block.
        connection.execute_wrappers.insert(0, _watch)


def _on_events(events) -> None:
    areas = set()
    for event in events:
        parts = type(event).__module__.split(".")
        if len(parts) == 3 and parts[0] == "rapport" and parts[2] == "events":
            areas.update(EVENT_AREAS.get(parts[1], ()))
    if areas:
        connection = transaction.get_connection()
        if _held(connection) is not None:
            _changed(areas, connection)
        else:
            transaction.on_commit(functools.partial(_bump_quietly, areas), robust=True)


def watch_writes() -> None:
    """Replace the data tokens on every write to their tables (from AppConfig.ready)."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    from rapport.core import events

    connection_created.connect(_install, dispatch_uid="reports-caching-watch")
    for wrapper in connections.all(initialized_only=True):
        _install(connection=wrapper)
    events.observe_in_transaction(_on_events)


# --------------------------------------------------------------------------- the figures


def _scope(user) -> str:
    """The viewer's access, as far as reading records goes."""
    if not access.is_signed_in(user):
        return "anonymous"
    parts = []
    for domain in Domain.values:
        scope = user.scope_for(domain)
        if scope == Scope.ALL:
            parts.append(f"{domain}:all")
        elif scope == Scope.TEAM:
            teammates = ",".join(str(pk) for pk in access.teammate_ids(user))
            parts.append(f"{domain}:team:{user.pk}:{teammates}")
        else:
            parts.append(f"{domain}:own:{user.pk}")
    return ";".join(parts)


def _definition(report) -> str:
    from rapport.reports.services import REPORT_FIELDS

    fields = {name: getattr(report, name) for name in REPORT_FIELDS if name != "name"}
    fields.update(source=report.source, pk=report.pk, saved=str(report.updated_at))
    return json.dumps(fields, sort_keys=True, default=str)


def result_key(report, user, *, now=None) -> str:
    """Where `report`'s figures for `user` are kept, as of now (the data versions included)."""
    now = now or timezone.now()
    areas = SOURCE_AREAS.get(report.source, AREAS)
    parts = [
        _definition(report),
        _scope(user),
        timezone.localdate(now).isoformat(),
        timezone.get_current_timezone_name(),
        *versions(areas),
    ]
    connection = transaction.get_connection()
    if connection.in_atomic_block or _held(connection) is not None:
        written = _written(connection)
        parts += [f"{area}+{written[area]}" for area in areas if area in written]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return f"{PREFIX}:result:{digest}"


def run_report(report, user, *, now=None):
    """`services.run_report`, served from the cache while nothing it counts has changed."""
    from rapport.reports import services

    access.require(user, Action.VIEW, report)
    key = result_key(report, user, now=now)
    kept = cache.get(key)
    if kept is not None:
        table, measure_label, currency, missing = kept
        return services.Result(report, table, measure_label, currency, missing)
    result = services.run_report(report, user, now=now)
    kept = (result.table, result.measure_label, result.currency, result.missing)
    cache.set(key, kept, timeout=TTL)
    return result
