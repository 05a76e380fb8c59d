"""The list filters and orderings of contacts and organizations, shared by the UI and the API.

Both front ends hand over the raw query parameters; this module turns them into a scoped
queryset or a ValidationError keyed by the parameter's name (422 in the API, a message beside
the filter in the UI). Parameters it does not know are left alone (pagination, HTMX flags).

Contacts take: q, owner, lifecycle_stage, tag, organization, source, country, archived,
created_after, created_before, cf_<key> and, for number / decimal / date fields,
cf_<key>__gte and cf_<key>__lte. Organizations take the same minus lifecycle_stage,
organization and source, plus industry and size.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    BooleanField,
    DecimalField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from rapport.contacts.choices import ContactSource, LifecycleStage, OrganizationSize
from rapport.contacts.models import Membership, Tag
from rapport.contacts.querysets import archived_is
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.services import definitions_for
from rapport.customfields.validation import clean_value

MAX_ID = 2**63 - 1
MAX_VALUES = 50  # repeated values of one parameter
MAX_TEXT = 200


class Ordering(NamedTuple):
    """A sort the lists offer: non-null columns (the pk breaks ties) and a direction."""

    fields: tuple[str, ...]
    descending: bool


# Public name → ordering. Each is backed by an index that starts with is_archived.
CONTACT_ORDERINGS: dict[str, Ordering] = {
    "name": Ordering(("last_name", "first_name"), False),
    "-name": Ordering(("last_name", "first_name"), True),
    "created_at": Ordering(("created_at",), False),
    "-created_at": Ordering(("created_at",), True),
    # On the expression keys of ContactQuerySet.with_sort_keys(); each matches an index of
    # Contact.Meta column for column.
    "lifecycle": Ordering(("stage_rank", "last_name", "first_name"), False),
    "-lifecycle": Ordering(("stage_rank", "last_name", "first_name"), True),
    "last_touched": Ordering(("touched",), False),
    "-last_touched": Ordering(("touched",), True),
}
ORGANIZATION_ORDERINGS: dict[str, Ordering] = {
    "name": Ordering(("name",), False),
    "-name": Ordering(("name",), True),
    "created_at": Ordering(("created_at",), False),
    "-created_at": Ordering(("created_at",), True),
}
ORDERING_LABELS = {
    "name": "Name A–Z",
    "-name": "Name Z–A",
    "created_at": "Oldest first",
    "-created_at": "Newest first",
}
DEFAULT_CONTACT_ORDERING = "name"
DEFAULT_ORGANIZATION_ORDERING = "name"

CONTACT_FILTERS = (
    "q",
    "owner",
    "lifecycle_stage",
    "tag",
    "organization",
    "source",
    "country",
    "archived",
    "created_after",
    "created_before",
)
ORGANIZATION_FILTERS = (
    "q",
    "owner",
    "tag",
    "industry",
    "size",
    "country",
    "archived",
    "created_after",
    "created_before",
)
RANGE_TYPES = {FieldType.NUMBER, FieldType.DECIMAL, FieldType.DATE}
TEXT_TYPES = {FieldType.TEXT, FieldType.LONG_TEXT, FieldType.URL, FieldType.EMAIL}


class _Errors(dict):
    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)


def _values(params: Mapping, name: str) -> list[str]:
    """Every non-blank value given for `name`; commas also separate values."""
    if hasattr(params, "getlist"):
        raw = params.getlist(name)
    else:
        raw = params.get(name)
        raw = [] if raw is None else raw if isinstance(raw, list | tuple) else [raw]
    values = []
    for item in raw:
        for part in str(item).split(","):
            part = part.strip()
            if part:
                values.append(part)
    return values


def _single(params: Mapping, name: str, errors: _Errors) -> str | None:
    """The one value of `name` (blank means not given); a second value is an error."""
    if hasattr(params, "getlist"):
        raw = [v for v in params.getlist(name) if str(v).strip()]
    else:
        value = params.get(name)
        raw = [] if value is None else value if isinstance(value, list | tuple) else [value]
        raw = [v for v in raw if str(v).strip()]
    if not raw:
        return None
    if len(raw) > 1:
        errors.add(name, "Give this filter once.")
        return None
    text = str(raw[0]).strip()
    if len(text) > MAX_TEXT:
        errors.add(name, f"Use at most {MAX_TEXT} characters.")
        return None
    return text


def _many(params: Mapping, name: str, errors: _Errors) -> list[str]:
    values = _values(params, name)
    if len(values) > MAX_VALUES:
        errors.add(name, f"Give at most {MAX_VALUES} values.")
        return []
    for value in values:
        if len(value) > MAX_TEXT:
            errors.add(name, f"Use at most {MAX_TEXT} characters.")
            return []
    return values


def _record_id(value: str) -> int | None:
    if not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def _owner_q(values: list[str], user, errors: _Errors) -> Q | None:
    q = Q(pk__in=[])
    for value in values:
        lowered = value.lower()
        if lowered == "me":
            q |= Q(owner_id=getattr(user, "pk", None))
        elif lowered == "none":
            q |= Q(owner__isnull=True)
        else:
            user_id = _record_id(value)
            if user_id is None:
                errors.add("owner", 'Give a user id, "me" or "none".')
                return None
            q |= Q(owner_id=user_id)
    return q


def _choices(values: list[str], allowed, name: str, errors: _Errors) -> list[str]:
    chosen = []
    for value in values:
        if value not in allowed:
            errors.add(name, f"{value[:30]!r} is not one of: {', '.join(allowed)}.")
            return []
        chosen.append(value)
    return chosen


def _moment(value: str, name: str, errors: _Errors, *, end_of_day: bool):
    """A date (the whole day, in the site's time zone) or an ISO date-time with its zone."""
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if end_of_day:
                day += dt.timedelta(days=1)
            return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        moment = dt.datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        errors.add(name, "Give a date as YYYY-MM-DD or a date-time as YYYY-MM-DDTHH:MM:SS+00:00.")
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _archived(value: str | None, errors: _Errors) -> Q | None:
    if value is None or value.lower() == "false":
        return archived_is(False)
    if value.lower() == "true":
        return archived_is(True)
    if value.lower() == "all":
        return Q()
    errors.add("archived", 'Give "true", "false" or "all".')
    return None


class _JsonArrayHas(Func):
    """SQLite: the JSON array at `path` of `column` has an element equal to `item`."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra):
        parts, params = [], []
        for expression in self.source_expressions:
            sql, expression_params = compiler.compile(expression)
            parts.append(sql)
            params.extend(expression_params)
        column, path, item = parts
        # The parts are compiled expressions with placeholders; values stay in `params`.
        sql = f"EXISTS (SELECT 1 FROM json_each({column}, {path}) WHERE json_each.value = {item})"  # noqa: S608
        return sql, params


def _multi_choice_contains(key: str, value: str):
    """Rows whose multi-choice custom field `key` holds `value`."""
    if connection.vendor == "postgresql":
        # jsonb containment: ["Gold"] is contained in ["Gold", "Silver"].
        return Q(**{f"custom_fields__{key}__contains": [value]})
    return _JsonArrayHas(F("custom_fields"), Value(f'$."{key}"'), Value(value))


def _filter_custom_field(
    queryset: QuerySet, definition, name: str, raw: str, op: str, errors: _Errors
) -> QuerySet:
    kind = definition.field_type
    key = definition.key
    if op and kind not in RANGE_TYPES:
        errors.add(name, "Only number, decimal and date fields take __gte / __lte.")
        return queryset
    if kind in TEXT_TYPES:
        return queryset.filter(**{f"custom_fields__{key}__icontains": raw})
    try:
        value = clean_value(definition, raw)
    except ValidationError as exc:
        errors.add(name, " ".join(exc.messages))
        return queryset
    if value is None:
        return queryset
    if kind == FieldType.MULTI_CHOICE:
        for item in value:
            queryset = queryset.filter(_multi_choice_contains(key, item))
        return queryset
    lookup = op or "exact"
    if kind == FieldType.DECIMAL:
        # Stored as exact text ("12.50"): compare as numbers, not as strings.
        alias = f"_cf_{key}"
        number = Cast(
            KeyTextTransform(key, "custom_fields"), DecimalField(max_digits=30, decimal_places=6)
        )
        return queryset.alias(**{alias: number}).filter(
            **{f"{alias}__{lookup}": decimal.Decimal(value)}
        )
    # Numbers are JSON numbers; ISO dates sort as text; choices and booleans compare exactly.
    return queryset.filter(**{f"custom_fields__{key}__{lookup}": value})


def _apply_custom_fields(queryset: QuerySet, params: Mapping, entity: str, errors: _Errors):
    names = [name for name in params if isinstance(name, str) and name.startswith("cf_")]
    if not names:
        return queryset
    definitions = {d.key: d for d in definitions_for(entity)}
    for name in sorted(names):
        key, _, op = name[3:].partition("__")
        if op not in {"", "gte", "lte"}:
            errors.add(name, "Use cf_<key>, cf_<key>__gte or cf_<key>__lte.")
            continue
        definition = definitions.get(key)
        if definition is None:
            errors.add(name, "Unknown custom field.")
            continue
        value = _single(params, name, errors)
        if value is not None:
            queryset = _filter_custom_field(queryset, definition, name, value, op, errors)
    return queryset


def _apply_common(queryset: QuerySet, params: Mapping, user, errors: _Errors) -> QuerySet:
    q = _single(params, "q", errors)
    if q:
        queryset = queryset.search(q)
    owners = _many(params, "owner", errors)
    if owners:
        owner_q = _owner_q(owners, user, errors)
        if owner_q is not None:
            queryset = queryset.filter(owner_q)
    tags = _many(params, "tag", errors)
    if tags:
        # Any of the tags, matched without case (tags are unique without case).
        through = queryset.model.tags.through
        owner_column = f"{queryset.model._meta.model_name}_id"
        queryset = queryset.filter(
            Exists(through.objects.filter(**{owner_column: OuterRef("pk")}, tag__in=_tag_ids(tags)))
        )
    countries = _many(params, "country", errors)
    if countries:
        bad = [c for c in countries if len(c) != 2 or not c.isalpha()]
        if bad:
            errors.add("country", "Use two-letter ISO country codes, e.g. DE.")
        else:
            queryset = queryset.filter(country__in=[c.upper() for c in countries])
    archived_q = _archived(_single(params, "archived", errors), errors)
    if archived_q is not None:
        queryset = queryset.filter(archived_q)
    after = _single(params, "created_after", errors)
    if after:
        moment = _moment(after, "created_after", errors, end_of_day=False)
        if moment is not None:
            queryset = queryset.filter(created_at__gte=moment)
    before = _single(params, "created_before", errors)
    if before:
        moment = _moment(before, "created_before", errors, end_of_day=True)
        if moment is not None:
            queryset = queryset.filter(created_at__lt=moment)
    return queryset


def _tag_ids(names: list[str]):
    q = Q(pk__in=[])
    for name in names:
        q |= Q(name__iexact=name)
    return Tag.objects.filter(q).values("pk")


def filter_contacts(queryset: QuerySet, params: Mapping, user) -> QuerySet:
    """`queryset` narrowed to what `user` may see and what `params` ask for.

    Raises ValidationError keyed by the parameter name (e.g. "lifecycle_stage", "cf_region")
    when a value cannot be used; every bad parameter is reported, not only the first.
    """
    errors = _Errors()
    queryset = queryset.visible_to(user)
    queryset = _apply_common(queryset, params, user, errors)
    stages = _choices(
        _many(params, "lifecycle_stage", errors), LifecycleStage.values, "lifecycle_stage", errors
    )
    if stages:
        queryset = queryset.filter(lifecycle_stage__in=stages)
    sources = _choices(_many(params, "source", errors), ContactSource.values, "source", errors)
    if sources:
        queryset = queryset.filter(source__in=sources)
    organizations = _many(params, "organization", errors)
    if organizations:
        ids = [_record_id(value) for value in organizations]
        if None in ids:
            errors.add("organization", "Give organization ids.")
        else:
            queryset = queryset.filter(
                Exists(
                    Membership.objects.filter(contact_id=OuterRef("pk"), organization_id__in=ids)
                )
            )
    queryset = _apply_custom_fields(queryset, params, Entity.CONTACT, errors)
    if errors:
        raise ValidationError(dict(errors))
    return queryset


def filter_organizations(queryset: QuerySet, params: Mapping, user) -> QuerySet:
    """Like `filter_contacts`, for organizations (adds industry and size)."""
    errors = _Errors()
    queryset = queryset.visible_to(user)
    queryset = _apply_common(queryset, params, user, errors)
    industry = _single(params, "industry", errors)
    if industry:
        queryset = queryset.filter(industry__icontains=industry)
    sizes = _choices(_many(params, "size", errors), OrganizationSize.values, "size", errors)
    if sizes:
        queryset = queryset.filter(size__in=sizes)
    queryset = _apply_custom_fields(queryset, params, Entity.ORGANIZATION, errors)
    if errors:
        raise ValidationError(dict(errors))
    return queryset


def resolve_ordering(
    name: str | None, orderings: Mapping[str, Ordering], default: str
) -> tuple[str, Ordering]:
    """The ordering called `name` (blank → `default`), or ValidationError keyed "ordering"."""
    name = (name or "").strip() or default
    if name not in orderings:
        raise ValidationError({"ordering": [f"Choose one of: {', '.join(orderings)}."]})
    return name, orderings[name]
