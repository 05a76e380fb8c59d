"""Acting on many records: the registry of bulk actions and the one way they run.

A bulk action is a small class registered for one kind of record (an *entity*: contacts,
organizations, leads, deals). It says in words what it does (`label`), which form fields it
needs (`fields`), and how it changes one record through the owning app's services (`apply`),
and — where the action allows — how to take that back (`revert`). The apps register their
entities, their lists and their actions from `AppConfig.ready()`; `core` knows no CRM noun.

The same `start()` serves a list's "select all N that match", the API and automation:

- the members are fixed when the operation starts: the ids sent, or the ids a registered list
  (`ListSource`) gives for the filter sent — read through the actor's own scope;
- every record is judged by the entity's `may_change(actor, record)` (the one access decision)
  before its action runs: a record outside the actor's writable scope — even one whose id was
  sent explicitly — is counted "skipped: not yours" and never touched;
- the work goes in chunks of `CHUNK_SIZE`, each chunk one transaction holding both the changes
  and their `BulkOperationItem`s, so an interrupted run picks up at the first unfinished chunk
  and never applies a change twice;
- each service writes its own ChangeRecord, stamped with the operation's `request_id`; when the
  operation ends the entity's `summarise` writes one ChangeRecord for the whole operation.

Small selections (`INLINE_LIMIT`) run in the request; larger ones in the worker
(`core.tasks_bulk.run_bulk_operation`), whose progress page polls the operation.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from rapport.core import display
from rapport.core.context import current, new_request_id, work_context
from rapport.core.models import BulkOperation, BulkOperationItem

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
# A list's query-string parameters that page, sort or lay it out rather than choose records:
# the selection bar leaves them out of "all that match", and the list sources ignore them.
LIST_STATE = frozenset({"after", "before", "cursor", "sort", "view", "columns", "page"})
# Up to this many records the operation runs in the request that asked for it.
INLINE_LIMIT = 200
# One operation holds at most this many members (the ids are stored with it).
MAX_MEMBERS = 500_000
NOT_YOURS = "not yours"


class Unchanged(Exception):
    """Raised by `apply` when the record is already as asked (counted skipped, with the reason)."""


# --- what the apps register ----------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    """A kind of record bulk actions work on.

    - `visible(actor)`: the records the actor may see (a scoped queryset);
    - `may_act(actor)`: whether the actor may change records of this kind at all (a read-only
      seat may not: no selection bar, 403 from the API);
    - `may_change(actor, record)`: the one access decision for one record;
    - `summarise(operation, verb)`: writes the one audit record of a finished operation;
    - `detail_url(pk)`: where one record is shown (for the result page), or "".
    """

    key: str
    noun: str
    noun_plural: str
    model: type[models.Model]
    visible: Callable[[Any], models.QuerySet]
    may_act: Callable[[Any], bool]
    may_change: Callable[[Any, Any], bool]
    summarise: Callable[[BulkOperation, str], None] | None = None
    detail_url: Callable[[int], str] | None = None


@dataclass(frozen=True)
class ListSource:
    """A list the selection bar can stand on: `members(actor, params)` gives the records the
    list shows for its filter `params` (a mapping of name → list of values, as a query string
    parses), within the actor's scope; a bad filter raises ValidationError naming the field."""

    key: str
    entity: str
    label: str
    members: Callable[[Any, Mapping[str, list[str]]], models.QuerySet]


@dataclass
class Progress:
    """What one chunk did, record by record; `run` reports every record it was given."""

    outcomes: dict[int, tuple[str, str, Any]] = field(default_factory=dict)

    def changed(self, pk: int, undo: Any = None) -> None:
        self.outcomes[pk] = (BulkOperationItem.Outcome.CHANGED, "", undo)

    def skipped(self, pk: int, reason: str) -> None:
        self.outcomes[pk] = (BulkOperationItem.Outcome.SKIPPED, reason[:300], None)

    def failed(self, pk: int, reason: str) -> None:
        self.outcomes[pk] = (BulkOperationItem.Outcome.FAILED, reason[:300], None)


def error_text(exc: Exception) -> str:
    """A ValidationError or PermissionDenied as one line in the user's words."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(
                f"{name}: {' '.join(str(m) for m in messages)}"
                if name != "__all__"
                else " ".join(str(m) for m in messages)
                for name, messages in exc.message_dict.items()
            )
        return " ".join(str(m) for m in exc.messages)
    return str(exc) or exc.__class__.__name__


class BulkAction:
    """One action over many records of one entity. Subclasses set `key`, `entity`, `label` and
    implement `apply` (and `revert` when `undoable`); `fields` and `prepare` when they take
    parameters. `run` and `undo` may be overridden to work a whole chunk at once."""

    key: ClassVar[str]
    entity: ClassVar[str]
    label: ClassVar[str]
    help_text: ClassVar[str] = ""
    undoable: ClassVar[bool] = False
    # An export reads instead of writing: a read-only seat may still not use it (the bar is
    # for writers), but its members are judged by what the actor may see.
    is_export: ClassVar[bool] = False

    # -- parameters
    def fields(self, actor) -> dict[str, forms.Field]:
        """The form fields the action needs, by parameter name."""
        return {}

    def form(self, actor, data=None) -> forms.Form:
        form_class = type("BulkActionForm", (forms.Form,), dict(self.fields(actor)))
        return form_class(data=data, prefix="params")

    def clean(self, actor, data: Mapping) -> dict:
        """The parameters as JSON-able values, validated by the action's form; ValidationError
        keyed by the parameter's name otherwise."""
        form_class = type("BulkActionForm", (forms.Form,), dict(self.fields(actor)))
        form = form_class(data={name: value for name, value in data.items()})
        if not form.is_valid():
            raise ValidationError(
                {name: [str(m) for m in messages] for name, messages in form.errors.items()}
            )
        return {name: _plain(value) for name, value in form.cleaned_data.items()}

    def prepare(self, actor, params: dict) -> dict:
        """What `apply` needs, loaded once per chunk (a user or a stage from its id)."""
        return params

    def describe(self, params: dict) -> str:
        """The action with its parameters, in words, for the operation's title."""
        return self.label

    # -- the work
    def apply(self, actor, record, params: dict):
        """Change one record through its service; return what undoing needs (JSON-able), raise
        `Unchanged` when there is nothing to do, ValidationError/PermissionDenied to fail."""
        raise NotImplementedError

    def revert(self, actor, record, undo, params: dict) -> None:
        raise NotImplementedError

    def run(self, actor, queryset: models.QuerySet, params: dict, progress: Progress) -> None:
        """Apply the action to every record of `queryset` (records the actor may change), each
        in its own savepoint, so one refused record leaves the others done."""
        prepared = self.prepare(actor, params)
        for record in queryset:
            try:
                with transaction.atomic():
                    undo = self.apply(actor, record, prepared)
            except Unchanged as exc:
                progress.skipped(record.pk, str(exc) or "already so")
            except PermissionDenied:
                progress.skipped(record.pk, NOT_YOURS)
            except ValidationError as exc:
                progress.failed(record.pk, error_text(exc))
            except Exception as exc:
                # One broken record (its savepoint rolled back) must not stop the others.
                logger.exception("bulk %s failed on %s #%s", self.key, self.entity, record.pk)
                progress.failed(record.pk, f"unexpected error ({exc.__class__.__name__})")
            else:
                progress.changed(record.pk, undo)

    def undo(self, actor, records: Iterable[tuple[Any, Any]], params: dict, progress: Progress):
        """Take back the changes of (record, undo) pairs."""
        prepared = self.prepare(actor, params)
        for record, undo in records:
            try:
                with transaction.atomic():
                    self.revert(actor, record, undo, prepared)
            except PermissionDenied:
                progress.skipped(record.pk, NOT_YOURS)
            except (ValidationError, Unchanged) as exc:
                progress.failed(record.pk, error_text(exc))
            except Exception as exc:
                logger.exception("undo %s failed on %s #%s", self.key, self.entity, record.pk)
                progress.failed(record.pk, f"unexpected error ({exc.__class__.__name__})")
            else:
                progress.changed(record.pk)

    # -- export only
    def stream(self, actor, queryset: models.QuerySet, params: dict) -> Iterator[bytes]:
        raise NotImplementedError

    filename: ClassVar[str] = "export.csv"


def _plain(value):
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value.__class__.__name__ == "Decimal":
        return str(value)
    return value


_entities: dict[str, Entity] = {}
_lists: dict[str, ListSource] = {}
_actions: dict[str, dict[str, BulkAction]] = {}


def register_entity(entity: Entity) -> None:
    _entities[entity.key] = entity
    _actions.setdefault(entity.key, {})


def register_list(source: ListSource) -> None:
    _lists[source.key] = source


def register_action(action: type[BulkAction] | BulkAction) -> None:
    instance = action() if isinstance(action, type) else action
    _actions.setdefault(instance.entity, {})[instance.key] = instance


def entity(key: str) -> Entity:
    """The entity named by its key ("contacts") or its noun ("contact")."""
    found = _entities.get(key) or next((e for e in _entities.values() if e.noun == key), None)
    if found is None:
        raise ValidationError(
            {"entity": [f"Unknown kind of record {key!r}. Choose from: {', '.join(_entities)}."]}
        )
    return found


def entities() -> dict[str, Entity]:
    return dict(_entities)


def actions_for(entity_key: str) -> list[BulkAction]:
    return list(_actions.get(entity_key, {}).values())


def action(entity_key: str, action_key: str) -> BulkAction:
    found = _actions.get(entity_key, {}).get(action_key)
    if found is None:
        choices = ", ".join(_actions.get(entity_key, {})) or "none"
        raise ValidationError(
            {"action": [f"No action {action_key!r} for {entity_key}. Choose from: {choices}."]}
        )
    return found


def list_source(key: str) -> ListSource:
    if key not in _lists:
        raise ValidationError({"filter.list": [f"Unknown list {key!r}."]})
    return _lists[key]


def lists_for(entity_key: str) -> list[ListSource]:
    return [source for source in _lists.values() if source.entity == entity_key]


# --- starting an operation -----------------------------------------------------------------


def _member_ids_from(raw_ids) -> list[int]:
    if not isinstance(raw_ids, list | tuple):
        raise ValidationError({"ids": ["Give a list of record ids."]})
    ids, seen = [], set()
    for value in raw_ids:
        text = str(value).strip()
        if not text.isdigit() or len(text) > 18 or int(text) < 1:
            raise ValidationError({"ids": [f"{str(value)[:30]!r} is not a record id."]})
        pk = int(text)
        if pk not in seen:
            seen.add(pk)
            ids.append(pk)
    return ids


def members_of_list(actor, list_key: str, params: Mapping, entity_key: str) -> models.QuerySet:
    """The records of a registered list for a filter, within the actor's scope."""
    source = list_source(list_key)
    if source.entity != entity_key:
        raise ValidationError(
            {"filter.list": [f"The list {list_key!r} shows {source.entity}, not {entity_key}."]}
        )
    plain = {
        str(name): [str(v) for v in (value if isinstance(value, list | tuple) else [value])]
        for name, value in (params or {}).items()
    }
    return source.members(actor, plain)


def start(
    *,
    actor,
    entity_key: str,
    action_key: str,
    params: Mapping | None = None,
    ids=None,
    list_key: str | None = None,
    list_params: Mapping | None = None,
    inline: bool | None = None,
) -> BulkOperation:
    """Start `action_key` on records of `entity_key`: the `ids` given, or every record the list
    `list_key` shows for `list_params` (exactly one of the two).

    Refuses (PermissionDenied) an actor who may not change this kind of record; a bad action,
    parameter or selection is a ValidationError naming the field. Runs at once when the
    selection is small (or `inline`), otherwise queues the worker after commit. Returns the
    operation (finished when it ran inline).
    """
    kind = entity(entity_key)
    if not kind.may_act(actor):
        raise PermissionDenied("Your role may not change these records.")
    entity_key = kind.key
    chosen = action(entity_key, action_key)
    cleaned = chosen.clean(actor, params or {})
    if (ids is None) == (list_key is None):
        raise ValidationError({"ids": ["Send either the ids or the list's filter, not both."]})
    if ids is not None:
        member_ids = _member_ids_from(ids)
        selection = {"ids": len(member_ids)}
    else:
        queryset = members_of_list(actor, list_key, list_params or {}, entity_key)
        member_ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_MEMBERS + 1])
        selection = {"list": list_key, "params": dict(list_params or {})}
    if not member_ids:
        raise ValidationError({"ids": ["Select at least one record."]})
    if len(member_ids) > MAX_MEMBERS:
        raise ValidationError(
            {"ids": [f"At most {display.number_text(MAX_MEMBERS)} records in one operation."]}
        )
    operation = BulkOperation.objects.create(
        actor=actor,
        actor_label=str(actor)[:200],
        entity=entity_key,
        action=action_key,
        action_label=chosen.describe(cleaned)[:200],
        params=cleaned,
        selection=selection,
        member_ids=member_ids,
        total=len(member_ids),
        request_id=current().request_id or new_request_id(),
    )
    if inline if inline is not None else len(member_ids) <= INLINE_LIMIT:
        execute(operation.pk)
        operation.refresh_from_db()
    else:
        from rapport.core.tasks_bulk import run_bulk_operation

        transaction.on_commit(lambda: run_bulk_operation.enqueue(operation.pk))
    return operation


# --- running it ----------------------------------------------------------------------------


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start_at in range(0, len(ids), size):
        yield ids[start_at : start_at + size]


def _count(operation: BulkOperation, progress: Progress) -> None:
    reasons = Counter(operation.reasons)
    for outcome, reason, _undo in progress.outcomes.values():
        if outcome == BulkOperationItem.Outcome.CHANGED:
            operation.changed += 1
        elif outcome == BulkOperationItem.Outcome.SKIPPED:
            operation.skipped += 1
            reasons[f"skipped: {reason}"] += 1
        else:
            operation.failed += 1
            reasons[f"failed: {reason}"] += 1
    operation.reasons = dict(reasons.most_common(50))


def _run_chunk(operation, kind: Entity, chosen: BulkAction, actor, todo: list[int]) -> None:
    progress = Progress()
    if chosen.is_export:
        allowed = set(kind.visible(actor).filter(pk__in=todo).values_list("pk", flat=True))
        writable = [pk for pk in todo if pk in allowed]
    else:
        records = kind.model._base_manager.filter(pk__in=todo)
        writable = [record.pk for record in records if kind.may_change(actor, record)]
    writable_set = set(writable)
    for pk in todo:
        if pk not in writable_set:
            # Out of scope, or gone: the same answer, so an id reveals nothing of a record.
            progress.skipped(pk, NOT_YOURS)
    if writable:
        queryset = kind.model._base_manager.filter(pk__in=writable).order_by("pk")
        chosen.run(actor, queryset, operation.params, progress)
    for pk in writable:
        if pk not in progress.outcomes:
            progress.failed(pk, "not processed")
    wanted = set(todo)
    BulkOperationItem.objects.bulk_create(
        [
            BulkOperationItem(
                operation=operation, object_id=pk, outcome=outcome, reason=reason, undo=undo
            )
            for pk, (outcome, reason, undo) in progress.outcomes.items()
            if pk in wanted
        ]
    )
    operation.done += len(todo)
    _count(operation, progress)
    operation.save(update_fields=["done", "changed", "skipped", "failed", "reasons"])


def execute(operation_id: int, *, task_id: str = "") -> BulkOperation | None:
    """Run (or resume) an operation: safe to call twice, and after a crash.

    Members that already have an item are not touched again; each chunk commits its changes
    and their items together, so a chunk is either wholly done or wholly to do.
    """
    operation = BulkOperation.objects.filter(pk=operation_id).first()
    # A run that stopped on an error resumes when its task is delivered again.
    resumable = {BulkOperation.Status.QUEUED, BulkOperation.Status.RUNNING}
    failed = BulkOperation.Status.FAILED
    if operation is not None and operation.status == failed and operation.done < operation.total:
        resumable.add(failed)
    if operation is None or operation.status not in resumable:
        return operation
    actor = operation.actor
    try:
        kind = entity(operation.entity)
        chosen = action(operation.entity, operation.action)
    except ValidationError as exc:
        return _fail(operation, error_text(exc))
    if actor is None or not kind.may_act(actor):
        return _fail(operation, "The person who started this may no longer change these records.")
    operation.status = BulkOperation.Status.RUNNING
    operation.error = ""
    operation.started_at = operation.started_at or timezone.now()
    operation.task_id = task_id[:64] or operation.task_id
    operation.save(update_fields=["status", "error", "started_at", "task_id"])
    try:
        return _execute(operation, kind, chosen, actor, task_id)
    except Exception as exc:
        # Chunks done stay done; the page stops waiting and says why. A new delivery resumes.
        done = display.number_text(operation.done)
        _fail(operation, f"Stopped after {done} records: {exc.__class__.__name__}.")
        raise


def _execute(operation, kind: Entity, chosen: BulkAction, actor, task_id: str) -> BulkOperation:
    source = "task" if task_id else current().source or "web"
    with work_context(request_id=operation.request_id, task_id=task_id[:64], source=source):
        finished = set(operation.items.values_list("object_id", flat=True))
        for chunk in _chunks(operation.member_ids, CHUNK_SIZE):
            todo = [pk for pk in chunk if pk not in finished]
            if not todo:
                continue
            with transaction.atomic():
                # A second delivery of the task running beside this one waits here, then
                # finds the chunk done: the lock and the items make each change happen once.
                BulkOperation.objects.select_for_update().filter(pk=operation.pk).first()
                taken = set(
                    operation.items.filter(object_id__in=todo).values_list("object_id", flat=True)
                )
                todo = [pk for pk in todo if pk not in taken]
                if todo:
                    _run_chunk(operation, kind, chosen, actor, todo)
        _recount(operation)
        operation.status = BulkOperation.Status.DONE
        operation.finished_at = timezone.now()
        operation.save()
        if kind.summarise is not None and not chosen.is_export:
            kind.summarise(operation, "ran")
    return operation


def _recount(operation: BulkOperation) -> None:
    """The counts from the items themselves: right even after a resumed run."""
    rows = operation.items.values_list("outcome", "reason")
    counts, reasons = Counter(), Counter()
    for outcome, reason in rows:
        counts[outcome] += 1
        if outcome != BulkOperationItem.Outcome.CHANGED:
            reasons[f"{outcome}: {reason}"] += 1
    operation.done = sum(counts.values())
    operation.changed = counts[BulkOperationItem.Outcome.CHANGED]
    operation.skipped = counts[BulkOperationItem.Outcome.SKIPPED]
    operation.failed = counts[BulkOperationItem.Outcome.FAILED]
    operation.reasons = dict(reasons.most_common(50))


def _fail(operation: BulkOperation, message: str) -> BulkOperation:
    operation.status = BulkOperation.Status.FAILED
    operation.error = message
    operation.finished_at = timezone.now()
    operation.save(update_fields=["status", "error", "finished_at"])
    return operation


# --- undo ----------------------------------------------------------------------------------


def may_see_operation(user, operation: BulkOperation) -> bool:
    """An operation is its actor's; an administrator sees every one."""
    if user is None or not user.is_authenticated:
        return False
    return operation.actor_id == user.pk or bool(getattr(user, "is_administrator", False))


def can_undo(user, operation: BulkOperation) -> bool:
    try:
        chosen = action(operation.entity, operation.action)
    except ValidationError:
        return False
    return (
        chosen.undoable
        and operation.status == BulkOperation.Status.DONE
        and operation.changed > 0
        and operation.actor_id == getattr(user, "pk", None)
        and entity(operation.entity).may_act(user)
    )


def start_undo(*, actor, operation: BulkOperation, inline: bool | None = None) -> BulkOperation:
    """Take back what the operation changed (only its actor, only for undoable actions).

    Each record is reverted through the same services, judged again by the access decision;
    a record changed since by someone else is reverted to what it was before the operation
    only as far as the service allows, and a refusal is counted, not forced."""
    if not can_undo(actor, operation):
        raise PermissionDenied("This operation cannot be undone by you.")
    BulkOperation.objects.filter(pk=operation.pk).update(status=BulkOperation.Status.UNDOING)
    operation.status = BulkOperation.Status.UNDOING
    if inline if inline is not None else operation.changed <= INLINE_LIMIT:
        execute_undo(operation.pk)
        operation.refresh_from_db()
    else:
        from rapport.core.tasks_bulk import undo_bulk_operation

        transaction.on_commit(lambda: undo_bulk_operation.enqueue(operation.pk))
    return operation


def execute_undo(operation_id: int, *, task_id: str = "") -> BulkOperation | None:
    """Revert the changed records not yet reverted; safe to call twice."""
    operation = BulkOperation.objects.filter(pk=operation_id).first()
    if operation is None or operation.status != BulkOperation.Status.UNDOING:
        return operation
    kind = entity(operation.entity)
    chosen = action(operation.entity, operation.action)
    actor = operation.actor
    source = "task" if task_id else current().source or "web"
    # The undo's ChangeRecords carry the operation's request id too: one query finds both.
    with work_context(request_id=operation.request_id, task_id=task_id[:64], source=source):
        pending = operation.items.filter(
            outcome=BulkOperationItem.Outcome.CHANGED, is_undone=False
        ).order_by("object_id")
        ids = list(pending.values_list("object_id", flat=True))
        for chunk in _chunks(ids, CHUNK_SIZE):
            with transaction.atomic():
                items = {
                    item.object_id: item
                    for item in operation.items.filter(object_id__in=chunk, is_undone=False)
                }
                records = kind.model._base_manager.filter(pk__in=chunk).order_by("pk")
                pairs = [
                    (record, items[record.pk].undo)
                    for record in records
                    if record.pk in items and kind.may_change(actor, record)
                ]
                progress = Progress()
                chosen.undo(actor, pairs, operation.params, progress)
                reverted = [
                    pk
                    for pk, (outcome, _r, _u) in progress.outcomes.items()
                    if outcome == BulkOperationItem.Outcome.CHANGED
                ]
                BulkOperationItem.objects.filter(
                    operation=operation, object_id__in=reverted
                ).update(is_undone=True)
                operation.undone += len(reverted)
                operation.undo_failed += len(chunk) - len(reverted)
                operation.save(update_fields=["undone", "undo_failed"])
        operation.status = BulkOperation.Status.UNDONE
        operation.undone_at = timezone.now()
        operation.save(update_fields=["status", "undone_at"])
        if kind.summarise is not None:
            kind.summarise(operation, "undid")
    return operation


def export_records(actor, operation: BulkOperation) -> models.QuerySet:
    """The members of an export operation the actor may still see, for its download."""
    kind = entity(operation.entity)
    return kind.visible(actor).filter(pk__in=operation.member_ids).order_by("pk")
