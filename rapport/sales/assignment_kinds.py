"""What an assignment rule of each kind may test, and which records of that kind match.

Leads and other contacts are judged on their facts in memory (`scoring.facts`, the fields the
scoring rules use); organizations and deals on their own columns in the database, one query
per rule for a whole batch. The rule editor's visual builder shows the chosen kind's fields.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from rapport.accounts.choices import Domain
from rapport.contacts.choices import LEAD_STAGES, ContactSource, OrganizationSize
from rapport.contacts.models import Contact, Organization
from rapport.core.condition_builder import builder_fields
from rapport.core.conditions import ConditionField, FieldSet, matches, to_q
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.services import definitions_for
from rapport.sales.choices import RecordKind
from rapport.sales.scoring.facts import (
    _CUSTOM_KIND,
    field_choice_labels,
    lead_field_set,
    load_facts,
)

# How many current records a rule editor's "Check" reads at most for in-memory kinds.
CHECK_LIMIT = 5000

NOUNS = {
    RecordKind.LEAD: ("lead", "leads"),
    RecordKind.CONTACT: ("contact", "contacts"),
    RecordKind.ORGANIZATION: ("organization", "organizations"),
    RecordKind.DEAL: ("deal", "deals"),
}
DOMAINS = {
    RecordKind.LEAD: Domain.CONTACTS,
    RecordKind.CONTACT: Domain.CONTACTS,
    RecordKind.ORGANIZATION: Domain.CONTACTS,
    RecordKind.DEAL: Domain.SALES,
}


def noun(kind: str, *, plural: bool = False) -> str:
    return NOUNS[RecordKind(kind)][1 if plural else 0]


def _custom_fields(entity: str) -> dict[str, ConditionField]:
    return {
        f"custom_fields.{d.key}": ConditionField(
            f"custom_fields__{d.key}",
            None,
            _CUSTOM_KIND.get(d.field_type, "text"),
            d.label,
            many=d.field_type == FieldType.MULTI_CHOICE,
        )
        for d in definitions_for(entity)
    }


def _text(lookup: str, label: str, kind: str = "text", many: bool = False) -> ConditionField:
    return ConditionField(lookup, None, kind, label, many=many)


def organization_field_set() -> FieldSet:
    return FieldSet(
        {
            "name": _text("name", "Name"),
            "domain": _text("domain", "Domain"),
            "industry": _text("industry", "Industry"),
            "size": _text("size", "Size", "choice"),
            "country": _text("country", "Country"),
            "region": _text("region", "Region"),
            "city": _text("city", "City"),
            "postcode": _text("postcode", "Postcode"),
            "tags": _text("tags__name", "Tags", "tags", many=True),
            **_custom_fields(Entity.ORGANIZATION),
        }
    )


def deal_field_set() -> FieldSet:
    return FieldSet(
        {
            "name": _text("name", "Deal name"),
            "pipeline": _text("pipeline__name", "Pipeline", "choice"),
            "stage": _text("stage__name", "Stage", "choice"),
            "amount": _text("amount", "Amount", "number"),
            "currency": _text("currency", "Currency"),
            "source": _text("source", "Source", "choice"),
            "source_detail": _text("source_detail", "Source detail"),
            "expected_close_date": _text("expected_close_date", "Expected close date", "date"),
            "organization_industry": _text("organization__industry", "Organization's industry"),
            "organization_size": _text("organization__size", "Organization's size", "choice"),
            "organization_country": _text("organization__country", "Organization's country"),
            "contact_country": _text("contact__country", "Contact's country"),
            "tags": _text("tags__name", "Tags", "tags", many=True),
            **_custom_fields(Entity.DEAL),
        }
    )


def field_set(kind: str) -> FieldSet:
    if kind == RecordKind.ORGANIZATION:
        return organization_field_set()
    if kind == RecordKind.DEAL:
        return deal_field_set()
    return lead_field_set()


def _custom_choices(entity: str) -> dict[str, list[tuple[str, str]]]:
    return {
        f"custom_fields.{d.key}": [(c, c) for c in d.choices]
        for d in definitions_for(entity)
        if d.field_type in (FieldType.CHOICE, FieldType.MULTI_CHOICE)
    }


def _choices(kind: str) -> dict:
    sizes = list(OrganizationSize.choices)
    if kind == RecordKind.ORGANIZATION:
        return {"size": sizes, **_custom_choices(Entity.ORGANIZATION)}
    if kind == RecordKind.DEAL:
        from rapport.sales.models import Pipeline, Stage

        pipelines = sorted(set(Pipeline.objects.active().values_list("name", flat=True)))
        stages = sorted(set(Stage.objects.values_list("name", flat=True)))
        return {
            "pipeline": [(name, name) for name in pipelines],
            "stage": [(name, name) for name in stages],
            "source": list(ContactSource.choices),
            "organization_size": sizes,
            **_custom_choices(Entity.DEAL),
        }
    return field_choice_labels()


def builder_fields_for(kind: str) -> list[dict]:
    """The visual builder's menus for a rule of `kind`: its fields, their choices by label."""
    return builder_fields(field_set(kind), _choices(kind))


def _model(kind: str):
    if kind == RecordKind.ORGANIZATION:
        return Organization
    if kind == RecordKind.DEAL:
        from rapport.sales.models import Deal

        return Deal
    return Contact


def current(kind: str) -> QuerySet:
    """The records of `kind` a rule editor's "Check" counts: those not archived."""
    records = _model(kind).objects.filter(is_archived=False)
    if kind == RecordKind.LEAD:
        return records.filter(lifecycle_stage__in=LEAD_STAGES)
    if kind == RecordKind.CONTACT:
        return records.exclude(lifecycle_stage__in=LEAD_STAGES)
    return records


def matching(kind: str, condition: dict, ids: Iterable[int]) -> set[int]:
    """The ids among `ids` whose record of `kind` meets `condition` (a validated one)."""
    ids = list(ids)
    if not ids:
        return set()
    fields = field_set(kind)
    if kind in (RecordKind.LEAD, RecordKind.CONTACT):
        facts = load_facts(ids)
        return {pk for pk, fact in facts.items() if matches(condition, fact, fields)}
    records = _model(kind).objects.filter(pk__in=ids).filter(to_q(condition, fields))
    return set(records.values_list("pk", flat=True).distinct())


def matches_now(kind: str, condition: dict) -> tuple[int, int]:
    """(matching, examined) among the current records of `kind`, for the rule editors; kinds
    judged in memory read the newest `CHECK_LIMIT`."""
    records = current(kind)
    if kind in (RecordKind.ORGANIZATION, RecordKind.DEAL):
        return records.filter(to_q(condition, field_set(kind))).distinct().count(), records.count()
    ids = list(records.order_by("-pk").values_list("pk", flat=True)[:CHECK_LIMIT])
    return len(matching(kind, condition, ids)), len(ids)
