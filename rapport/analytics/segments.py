"""Segments: who matches a saved condition, evaluated in the database.

A dynamic segment is a condition in the one safe rule language (`rapport.core.conditions`)
over named fields: the contact's own fields, custom fields, tags, the customer-value attributes
the refresh stores, and live facts about orders and interactions ("bought in category X in the
last 90 days", "no touch in 60 days"). Plain fields compile to lookups; facts compile to
Exists / Subquery expressions, so every segment is one SQL query and no contact is loaded into
Python to decide whether it belongs.

Other features use `members(segment, user)` (a Contact queryset, scoped to the user) and
`contains(segment, contact, user)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from rapport.analytics.choices import SEGMENT_ORDER, SegmentKind, ValueTier
from rapport.analytics.models import Segment
from rapport.commerce.choices import REVENUE_STATUSES
from rapport.commerce.models import Order, OrderLine, Product
from rapport.commerce.revenue import counted_kinds
from rapport.contacts.choices import ContactSource, LifecycleStage
from rapport.contacts.models import Contact, Tag
from rapport.core.conditions import ConditionError, ConditionField, FieldSet, to_q, validate
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.models import CustomFieldDefinition
from rapport.interactions.choices import Channel
from rapport.interactions.models import Interaction

KIND_OPERATORS = {
    "text": (
        "eq",
        "ne",
        "contains",
        "not_contains",
        "startswith",
        "in",
        "not_in",
        "is_empty",
        "is_not_empty",
    ),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty"),
    "date": ("eq", "gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty"),
    "boolean": ("eq", "ne"),
    "choice": ("eq", "ne", "in", "not_in", "is_empty", "is_not_empty"),
    "tags": ("eq", "ne", "in", "not_in", "is_empty", "is_not_empty"),
}


@dataclass(frozen=True)
class SegmentField:
    """One field a segment condition may name.

    Exactly one way to evaluate it: `lookup` (an ORM path), `alias` (an expression annotated
    under the field's alias name, then filtered like a column) or `build` (op, value, now) -> Q
    for facts with a window. `operators` limits what the editor offers and validation accepts.
    """

    name: str
    label: str
    kind: str
    group: str
    lookup: str = ""
    alias: Callable | None = None
    build: Callable | None = None
    choices: Callable | None = None
    many: bool = False

    @property
    def operators(self) -> tuple[str, ...]:
        if self.build is not None and self.kind == "choice":
            return ("eq", "ne", "in", "not_in")
        if self.build is not None:
            return ("gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty")
        return KIND_OPERATORS[self.kind]

    @property
    def alias_name(self) -> str:
        return "segment_" + self.name.replace(".", "_")

    def condition_field(self) -> ConditionField:
        lookup = self.lookup or self.alias_name
        return ConditionField(lookup=lookup, kind=self.kind, label=self.label, many=self.many)


# --------------------------------------------------------------------------- fact builders


def _revenue_orders():
    return Order.objects.filter(
        contact=OuterRef("pk"), status__in=REVENUE_STATUSES, kind__in=counted_kinds()
    )


def _bought_category(days: int | None):
    """Exists a revenue order line of a product in the category (within `days`, if given)."""

    def build(op, value, now):
        categories = value if isinstance(value, list) else [value]
        categories = [str(c).strip().lower() for c in categories]
        lines = (
            OrderLine.objects.filter(
                order__contact=OuterRef("pk"),
                order__status__in=REVENUE_STATUSES,
                order__kind__in=counted_kinds(),
            )
            .alias(category_lower=_lower("product__category"))
            .filter(category_lower__in=categories)
        )
        if days is not None:
            lines = lines.filter(order__ordered_at__gte=now - dt.timedelta(days=days))
        q = Q(Exists(lines))
        return ~q if op in {"ne", "not_in"} else q

    return build


def _bought_sku(op, value, now):
    skus = [str(s).strip().lower() for s in (value if isinstance(value, list) else [value])]
    lines = (
        OrderLine.objects.filter(
            order__contact=OuterRef("pk"),
            order__status__in=REVENUE_STATUSES,
            order__kind__in=counted_kinds(),
        )
        .alias(sku_lower=_lower("product__sku"))
        .filter(sku_lower__in=skus)
    )
    q = Q(Exists(lines))
    return ~q if op in {"ne", "not_in"} else q


def _lower(path):
    from django.db.models.functions import Lower

    return Lower(path)


def _days_since(lookup: str):
    """ "Days since" a timestamp column as comparisons on the column itself (index-friendly).

    More than N days since = the moment is before now - N days, or there is none at all.
    """

    def build(op, value, now):
        def before(days):
            return now - dt.timedelta(days=float(days))

        if op == "is_empty":
            return Q(**{f"{lookup}__isnull": True})
        if op == "is_not_empty":
            return Q(**{f"{lookup}__isnull": False})
        never = Q(**{f"{lookup}__isnull": True})
        if op == "gt":
            return Q(**{f"{lookup}__lt": before(value)}) | never
        if op == "gte":
            return Q(**{f"{lookup}__lte": before(value)}) | never
        if op == "lt":
            return Q(**{f"{lookup}__gt": before(value)})
        if op == "lte":
            return Q(**{f"{lookup}__gte": before(value)})
        if op == "between":
            low, high = value
            return Q(**{f"{lookup}__lte": before(low), f"{lookup}__gte": before(high)})
        raise ConditionError("$.op", f"{op} is not available for this field")

    return build


def _touched_on_channel(days: int):
    def build(op, value, now):
        channels = value if isinstance(value, list) else [value]
        touches = Interaction.objects.filter(
            contact=OuterRef("pk"),
            channel__in=[str(c) for c in channels],
            occurred_at__gte=now - dt.timedelta(days=days),
        )
        q = Q(Exists(touches))
        return ~q if op in {"ne", "not_in"} else q

    return build


def _order_count(days: int):
    def alias(now):
        orders = (
            _revenue_orders()
            .filter(ordered_at__gte=now - dt.timedelta(days=days))
            .order_by()
            .values("contact")
            .annotate(n=Count("id"))
            .values("n")
        )
        return Coalesce(Subquery(orders, output_field=IntegerField()), Value(0))

    return alias


def _order_revenue(days: int):
    def alias(now):
        orders = (
            _revenue_orders()
            .filter(ordered_at__gte=now - dt.timedelta(days=days))
            .order_by()
            .values("contact")
            .annotate(total=Sum("total"))
            .values("total")
        )
        money = DecimalField(max_digits=16, decimal_places=2)
        return Coalesce(Subquery(orders, output_field=money), Value(0), output_field=money)

    return alias


def _last_order_date(now):
    orders = _revenue_orders().order_by().values("contact").annotate(last=Max("ordered_at"))
    return Subquery(orders.values("last"))


def _touch_count(days: int):
    def alias(now):
        touches = (
            Interaction.objects.filter(
                contact=OuterRef("pk"), occurred_at__gte=now - dt.timedelta(days=days)
            )
            .order_by()
            .values("contact")
            .annotate(n=Count("id"))
            .values("n")
        )
        return Coalesce(Subquery(touches, output_field=IntegerField()), Value(0))

    return alias


# --------------------------------------------------------------------------- field catalogue


def _choices(enum) -> Callable:
    return lambda: list(enum.choices)


def _tag_choices():
    return [
        (name, name) for name in Tag.objects.order_by("name").values_list("name", flat=True)[:500]
    ]


def _category_choices():
    categories = (
        Product.objects.exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()[:500]
    )
    return [(name, name) for name in categories]


def owner_choices():
    """Active users by username, for a condition on who owns a record (every field set)."""
    from rapport.accounts.models import User

    users = User.objects.filter(is_active=True).order_by("username")
    return [(user.username, str(user)) for user in users[:500]]


BASE_FIELDS = [
    SegmentField("first_name", "First name", "text", "Contact", lookup="first_name"),
    SegmentField("last_name", "Last name", "text", "Contact", lookup="last_name"),
    SegmentField("email", "Email", "text", "Contact", lookup="primary_email"),
    SegmentField("phone", "Phone", "text", "Contact", lookup="primary_phone"),
    SegmentField("job_title", "Job title", "text", "Contact", lookup="job_title"),
    SegmentField("city", "City", "text", "Contact", lookup="city"),
    SegmentField("region", "Region", "text", "Contact", lookup="region"),
    SegmentField("country", "Country (ISO code)", "text", "Contact", lookup="country"),
    SegmentField(
        "lifecycle_stage",
        "Lifecycle stage",
        "choice",
        "Contact",
        lookup="lifecycle_stage",
        choices=_choices(LifecycleStage),
    ),
    SegmentField(
        "source", "Source", "choice", "Contact", lookup="source", choices=_choices(ContactSource)
    ),
    SegmentField(
        "owner",
        "Owner (username)",
        "choice",
        "Contact",
        lookup="owner__username",
        choices=owner_choices,
    ),
    SegmentField("created", "Created on", "date", "Contact", lookup="created_at__date"),
    SegmentField(
        "tags", "Tags", "tags", "Contact", lookup="tags__name", choices=_tag_choices, many=True
    ),
    SegmentField(
        "organization",
        "Organization name",
        "text",
        "Contact",
        lookup="organizations__name",
        many=True,
    ),
    SegmentField(
        "analytics.segment",
        "RFM segment",
        "choice",
        "Customer value",
        lookup="analytics__segment",
        choices=lambda: [(name, name) for name in SEGMENT_ORDER],
    ),
    SegmentField(
        "analytics.value_tier",
        "Value tier",
        "choice",
        "Customer value",
        lookup="analytics__value_tier",
        choices=_choices(ValueTier),
    ),
    SegmentField(
        "analytics.predicted_clv",
        "Predicted CLV",
        "number",
        "Customer value",
        lookup="analytics__predicted_clv",
    ),
    SegmentField(
        "analytics.p_alive", "P(alive)", "number", "Customer value", lookup="analytics__p_alive"
    ),
    SegmentField(
        "analytics.expected_purchases",
        "Expected purchases (next period)",
        "number",
        "Customer value",
        lookup="analytics__expected_purchases",
    ),
    SegmentField(
        "analytics.revenue_total",
        "Revenue to date",
        "number",
        "Customer value",
        lookup="analytics__revenue_total",
    ),
    SegmentField(
        "analytics.orders_count",
        "Orders to date",
        "number",
        "Customer value",
        lookup="analytics__orders_count",
    ),
    SegmentField(
        "analytics.recency_days",
        "Days since last order",
        "number",
        "Customer value",
        lookup="analytics__recency_days",
    ),
    SegmentField(
        "analytics.r_score",
        "R score (1-5)",
        "number",
        "Customer value",
        lookup="analytics__r_score",
    ),
    SegmentField(
        "analytics.f_score",
        "F score (1-5)",
        "number",
        "Customer value",
        lookup="analytics__f_score",
    ),
    SegmentField(
        "analytics.m_score",
        "M score (1-5)",
        "number",
        "Customer value",
        lookup="analytics__m_score",
    ),
    SegmentField(
        "analytics.is_at_risk",
        "At risk of churning",
        "boolean",
        "Customer value",
        lookup="analytics__is_at_risk",
    ),
    SegmentField(
        "analytics.cohort_month",
        "First purchase month",
        "date",
        "Customer value",
        lookup="analytics__cohort_month",
    ),
    SegmentField(
        "orders.category_30_days",
        "Bought in category, last 30 days",
        "choice",
        "Orders",
        build=_bought_category(30),
        choices=_category_choices,
    ),
    SegmentField(
        "orders.category_90_days",
        "Bought in category, last 90 days",
        "choice",
        "Orders",
        build=_bought_category(90),
        choices=_category_choices,
    ),
    SegmentField(
        "orders.category_365_days",
        "Bought in category, last 365 days",
        "choice",
        "Orders",
        build=_bought_category(365),
        choices=_category_choices,
    ),
    SegmentField(
        "orders.category_ever",
        "Ever bought in category",
        "choice",
        "Orders",
        build=_bought_category(None),
        choices=_category_choices,
    ),
    SegmentField(
        "orders.sku_ever", "Ever bought product (SKU)", "choice", "Orders", build=_bought_sku
    ),
    SegmentField(
        "orders.count_90_days",
        "Orders in the last 90 days",
        "number",
        "Orders",
        alias=_order_count(90),
    ),
    SegmentField(
        "orders.count_365_days",
        "Orders in the last 365 days",
        "number",
        "Orders",
        alias=_order_count(365),
    ),
    SegmentField(
        "orders.revenue_365_days",
        "Revenue in the last 365 days",
        "number",
        "Orders",
        alias=_order_revenue(365),
    ),
    SegmentField("orders.last_order", "Last order on", "date", "Orders", alias=_last_order_date),
    SegmentField(
        "interactions.days_since_touch",
        "Days since last touch",
        "number",
        "Interactions",
        build=_days_since("last_touched_at"),
    ),
    SegmentField(
        "interactions.count_90_days",
        "Touches in the last 90 days",
        "number",
        "Interactions",
        alias=_touch_count(90),
    ),
    SegmentField(
        "interactions.channel_90_days",
        "Touched on channel, last 90 days",
        "choice",
        "Interactions",
        build=_touched_on_channel(90),
        choices=_choices(Channel),
    ),
]

_CUSTOM_KIND = {
    FieldType.TEXT: "text",
    FieldType.LONG_TEXT: "text",
    FieldType.EMAIL: "text",
    FieldType.URL: "text",
    FieldType.NUMBER: "number",
    FieldType.DECIMAL: "number",
    FieldType.DATE: "date",
    FieldType.BOOLEAN: "boolean",
    FieldType.CHOICE: "choice",
    FieldType.MULTI_CHOICE: "text",
}


def _custom_field(definition: CustomFieldDefinition) -> SegmentField:
    kind = _CUSTOM_KIND.get(definition.field_type, "text")
    choices = None
    if definition.field_type == FieldType.CHOICE and definition.choices:
        options = list(definition.choices)
        choices = lambda: [(c, c) for c in options]  # noqa: E731
    name = f"custom.{definition.key}"
    if kind == "date":
        # Dates are ISO text inside the JSON; compared as text they order like dates.
        key = definition.key
        return SegmentField(
            name,
            definition.label,
            kind,
            "Custom fields",
            # Cast: the key transform's own lookups would parse the value as JSON.
            alias=lambda now: Cast(KeyTextTransform(key, "custom_fields"), TextField()),
        )
    return SegmentField(
        name,
        definition.label,
        kind,
        "Custom fields",
        lookup=f"custom_fields__{definition.key}",
        choices=choices,
    )


def available_fields() -> dict[str, SegmentField]:
    """Every field a contact segment may use, custom fields included (read fresh each call)."""
    fields = {field.name: field for field in BASE_FIELDS}
    definitions = CustomFieldDefinition.objects.filter(entity=Entity.CONTACT, is_active=True)
    for definition in definitions:
        field = _custom_field(definition)
        fields[field.name] = field
    return fields


def custom_fields_of(entity: str) -> dict[str, SegmentField]:
    """An entity's active custom fields as condition fields, dates left out: only the
    contacts' set compares those (deals and organizations in workflows, reports)."""
    definitions = CustomFieldDefinition.objects.filter(entity=entity, is_active=True).exclude(
        field_type=FieldType.DATE
    )
    return {field.name: field for field in map(_custom_field, definitions)}


def field_set(fields: dict[str, SegmentField]) -> FieldSet:
    return FieldSet({name: field.condition_field() for name, field in fields.items()})


# --------------------------------------------------------------------------- evaluation


def _walk_leaves(node, path="$"):
    if "all" in node:
        for index, part in enumerate(node["all"]):
            yield from _walk_leaves(part, f"{path}.all[{index}]")
    elif "any" in node:
        for index, part in enumerate(node["any"]):
            yield from _walk_leaves(part, f"{path}.any[{index}]")
    elif "not" in node:
        yield from _walk_leaves(node["not"], f"{path}.not")
    else:
        yield node, path


def check_conditions(conditions, fields: dict[str, SegmentField] | None = None) -> None:
    """Raise ConditionError (with the JSON path) unless `conditions` is usable for a segment."""
    fields = fields if fields is not None else available_fields()
    validate(conditions, field_set(fields))
    for leaf, path in _walk_leaves(conditions):
        field = fields[leaf["field"]]
        if leaf["op"] not in field.operators:
            raise ConditionError(
                f"{path}.op",
                f"{leaf['op']!r} cannot be used with {field.label}; use one of: "
                + ", ".join(field.operators),
            )
        if field.kind == "boolean" and not isinstance(leaf.get("value"), bool):
            raise ConditionError(f"{path}.value", "must be true or false")
        if field.build is not None and field.kind == "choice":
            value = leaf.get("value")
            values = value if isinstance(value, list) else [value]
            if not values or any(not isinstance(v, str) or not v.strip() for v in values):
                raise ConditionError(f"{path}.value", "must be text (or a list of texts)")


def compile_conditions(conditions, *, now=None, fields=None) -> tuple[Q, dict]:
    """A Q over Contact plus the aliases it needs, for a checked condition."""
    fields = fields if fields is not None else available_fields()
    check_conditions(conditions, fields)
    now = now or timezone.now()
    fieldset = field_set(fields)
    aliases: dict = {}

    def compile_node(node) -> Q:
        if "all" in node:
            q = Q()
            for part in node["all"]:
                q &= compile_node(part)
            return q
        if "any" in node:
            if not node["any"]:
                return Q(pk__in=[])
            q = Q(pk__in=[])
            for part in node["any"]:
                q |= compile_node(part)
            return q
        if "not" in node:
            return ~compile_node(node["not"])
        field = fields[node["field"]]
        if field.build is not None:
            value = node.get("value")
            if field.kind == "number" and value is not None and not isinstance(value, list):
                value = float(value)
            return field.build(node["op"], value, now)
        if field.alias is not None:
            aliases[field.alias_name] = field.alias(now)
        return to_q(node, fieldset)

    return compile_node(conditions), aliases


def matching_contacts(conditions, user, *, now=None):
    """Contacts the user may see that match `conditions` (no duplicates, not archived)."""
    q, aliases = compile_conditions(conditions, now=now)
    # The filter runs as a subquery: joins over tags or organizations cannot duplicate rows.
    matched = Contact.objects.alias(**aliases).filter(q).values("pk")
    return Contact.objects.visible_to(user).active().filter(pk__in=matched)


def members(segment: Segment, user, *, now=None):
    """The contacts in a segment, as far as `user` may see them."""
    if segment.kind == SegmentKind.STATIC:
        return (
            Contact.objects.visible_to(user).active().filter(segment_memberships__segment=segment)
        )
    return matching_contacts(segment.conditions or {"all": []}, user, now=now)


def contains(segment: Segment, contact: Contact, user) -> bool:
    return members(segment, user).filter(pk=contact.pk).exists()


def count_matching(conditions, user) -> int:
    return matching_contacts(conditions, user).count()
