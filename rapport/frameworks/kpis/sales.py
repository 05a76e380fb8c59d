"""Sales and process: leads answered, deals won, how fast and how predictably, work on time.

Deals carry their dated stage history (DealStageChange), leads their lifecycle history, tasks
their due and completion times: each figure can be read for a past day. Money figures count
deals of every currency, each converted into the company currency at its own day (expected close
while open, the close date once won; `kpis.money`); a deal without a rate makes the figure not
measurable rather than wrong.
"""

from __future__ import annotations

import datetime as dt
import decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

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
    site_zone,
)
from rapport.frameworks.kpis.money import DayOf, in_company_currency, require_rates

AREA = "sales"
LEAD_WINDOW_DAYS = 90
CLOSED_WINDOW_DAYS = 365
COVERAGE_DAYS = 90
CONVERTED_STAGES = ("opportunity", "customer", "loyal", "advocate")
INTERNAL_CHANNEL = "internal"


def _share(hits: int, total: int, empty_reason: str) -> Measurement:
    if not total:
        raise Unmeasurable(empty_reason)
    return Measurement(value=100.0 * hits / total, numerator=hits, denominator=total)


# --------------------------------------------------------------------------- leads


def new_leads(ctx: EvaluationContext, days: int):
    """Contacts that came in as leads in the `days` days up to the day: their first lifecycle
    entry (the one without a previous stage) is a lead stage."""
    from rapport.contacts.choices import LEAD_STAGES
    from rapport.contacts.models import LifecycleChange

    return LifecycleChange.objects.filter(
        from_stage="",
        to_stage__in=LEAD_STAGES,
        changed_at__gte=ctx.since(days),
        changed_at__lt=ctx.end,
        contact__is_archived=False,
    ).filter(ctx.contact_q("contact_id"))


def _first_response(ctx: EvaluationContext) -> Subquery:
    from rapport.interactions.models import Interaction

    answers = (
        Interaction.objects.filter(
            contact=OuterRef("contact_id"),
            occurred_at__gte=OuterRef("changed_at"),
            occurred_at__lt=ctx.moment,
            direction="outbound",
        )
        .exclude(channel=INTERNAL_CHANNEL)
        .order_by("occurred_at")
        .values("occurred_at")[:1]
    )
    return Subquery(answers)


def lead_response_hours(ctx: EvaluationContext) -> Measurement:
    leads = new_leads(ctx, LEAD_WINDOW_DAYS).annotate(
        answered_at=Coalesce(_first_response(ctx), Value(ctx.moment))
    )
    totals = leads.aggregate(
        leads=Count("pk"),
        waited=Sum(
            ExpressionWrapper(F("answered_at") - F("changed_at"), output_field=DurationField())
        ),
    )
    if not totals["leads"]:
        raise Unmeasurable("No new leads came in during the 90 days to this day.")
    hours = (totals["waited"] or dt.timedelta()).total_seconds() / 3600.0
    return Measurement(value=hours / totals["leads"], numerator=hours, denominator=totals["leads"])


def _converted_q(ctx: EvaluationContext) -> Q:
    from rapport.contacts.models import LifecycleChange

    # EXISTS, not IN (subquery): inside an aggregate's FILTER an IN whose rows outgrow work_mem
    # is rescanned for every outer row (quadratic at a million contacts); EXISTS probes the
    # index, or is hashed when the planner finds that cheaper.
    converted = LifecycleChange.objects.filter(
        contact_id=OuterRef("contact_id"), to_stage__in=CONVERTED_STAGES, changed_at__lt=ctx.end
    )
    return Q(Exists(converted))


def lead_conversion_rate(ctx: EvaluationContext) -> Measurement:
    counts = count_meeting(new_leads(ctx, CLOSED_WINDOW_DAYS), _converted_q(ctx))
    return _share(
        counts["hits"], counts["total"], "No new leads came in during the 12 months to this day."
    )


# --------------------------------------------------------------------------- deals


def _deals():
    from rapport.sales.models import Deal

    return Deal.objects.filter(is_archived=False)


def closed_deals(ctx: EvaluationContext, days: int = CLOSED_WINDOW_DAYS):
    return (
        _deals()
        .filter(status__in=["won", "lost"], closed_at__gte=ctx.since(days), closed_at__lt=ctx.end)
        .filter(ctx.contact_q("contact_id"))
    )


def win_rate(ctx: EvaluationContext) -> Measurement:
    counts = closed_deals(ctx).aggregate(
        total=Count("pk"), hits=Count("pk", filter=Q(status="won"))
    )
    return _share(
        counts["hits"], counts["total"], "No deal was won or lost in the 12 months to this day."
    )


def _stage_exits(ctx: EvaluationContext):
    from rapport.sales.models import DealStageChange

    return DealStageChange.objects.filter(
        from_stage__kind="open",
        changed_at__gte=ctx.since(CLOSED_WINDOW_DAYS),
        changed_at__lt=ctx.end,
        deal__is_archived=False,
    ).filter(ctx.contact_q("deal__contact_id"))


ADVANCED = Q(to_stage__kind="won") | Q(
    to_stage__kind="open", to_stage__position__gt=F("from_stage__position")
)


def stage_conversion_rate(ctx: EvaluationContext) -> Measurement:
    counts = _stage_exits(ctx).aggregate(total=Count("pk"), hits=Count("pk", filter=ADVANCED))
    return _share(
        counts["hits"],
        counts["total"],
        "No deal left an open pipeline stage in the 12 months to this day.",
    )


def _opened_at() -> Subquery:
    from rapport.sales.models import DealStageChange

    return Subquery(
        DealStageChange.objects.filter(deal=OuterRef("pk"))
        .order_by("changed_at", "id")
        .values("changed_at")[:1]
    )


def sales_cycle_days(ctx: EvaluationContext) -> Measurement:
    won = closed_deals(ctx).filter(status="won").annotate(opened_at=_opened_at())
    totals = won.aggregate(
        deals=Count("pk"),
        length=Sum(
            ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField())
        ),
    )
    if not totals["deals"]:
        raise Unmeasurable("No deal was won in the 12 months to this day.")
    days = (totals["length"] or dt.timedelta()).total_seconds() / 86400.0
    return Measurement(value=days / totals["deals"], numerator=days, denominator=totals["deals"])


def _month_bounds(ctx: EvaluationContext) -> tuple[dt.date, dt.date]:
    """The last complete calendar month before the day: [first day, first day of the next)."""
    end = ctx.as_of.replace(day=1)
    start = (end - dt.timedelta(days=1)).replace(day=1)
    return start, end


def _instant(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=site_zone())


def _weight_at(moment: dt.datetime) -> Subquery:
    """The forecast weight (0–100) of a deal's stage at `moment`; null if it did not exist."""
    from rapport.sales.models import DealStageChange

    weights = (
        DealStageChange.objects.filter(deal=OuterRef("pk"), changed_at__lt=moment)
        .order_by("-changed_at", "-id")
        .annotate(
            weight=Case(
                When(to_stage__kind="won", then=Value(100)),
                When(to_stage__kind="lost", then=Value(0)),
                default=F("to_stage__probability"),
                output_field=IntegerField(),
            )
        )
        .values("weight")[:1]
    )
    return Subquery(weights, output_field=IntegerField())


MONEY = DecimalField(max_digits=20, decimal_places=4)


def forecast_deals(ctx: EvaluationContext):
    """Deals the weighted forecast at the start of last month expected to close in that month."""
    start, end = _month_bounds(ctx)
    month_start = _instant(start)
    return (
        _deals()
        .filter(
            expected_close_date__gte=start,
            expected_close_date__lt=end,
        )
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=month_start))
        .filter(ctx.contact_q("contact_id"))
        .annotate(weight=_weight_at(month_start))
        .filter(weight__isnull=False)
    )


EXPECTED_CLOSE = DayOf("expected_close_date", is_moment=False)
CLOSED = DayOf("closed_at")


def forecast_accuracy(ctx: EvaluationContext) -> Measurement:
    start, end = _month_bounds(ctx)
    expected = forecast_deals(ctx)
    require_rates(expected, amount="amount", day=EXPECTED_CLOSE, noun="deal", purpose="forecast")
    # Converted in an annotation: the aggregate over the annotated weight becomes a subquery,
    # and the rate lookup must sit inside it, beside the deal's columns.
    forecast = expected.annotate(value=in_company_currency("amount", EXPECTED_CLOSE)).aggregate(
        total=Sum(ExpressionWrapper(F("value") * F("weight"), output_field=MONEY))
    )["total"]
    forecast = float(forecast or 0) / 100.0
    if forecast <= 0:
        raise Unmeasurable(
            f"The forecast at the start of {start:%B %Y} expected nothing to close that month."
        )
    won_deals = (
        _deals()
        .filter(status="won", closed_at__gte=_instant(start), closed_at__lt=_instant(end))
        .filter(ctx.contact_q("contact_id"))
    )
    require_rates(won_deals, amount="amount", day=CLOSED, noun="deal", purpose="won value")
    won = won_deals.aggregate(total=Sum(in_company_currency("amount", CLOSED)))["total"]
    won = float(won or 0)
    accuracy = max(0.0, 1.0 - abs(won - forecast) / forecast)
    return Measurement(value=100.0 * accuracy, numerator=won, denominator=forecast)


def _existed_q(ctx: EvaluationContext) -> Q:
    from rapport.sales.models import DealStageChange

    return Q(pk__in=DealStageChange.objects.filter(changed_at__lt=ctx.end).values("deal_id"))


def open_pipeline(ctx: EvaluationContext):
    """Deals open at the end of the day and expected to close in the next 90 days."""
    return (
        _deals()
        .filter(
            expected_close_date__gt=ctx.as_of,
            expected_close_date__lte=ctx.as_of + dt.timedelta(days=COVERAGE_DAYS),
        )
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=ctx.end))
        .filter(_existed_q(ctx))
        .filter(ctx.contact_q("contact_id"))
    )


def pipeline_coverage(ctx: EvaluationContext) -> Measurement:
    open_deals = open_pipeline(ctx)
    require_rates(open_deals, amount="amount", day=EXPECTED_CLOSE, noun="deal", purpose="pipeline")
    pipeline = open_deals.aggregate(total=Sum(in_company_currency("amount", EXPECTED_CLOSE)))[
        "total"
    ] or decimal.Decimal(0)
    won_deals = closed_deals(ctx, COVERAGE_DAYS).filter(status="won")
    require_rates(won_deals, amount="amount", day=CLOSED, noun="deal", purpose="won value")
    won = won_deals.aggregate(total=Sum(in_company_currency("amount", CLOSED)))[
        "total"
    ] or decimal.Decimal(0)
    if not won:
        raise Unmeasurable(
            "Nothing was won in the 90 days to this day, so there is no pace to compare the "
            "pipeline with."
        )
    return Measurement(
        value=float(pipeline) / float(won), numerator=float(pipeline), denominator=float(won)
    )


# --------------------------------------------------------------------------- tasks


def open_tasks(ctx: EvaluationContext):
    from rapport.sales.models import Task

    moment = ctx.moment
    return (
        Task.objects.filter(created_at__lt=moment)
        .filter(Q(completed_at__isnull=True) | Q(completed_at__gte=moment))
        .filter(Q(status="open") | Q(completed_at__gte=moment))
        .filter(ctx.contact_q("contact_id"))
    )


def overdue_task_share(ctx: EvaluationContext) -> Measurement:
    counts = open_tasks(ctx).aggregate(
        total=Count("pk"), hits=Count("pk", filter=Q(due_at__lt=ctx.moment))
    )
    return _share(counts["hits"], counts["total"], "There were no open tasks on this day.")


# --------------------------------------------------------------------------- records behind


def _unanswered_leads(ctx: EvaluationContext) -> RecordsBehind:
    from rapport.contacts.models import Contact

    waiting = new_leads(ctx, LEAD_WINDOW_DAYS).annotate(answered=_first_response(ctx))
    return RecordsBehind(
        "contacts",
        "Leads of the last 90 days nobody has answered yet",
        Contact.objects.filter(
            pk__in=waiting.filter(answered__isnull=True).values("contact_id"), is_archived=False
        ),
    )


def _unconverted_leads(ctx: EvaluationContext) -> RecordsBehind:
    from rapport.contacts.models import Contact

    leads = new_leads(ctx, CLOSED_WINDOW_DAYS).exclude(_converted_q(ctx))
    return RecordsBehind(
        "contacts",
        "Leads of the last 12 months not yet an opportunity or customer",
        Contact.objects.filter(pk__in=leads.values("contact_id"), is_archived=False),
    )


def _lost_deals(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "deals", "Deals lost in the last 12 months", closed_deals(ctx).filter(status="lost")
    )


def _stalled_exits(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "deals",
        "Deals that went back or were lost in the last 12 months",
        _deals().filter(pk__in=_stage_exits(ctx).exclude(ADVANCED).values("deal_id")),
    )


def _won_deals(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "deals", "Deals won in the last 12 months", closed_deals(ctx).filter(status="won")
    )


def _forecast_deals(ctx: EvaluationContext) -> RecordsBehind:
    start, _end = _month_bounds(ctx)
    return RecordsBehind("deals", f"Deals forecast to close in {start:%B %Y}", forecast_deals(ctx))


def _pipeline_deals(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "deals", "Open deals expected to close in the next 90 days", open_pipeline(ctx)
    )


def _overdue_tasks(ctx: EvaluationContext) -> RecordsBehind:
    return RecordsBehind(
        "tasks", "Open tasks past their due time", open_tasks(ctx).filter(due_at__lt=ctx.moment)
    )


PIPELINES = SeeAlso("Pipelines", "sales:pipeline_list")

KPIS = (
    Kpi(
        key="lead_response_hours",
        name="Lead response time",
        definition=(
            "Mean hours from a new lead's arrival to the first outbound call, email, meeting or "
            "message, over the leads of the last 90 days; a lead nobody has answered yet counts "
            "with the hours it has been waiting."
        ),
        unit=Unit.HOURS,
        direction=Direction.LOWER,
        area=AREA,
        formula=lead_response_hours,
        history=History.DATED,
        records=_unanswered_leads,
        see_also=(SeeAlso("Leads", "sales:lead_list"),),
    ),
    Kpi(
        key="lead_conversion_rate",
        name="Lead conversion rate",
        definition=(
            "Share of the leads of the last 12 months that have become an opportunity or a "
            "customer."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=lead_conversion_rate,
        history=History.DATED,
        records=_unconverted_leads,
    ),
    Kpi(
        key="win_rate",
        name="Win rate",
        definition="Deals won ÷ deals won or lost, over the deals closed in the last 12 months.",
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=win_rate,
        history=History.DATED,
        records=_lost_deals,
        see_also=(PIPELINES,),
    ),
    Kpi(
        key="stage_conversion_rate",
        name="Stage conversion",
        definition=(
            "Of the moves out of an open pipeline stage in the last 12 months, the share that "
            "went forward — to a later stage or won — rather than back or lost."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=stage_conversion_rate,
        history=History.DATED,
        records=_stalled_exits,
        see_also=(PIPELINES,),
    ),
    Kpi(
        key="sales_cycle_days",
        name="Sales cycle length",
        definition=(
            "Mean days from a deal's creation to its win, over the deals won in the last 12 months."
        ),
        unit=Unit.DAYS,
        direction=Direction.LOWER,
        area=AREA,
        formula=sales_cycle_days,
        history=History.DATED,
        records=_won_deals,
    ),
    Kpi(
        key="forecast_accuracy",
        name="Forecast accuracy",
        definition=(
            "How close last month's weighted forecast came to what was won: 100 % × (1 − "
            "|won − forecast| ÷ forecast), floored at 0. The forecast is what the open deals "
            "expected to close that month were worth, each weighted by the probability of the "
            "stage it was in when the month began (in the company currency, each deal at its "
            "expected close date; won deals at the day they closed)."
        ),
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        area=AREA,
        formula=forecast_accuracy,
        history=History.DATED,
        records=_forecast_deals,
    ),
    Kpi(
        key="pipeline_coverage",
        name="Pipeline coverage",
        definition=(
            "Value of the open deals expected to close in the next 90 days ÷ value won in the "
            "last 90 days (in the company currency, each deal at its own date): how many times "
            "over the pipeline covers the "
            "current pace."
        ),
        unit=Unit.RATIO,
        direction=Direction.HIGHER,
        area=AREA,
        formula=pipeline_coverage,
        history=History.DATED,
        records=_pipeline_deals,
        see_also=(PIPELINES,),
    ),
    Kpi(
        key="overdue_task_share",
        name="Open tasks overdue",
        definition="Share of the open tasks that are past their due time.",
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        area=AREA,
        formula=overdue_task_share,
        history=History.DATED,
        records=_overdue_tasks,
        see_also=(SeeAlso("My day", "sales:my_day"),),
    ),
)
