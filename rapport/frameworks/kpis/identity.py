"""Identify: who the customers are, as one clean, consented, owned record each.

The data-quality figures are defined once in `rapport.data_exchange.quality`; these KPIs call
them (as percentages). A past day reads the data-quality snapshot taken that day when there is
one (what was measured then), else rebuilds the day from the dated records (`past`).
"""

from __future__ import annotations

import math

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from rapport.frameworks.kpis import past
from rapport.frameworks.kpis.base import (
    Direction,
    EvaluationContext,
    History,
    Kpi,
    Measurement,
    RecordsBehind,
    SeeAlso,
    Unit,
    Unmeasurable,
    share_of,
)
from rapport.frameworks.kpis.populations import lifecycle_customers

AREA = "identity"
INTERACTION_WINDOW_DAYS = 90


def _percent(measurement) -> Measurement:
    """A data-quality Measurement (a fraction, or None with the reason) as a KPI percentage."""
    if measurement.value is None:
        raise Unmeasurable(measurement.reason)
    return Measurement(
        value=100.0 * measurement.value,
        numerator=measurement.numerator,
        denominator=measurement.denominator,
    )


def _quality_snapshot_figure(ctx: EvaluationContext, figure: str) -> Measurement | None:
    """A past day's figure from the data-quality snapshot taken that day, if one was taken
    (kept for the whole database only)."""
    from rapport.data_exchange.models import QualitySnapshot

    if ctx.is_filtered:
        return None
    key = ("quality_snapshot", ctx.as_of)
    if key not in ctx.shared:
        ctx.shared[key] = QualitySnapshot.objects.filter(taken_on=ctx.as_of).first()
    snapshot = ctx.shared[key]
    if snapshot is None:
        return None
    stored = (snapshot.figures or {}).get(figure) or {}
    if stored.get("value") is None:
        raise Unmeasurable(stored.get("reason") or "The snapshot has no value for this figure.")
    return Measurement(
        value=100.0 * stored["value"],
        numerator=stored.get("numerator"),
        denominator=stored.get("denominator"),
    )


def _quality():
    from rapport.data_exchange import quality

    return quality


# --------------------------------------------------------------------------- formulas


def census(ctx: EvaluationContext) -> dict:
    """Counts of the contacts meeting each data-quality condition (the conditions are the
    data-quality module's own; each KPI takes its share from here): those on the contact's own
    columns in one scan of the contacts, each that reads another table by its own count. A past
    day is rebuilt from the dated records (`past`)."""
    key = ("contact_census", ctx.population, getattr(ctx.segment, "pk", None), ctx.as_of)
    if key not in ctx.shared:
        quality = _quality()
        own = {"identified": quality.usable_identity_q()}
        for field, (_label, make) in quality.CONTACT_FIELDS.items():
            if field not in quality.CONTACT_FIELDS_ELSEWHERE:
                own[f"field.{field}"] = make()
        if ctx.is_today:
            contacts = ctx.contacts()
            own["stale"] = _stale_q(ctx)
            elsewhere = {
                "consent": quality.consent_recorded_q(),
                "email_consent": quality.email_consent_granted_q(),
                "duplicate": quality.suspected_duplicate_q(),
            } | {
                f"field.{field}": quality.CONTACT_FIELDS[field][1]()
                for field in quality.CONTACT_FIELDS_ELSEWHERE
            }
        else:
            contacts, elsewhere = past.existing_contacts(ctx), past.dated_conditions(ctx)
        aliases = {f"c{index}": name for index, name in enumerate(own)}
        counts = contacts.aggregate(
            total=Count("pk"),
            **{alias: Count("pk", filter=own[name]) for alias, name in aliases.items()},
        )
        result = {"total": counts["total"]} | {name: counts[a] for a, name in aliases.items()}
        for name, condition in elsewhere.items():
            result[name] = _count_matching(contacts, condition)
        if not ctx.is_today:
            for name, change in past.corrections(ctx, contacts).items():
                result[name] += change
        ctx.shared[key] = result
    return ctx.shared[key]


def _count_matching(contacts: QuerySet, condition: Q) -> int:
    """How many of `contacts` meet a condition that reads another table, counted where the
    database can join that table once (a semi-join) instead of looking it up again for every
    contact, which is what it does for a condition inside the census's one-pass aggregate.
    An OR of two lookups cannot be joined as a whole, so it is counted as |A| + |B| − |A and B|."""
    if condition.connector == Q.OR and not condition.negated and len(condition.children) == 2:
        first, second = (
            child if isinstance(child, Q) else Q(child) for child in condition.children
        )
        return (
            contacts.filter(first).count()
            + contacts.filter(second).count()
            - contacts.filter(first).filter(second).count()
        )
    return contacts.filter(condition).count()


def _stale_q(ctx: EvaluationContext) -> Q:
    """`quality.stale_q` (last touch, else creation, before the cutoff) with its COALESCE
    unfolded, so the census counts it in the same scan without an annotation."""
    cutoff = _quality().stale_cutoff(now=ctx.moment)
    return Q(last_touched_at__lt=cutoff) | Q(last_touched_at__isnull=True, created_at__lt=cutoff)


def _census_share(name: str, figure: str):
    """A share of the contact census; a past day prefers the quality snapshot taken that day."""

    def formula(ctx: EvaluationContext) -> Measurement:
        if not ctx.is_today and (stored := _quality_snapshot_figure(ctx, figure)) is not None:
            return stored
        counts = census(ctx)
        return share_of({"total": counts["total"], "hits": counts[name]}, _quality().NO_CONTACTS)

    return formula


def _after_detection(formula):
    """A figure built on the suspected pairs: measurable only once duplicate detection has run
    (by the day measured), since before that no pair means nobody looked."""

    def measured(ctx: EvaluationContext) -> Measurement:
        from rapport.data_exchange import detection

        key = ("duplicate_detection_ran", ctx.as_of)
        if key not in ctx.shared:
            ctx.shared[key] = detection.has_run("contact", before=ctx.moment)
        if not ctx.shared[key]:
            raise Unmeasurable(
                detection.NOT_RUN
                if ctx.is_today
                else "Not computed: duplicate detection had not run by that day."
            )
        return formula(ctx)

    return measured


identification_rate = _census_share("identified", "identification_rate")
duplicate_rate = _after_detection(_census_share("duplicate", "duplicate_rate"))
consent_coverage = _census_share("consent", "consent_coverage")
email_consent_rate = _census_share("email_consent", "email_consent_rate")
owner_coverage = _census_share("field.owner", "contact_completeness.owner")


def profile_completeness(ctx: EvaluationContext) -> Measurement:
    """Filled cells ÷ (contacts × standard fields), as the data-quality page computes it."""
    if not ctx.is_today and (stored := _quality_snapshot_figure(ctx, "profile_completeness")):
        return stored
    counts = census(ctx)
    fields = [f"field.{field}" for field in _quality().CONTACT_FIELDS]
    cells = counts["total"] * len(fields)
    filled = sum(counts[field] for field in fields)
    return share_of({"total": cells, "hits": filled}, _quality().NO_CONTACTS)


stale_contact_rate = _census_share("stale", "stale_rate")


def _needs_recorded_q(interests: QuerySet | None = None) -> Q:
    """Needs on record: a product of interest (of `interests`, contact ids; every one noted by
    default) or an "About" note."""
    from rapport.sales.models import ProductInterest

    if interests is None:
        interests = ProductInterest.objects.values("contact_id")
    return Q(pk__in=interests) | ~Q(about="")


NO_CUSTOMERS = "There are no customers (customer, loyal or advocate stage) yet."


def needs_captured_share(ctx: EvaluationContext) -> Measurement:
    if ctx.is_today:
        counts = lifecycle_customers(ctx).aggregate(
            total=Count("pk"), hits=Count("pk", filter=_needs_recorded_q())
        )
        return share_of(counts, NO_CUSTOMERS)
    return share_of(_past_needs(ctx), NO_CUSTOMERS)


def _past_needs(ctx: EvaluationContext) -> dict:
    """Customers of the day with needs on record then: a product of interest noted before the
    end of the day, or an "About" text they had then (today's, unless the audit trail has it
    changed since)."""
    from rapport.sales.models import ProductInterest

    interests = ProductInterest.objects.filter(created_at__lt=ctx.end).values("contact_id")
    customers = lifecycle_customers(ctx)
    counts = customers.aggregate(
        total=Count("pk"), hits=Count("pk", filter=_needs_recorded_q(interests))
    )
    changed = {
        pk: values["about"] for pk, values in past.audited_values(ctx).items() if "about" in values
    }
    if changed:
        rows = customers.filter(pk__in=list(changed)).annotate(
            noted=Exists(interests.filter(contact_id=OuterRef("pk")))
        )
        for pk, about, noted in rows.values_list("pk", "about", "noted"):
            counts["hits"] += int(noted or bool(changed[pk])) - int(noted or bool(about))
    return counts


def _window_interactions(ctx: EvaluationContext):
    from rapport.interactions.models import Interaction

    return Interaction.objects.filter(
        occurred_at__gte=ctx.since(INTERACTION_WINDOW_DAYS), occurred_at__lt=ctx.end
    )


def linked_interaction_share(ctx: EvaluationContext) -> Measurement:
    return _percent(_quality().interactions_linked_rate(_window_interactions(ctx)))


# --------------------------------------------------------------------------- records behind


def _contacts_missing(condition_name: str, label: str):
    def records(ctx: EvaluationContext) -> RecordsBehind:
        quality = _quality()
        return RecordsBehind(
            "contacts", label, quality.records_behind(condition_name, ctx.contacts())
        )

    return records


def _thin_profiles(ctx: EvaluationContext) -> RecordsBehind:
    """Contacts with fewer than half of the standard profile fields filled in."""
    quality = _quality()
    conditions = [make() for _label, make in quality.CONTACT_FIELDS.values()]
    filled = sum(
        (Case(When(condition, then=Value(1)), default=Value(0)) for condition in conditions),
        start=Value(0),
    )
    half = math.ceil(len(conditions) / 2)
    queryset = ctx.contacts().annotate(filled_fields=_as_int(filled)).filter(filled_fields__lt=half)
    return RecordsBehind(
        "contacts", f"Contacts with fewer than {half} of {len(conditions)} profile fields", queryset
    )


def _as_int(expression):
    from django.db.models import ExpressionWrapper

    return ExpressionWrapper(expression, output_field=IntegerField())


def _unowned(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind("contacts", "Contacts without an owner", ctx.contacts().filter(owner=None))


def _needs_missing(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "contacts",
        "Customers without recorded needs",
        lifecycle_customers(ctx).exclude(_needs_recorded_q()),
    )


def _unlinked_interactions(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "interactions",
        "Interactions of the last 90 days linked to no contact",
        _window_interactions(ctx).filter(contact__isnull=True),
    )


def _duplicates(ctx: EvaluationContext) -> RecordsBehind:
    quality = _quality()
    return RecordsBehind(
        "contacts",
        "Contacts in a suspected duplicate pair",
        ctx.contacts().filter(quality.suspected_duplicate_q()),
    )


def _no_email_consent(ctx: EvaluationContext) -> RecordsBehind:
    quality = _quality()
    return RecordsBehind(
        "contacts",
        "Contacts who have not granted email consent",
        ctx.contacts().exclude(quality.email_consent_granted_q()),
    )


DATA_QUALITY = SeeAlso("Data quality", "data_exchange:quality")

KPIS = (
    Kpi(
        key="identification_rate",
        name="Identification rate",
        definition=(
            "Share of active contacts with a usable identity: a name, plus an email address "
            "or a phone number to reach them by."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=identification_rate,
        history=History.DATED,
        records=_contacts_missing("identification", "Contacts without a usable identity"),
        see_also=(DATA_QUALITY,),
    ),
    Kpi(
        key="profile_completeness",
        name="Profile completeness",
        definition=(
            "Filled-in share of the standard profile fields (first and last name, email, phone, "
            "organization, job title, city, country, owner) over all active contacts."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=profile_completeness,
        history=History.DATED,
        records=_thin_profiles,
        see_also=(DATA_QUALITY,),
    ),
    Kpi(
        key="duplicate_rate",
        name="Suspected-duplicate rate",
        definition=(
            "Share of active contacts that are in a suspected duplicate pair nobody has "
            "reviewed yet."
        ),
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        area=AREA,
        formula=duplicate_rate,
        history=History.DATED,
        records=_duplicates,
        see_also=(SeeAlso("Review duplicates", "data_exchange:duplicates"),),
    ),
    Kpi(
        key="consent_coverage",
        name="Consent coverage",
        definition=(
            "Share of active contacts whose consent was asked and recorded (granted or "
            "withdrawn) on at least one channel."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=consent_coverage,
        history=History.DATED,
        records=_contacts_missing("consent", "Contacts whose consent was never recorded"),
        see_also=(DATA_QUALITY,),
    ),
    Kpi(
        key="email_consent_rate",
        name="Email consent rate",
        definition="Share of active contacts who granted consent to be emailed.",
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=email_consent_rate,
        history=History.DATED,
        records=_no_email_consent,
    ),
    Kpi(
        key="stale_contact_rate",
        name="Stale contacts",
        definition=(
            "Share of active contacts with no interaction in the last 12 months (a contact "
            "never touched counts from the day it was created)."
        ),
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        area=AREA,
        formula=stale_contact_rate,
        history=History.DATED,
        records=_contacts_missing("stale", "Contacts not touched in a year"),
        see_also=(DATA_QUALITY,),
    ),
    Kpi(
        key="owner_coverage",
        name="Owner coverage",
        definition="Share of active contacts with a named owner.",
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=owner_coverage,
        history=History.DATED,
        records=_unowned,
    ),
    Kpi(
        key="needs_captured_share",
        name="Needs captured",
        definition=(
            "Share of customers (customer, loyal or advocate stage) with their needs on record: "
            "a product of interest or an “About” note."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=needs_captured_share,
        history=History.DATED,
        records=_needs_missing,
    ),
    Kpi(
        key="linked_interaction_share",
        name="Interactions linked to a contact",
        definition=(
            "Share of the interactions of the last 90 days that are linked to a known contact, "
            "not only to an organization."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=linked_interaction_share,
        history=History.DATED,
        segmentable=False,
        records=_unlinked_interactions,
    ),
)
