"""The records a report can count, and the fields it may filter, group and measure by.

Conditions speak the segments' field sets, so a report's "which records" means what the same
condition means in a segment or a workflow: contacts use `analytics.segments`, deals
`automation.records`, organizations a set of the same shape kept here. Grouping and measuring
reuse those fields: a field with a plain column (or a custom field) can be grouped by, a numeric
one measured. Every read starts from the model's `visible_to(user)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import DecimalField, F, Q, TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from rapport.analytics import segments
from rapport.analytics.choices import SEGMENT_ORDER, ValueTier
from rapport.analytics.forms import segment_condition_fields
from rapport.analytics.segments import SegmentField
from rapport.automation import records
from rapport.automation.models import RecordType
from rapport.commerce.choices import OrderKind, OrderSource, OrderStatus
from rapport.commerce.models import Order, OrderLine
from rapport.contacts.choices import LifecycleStage, OrganizationSize
from rapport.contacts.models import Contact, Organization
from rapport.core.condition_builder import builder_fields
from rapport.core.conditions import ConditionError, to_q, validate
from rapport.customfields.choices import Entity
from rapport.interactions.choices import Channel, Direction, InteractionKind
from rapport.interactions.models import Interaction
from rapport.reports.choices import Source
from rapport.sales.choices import ScoreBasis, TaskPriority, TaskStatus
from rapport.sales.models import Deal, Task
from rapport.sales.querysets import leads_visible_to

NUMBER = DecimalField(max_digits=30, decimal_places=10)
# Unique per record: a group of one is no group.
NOT_GROUPED = frozenset({"email", "phone", "first_name", "last_name", "name", "title", "subject"})


@dataclass(frozen=True)
class GroupField:
    name: str
    label: str
    kind: str  # text, choice, number, boolean, date
    expression: Callable  # (now) -> an expression to annotate
    choices: Callable | None = None

    @property
    def text_like(self) -> bool:
        return self.kind in {"text", "choice"} or self.name.startswith("custom.")


@dataclass(frozen=True)
class MeasureField:
    name: str
    label: str
    expression: Callable  # (now) -> an expression to annotate
    # Money: where the currency is and the day an amount converts at, as expressions.
    currency: Callable | None = None
    day: Callable | None = None

    @property
    def is_money(self) -> bool:
        return self.currency is not None


@dataclass(frozen=True)
class RecordSource:
    key: str
    label: str
    noun: str
    plural: str
    model: type
    condition_fields: Callable[[], dict[str, SegmentField]]
    builder: Callable[[], list[dict]]
    check: Callable[[dict, dict], None]  # (conditions, fields); raises ConditionError
    scoped: Callable  # (user) -> the live records the user may see
    extra_groups: Callable[[], list[GroupField]] = lambda: []
    money: dict[str, tuple[Callable, Callable]] = field(default_factory=dict)
    # The records page: whose each record is (a column) and where it opens.
    who: str = "owner"
    who_label: str = "Owner"
    related: tuple[str, ...] = ("owner",)
    link: Callable = lambda record: record.get_absolute_url()

    def matching(self, conditions: dict, user, *, now=None):
        """The records `user` may see that match `conditions` (no duplicates)."""
        fields = self.condition_fields()
        queryset = self.scoped(user)
        if not conditions or conditions == {"all": []}:
            return queryset
        try:
            if self.model is Contact:
                q, aliases = segments.compile_conditions(conditions, now=now, fields=fields)
            else:
                self.check(conditions, fields)
                q, aliases = _plain_q(self.model, conditions, fields), {}
        except ConditionError as exc:
            # A saved report whose condition names a custom field since removed: a problem
            # to show (the page offers to edit it), not a crash.
            path = exc.path.removeprefix("$").lstrip(".")
            raise ValidationError(
                {f"conditions.{path}" if path else "conditions": [exc.in_words]}
            ) from exc
        if not any(
            _joins_many(self.model, fields[leaf["field"]].lookup)
            for leaf, _path in segments._walk_leaves(conditions)
        ):
            # Filtered in place: a subquery over every record (`pk IN (…)`) would make the
            # database scan the table twice and plan the two halves apart.
            return queryset.alias(**aliases).filter(q)
        # A subquery: joins over tags or organizations cannot count a record twice.
        matched = self.model.objects.alias(**aliases).filter(q).values("pk")
        return queryset.filter(pk__in=matched)

    def group_fields(self) -> dict[str, GroupField]:
        fields = {}
        for name, spec in self.condition_fields().items():
            if name in NOT_GROUPED or spec.many or spec.build is not None or spec.kind == "tags":
                continue
            if spec.lookup:
                fields[name] = GroupField(
                    name, spec.label, spec.kind, _column(spec.lookup, spec.kind), spec.choices
                )
            elif spec.kind == "date" and name.startswith("custom."):
                fields[name] = GroupField(name, spec.label, "date", spec.alias, spec.choices)
        for extra in self.extra_groups():
            fields[extra.name] = extra
        return fields

    def measure_fields(self) -> dict[str, MeasureField]:
        fields = {}
        for name, spec in self.condition_fields().items():
            if spec.kind != "number" or spec.build is not None or spec.many:
                continue
            expression = _column(spec.lookup, "number") if spec.lookup else spec.alias
            currency, day = self.money.get(name, (None, None))
            fields[name] = MeasureField(name, spec.label, expression, currency, day)
        return fields


def _joins_many(model, lookup: str) -> bool:
    """Whether filtering `model` on `lookup` joins a to-many relation (tags, organizations…),
    so that a record could match once per related row."""
    opts = model._meta
    for part in lookup.split("__") if lookup else ():
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or lookup (date, iexact): the path has ended
        if field.one_to_many or field.many_to_many:
            return True
        if not field.is_relation:
            return False
        opts = field.related_model._meta
    return False


def _choice_keys(model, lookup: str) -> dict[str, str]:
    """{lower-cased key: key} of the column `lookup` ends on when the model field has fixed
    choices (a status, a kind, a stage of the lifecycle); {} for any other column."""
    opts, field = model._meta, None
    for part in lookup.split("__") if lookup else ():
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            return {}
        if field.is_relation:
            opts = field.related_model._meta
    if field is None or field.is_relation or not field.choices:
        return {}
    return {str(key).lower(): str(key) for key, _label in field.flatchoices}


def _plain_q(model, node: dict, fields: dict[str, SegmentField]) -> Q:
    """`to_q` of a checked condition, except that a choice column is compared exactly with its
    keys. Conditions compare text without case; a column of fixed choices holds only its keys,
    so comparing with the key that matches is the same test, and a plain `IN` keeps the
    planner's statistics where `UPPER(status) = 'PAID'` has none (PostgreSQL then expects a
    few hundred of a million orders, and joins the lines one by one)."""
    if "all" in node:
        q = Q()
        for part in node["all"]:
            q &= _plain_q(model, part, fields)
        return q
    if "any" in node:
        q = Q(pk__in=[])
        for part in node["any"]:
            q |= _plain_q(model, part, fields)
        return q
    if "not" in node:
        return ~_plain_q(model, node["not"], fields)
    spec = fields[node["field"]]
    keys = _choice_keys(model, spec.lookup) if spec.kind == "choice" else {}
    if keys and node["op"] in {"eq", "ne", "in", "not_in"}:
        given = node["value"] if isinstance(node["value"], list) else [node["value"]]
        values = [keys.get(v.lower(), v) if isinstance(v, str) else v for v in given]
        q = Q(**{f"{spec.lookup}__in": values})
        return q if node["op"] in {"eq", "in"} else ~q
    return to_q(node, segments.field_set({node["field"]: spec}))


def _column(lookup: str, kind: str) -> Callable:
    """The expression of a plain lookup; custom fields read out of their JSON as text, or as a
    number for a number field, so they group and sum the same on every database."""
    if lookup.startswith("custom_fields__"):
        key = lookup.removeprefix("custom_fields__")
        if kind == "number":
            return lambda now: Cast(KeyTextTransform(key, "custom_fields"), NUMBER)
        if kind == "boolean":
            return lambda now: KeyTransform(key, "custom_fields")
        return lambda now: Cast(KeyTextTransform(key, "custom_fields"), TextField())
    return lambda now: F(lookup)


# --------------------------------------------------------------------------- contacts


def _contacts_check(conditions, fields):
    segments.check_conditions(conditions, fields)


# --------------------------------------------------------------------------- organizations


ORGANIZATION_FIELDS = [
    SegmentField("name", "Name", "text", "Organization", lookup="name"),
    SegmentField("industry", "Industry", "text", "Organization", lookup="industry"),
    SegmentField(
        "size",
        "Size (employees)",
        "choice",
        "Organization",
        lookup="size",
        choices=lambda: list(OrganizationSize.choices),
    ),
    SegmentField("city", "City", "text", "Organization", lookup="city"),
    SegmentField("region", "Region", "text", "Organization", lookup="region"),
    SegmentField("country", "Country (ISO code)", "text", "Organization", lookup="country"),
    SegmentField(
        "owner",
        "Owner",
        "choice",
        "Organization",
        lookup="owner__username",
        choices=segments.owner_choices,
    ),
    SegmentField("created", "Created on", "date", "Organization", lookup="created_at__date"),
    SegmentField("tags", "Tags", "tags", "Organization", lookup="tags__name", many=True),
]


def _with_custom_fields(base: list[SegmentField], entity: str | None):
    """A field set: `base`, then the entity's active custom fields (dates are left to the
    contacts' set, which alone compares them)."""

    def fields() -> dict[str, SegmentField]:
        result = {f.name: f for f in base}
        if entity is not None:
            result.update(segments.custom_fields_of(entity))
        return result

    return fields


_organization_fields = _with_custom_fields(ORGANIZATION_FIELDS, Entity.ORGANIZATION)


def _plain_check(conditions, fields):
    validate(conditions, segments.field_set(fields))
    for leaf, path in segments._walk_leaves(conditions):
        spec = fields[leaf["field"]]
        if leaf["op"] not in spec.operators:
            raise ConditionError(f"{path}.op", f"{leaf['op']!r} cannot be used with {spec.label}")


def _builder(fields_of: Callable[[], dict[str, SegmentField]]) -> Callable[[], list[dict]]:
    def entries():
        fields = fields_of()
        return builder_fields(
            segments.field_set(fields),
            {name: f.choices() for name, f in fields.items() if f.choices is not None},
            groups={name: f.group for name, f in fields.items()},
            operators={name: f.operators for name, f in fields.items()},
        )

    return entries


# --------------------------------------------------------------------------- deals


def _stage_choices():
    """Stages in pipeline and stage order, so a funnel by stage reads top to bottom."""
    from rapport.sales.models import Stage

    seen, pairs = set(), []
    for name in Stage.objects.order_by(
        "pipeline__position", "pipeline__name", "position"
    ).values_list("name", flat=True):
        if name not in seen:
            seen.add(name)
            pairs.append((name, name))
    return pairs


def _lost_reasons():
    from rapport.sales.models import LostReason

    return [(n, n) for n in LostReason.objects.order_by("position").values_list("name", flat=True)]


def _deal_groups() -> list[GroupField]:
    return [
        GroupField("stage", "Stage", "choice", lambda now: F("stage__name"), _stage_choices),
        GroupField(
            "closed",
            "Closed on",
            "date",
            lambda now: TruncDate("closed_at", tzinfo=timezone.get_current_timezone()),
        ),
        GroupField(
            "lost_reason",
            "Lost reason",
            "choice",
            lambda now: F("lost_reason__name"),
            _lost_reasons,
        ),
    ]


def _deal_day(now):
    # The day an amount counts, as the forecast has it: the close date once closed, the
    # expected close date while open.
    return Coalesce(
        TruncDate("closed_at", tzinfo=timezone.get_current_timezone()), F("expected_close_date")
    )


# --------------------------------------------------------------------------- orders, tasks, interactions


def _choices(enum) -> Callable:
    return lambda: list(enum.choices)


def _shops():
    from rapport.commerce.models import Shop

    return [(n, n) for n in Shop.objects.order_by("name").values_list("name", flat=True)[:500]]


def _customer_value_fields(contact: str) -> list[SegmentField]:
    """The contact's RFM segment and value tier, reached through `contact` (a lookup prefix)."""
    return [
        SegmentField(
            "contact.segment",
            "Contact's RFM segment",
            "choice",
            "Customer value",
            lookup=f"{contact}analytics__segment",
            choices=lambda: [(name, name) for name in SEGMENT_ORDER],
        ),
        SegmentField(
            "contact.value_tier",
            "Contact's value tier",
            "choice",
            "Customer value",
            lookup=f"{contact}analytics__value_tier",
            choices=_choices(ValueTier),
        ),
    ]


ORDER_FIELDS = [
    SegmentField("total", "Total", "number", "Order", lookup="total"),
    SegmentField("currency", "Currency", "text", "Order", lookup="currency"),
    SegmentField(
        "status", "Status", "choice", "Order", lookup="status", choices=_choices(OrderStatus)
    ),
    SegmentField("kind", "Kind", "choice", "Order", lookup="kind", choices=_choices(OrderKind)),
    SegmentField(
        "source", "Source", "choice", "Order", lookup="source", choices=_choices(OrderSource)
    ),
    SegmentField("shop", "Shop", "choice", "Order", lookup="shop__name", choices=_shops),
    SegmentField("ordered", "Ordered on", "date", "Order", lookup="ordered_at__date"),
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
    SegmentField(
        "contact.owner",
        "Contact's owner",
        "choice",
        "Contact",
        lookup="contact__owner__username",
        choices=segments.owner_choices,
    ),
    *_customer_value_fields("contact__"),
    SegmentField(
        "organization", "Organization", "text", "Organization", lookup="organization__name"
    ),
]

TASK_FIELDS = [
    SegmentField("title", "Title", "text", "Task", lookup="title"),
    SegmentField(
        "status", "Status", "choice", "Task", lookup="status", choices=_choices(TaskStatus)
    ),
    SegmentField(
        "priority", "Priority", "choice", "Task", lookup="priority", choices=_choices(TaskPriority)
    ),
    SegmentField(
        "assignee",
        "Assignee",
        "choice",
        "Task",
        lookup="assignee__username",
        choices=segments.owner_choices,
    ),
    SegmentField(
        "created_by",
        "Created by",
        "choice",
        "Task",
        lookup="created_by__username",
        choices=segments.owner_choices,
    ),
    SegmentField("due", "Due on", "date", "Task", lookup="due_at__date"),
    SegmentField("completed", "Completed on", "date", "Task", lookup="completed_at__date"),
    SegmentField("created", "Created on", "date", "Task", lookup="created_at__date"),
]

INTERACTION_FIELDS = [
    SegmentField("subject", "Subject", "text", "Interaction", lookup="subject"),
    SegmentField(
        "kind", "Kind", "choice", "Interaction", lookup="kind", choices=_choices(InteractionKind)
    ),
    SegmentField(
        "channel", "Channel", "choice", "Interaction", lookup="channel", choices=_choices(Channel)
    ),
    SegmentField(
        "direction",
        "Direction",
        "choice",
        "Interaction",
        lookup="direction",
        choices=_choices(Direction),
    ),
    SegmentField("outcome", "Outcome", "text", "Interaction", lookup="outcome"),
    SegmentField("occurred", "Occurred on", "date", "Interaction", lookup="occurred_at__date"),
    SegmentField(
        "duration_minutes", "Duration (minutes)", "number", "Interaction", lookup="duration_minutes"
    ),
    SegmentField(
        "actor",
        "Logged by",
        "choice",
        "Interaction",
        lookup="actor__username",
        choices=segments.owner_choices,
    ),
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

ORDER_LINE_FIELDS = [
    SegmentField("product", "Product", "text", "Line", lookup="product__name"),
    SegmentField("category", "Product category", "text", "Line", lookup="product__category"),
    SegmentField("quantity", "Quantity", "number", "Line", lookup="quantity"),
    SegmentField("unit_price", "Unit price", "number", "Line", lookup="unit_price"),
    SegmentField("line_total", "Line total", "number", "Line", lookup="line_total"),
    SegmentField("ordered", "Ordered on", "date", "Order", lookup="order__ordered_at__date"),
    SegmentField("currency", "Currency", "text", "Order", lookup="order__currency"),
    SegmentField(
        "order.status",
        "Order status",
        "choice",
        "Order",
        lookup="order__status",
        choices=_choices(OrderStatus),
    ),
    SegmentField(
        "order.kind",
        "Order kind",
        "choice",
        "Order",
        lookup="order__kind",
        choices=_choices(OrderKind),
    ),
    SegmentField(
        "order.shop", "Shop", "choice", "Order", lookup="order__shop__name", choices=_shops
    ),
    *_customer_value_fields("order__contact__"),
    SegmentField(
        "contact.lifecycle_stage",
        "Contact's lifecycle stage",
        "choice",
        "Contact",
        lookup="order__contact__lifecycle_stage",
        choices=_choices(LifecycleStage),
    ),
    SegmentField(
        "contact.country", "Contact's country", "text", "Contact", lookup="order__contact__country"
    ),
    SegmentField(
        "contact.owner",
        "Contact's owner",
        "choice",
        "Contact",
        lookup="order__contact__owner__username",
        choices=segments.owner_choices,
    ),
]

_order_fields = _with_custom_fields(ORDER_FIELDS, None)
_order_line_fields = _with_custom_fields(ORDER_LINE_FIELDS, None)
_task_fields = _with_custom_fields(TASK_FIELDS, None)
_interaction_fields = _with_custom_fields(INTERACTION_FIELDS, None)


def _order_day(now):
    return TruncDate("ordered_at", tzinfo=timezone.get_current_timezone())


def _line_day(now):
    # A line's money converts at its order's date, as the order's total does.
    return TruncDate("order__ordered_at", tzinfo=timezone.get_current_timezone())


def _ordered_on(day) -> Callable[[], list[GroupField]]:
    # The order's date grouped by the very expression its money converts at, so the report's
    # query computes and groups by it once (`run_report` reuses an equal grouping).
    return lambda: [GroupField("ordered", "Ordered on", "date", day)]


def _order_lines_visible_to(user):
    """A line is visible when its order is: `OrderQuerySet.visible_to`'s rule read through the
    line's order. On the joined order, not as `order IN (visible orders)`: that semi-join
    scans the orders a second time and, on ten million lines, is planned as a nested loop."""
    from rapport.commerce.querysets import order_visible_q

    return OrderLine.objects.filter(order_visible_q(user, "order__")).annotate(
        # The records page lists and orders records by when they were made; a line was made
        # with its order.
        created_at=F("order__created_at")
    )


def _interaction_link(record) -> str:
    about = record.contact or record.organization
    return about.get_absolute_url() if about is not None else ""


# --------------------------------------------------------------------------- leads

LEAD_FIELDS = [
    SegmentField("lead.score", "Lead score", "number", "Lead", lookup="lead_score__score"),
    SegmentField(
        "lead.basis",
        "Lead score basis",
        "choice",
        "Lead",
        lookup="lead_score__basis",
        choices=_choices(ScoreBasis),
    ),
]


def _lead_fields() -> dict[str, SegmentField]:
    """A contact's segment fields and its lead score."""
    return {**segments.available_fields(), **{f.name: f for f in LEAD_FIELDS}}


# --------------------------------------------------------------------------- the catalogue

SOURCES: dict[str, RecordSource] = {
    Source.CONTACTS: RecordSource(
        key=Source.CONTACTS,
        label="Contacts",
        noun="contact",
        plural="contacts",
        model=Contact,
        condition_fields=segments.available_fields,
        builder=segment_condition_fields,
        check=_contacts_check,
        scoped=lambda user: Contact.objects.visible_to(user).active(),
    ),
    Source.ORGANIZATIONS: RecordSource(
        key=Source.ORGANIZATIONS,
        label="Organizations",
        noun="organization",
        plural="organizations",
        model=Organization,
        condition_fields=_organization_fields,
        builder=_builder(_organization_fields),
        check=_plain_check,
        scoped=lambda user: Organization.objects.visible_to(user).active(),
    ),
    Source.DEALS: RecordSource(
        key=Source.DEALS,
        label="Deals",
        noun="deal",
        plural="deals",
        model=Deal,
        condition_fields=lambda: records.fields_for(RecordType.DEAL),
        builder=lambda: records.builder_entries(RecordType.DEAL),
        check=lambda conditions, fields: records.check_conditions(RecordType.DEAL, conditions),
        scoped=lambda user: Deal.objects.visible_to(user).active(),
        extra_groups=_deal_groups,
        money={"amount": (lambda now: F("currency"), _deal_day)},
    ),
    Source.LEADS: RecordSource(
        key=Source.LEADS,
        label="Leads",
        noun="lead",
        plural="leads",
        model=Contact,
        condition_fields=_lead_fields,
        builder=lambda: segment_condition_fields(_lead_fields()),
        check=_contacts_check,
        # Leads are contacts in the lead stages, seen through the contacts scope (sales' list).
        scoped=leads_visible_to,
    ),
    Source.ORDERS: RecordSource(
        key=Source.ORDERS,
        label="Orders",
        noun="order",
        plural="orders",
        model=Order,
        condition_fields=_order_fields,
        builder=_builder(_order_fields),
        check=_plain_check,
        scoped=lambda user: Order.objects.visible_to(user),
        extra_groups=_ordered_on(_order_day),
        money={"total": (lambda now: F("currency"), _order_day)},
        who="contact",
        who_label="Contact",
        related=("contact",),
    ),
    Source.ORDER_LINES: RecordSource(
        key=Source.ORDER_LINES,
        label="Order lines",
        noun="order line",
        plural="order lines",
        model=OrderLine,
        condition_fields=_order_line_fields,
        builder=_builder(_order_line_fields),
        check=_plain_check,
        scoped=_order_lines_visible_to,
        extra_groups=_ordered_on(_line_day),
        money={
            "line_total": (lambda now: F("order__currency"), _line_day),
            "unit_price": (lambda now: F("order__currency"), _line_day),
        },
        who="order",
        who_label="Order",
        related=("order", "product"),
        link=lambda record: reverse("commerce:order_detail", args=[record.order_id]),
    ),
    Source.TASKS: RecordSource(
        key=Source.TASKS,
        label="Tasks",
        noun="task",
        plural="tasks",
        model=Task,
        condition_fields=_task_fields,
        builder=_builder(_task_fields),
        check=_plain_check,
        scoped=lambda user: Task.objects.visible_to(user),
        who="assignee",
        who_label="Assignee",
        related=("assignee",),
    ),
    Source.INTERACTIONS: RecordSource(
        key=Source.INTERACTIONS,
        label="Interactions",
        noun="interaction",
        plural="interactions",
        model=Interaction,
        condition_fields=_interaction_fields,
        builder=_builder(_interaction_fields),
        check=_plain_check,
        scoped=lambda user: Interaction.objects.visible_to(user),
        who="actor",
        who_label="Logged by",
        related=("actor", "contact", "organization"),
        link=_interaction_link,
    ),
}

# In the order the menus offer them.
SOURCES = {key: SOURCES[key] for key in Source.values}


def source_for(key: str) -> RecordSource:
    return SOURCES[key]


def not_set_q(name: str, spec: GroupField) -> Q:
    """Records without a value in the annotated group `name` (empty text counts as none)."""
    q = Q(**{f"{name}__isnull": True})
    if spec.text_like and spec.kind != "boolean":
        q |= Q(**{name: ""})
    return q
