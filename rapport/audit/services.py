"""How services write the audit trail. Called explicitly by every domain service (no signals)."""

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable

from django.db import models

from rapport.audit.models import ChangeAction, ChangeRecord
from rapport.core import context


def _plain(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model, fields: list[str] | None = None) -> dict:
    """The JSON-able state of `instance`'s concrete fields (foreign keys as ids)."""
    data = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in {"created_at", "updated_at", "search_text"}:
            continue
        data[field.attname if field.is_relation else field.name] = _plain(
            getattr(instance, field.attname)
        )
    return data


def stamp(actor) -> dict:
    """Who and through what, as every ChangeRecord carries it: the user (or "system") and the
    current request or task from `core.context`. Column names, so bulk writers can use it."""
    work = context.current()
    return {
        "actor_id": actor.pk if getattr(actor, "is_authenticated", False) else None,
        "actor_label": str(actor)[:200] if actor is not None else "system",
        "request_id": work.request_id,
        "task_id": work.task_id,
        "source": work.source,
    }


def change_record(
    *,
    actor,
    action: str,
    instance: models.Model | None = None,
    entity: str = "",
    object_id=None,
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    message: str = "",
) -> ChangeRecord | None:
    """The ChangeRecord `record_change` writes, not yet saved (None for a no-op update).

    A batch service builds one per member with this and writes them all with `record_changes`,
    so the rows are exactly those one call per member would have written."""
    before = _plain(before or {})
    after = _plain(after or {})
    if action == ChangeAction.UPDATE and before == after:
        return None
    if instance is not None:
        entity = entity or instance._meta.label_lower
        object_id = instance.pk if object_id is None else object_id
        object_repr = object_repr or str(instance)[:200]
    return ChangeRecord(
        **stamp(actor),
        action=action,
        entity=entity,
        object_id=str(object_id),
        object_repr=object_repr[:200],
        before=before,
        after=after,
        message=message[:300],
    )


def record_change(
    *,
    actor,
    action: str,
    instance: models.Model | None = None,
    entity: str = "",
    object_id=None,
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    message: str = "",
) -> ChangeRecord | None:
    """Write one ChangeRecord stamped with the current request or task. Skips no-op updates."""
    record = change_record(
        actor=actor,
        action=action,
        instance=instance,
        entity=entity,
        object_id=object_id,
        object_repr=object_repr,
        before=before,
        after=after,
        message=message,
    )
    if record is not None:
        record.save(force_insert=True)
    return record


def record_changes(records: Iterable[ChangeRecord | None]) -> list[ChangeRecord]:
    """Write the records `change_record` built, in one insert per thousand: a batch of a few
    thousand timeline entries is then a few statements, not one round trip per entry."""
    return ChangeRecord.objects.bulk_create(
        [record for record in records if record is not None], batch_size=1000
    )


def record_deletions(
    *, actor, instances=(), entity: str = "", object_ids=(), message: str = ""
) -> int:
    """One DELETE record per deleted record, written in one go (undoing an import deletes
    thousands): `instances` with their last state, or bare `object_ids` of `entity`."""
    shared = {**stamp(actor), "action": ChangeAction.DELETE, "message": message[:300]}
    records = [
        ChangeRecord(
            **shared,
            entity=instance._meta.label_lower,
            object_id=str(instance.pk),
            object_repr=str(instance)[:200],
            before=snapshot(instance),
        )
        for instance in instances
    ]
    records += [ChangeRecord(**shared, entity=entity, object_id=str(pk)) for pk in object_ids]
    ChangeRecord.objects.bulk_create(records, batch_size=1000)
    return len(records)


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys that changed, on both sides: what a history panel shows."""
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}
