"""Reading the customer base as it stood on a past day, from the records that carry dates.

The backfill asks the contact KPIs for days nobody measured. Their inputs say when they
happened, so a past day is rebuilt, not assumed:

- which contacts existed: created before the end of the day and not archived by then;
- a profile field's value: today's, unless the audit trail records a later change of it — then
  the value before the earliest such change (every service write leaves a ChangeRecord with
  the state before and after);
- consent: a channel's consent recorded (granted or withdrawn) before the end of the day. A
  channel recorded again later counts from its newer recording only — an undercount, never an
  invented consent;
- suspected duplicates: pairs detected before the end of the day and not yet decided then;
- organization membership: memberships created before the end of the day;
- the last touch: the newest interaction before the end of the day, else the creation;
- the lifecycle stage: the newest LifecycleChange before the end of the day.

What was deleted outright (a merged-away contact, a removed membership) is gone from every day.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from rapport.frameworks.kpis.base import EvaluationContext

# The census's profile fields on the contact's own columns (every one of
# `data_exchange.quality.CONTACT_FIELDS` but the organization), whose past value the audit trail
# gives back; each counts as filled as it does there, read on plain values. "About" is audited
# for the needs captured.
FIELD_COLUMNS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "primary_email",
    "phone": "primary_phone",
    "job_title": "job_title",
    "city": "city",
    "country": "country",
    "owner": "owner_id",
}
AUDITED_FIELDS = (*FIELD_COLUMNS.values(), "about")


def existing_contacts(ctx: EvaluationContext) -> QuerySet:
    """Contacts active at the end of the day, of the context's population and segment."""
    from rapport.contacts.models import Contact

    end = ctx.end
    return (
        Contact.objects.filter(created_at__lt=end)
        .filter(Q(is_archived=False) | Q(archived_at__gte=end))
        .filter(ctx.contact_q())
    )


def consent_recorded_q(ctx: EvaluationContext) -> Q:
    from rapport.contacts.choices import ConsentStatus
    from rapport.contacts.models import Consent

    return Q(
        Exists(
            Consent.objects.filter(
                contact=OuterRef("pk"),
                status__in=[ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN],
                recorded_at__lt=ctx.end,
            )
        )
    )


def email_consent_granted_q(ctx: EvaluationContext) -> Q:
    from rapport.contacts.choices import ConsentStatus
    from rapport.contacts.models import Consent

    return Q(
        Exists(
            Consent.objects.filter(
                contact=OuterRef("pk"),
                channel="email",
                status=ConsentStatus.GRANTED,
                recorded_at__lt=ctx.end,
            )
        )
    )


def suspected_duplicate_q(ctx: EvaluationContext) -> Q:
    from rapport.data_exchange.choices import DuplicateStatus
    from rapport.data_exchange.models import ContactDuplicate

    open_then = ContactDuplicate.objects.filter(detected_at__lt=ctx.end).filter(
        Q(status=DuplicateStatus.PENDING) | Q(decided_at__gte=ctx.end)
    )
    return Q(Exists(open_then.filter(contact_a=OuterRef("pk")))) | Q(
        Exists(open_then.filter(contact_b=OuterRef("pk")))
    )


def member_q(ctx: EvaluationContext) -> Q:
    from rapport.contacts.models import Membership

    return Q(Exists(Membership.objects.filter(contact=OuterRef("pk"), created_at__lt=ctx.end)))


def stale_q(ctx: EvaluationContext) -> Q:
    """Not touched in the year up to the day (by an interaction before its end); a contact
    never touched counts from its creation, as `data_exchange.quality.stale_q` does."""
    from rapport.data_exchange import quality
    from rapport.interactions.models import Interaction

    cutoff = quality.stale_cutoff(now=ctx.end)
    touched = Interaction.objects.filter(
        contact_id=OuterRef("pk"), occurred_at__gte=cutoff, occurred_at__lt=ctx.end
    )
    return Q(created_at__lt=cutoff) & ~Q(Exists(touched))


def stage_then(ctx: EvaluationContext) -> Subquery:
    from rapport.contacts.models import LifecycleChange

    return Subquery(
        LifecycleChange.objects.filter(contact=OuterRef("pk"), changed_at__lt=ctx.end)
        .order_by("-changed_at", "-id")
        .values("to_stage")[:1]
    )


def lifecycle_customers(ctx: EvaluationContext) -> QuerySet:
    """Contacts in a customer lifecycle stage at the end of the day."""
    from rapport.contacts.choices import CUSTOMER_STAGES

    return (
        existing_contacts(ctx)
        .annotate(stage_then=stage_then(ctx))
        .filter(stage_then__in=CUSTOMER_STAGES)
    )


# --------------------------------------------------------------------------- the audit trail


def audited_values(ctx: EvaluationContext) -> dict[int, dict]:
    """For the contacts changed after the day: {contact id: {field: value at the day}}, from the
    earliest later audit record that changed each field."""
    from rapport.audit.models import ChangeRecord

    key = ("audited_values", ctx.as_of)
    if key in ctx.shared:
        return ctx.shared[key]
    records = (
        ChangeRecord.objects.filter(
            entity="contacts.contact",
            action="update",
            occurred_at__gte=ctx.end,
            before__has_any_keys=AUDITED_FIELDS,
        )
        .order_by("occurred_at", "id")
        .values_list("object_id", "before", "after")
        .iterator(chunk_size=5000)
    )
    past: dict[int, dict] = defaultdict(dict)
    for object_id, before, after in records:
        before, after = before or {}, after or {}
        for field in AUDITED_FIELDS:
            if field in before and before.get(field) != after.get(field):
                past[int(object_id)].setdefault(field, before[field])
    ctx.shared[key] = past = dict(past)
    return past


def _filled(value) -> bool:
    return value is not None and value != ""


def field_flags(values: dict) -> dict[str, bool]:
    """Which of the census's field conditions a contact's values meet."""
    flags = {f"field.{name}": _filled(values.get(column)) for name, column in FIELD_COLUMNS.items()}
    named = flags["field.first_name"] or flags["field.last_name"]
    flags["identified"] = named and (flags["field.email"] or flags["field.phone"])
    return flags


def corrections(ctx: EvaluationContext, contacts: QuerySet) -> dict[str, int]:
    """How much each field count changes when today's values of `contacts` are replaced by
    their values at the day (from the audit trail)."""
    past = audited_values(ctx)
    delta: dict[str, int] = defaultdict(int)
    if not past:
        return delta
    ids = list(past)
    columns = ["pk", *AUDITED_FIELDS]
    for start in range(0, len(ids), 5000):
        rows = contacts.filter(pk__in=ids[start : start + 5000]).values(*columns)
        for row in rows:
            now = field_flags(row)
            then = field_flags({**row, **past[row["pk"]]})
            for name, flag in then.items():
                delta[name] += int(flag) - int(now[name])
    return delta


# --------------------------------------------------------------------------- the census


def dated_conditions(ctx: EvaluationContext) -> dict[str, Q]:
    """The identity census's conditions that change with the day (see `identity.census`), as
    they stood at its end; each reads another table."""
    return {
        "consent": consent_recorded_q(ctx),
        "email_consent": email_consent_granted_q(ctx),
        "duplicate": suspected_duplicate_q(ctx),
        "stale": stale_q(ctx),
        "field.organization": member_q(ctx),
    }
