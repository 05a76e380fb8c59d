"""Reading leads' facts from the database in a few batched queries, for scoring and training."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from rapport.contacts.choices import LEAD_STAGES, ContactSource, LifecycleStage
from rapport.contacts.models import Contact, LifecycleChange, Membership
from rapport.core.conditions import ConditionField, FieldSet
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.services import definitions_for
from rapport.interactions.choices import Direction, InteractionKind
from rapport.interactions.models import Interaction
from rapport.sales.scoring.features import LeadFacts

CONVERTED_STAGES = (
    LifecycleStage.OPPORTUNITY,
    LifecycleStage.CUSTOMER,
    LifecycleStage.LOYAL,
    LifecycleStage.ADVOCATE,
)
BATCH = 2000


def _days(moment_name: str):
    return lambda facts: facts.days_since(getattr(facts, moment_name))


_BASE_FIELDS = {
    "job_title": ConditionField("job_title", lambda f: f.job_title, "text", "Job title"),
    "seniority": ConditionField("job_title", lambda f: f.seniority, "choice", "Seniority"),
    "country": ConditionField("country", lambda f: f.country, "text", "Country"),
    "region": ConditionField("region", lambda f: f.region, "text", "Region"),
    "postcode": ConditionField("postcode", lambda f: f.postcode, "text", "Postcode"),
    "city": ConditionField("city", lambda f: f.city, "text", "City"),
    "source": ConditionField("source", lambda f: f.source, "choice", "Source"),
    "source_detail": ConditionField(
        "source_detail", lambda f: f.source_detail, "text", "Source detail"
    ),
    "lifecycle_stage": ConditionField(
        "lifecycle_stage", lambda f: f.lifecycle_stage, "choice", "Lifecycle stage"
    ),
    "email_domain": ConditionField(
        "primary_email", lambda f: f.email_domain, "text", "Email domain"
    ),
    "business_email": ConditionField(
        "primary_email", lambda f: f.is_business_email, "boolean", "Business email"
    ),
    "has_phone": ConditionField("primary_phone", lambda f: f.has_phone, "boolean", "Has phone"),
    "organization_size": ConditionField(
        "memberships__organization__size",
        lambda f: f.organization_size,
        "choice",
        "Organization size",
    ),
    "industry": ConditionField(
        "memberships__organization__industry", lambda f: f.industry, "text", "Industry"
    ),
    "product_of_interest": ConditionField(
        "product_interests__product",
        lambda f: list(f.products),
        "tags",
        "Product of interest",
        many=True,
    ),
    "score": ConditionField("lead_score__score", lambda f: f.score, "number", "Lead score"),
    "form_submissions": ConditionField(
        "form_submissions", lambda f: f.form_submissions, "number", "Form submissions"
    ),
    "inbound_interactions": ConditionField(
        "interactions", lambda f: f.inbound_interactions, "number", "Inbound interactions"
    ),
    "meetings": ConditionField("interactions", lambda f: f.meetings, "number", "Meetings"),
    "days_since_created": ConditionField(
        "created_at", _days("created_at"), "number", "Days since created"
    ),
    "days_since_last_touch": ConditionField(
        "last_touched_at", _days("last_touch_at"), "number", "Days since last interaction"
    ),
}

_CUSTOM_KIND = {
    FieldType.NUMBER: "number",
    FieldType.DECIMAL: "number",
    FieldType.DATE: "date",
    FieldType.BOOLEAN: "boolean",
    FieldType.CHOICE: "choice",
    FieldType.MULTI_CHOICE: "tags",
}


def _custom_getter(key: str, field_type: str):
    def get(facts: LeadFacts):
        value = facts.custom_fields.get(key)
        if value is None:
            return None
        if field_type == FieldType.DECIMAL:
            return float(value)
        if field_type == FieldType.DATE:
            try:
                return dt.date.fromisoformat(value)
            except (TypeError, ValueError):
                return None
        return value

    return get


def lead_field_set() -> FieldSet:
    """The fields scoring and assignment rules may test, including every contact custom field.

    Rules are evaluated in memory against `LeadFacts`; the lookups name where each fact lives.
    """
    extra = {}
    for definition in definitions_for(Entity.CONTACT):
        extra[f"custom_fields.{definition.key}"] = ConditionField(
            f"custom_fields__{definition.key}",
            _custom_getter(definition.key, definition.field_type),
            _CUSTOM_KIND.get(definition.field_type, "text"),
            definition.label,
            many=definition.field_type == FieldType.MULTI_CHOICE,
        )
    return FieldSet({**_BASE_FIELDS, **extra})


def field_choice_labels() -> dict[str, list[tuple[str, str]]]:
    """The choice fields' values with the words the rule builder shows for them."""
    labels = {
        "source": list(ContactSource.choices),
        "lifecycle_stage": list(LifecycleStage.choices),
        "seniority": [("executive", "Executive"), ("manager", "Manager"), ("other", "Other")],
        "organization_size": [
            (size, f"{size} people") for size in field_choices()["organization_size"]
        ],
    }
    for definition in definitions_for(Entity.CONTACT):
        if definition.field_type in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
            labels[f"custom_fields.{definition.key}"] = [(c, c) for c in definition.choices]
    return labels


def field_choices() -> dict[str, list[str]]:
    """Values offered for the choice fields in the rule editors."""
    return {
        "source": list(ContactSource.values),
        "lifecycle_stage": list(LifecycleStage.values),
        "seniority": ["executive", "manager", "other"],
        "organization_size": ["1-10", "11-50", "51-200", "201-1000", "1001+"],
    }


def _chunks(ids: Sequence[int], size: int = BATCH) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _id_filter(ids: list[int], field: str = "contact_id") -> Q:
    """`field IN ids`, or a range when the ids are dense enough.

    Building a 2,000-item IN list costs Django more than the query itself; a batch of
    consecutive leads is better read as a range (the few rows in between that are not in the
    batch are dropped by the caller, which looks every row up in its batch anyway).
    """
    low, high = min(ids), max(ids)
    if high - low < 2 * len(ids):
        return Q(**{f"{field}__gte": low, f"{field}__lte": high})
    return Q(**{f"{field}__in": ids})


def _static_facts(ids: list[int], as_of: dt.datetime) -> dict[int, LeadFacts]:
    from rapport.sales.models import LeadScore, ProductInterest

    facts: dict[int, LeadFacts] = {}
    wanted = set(ids)
    rows = Contact.objects.filter(_id_filter(ids, "pk")).values_list(
        "id",
        "job_title",
        "country",
        "region",
        "postcode",
        "city",
        "source",
        "source_detail",
        "lifecycle_stage",
        "primary_email",
        "primary_phone",
        "custom_fields",
        "created_at",
        "owner_id",
    )
    for (
        pk,
        job_title,
        country,
        region,
        postcode,
        city,
        source,
        source_detail,
        stage,
        email,
        phone,
        custom,
        created_at,
        owner_id,
    ) in rows:
        if pk not in wanted:
            continue
        facts[pk] = LeadFacts(
            contact_id=pk,
            as_of=as_of,
            job_title=job_title,
            country=country,
            region=region,
            postcode=postcode,
            city=city,
            source=source,
            source_detail=source_detail,
            lifecycle_stage=stage,
            email_domain=email.rpartition("@")[2] if email else "",
            has_email=bool(email),
            has_phone=bool(phone),
            custom_fields=custom or {},
            created_at=created_at,
            owner_id=owner_id,
        )
    for contact_id, size, industry in Membership.objects.filter(
        _id_filter(ids), is_primary=True
    ).values_list("contact_id", "organization__size", "organization__industry"):
        lead = facts.get(contact_id)
        if lead is not None:
            lead.has_organization = True
            lead.organization_size = size or ""
            lead.industry = industry or ""
    products: dict[int, list[str]] = defaultdict(list)
    for contact_id, product in ProductInterest.objects.filter(_id_filter(ids)).values_list(
        "contact_id", "product"
    ):
        products[contact_id].append(product)
    for contact_id, names in products.items():
        if contact_id in facts:
            facts[contact_id].products = tuple(sorted(names))
    for contact_id, score in LeadScore.objects.filter(_id_filter(ids)).values_list(
        "contact_id", "score"
    ):
        if contact_id in facts:
            facts[contact_id].score = score
    for contact_id, since in (
        LifecycleChange.objects.filter(_id_filter(ids), to_stage__in=LEAD_STAGES)
        .values("contact_id")
        .annotate(since=Min("changed_at"))
        .values_list("contact_id", "since")
    ):
        if contact_id in facts:
            facts[contact_id].lead_since = since
    return facts


def load_facts(
    contact_ids: Sequence[int], *, as_of: dt.datetime | None = None
) -> dict[int, LeadFacts]:
    """Current facts of the given contacts: attributes plus every interaction so far."""
    as_of = as_of or timezone.now()
    facts: dict[int, LeadFacts] = {}
    for ids in _chunks(list(contact_ids)):
        batch = _static_facts(ids, as_of)
        form = Q(kind=InteractionKind.FORM)
        inbound = Q(direction=Direction.INBOUND)
        for row in (
            Interaction.objects.filter(_id_filter(ids))
            .values("contact_id")
            .annotate(
                total=Count("id"),
                inbound=Count("id", filter=inbound),
                forms=Count("id", filter=form),
                meetings=Count("id", filter=Q(kind=InteractionKind.MEETING)),
                last_form=Max("occurred_at", filter=form),
                last_inbound=Max("occurred_at", filter=inbound),
                last_touch=Max("occurred_at"),
            )
        ):
            lead = batch.get(row["contact_id"])
            if lead is None:
                continue
            lead.interactions = row["total"]
            lead.inbound_interactions = row["inbound"]
            lead.form_submissions = row["forms"]
            lead.meetings = row["meetings"]
            lead.last_form_submission_at = row["last_form"]
            lead.last_inbound_at = row["last_inbound"]
            lead.last_touch_at = row["last_touch"]
        facts.update(batch)
    return facts


def current_lead_ids() -> list[int]:
    return list(
        Contact.objects.filter(lifecycle_stage__in=LEAD_STAGES, is_archived=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def load_training_history(
    *, window_days: int, now: dt.datetime | None = None
) -> tuple[list[LeadFacts], np.ndarray]:
    """Leads whose outcome is known, with a label: did they convert within `window_days`?

    A lead enters at its first move into a lead stage. It converted if, within the window, it
    reached opportunity or a customer stage or got a deal. Leads that entered less than a
    window ago are left out: their outcome is not known yet. Behaviour is counted only before
    the outcome (conversion, or the end of the window), so the model learns what predicts
    conversion, not what follows it.
    """
    from rapport.sales.models import Deal

    now = now or timezone.now()
    window = dt.timedelta(days=window_days)
    entries = dict(
        LifecycleChange.objects.filter(to_stage__in=LEAD_STAGES)
        .values("contact_id")
        .annotate(since=Min("changed_at"))
        .filter(since__lte=now - window)
        .values_list("contact_id", "since")
    )
    if not entries:
        return [], np.zeros(0, dtype=int)
    conversions: dict[int, list[dt.datetime]] = defaultdict(list)
    for contact_id, at in LifecycleChange.objects.filter(to_stage__in=CONVERTED_STAGES).values_list(
        "contact_id", "changed_at"
    ):
        if contact_id in entries:
            conversions[contact_id].append(at)
    for contact_id, at in Deal.objects.filter(contact__isnull=False).values_list(
        "contact_id", "created_at"
    ):
        if contact_id in entries:
            conversions[contact_id].append(at)
    cutoff: dict[int, dt.datetime] = {}
    labels: dict[int, int] = {}
    for contact_id, since in entries.items():
        later = sorted(at for at in conversions.get(contact_id, ()) if at >= since)
        if later and later[0] <= since + window:
            labels[contact_id] = 1
            cutoff[contact_id] = later[0]
        else:
            labels[contact_id] = 0
            cutoff[contact_id] = since + window
    ids = sorted(entries)
    facts_by_id: dict[int, LeadFacts] = {}
    for chunk in _chunks(ids, 5000):
        batch = _static_facts(chunk, now)
        touches: dict[int, list[tuple[dt.datetime, str, str]]] = defaultdict(list)
        for contact_id, at, kind, direction in Interaction.objects.filter(
            _id_filter(chunk)
        ).values_list("contact_id", "occurred_at", "kind", "direction"):
            touches[contact_id].append((at, kind, direction))
        for contact_id, lead in batch.items():
            limit = cutoff[contact_id]
            lead.as_of = limit
            lead.lead_since = entries[contact_id]
            seen = sorted(t for t in touches.get(contact_id, ()) if t[0] < limit)
            _count_behaviour(lead, seen)
            facts_by_id[contact_id] = lead
    ordered = [facts_by_id[i] for i in ids if i in facts_by_id]
    return ordered, np.array([labels[lead.contact_id] for lead in ordered], dtype=int)


def _count_behaviour(lead: LeadFacts, touches: list[tuple[dt.datetime, str, str]]) -> None:
    lead.interactions = len(touches)
    lead.inbound_interactions = sum(1 for _, _, d in touches if d == Direction.INBOUND)
    lead.form_submissions = sum(1 for _, k, _ in touches if k == InteractionKind.FORM)
    lead.meetings = sum(1 for _, k, _ in touches if k == InteractionKind.MEETING)
    if touches:
        lead.last_touch_at = touches[-1][0]
        forms = [t for t, k, _ in touches if k == InteractionKind.FORM]
        inbound = [t for t, _, d in touches if d == Direction.INBOUND]
        lead.last_form_submission_at = forms[-1] if forms else None
        lead.last_inbound_at = inbound[-1] if inbound else None
