"""What starts a workflow: the trigger types, their settings, and the event subscribers.

Each event-driven trigger names the event (`rapport/<app>/events.py`) it listens to and turns
one event into a `Fired` (which record, in words what happened, the facts its settings test).
`connect()` subscribes one batch handler per event type (from `AutomationConfig.ready`); the
handler finds the active workflows of that trigger type with one query per batch and enrols
each fired record in each workflow whose settings accept it (`runner.enrol`).

Date and schedule triggers have no event: the workflow clock (`tasks.workflow_clock`) fires
them when their `next_fire_at` is due. A segment entered or left is an event: static lists
emit it as they change, watched dynamic segments when the clock checks them
(`segment_watch`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from rapport.automation import listening, records, segment_watch
from rapport.automation.models import RecordType
from rapport.automation.params import Param, choice_label, clean_params
from rapport.contacts.choices import ContactSource, LifecycleStage
from rapport.core.conditions import ConditionError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    record_id: int
    summary: str
    facts: dict = field(default_factory=dict)


def _changed_words(model_label: str, keys) -> str:
    """The changed fields by their labels ("Owner, Job title"), as the History panel names
    them: a run's summary is read by people, not by the code."""
    from django.apps import apps

    from rapport.audit.wording import ChangeWords

    model = apps.get_model(model_label)
    words = ChangeWords([])
    return ", ".join(words.label(model, key) for key in keys)


def _facts_match(*keys: str):
    """`accepts` for a trigger whose settings each narrow one fact (empty: any value)."""
    return lambda settings, fired, _record_type: all(
        not settings.get(key) or settings[key] == fired.facts.get(key) for key in keys
    )


def _stage_words(key: str) -> str:
    return dict(LifecycleStage.choices).get(key, key) if key else "—"


@dataclass(frozen=True)
class TriggerType:
    key: str
    label: str
    record_type: str | None  # None: any record type (date, schedule)
    params: list[Param] = field(default_factory=list)
    event: type | None = None
    fire: Callable | None = None  # (events) -> list[Fired]
    accepts: Callable | None = None  # (settings, fired, record_type) -> bool, from the facts
    # (settings) -> a condition the record must meet now, or None: checked in the one query
    # that also tests the workflow's conditions for the whole batch.
    narrows: Callable | None = None
    words: Callable | None = None  # (settings) -> str


TRIGGERS: dict[str, TriggerType] = {}


def register_trigger(trigger: TriggerType) -> None:
    TRIGGERS[trigger.key] = trigger


def available(record_type: str) -> list[TriggerType]:
    """The triggers a workflow on `record_type` may use, the clock's last."""
    offered = [t for t in TRIGGERS.values() if t.record_type in (None, record_type)]
    return sorted(offered, key=lambda t: t.key in CLOCK_TRIGGERS)


# --- settings' choices --------------------------------------------------------------------


def _enum(enum):
    return lambda: list(enum.choices)


def _stages():
    from rapport.sales.models import Stage

    rows = Stage.objects.select_related("pipeline").order_by("pipeline__position", "position")
    return [(str(s.pk), f"{s.pipeline.name} · {s.name}") for s in rows]


def _pipelines():
    from rapport.sales.models import Pipeline

    return [(str(p.pk), p.name) for p in Pipeline.objects.filter(is_archived=False)]


def _kpis():
    from rapport.frameworks.kpis import KPIS

    return sorted(((key, kpi.name) for key, kpi in KPIS.items()), key=lambda pair: pair[1])


def _forms():
    from rapport.sales.models import WebForm

    return [(str(f.pk), f.name) for f in WebForm.objects.order_by("name")]


def _templates():
    from rapport.mail.models import EmailTemplate

    return [(str(t.pk), t.name) for t in EmailTemplate.objects.filter(is_archived=False)]


# Contact fields "updated, with this field changed" may watch: the field's name in the
# condition language (to test "changed to") and the keys ContactUpdated lists for it.
WATCHED_CONTACT_FIELDS = {
    "first_name": ("First name", {"first_name"}),
    "last_name": ("Last name", {"last_name"}),
    "job_title": ("Job title", {"job_title"}),
    "city": ("City", {"city"}),
    "region": ("Region", {"region"}),
    "country": ("Country (ISO code)", {"country"}),
    "source": ("Source", {"source"}),
    "owner": ("Owner", {"owner_id"}),
    "email": ("Email", {"emails", "primary_email"}),
    "phone": ("Phone", {"phones", "primary_phone"}),
    "tags": ("Tags", {"tags"}),
    "lifecycle_stage": ("Lifecycle stage", {"lifecycle_stage"}),
}


# Deal fields "a deal is updated" may watch: the condition field (for "changed to") and the
# keys DealUpdated lists for it.
WATCHED_DEAL_FIELDS = {
    "name": ("Deal name", {"name"}),
    "amount": ("Amount", {"amount"}),
    "currency": ("Currency", {"currency"}),
    "owner": ("Owner", {"owner_id"}),
    "expected_close_date": ("Expected close date", {"expected_close_date"}),
    "source": ("Source", {"source"}),
    "tags": ("Tags", {"tags"}),
}


def _watched_deal_fields():
    return [(name, label) for name, (label, _keys) in WATCHED_DEAL_FIELDS.items()]


def _watched_fields():
    from rapport.customfields.choices import Entity
    from rapport.customfields.models import CustomFieldDefinition

    pairs = [(name, label) for name, (label, _keys) in WATCHED_CONTACT_FIELDS.items()]
    for definition in CustomFieldDefinition.objects.filter(entity=Entity.CONTACT, is_active=True):
        pairs.append((f"custom.{definition.key}", definition.label))
    return pairs


def changed_keys(field_name: str) -> set[str]:
    if field_name.startswith("custom."):
        return {"custom_fields"}
    return WATCHED_CONTACT_FIELDS.get(field_name, ("", set()))[1]


def _label_of(params: list[Param], name: str, settings: dict) -> str:
    param = next(p for p in params if p.name == name)
    return choice_label(param, settings[name])


# --- event-driven triggers ----------------------------------------------------------------


def _register_event_triggers() -> None:
    from rapport.commerce.events import OrderPlaced
    from rapport.contacts.events import ContactCreated, ContactUpdated, LifecycleStageChanged
    from rapport.frameworks.events import ObjectiveOffTrack
    from rapport.mail.events import EmailLinkClicked, EmailOpened, EmailReplied
    from rapport.sales.events import (
        DealCreated,
        DealStageChanged,
        DealUpdated,
        WebFormSubmitted,
    )

    source = Param("source", "Only with source", "choice", choices=_enum(ContactSource))
    register_trigger(
        TriggerType(
            key="contact_created",
            label="A contact is created",
            record_type=RecordType.CONTACT,
            params=[source],
            event=ContactCreated,
            fire=lambda batch: [
                Fired(e.contact_id, "Contact created", {"source": e.source}) for e in batch
            ],
            accepts=_facts_match("source"),
            words=lambda s: (
                "A contact is created"
                + (f" with source {_label_of([source], 'source', s)}" if s.get("source") else "")
            ),
        )
    )
    watched = Param("field", "Only when this field changes", "choice", choices=_watched_fields)
    changed_to = Param(
        "to", "…and its new value is", "text", max_length=200, help="Leave empty for any value."
    )
    register_trigger(
        TriggerType(
            key="contact_updated",
            label="A contact is updated",
            record_type=RecordType.CONTACT,
            params=[watched, changed_to],
            event=ContactUpdated,
            fire=lambda batch: [
                Fired(
                    e.contact_id,
                    "Contact updated: " + _changed_words("contacts.Contact", e.changed_fields),
                    {"changed": set(e.changed_fields)},
                )
                for e in batch
            ],
            accepts=_accepts_contact_change,
            narrows=_changed_to,
            words=_contact_updated_words,
        )
    )
    watched_deal = Param(
        "field", "Only when this field changes", "choice", choices=_watched_deal_fields
    )
    register_trigger(
        TriggerType(
            key="deal_updated",
            label="A deal is updated",
            record_type=RecordType.DEAL,
            params=[watched_deal, changed_to],
            event=DealUpdated,
            fire=lambda batch: [
                Fired(
                    e.deal_id,
                    "Deal updated: " + _changed_words("sales.Deal", e.changed_fields),
                    {"changed": set(e.changed_fields)},
                )
                for e in batch
            ],
            accepts=_accepts_deal_change,
            narrows=_changed_to,
            words=_deal_updated_words,
        )
    )
    to_stage = Param("to_stage", "To stage", "choice", choices=_enum(LifecycleStage))
    from_stage = Param("from_stage", "From stage", "choice", choices=_enum(LifecycleStage))
    register_trigger(
        TriggerType(
            key="lifecycle_changed",
            label="A contact's lifecycle stage changes",
            record_type=RecordType.CONTACT,
            params=[to_stage, from_stage],
            event=LifecycleStageChanged,
            fire=lambda batch: [
                Fired(
                    e.contact_id,
                    f"Lifecycle stage {_stage_words(e.from_stage)} → {_stage_words(e.to_stage)}",
                    {"to_stage": e.to_stage, "from_stage": e.from_stage},
                )
                for e in batch
            ],
            accepts=_facts_match("to_stage", "from_stage"),
            words=lambda s: (
                "A contact's lifecycle stage changes"
                + (
                    f" from {_label_of([from_stage], 'from_stage', s)}"
                    if s.get("from_stage")
                    else ""
                )
                + (f" to {_label_of([to_stage], 'to_stage', s)}" if s.get("to_stage") else "")
            ),
        )
    )
    pipeline = Param("pipeline", "Only in pipeline", "choice", choices=_pipelines)
    register_trigger(
        TriggerType(
            key="deal_created",
            label="A deal is created",
            record_type=RecordType.DEAL,
            params=[pipeline],
            event=DealCreated,
            fire=lambda batch: [
                Fired(e.deal_id, "Deal created", {"pipeline": str(e.pipeline_id)}) for e in batch
            ],
            accepts=_facts_match("pipeline"),
            words=lambda s: (
                "A deal is created"
                + (f" in {_label_of([pipeline], 'pipeline', s)}" if s.get("pipeline") else "")
            ),
        )
    )
    stage = Param("stage", "Moved to stage", "choice", choices=_stages)
    register_trigger(
        TriggerType(
            key="deal_stage_changed",
            label="A deal moves to another stage",
            record_type=RecordType.DEAL,
            params=[stage],
            event=DealStageChanged,
            fire=lambda batch: [
                Fired(e.deal_id, "Deal moved to another stage", {"stage": str(e.to_stage_id)})
                for e in batch
                if not e.is_undo
            ],
            accepts=_facts_match("stage"),
            words=lambda s: (
                "A deal moves to "
                + (_label_of([stage], "stage", s) if s.get("stage") else "another stage")
            ),
        )
    )
    form = Param("form", "Only this form", "choice", choices=_forms)
    register_trigger(
        TriggerType(
            key="form_submitted",
            label="A web form is submitted",
            record_type=RecordType.CONTACT,
            params=[form],
            event=WebFormSubmitted,
            fire=lambda batch: [
                Fired(e.contact_id, "Web form submitted", {"form": str(e.form_id)}) for e in batch
            ],
            accepts=_facts_match("form"),
            words=lambda s: (
                "The web form "
                + (f"“{_label_of([form], 'form', s)}”" if s.get("form") else "(any)")
                + " is submitted"
            ),
        )
    )
    register_trigger(
        TriggerType(
            key="order_placed",
            label="An order is placed",
            record_type=RecordType.CONTACT,
            event=OrderPlaced,
            fire=lambda batch: [
                Fired(e.contact_id, f"Order placed ({e.total} {e.currency})", {})
                for e in batch
                if e.contact_id is not None
            ],
            words=lambda s: "The contact places an order",
        )
    )
    template = Param("template", "Only email from template", "choice", choices=_templates)
    for key, event, label, verb in (
        ("email_opened", EmailOpened, "An email is opened", "opens"),
        ("email_clicked", EmailLinkClicked, "A link in an email is clicked", "clicks a link in"),
        ("email_replied", EmailReplied, "An email is replied to", "replies to"),
    ):
        register_trigger(
            TriggerType(
                key=key,
                label=label,
                record_type=RecordType.CONTACT,
                params=[template],
                event=event,
                fire=_email_fired(label),
                accepts=_facts_match("template"),
                words=lambda s, verb=verb: (
                    f"The contact {verb} "
                    + (
                        f"an email from “{_label_of([template], 'template', s)}”"
                        if s.get("template")
                        else "an email"
                    )
                ),
            )
        )
    kpi = Param("kpi", "Only for KPI", "choice", choices=_kpis)
    register_trigger(
        TriggerType(
            key="objective_off_track",
            label="A KPI objective goes off track",
            record_type=RecordType.OBJECTIVE,
            params=[kpi],
            event=ObjectiveOffTrack,
            fire=lambda batch: [
                Fired(
                    e.objective_id,
                    f"Objective off track (projected {e.projected})",
                    {"kpi": e.kpi},
                )
                for e in batch
            ],
            accepts=_facts_match("kpi"),
            words=lambda s: (
                "A KPI objective"
                + (f" on {_label_of([kpi], 'kpi', s)}" if s.get("kpi") else "")
                + " goes off track"
            ),
        )
    )
    segment_watch.register(register_trigger, TriggerType, _facts_match)


def _accepts_contact_change(settings: dict, fired: Fired, _record_type) -> bool:
    name = settings.get("field")
    return not name or bool(changed_keys(name) & fired.facts["changed"])


def _accepts_deal_change(settings: dict, fired: Fired, _record_type) -> bool:
    name = settings.get("field")
    return not name or bool(WATCHED_DEAL_FIELDS.get(name, ("", set()))[1] & fired.facts["changed"])


def _changed_to(settings: dict) -> dict | None:
    """The "…and its new value is" setting: the watched field must now hold that value."""
    name, value = settings.get("field"), settings.get("to")
    if not name or not value:
        return None
    return {"all": [{"field": name, "op": "eq", "value": _typed(name, value)}]}


def _typed(name: str, value: str):
    """The "new value" as the deal field's condition wants it (amounts are numbers)."""
    if name == "amount":
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _deal_updated_words(settings: dict) -> str:
    if not settings.get("field"):
        return "A deal is updated"
    name = WATCHED_DEAL_FIELDS.get(settings["field"], (settings["field"],))[0]
    words = f"A deal's {name} changes"
    return words + (f" to “{settings['to']}”" if settings.get("to") else "")


def _contact_updated_words(settings: dict) -> str:
    if not settings.get("field"):
        return "A contact is updated"
    name = dict(_watched_fields()).get(settings["field"], settings["field"])
    words = f"A contact's {name} changes"
    return words + (f" to “{settings['to']}”" if settings.get("to") else "")


def _email_fired(label: str):
    def fire(batch):
        from rapport.mail.models import EmailMessage

        ids = [e.replied_to_id if hasattr(e, "replied_to_id") else e.message_id for e in batch]
        messages = {
            m.pk: m
            for m in EmailMessage.objects.filter(pk__in=ids).only("pk", "contact_id", "template_id")
        }
        fired = []
        for event, message_id in zip(batch, ids, strict=True):
            if getattr(event, "first_open", True) is False:
                continue  # an email opened again is not news
            message = messages.get(message_id)
            contact_id = getattr(event, "contact_id", None) or (message and message.contact_id)
            if contact_id is None:
                continue
            template_id = message.template_id if message else None
            fired.append(
                Fired(contact_id, label, {"template": str(template_id) if template_id else ""})
            )
        return fired

    return fire


# --- clock triggers -----------------------------------------------------------------------

WEEKDAYS = [
    ("0", "Monday"),
    ("1", "Tuesday"),
    ("2", "Wednesday"),
    ("3", "Thursday"),
    ("4", "Friday"),
    ("5", "Saturday"),
    ("6", "Sunday"),
]
DATE_FIELD = Param("date_field", "Date field", "choice", required=True, choices=lambda: [])
DAYS = Param("days", "Days", "number", required=True, minimum=0, maximum=3650, default=0)
WHEN = Param(
    "when",
    "Before or after",
    "choice",
    required=True,
    choices=lambda: [("before", "before"), ("after", "after")],
    default="before",
)
AT = Param("time", "At (local time)", "time", required=True, default="08:00")
EVERY = Param(
    "every",
    "Every",
    "choice",
    required=True,
    choices=lambda: [("day", "day"), ("week", "week")],
    default="day",
)
WEEKDAY = Param("weekday", "On (weekly)", "choice", choices=lambda: WEEKDAYS)


def _date_words(settings: dict) -> str:
    days = settings.get("days", 0)
    field_name = settings.get("date_field", "")
    if days == 0:
        return f"On the day of {field_name}, at {settings.get('time', '08:00')}"
    return f"{days} days {settings.get('when', 'before')} {field_name}, at {settings.get('time')}"


def _schedule_words(settings: dict) -> str:
    if settings.get("every") == "week":
        day = dict(WEEKDAYS).get(settings.get("weekday", "0"), "Monday")
        return f"Every {day} at {settings.get('time')}, for every record matching the conditions"
    return f"Every day at {settings.get('time')}, for every record matching the conditions"


register_trigger(
    TriggerType(
        key="date",
        label="A date field comes round",
        record_type=None,
        params=[DATE_FIELD, DAYS, WHEN, AT],
        words=_date_words,
    )
)
register_trigger(
    TriggerType(
        key="schedule",
        label="On a schedule",
        record_type=None,
        params=[EVERY, WEEKDAY, AT],
        words=_schedule_words,
    )
)

CLOCK_TRIGGERS = ("date", "schedule")


def params_for(trigger_type: str, record_type: str) -> list[Param]:
    """The trigger's settings; the date field's choices depend on the record type."""
    trigger = TRIGGERS[trigger_type]
    if trigger_type != "date":
        return trigger.params
    date_field = Param(
        "date_field",
        "Date field",
        "choice",
        required=True,
        choices=lambda: list(records.date_fields(record_type).items()),
    )
    return [date_field, DAYS, WHEN, AT]


def clean_trigger(raw, record_type: str, errors: dict) -> dict:
    """A trigger's JSON ({"type": …, settings}) checked for the record type."""
    raw = raw if isinstance(raw, dict) else {}
    kind = raw.get("type")
    trigger = TRIGGERS.get(kind)
    if trigger is None or trigger.record_type not in (None, record_type):
        offered = ", ".join(t.key for t in available(record_type))
        errors["trigger.type"] = [f"Choose a trigger for this record type: {offered}."]
        return {}
    settings = clean_params(params_for(kind, record_type), raw, errors, "trigger")
    return {"type": kind, **settings}


def describe(trigger: dict, record_type: str) -> str:
    """The trigger in words ("A deal moves to Sales · Won")."""
    kind = (trigger or {}).get("type")
    if kind not in TRIGGERS:
        return "No trigger"
    settings = {k: v for k, v in trigger.items() if k != "type"}
    if kind == "date" and settings.get("date_field"):
        labels = records.date_fields(record_type)
        settings["date_field"] = labels.get(settings["date_field"], settings["date_field"])
    try:
        return TRIGGERS[kind].words(settings)
    except Exception:  # a setting naming something since deleted
        return TRIGGERS[kind].label


def next_fire(trigger: dict, now: dt.datetime) -> dt.datetime | None:
    """When a date or schedule trigger is next due after `now` (None for event triggers)."""
    kind = (trigger or {}).get("type")
    if kind not in CLOCK_TRIGGERS:
        return None
    hour, minute = (int(part) for part in trigger.get("time", "08:00").split(":"))
    local = timezone.localtime(now)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += dt.timedelta(days=1)
    if kind == "schedule" and trigger.get("every") == "week":
        weekday = int(trigger.get("weekday") or 0)
        candidate += dt.timedelta(days=(weekday - candidate.weekday()) % 7)
    return candidate


# --- the event handlers -------------------------------------------------------------------


def _handler(trigger_key: str):
    def handle(batch: list) -> None:
        from rapport.automation import runner
        from rapport.automation.models import Workflow

        if trigger_key not in listening.workflow_triggers.current():
            return
        trigger = TRIGGERS[trigger_key]
        workflows = list(
            Workflow.objects.active()
            .filter(trigger_type=trigger_key)
            .select_related("current_version")
        )
        if not workflows:
            return
        fired_all = trigger.fire(batch)
        for workflow in workflows:
            settings = workflow.current_version.trigger
            accepted = [
                fired
                for fired in fired_all
                if trigger.accepts is None or trigger.accepts(settings, fired, workflow.record_type)
            ]
            if not accepted:
                continue
            # One query decides who of the whole batch meets the conditions (and the value a
            # watched field was changed to).
            try:
                entering = records.matching_ids(
                    workflow.record_type,
                    workflow.current_version.conditions,
                    [fired.record_id for fired in accepted],
                    also=trigger.narrows(settings) if trigger.narrows else None,
                )
            except ConditionError:
                # A condition naming a field since deleted: the other workflows still run.
                logger.exception("workflow %s could not test its conditions", workflow.pk)
                continue
            try:
                runner.enrol_many(
                    workflow=workflow,
                    fired=[(f.record_id, f.summary) for f in accepted if f.record_id in entering],
                    now=timezone.now(),
                )
            except Exception:
                # One workflow's problem must not keep the event from the others.
                logger.exception("workflow %s could not enrol its batch", workflow.pk)

    handle.__name__ = f"workflow_trigger_{trigger_key}"
    return handle


_HANDLERS: dict[str, Callable] = {}


def connect() -> None:
    """Subscribe every event-driven trigger (called from `AutomationConfig.ready`)."""
    from rapport.core import events

    if not any(t.event for t in TRIGGERS.values()):
        _register_event_triggers()
    for trigger in TRIGGERS.values():
        if trigger.event is None:
            continue
        handler = _HANDLERS.setdefault(trigger.key, _handler(trigger.key))
        events.subscribe(trigger.event, handler, many=True)
