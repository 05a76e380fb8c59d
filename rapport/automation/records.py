"""The records a workflow runs on, and the fields its conditions may name.

Contacts use the segments' own fields (`analytics.segments`: the contact's fields, custom
fields, tags, customer value, order and interaction facts), so a workflow's condition means
exactly what the same condition means in a segment. Deals and KPI objectives get field sets of
the same shape here (no other app has one yet). Conditions are always evaluated in the
database, on the one record (`matches`) or on all records (`matching`), never with `eval`.

Workflows run as the system: reads here are not scoped to a user.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from rapport.analytics import segments
from rapport.analytics.segments import SegmentField
from rapport.automation.models import RecordType
from rapport.contacts.choices import ContactSource, LifecycleStage
from rapport.core.condition_builder import OPERATOR_WORDS, builder_fields
from rapport.core.conditions import ConditionError, to_q, validate
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.models import CustomFieldDefinition


def _models():
    from rapport.contacts.models import Contact
    from rapport.frameworks.models import Objective
    from rapport.sales.models import Deal

    return {RecordType.CONTACT: Contact, RecordType.DEAL: Deal, RecordType.OBJECTIVE: Objective}


def model_for(record_type: str):
    return _models()[record_type]


def _with_related(record_type: str, queryset):
    if record_type == RecordType.DEAL:
        return queryset.select_related("stage", "pipeline", "contact", "owner")
    if record_type == RecordType.CONTACT:
        return queryset.select_related("owner")
    return queryset


def _is_live(record) -> bool:
    return not (getattr(record, "is_archived", False) or getattr(record, "archived_at", None))


def load(record_type: str, record_id: int | None):
    """The record (None when it is gone or archived): the system reads without a scope."""
    if record_id is None:
        return None
    model = model_for(record_type)
    record = _with_related(record_type, model.objects.filter(pk=record_id)).first()
    return record if record is not None and _is_live(record) else None


def load_many(record_type: str, record_ids) -> dict[int, object]:
    """`load` for many records in one query: id → record, leaving out the gone and archived."""
    wanted = [pk for pk in dict.fromkeys(record_ids) if pk is not None]
    if not wanted:
        return {}
    queryset = _with_related(record_type, model_for(record_type).objects.filter(pk__in=wanted))
    return {record.pk: record for record in queryset if _is_live(record)}


def label(record) -> str:
    if record is None:
        return ""
    return str(record)[:200]


def owner_of(record):
    """Whose the record is: the contact's or deal's owner, the objective's owner."""
    return getattr(record, "owner", None)


def contact_of(record):
    """The person a step that emails or lists someone acts on (a deal's contact)."""
    from rapport.contacts.models import Contact
    from rapport.sales.models import Deal

    if isinstance(record, Contact):
        return record
    if isinstance(record, Deal):
        return record.contact
    return None


def url_of(record) -> str:
    try:
        return record.get_absolute_url()
    except Exception:  # a record type without a page of its own
        return ""


# --- fields ----------------------------------------------------------------------------------


def _choices(enum):
    return lambda: list(enum.choices)


def _pipelines():
    from rapport.sales.models import Pipeline

    return [
        (name, name)
        for name in Pipeline.objects.order_by("position", "name").values_list("name", flat=True)
    ]


def _stage_names():
    from rapport.sales.models import Stage

    names = Stage.objects.order_by("name").values_list("name", flat=True).distinct()
    return [(name, name) for name in names[:500]]


def _deal_statuses():
    from rapport.sales.choices import DealStatus

    return list(DealStatus.choices)


DEAL_FIELDS = [
    SegmentField("name", "Deal name", "text", "Deal", lookup="name"),
    SegmentField("amount", "Amount", "number", "Deal", lookup="amount"),
    SegmentField("currency", "Currency", "text", "Deal", lookup="currency"),
    SegmentField("status", "Status", "choice", "Deal", lookup="status", choices=_deal_statuses),
    SegmentField(
        "pipeline", "Pipeline", "choice", "Deal", lookup="pipeline__name", choices=_pipelines
    ),
    SegmentField("stage", "Stage", "choice", "Deal", lookup="stage__name", choices=_stage_names),
    SegmentField(
        "owner",
        "Owner (username)",
        "choice",
        "Deal",
        lookup="owner__username",
        choices=segments.owner_choices,
    ),
    SegmentField(
        "expected_close_date", "Expected close date", "date", "Deal", lookup="expected_close_date"
    ),
    SegmentField("created", "Created on", "date", "Deal", lookup="created_at__date"),
    SegmentField(
        "source", "Source", "choice", "Deal", lookup="source", choices=_choices(ContactSource)
    ),
    SegmentField("tags", "Tags", "tags", "Deal", lookup="tags__name", many=True),
    SegmentField(
        "contact.lifecycle_stage",
        "Contact's lifecycle stage",
        "choice",
        "Contact",
        lookup="contact__lifecycle_stage",
        choices=_choices(LifecycleStage),
    ),
    SegmentField(
        "contact.country", "Contact's country", "text", "Contact", lookup="contact__country"
    ),
]

OBJECTIVE_FIELDS = [
    SegmentField("title", "Objective", "text", "Objective", lookup="title"),
    SegmentField("kpi", "KPI", "text", "Objective", lookup="kpi"),
    SegmentField("model_key", "CRM model", "text", "Objective", lookup="model_key"),
    SegmentField("deadline", "Deadline", "date", "Objective", lookup="deadline"),
    SegmentField(
        "owner",
        "Owner (username)",
        "choice",
        "Objective",
        lookup="owner__username",
        choices=segments.owner_choices,
    ),
]


def _deal_custom_fields() -> dict[str, SegmentField]:
    # Dates are offered to the date trigger, not to conditions.
    return segments.custom_fields_of(Entity.DEAL)


def fields_for(record_type: str) -> dict[str, SegmentField]:
    """Every field a condition on this record type may name (custom fields read fresh)."""
    if record_type == RecordType.CONTACT:
        return segments.available_fields()
    if record_type == RecordType.DEAL:
        return {**{f.name: f for f in DEAL_FIELDS}, **_deal_custom_fields()}
    return {f.name: f for f in OBJECTIVE_FIELDS}


def builder_entries(record_type: str) -> list[dict]:
    """What the visual condition builder offers for this record type."""
    if record_type == RecordType.CONTACT:
        from rapport.analytics.forms import segment_condition_fields

        return segment_condition_fields()
    fields = fields_for(record_type)
    return builder_fields(
        segments.field_set(fields),
        {name: f.choices() for name, f in fields.items() if f.choices is not None},
        groups={name: f.group for name, f in fields.items()},
        operators={name: f.operators for name, f in fields.items()},
    )


def check_conditions(record_type: str, conditions) -> None:
    """Raise ConditionError (with the JSON path) unless the condition fits the record type."""
    if record_type == RecordType.CONTACT:
        segments.check_conditions(conditions)
        return
    fields = fields_for(record_type)
    validate(conditions, segments.field_set(fields))
    for leaf, path in segments._walk_leaves(conditions):
        field = fields[leaf["field"]]
        if leaf["op"] not in field.operators:
            raise ConditionError(f"{path}.op", f"{leaf['op']!r} cannot be used with {field.label}")


def _compiled(record_type: str, conditions, now=None):
    model = model_for(record_type)
    if record_type == RecordType.CONTACT:
        q, aliases = segments.compile_conditions(conditions, now=now)
        return model.objects.alias(**aliases).filter(q)
    fields = fields_for(record_type)
    check_conditions(record_type, conditions)
    return model.objects.filter(to_q(conditions, segments.field_set(fields)))


def is_empty(conditions) -> bool:
    return not conditions or conditions == {"all": []}


def matches(record_type: str, conditions, record_id: int, *, now=None) -> bool:
    """Whether the record matches now (an empty condition matches every record)."""
    if is_empty(conditions):
        return True
    matched = _compiled(record_type, conditions, now).values("pk")
    return model_for(record_type).objects.filter(pk=record_id, pk__in=matched).exists()


def matching_ids(record_type: str, conditions, record_ids, *, now=None, also=None) -> set[int]:
    """Which of these records match now: one query for a whole batch of events. `also` is a
    further condition they must meet (a trigger's own), compiled on its own so it adds nothing
    to the nesting or size limits of the workflow's conditions."""
    live = _live(record_type).filter(pk__in=list(dict.fromkeys(record_ids)))
    for condition in (conditions, also):
        if not is_empty(condition):
            live = live.filter(pk__in=_compiled(record_type, condition, now).values("pk"))
    return set(live.values_list("pk", flat=True))


def _live(record_type: str):
    """Records a workflow may run on: not archived (the system's view: no user scope)."""
    queryset = model_for(record_type).objects.all()
    if record_type == RecordType.CONTACT:
        return queryset.active()
    if record_type == RecordType.DEAL:
        return queryset.filter(is_archived=False)
    return queryset


def matching(record_type: str, conditions, *, now=None):
    """Every live record matching the condition (the system's view: no user scope)."""
    queryset = _live(record_type)
    if is_empty(conditions):
        return queryset
    return queryset.filter(pk__in=_compiled(record_type, conditions, now).values("pk"))


def _leaves(conditions):
    if is_empty(conditions):
        return []
    return list(segments._walk_leaves(conditions))


def leaf_words(record_type: str, leaf: dict) -> str:
    """One condition as its builder shows it: "Country (ISO code) is DE"."""
    field = fields_for(record_type).get(leaf.get("field"))
    name = field.label if field else str(leaf.get("field"))
    value = leaf.get("value")
    if isinstance(value, list):
        value = (" and " if leaf.get("op") == "between" else ", ").join(map(str, value))
    words = f"{name} {OPERATOR_WORDS.get(leaf.get('op'), leaf.get('op'))}"
    return f"{words} {value}" if value is not None else words


def explain(record_type: str, conditions, record_id: int, *, now=None) -> list[str]:
    """Each condition that does not hold for the record, in words (for a run's step and the
    dry run): evaluated one by one, so "any" groups say which parts failed too."""
    misses = []
    for leaf, _path in _leaves(conditions):
        if not matches(record_type, {"all": [leaf]}, record_id, now=now):
            misses.append(leaf_words(record_type, leaf))
    return misses


def explain_many(record_type: str, conditions, record_ids, *, now=None) -> dict[int, list[str]]:
    """`explain` for many records: one query per condition, not per condition and record."""
    ids = list(dict.fromkeys(record_ids))
    misses: dict[int, list[str]] = {pk: [] for pk in ids}
    if not ids:
        return misses
    for leaf, _path in _leaves(conditions):
        holding = matching_ids(record_type, {"all": [leaf]}, ids, now=now)
        for pk in ids:
            if pk not in holding:
                misses[pk].append(leaf_words(record_type, leaf))
    return misses


def describe(record_type: str, conditions) -> str:
    """The whole condition in words for lists and run pages."""
    if is_empty(conditions):
        return "every record"
    joiner = " or " if "any" in conditions else " and "
    return joiner.join(leaf_words(record_type, leaf) for leaf, _ in _leaves(conditions))


# --- date fields (the date trigger and "wait until") ------------------------------------------

CONTACT_DATES = {"created": ("Created on", "created_at")}
DEAL_DATES = {
    "expected_close_date": ("Expected close date", "expected_close_date"),
    "created": ("Created on", "created_at"),
    "closed": ("Closed on", "closed_at"),
}
OBJECTIVE_DATES = {"deadline": ("Deadline", "deadline")}


def date_fields(record_type: str) -> dict[str, str]:
    """name → label of the dates a record type has, custom date fields included."""
    base = {
        RecordType.CONTACT: CONTACT_DATES,
        RecordType.DEAL: DEAL_DATES,
        RecordType.OBJECTIVE: OBJECTIVE_DATES,
    }[record_type]
    fields = {name: label for name, (label, _column) in base.items()}
    entity = {RecordType.CONTACT: Entity.CONTACT, RecordType.DEAL: Entity.DEAL}.get(record_type)
    if entity is not None:
        definitions = CustomFieldDefinition.objects.filter(
            entity=entity, is_active=True, field_type=FieldType.DATE
        )
        for definition in definitions:
            fields[f"custom.{definition.key}"] = definition.label
    return fields


def _base_dates(record_type):
    return {
        RecordType.CONTACT: CONTACT_DATES,
        RecordType.DEAL: DEAL_DATES,
        RecordType.OBJECTIVE: OBJECTIVE_DATES,
    }[record_type]


def date_value(record_type: str, record, name: str) -> dt.date | None:
    """The record's date in `name` (None when empty or unreadable)."""
    if name.startswith("custom."):
        raw = (record.custom_fields or {}).get(name.removeprefix("custom."))
        try:
            return dt.date.fromisoformat(str(raw)[:10]) if raw else None
        except ValueError:
            return None
    column = _base_dates(record_type).get(name, (None, None))[1]
    value = getattr(record, column, None) if column else None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date()
    return value


def with_date(record_type: str, queryset, name: str, day: dt.date):
    """`queryset` narrowed to records whose date `name` is `day`."""
    if name.startswith("custom."):
        key = name.removeprefix("custom.")
        return queryset.alias(
            workflow_date=Cast(KeyTextTransform(key, "custom_fields"), TextField())
        ).filter(workflow_date__startswith=day.isoformat())
    column = _base_dates(record_type)[name][1]
    model = model_for(record_type)
    if model._meta.get_field(column).get_internal_type() == "DateTimeField":
        start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        return queryset.filter(
            Q(**{f"{column}__gte": start, f"{column}__lt": start + dt.timedelta(days=1)})
        )
    return queryset.filter(**{column: day})
