"""Interact: staying in touch with customers, on their channels, across teams and partners.

A "touch" is an interaction on a customer-facing channel (notes and other internal entries do
not count); interactions carry their date, so every figure here can be read for a past day.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q

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
    count_meeting,
    share_of,
)
from rapport.frameworks.kpis.populations import (
    active_customers,
    significant_contact_ids,
)

AREA = "engagement"
TOUCH_DAYS = 90
INTERNAL_CHANNEL = "internal"


def touches(ctx: EvaluationContext, days: int = TOUCH_DAYS):
    """Customer-facing interactions with a contact in the `days` days up to the day."""
    from rapport.interactions.models import Interaction

    return Interaction.objects.filter(
        contact__isnull=False, occurred_at__gte=ctx.since(days), occurred_at__lt=ctx.end
    ).exclude(channel=INTERNAL_CHANNEL)


def touched_q(ctx: EvaluationContext) -> Q:
    # EXISTS, not IN (subquery): inside an aggregate's FILTER an IN whose rows outgrow work_mem
    # is rescanned for every outer row (quadratic at a million contacts); EXISTS probes the
    # index, or is hashed when the planner finds that cheaper.
    return Q(Exists(touches(ctx).filter(contact_id=OuterRef("pk"))))


NO_ACTIVE_CUSTOMERS = (
    "No customer bought anything (paid or shipped) in the 12 months "
    "to this day, so there are no active customers to measure."
)
NO_SIGNIFICANT = (
    "There are no strategically significant customers (platinum or gold tier) to measure."
)


def significant_customers(ctx: EvaluationContext):
    from rapport.contacts.models import Contact

    return Contact.objects.filter(is_archived=False, pk__in=significant_contact_ids(ctx)).filter(
        ctx.contact_q()
    )


def active_customers_touched(ctx: EvaluationContext) -> Measurement:
    return share_of(count_meeting(active_customers(ctx), touched_q(ctx)), NO_ACTIVE_CUSTOMERS)


def channel_count(ctx: EvaluationContext) -> Measurement:
    channels = touches(ctx).filter(ctx.contact_q("contact_id")).values("channel").distinct().count()
    return Measurement(value=float(channels))


def interactions_per_significant_customer(ctx: EvaluationContext) -> Measurement:
    customers = significant_customers(ctx)
    count = customers.count()
    if not count:
        raise Unmeasurable(NO_SIGNIFICANT)
    interactions = touches(ctx).filter(contact_id__in=customers.values("pk")).count()
    return Measurement(value=interactions / count, numerator=interactions, denominator=count)


def multi_team_touch_rate(ctx: EvaluationContext) -> Measurement:
    customers = significant_customers(ctx)
    total = customers.count()
    if not total:
        raise Unmeasurable(NO_SIGNIFICANT)
    several = (
        touches(ctx)
        .filter(contact_id__in=customers.values("pk"), actor__isnull=False)
        .values("contact_id")
        .annotate(teams=Count("actor__teams", distinct=True))
        .filter(teams__gte=2)
        .count()
    )
    return Measurement(value=100.0 * several / total, numerator=several, denominator=total)


def _network_q(ctx: EvaluationContext) -> Q:
    """Organizations with a relationship recorded by the end of the day (relationships carry
    their creation date; one deleted since is gone from every day)."""
    from rapport.contacts.models import OrganizationRelationship

    ties = OrganizationRelationship.objects.filter(created_at__lt=ctx.end)
    return Q(pk__in=ties.values("from_organization_id")) | Q(
        pk__in=ties.values("to_organization_id")
    )


def _significant_organizations(ctx: EvaluationContext):
    from rapport.contacts.models import Membership, Organization

    members = Membership.objects.filter(
        contact_id__in=significant_customers(ctx).values("pk"), created_at__lt=ctx.end
    )
    return Organization.objects.filter(
        pk__in=members.values("organization_id"), created_at__lt=ctx.end
    ).filter(Q(is_archived=False) | Q(archived_at__gte=ctx.end))


def organization_network_coverage(ctx: EvaluationContext) -> Measurement:
    counts = _significant_organizations(ctx).aggregate(
        total=Count("pk"), hits=Count("pk", filter=_network_q(ctx))
    )
    return share_of(counts, "No strategically significant customer belongs to an organization yet.")


def tracked_emails(ctx: EvaluationContext):
    """Tracked mail (marketing and sales) sent to a contact in the 90 days up to the day."""
    from rapport.mail.models import EmailMessage

    return EmailMessage.objects.filter(
        direction="outbound",
        is_tracked=True,
        sent_at__gte=ctx.since(TOUCH_DAYS),
        sent_at__lt=ctx.end,
        contact__isnull=False,
    ).filter(ctx.contact_q("contact_id"))


def engaged_q(ctx: EvaluationContext) -> Q:
    # Opened or clicked by the end of the day, so a past day reads what was known then.
    return Q(first_opened_at__lt=ctx.end) | Q(first_clicked_at__lt=ctx.end)


def email_engagement_rate(ctx: EvaluationContext) -> Measurement:
    return share_of(
        count_meeting(tracked_emails(ctx), engaged_q(ctx)),
        "No tracked email was sent to a contact in the 90 days to this day, so there is no "
        "open or click to count.",
    )


# --------------------------------------------------------------------------- records behind


def _untouched_active(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "contacts",
        "Active customers not touched in 90 days",
        active_customers(ctx).exclude(touched_q(ctx)),
    )


def _recent_touches(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "interactions",
        "Customer-facing interactions of the last 90 days",
        touches(ctx).filter(ctx.contact_q("contact_id")),
    )


def _untouched_significant(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "contacts",
        "Strategically significant customers not touched in 90 days",
        significant_customers(ctx).exclude(touched_q(ctx)),
    )


def _single_team(ctx: EvaluationContext) -> RecordsBehind:
    several = (
        touches(ctx)
        .filter(actor__isnull=False)
        .values("contact_id")
        .annotate(teams=Count("actor__teams", distinct=True))
        .filter(teams__gte=2)
        .values("contact_id")
    )
    return RecordsBehind(
        "contacts",
        "Strategically significant customers touched by fewer than two teams in 90 days",
        significant_customers(ctx).exclude(pk__in=several),
    )


def _unengaged_recipients(ctx: EvaluationContext) -> RecordsBehind:
    from rapport.contacts.models import Contact

    engaged = tracked_emails(ctx).filter(engaged_q(ctx)).values("contact_id")
    return RecordsBehind(
        "contacts",
        "Contacts sent tracked email in 90 days who opened and clicked none of it",
        Contact.objects.filter(pk__in=tracked_emails(ctx).values("contact_id")).exclude(
            pk__in=engaged
        ),
    )


def _unmapped_organizations(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "organizations",
        "Organizations of significant customers with no relationship mapped",
        _significant_organizations(ctx).exclude(_network_q(ctx)),
    )


KPIS = (
    Kpi(
        key="active_customers_touched_90d",
        name="Active customers touched in 90 days",
        definition=(
            "Share of active customers (a paid or shipped order in the last 12 months) with at "
            "least one customer-facing interaction — call, email, meeting, message — in the "
            "last 90 days."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=active_customers_touched,
        history=History.DATED,
        records=_untouched_active,
    ),
    Kpi(
        key="channel_count_90d",
        name="Channels in use",
        definition=(
            "Number of customer-facing channels (phone, email, in person, video, web, chat, "
            "social, SMS) with at least one interaction with a contact in the last 90 days."
        ),
        unit=Unit.COUNT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=channel_count,
        history=History.DATED,
        records=_recent_touches,
    ),
    Kpi(
        key="interactions_per_significant_customer_90d",
        name="Interactions per significant customer",
        definition=(
            "Customer-facing interactions in the last 90 days with the strategically "
            "significant customers (platinum and gold tiers), per such customer."
        ),
        unit=Unit.COUNT,
        direction=Direction.HIGHER,
        area=AREA,
        about_significant=True,
        formula=interactions_per_significant_customer,
        history=History.DATED,
        records=_untouched_significant,
        see_also=(SeeAlso("Platinum customers", "analytics:customers", "tier=platinum"),),
    ),
    Kpi(
        key="multi_team_touch_rate",
        name="Multi-team coverage of key customers",
        definition=(
            "Share of the strategically significant customers that people from at least two "
            "different teams were in touch with in the last 90 days."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        about_significant=True,
        formula=multi_team_touch_rate,
        history=History.DATED,
        records=_single_team,
    ),
    Kpi(
        key="organization_network_coverage",
        name="Network mapped around key customers",
        definition=(
            "Share of the organizations of strategically significant customers with at least "
            "one relationship recorded (parent, partner, supplier, distributor, customer)."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        about_significant=True,
        formula=organization_network_coverage,
        history=History.SNAPSHOTS,
        records=_unmapped_organizations,
    ),
    Kpi(
        key="email_engagement_rate",
        name="Email engagement rate",
        definition=(
            "Share of the tracked marketing and sales emails sent to contacts in the last 90 "
            "days that were opened or clicked."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=email_engagement_rate,
        history=History.DATED,
        records=_unengaged_recipients,
    ),
)
