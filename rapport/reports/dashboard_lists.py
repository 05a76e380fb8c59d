"""The lists a dashboard can show: a small registry, each list read through the viewer's own
scoped querysets (`visible_to`), so a widget never names a record its viewer could not open.

A list returns a `ListResult` of rows (a label, a link, a detail and a figure, all in words) and
at most `LIMIT` of them; amounts are summed in the company currency with the rates of the day
each counts at, and the rates that were missing are named, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from rapport.core import display
from rapport.core.currency import MissingRate, company_total
from rapport.core.exchange import load_rate_book

LIMIT = 10


@dataclass(frozen=True)
class ListRow:
    label: str
    url: str = ""
    detail: str = ""
    figure: str = ""


@dataclass
class ListResult:
    rows: list[ListRow]
    empty: str
    summary: str = ""
    link: tuple[str, str] | None = None  # (label, url) of the page with the whole list
    missing: list[MissingRate] = field(default_factory=list)


@dataclass(frozen=True)
class DashboardList:
    key: str
    title: str
    build: Callable[[object], ListResult]


LISTS: dict[str, DashboardList] = {}


def register(key: str, title: str):
    def wrap(build):
        LISTS[key] = DashboardList(key=key, title=title, build=build)
        return build

    return wrap


def list_choices() -> list[tuple[str, str]]:
    return [(item.key, item.title) for item in LISTS.values()]


def _money(total) -> str:
    return display.money_text(total.amount, total.currency)


def _this_month(today: dt.date) -> tuple[dt.date, dt.date]:
    start = today.replace(day=1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


def _deal_total(deals: list):
    """The deals' amounts in the company currency, each at its expected close date."""
    if not deals:
        return None
    days = [deal.expected_close_date for deal in deals]
    book = load_rate_book(
        currencies={deal.currency for deal in deals}, first=min(days), last=max(days)
    )
    return company_total(
        book, [(deal.amount, deal.currency, deal.expected_close_date) for deal in deals]
    )


@register("my_open_tasks", "My open tasks")
def my_open_tasks(user) -> ListResult:
    from rapport.sales.models import Task

    tasks = Task.objects.visible_to(user).open().assigned_to(user)
    now = timezone.now()
    rows = [
        ListRow(
            label=task.title,
            url=task.get_absolute_url(),
            detail=("Overdue since " if task.due_at < now else "Due ")
            + display.day_text(task.due_at),
            figure=task.get_priority_display(),
        )
        for task in tasks.order_by("due_at", "id")[:LIMIT]
    ]
    overdue = tasks.filter(due_at__lt=now).count()
    return ListResult(
        rows=rows,
        empty="No open tasks assigned to you.",
        summary=f"{overdue} overdue" if overdue else "",
        link=("My day", reverse("sales:my_day")),
    )


@register("my_leads_by_score", "My leads by score")
def my_leads_by_score(user) -> ListResult:
    from rapport.sales.querysets import leads_visible_to

    leads = (
        leads_visible_to(user)
        .filter(owner=user)
        .select_related("lead_score")
        .order_by("-lead_score__score", "-created_at", "-pk")
    )
    rows = []
    for contact in leads[:LIMIT]:
        score = getattr(contact, "lead_score", None)
        rows.append(
            ListRow(
                label=contact.full_name,
                url=contact.get_absolute_url(),
                detail=contact.get_lifecycle_stage_display(),
                figure=str(score.score) if score is not None else "Not scored",
            )
        )
    return ListResult(
        rows=rows, empty="No leads of yours.", link=("All leads", reverse("sales:lead_list"))
    )


@register("deals_closing_this_month", "Deals closing this month")
def deals_closing_this_month(user) -> ListResult:
    from rapport.sales.models import Deal

    today = timezone.localdate()
    deals = list(
        Deal.objects.visible_to(user)
        .active()
        .open()
        .filtered(close_month=today)
        .select_related("owner")
        .order_by("expected_close_date", "id")
    )
    total = _deal_total(deals)
    rows = [
        ListRow(
            label=deal.name,
            url=deal.get_absolute_url(),
            detail=f"{display.day_text(deal.expected_close_date)} · {deal.owner or 'No owner'}",
            figure=display.money_text(deal.amount, deal.currency),
        )
        for deal in deals[:LIMIT]
    ]
    return ListResult(
        rows=rows,
        empty="No open deals you may see are expected to close this month.",
        summary=f"{len(deals)} deal{'s' if len(deals) != 1 else ''}, {_money(total)}"
        if total
        else "",
        link=("Deals", reverse("sales:deal_list")),
        missing=total.missing if total else [],
    )


@register("my_pipeline", "My pipeline")
def my_pipeline(user) -> ListResult:
    """My open deals per stage, in the company currency."""
    from rapport.sales.models import Deal

    deals = list(
        Deal.objects.visible_to(user)
        .active()
        .open()
        .filter(owner=user)
        .select_related("stage", "pipeline")
        .order_by("pipeline__name", "stage__position", "id")
    )
    by_stage: dict = {}
    for deal in deals:
        by_stage.setdefault(deal.stage, []).append(deal)
    rows = []
    for stage, members in by_stage.items():
        total = _deal_total(members)
        rows.append(
            ListRow(
                label=stage.name,
                url=stage.pipeline.get_absolute_url(),
                detail=f"{stage.pipeline.name} · {len(members)} deal"
                + ("s" if len(members) != 1 else ""),
                figure=_money(total),
            )
        )
    total = _deal_total(deals)
    return ListResult(
        rows=rows[:LIMIT],
        empty="You have no open deals.",
        summary=f"Open pipeline: {_money(total)}" if total else "",
        link=("Deals", reverse("sales:deal_list")),
        missing=total.missing if total else [],
    )


@register("at_risk_customers", "At-risk customers")
def at_risk_customers(user) -> ListResult:
    from rapport.analytics.models import CustomerAnalytics

    rows = [
        ListRow(
            label=row.contact.full_name,
            url=row.contact.get_absolute_url(),
            detail=f"Last order {row.recency_days} days ago",
            figure=display.number_text(row.revenue_total, 0),
        )
        for row in CustomerAnalytics.objects.visible_to(user)
        .active()
        .at_risk()
        .select_related("contact")
        .order_by("-revenue_total", "contact_id")[:LIMIT]
    ]
    return ListResult(rows=rows, empty="No customer you may see is at risk.")


@register("form_conversion", "Web form conversion (90 days)")
def form_conversion(user) -> ListResult:
    """Per web form, the submissions of the last 90 days by contacts the viewer may see, and how
    many of those contacts have since left the lead stages."""
    from rapport.contacts.choices import LEAD_STAGES
    from rapport.contacts.models import Contact
    from rapport.sales.models import WebForm

    since = timezone.now() - dt.timedelta(days=90)
    visible = Contact.objects.visible_to(user).values("pk")
    recent = Q(submissions__created_at__gte=since, submissions__contact__in=visible)
    forms = (
        WebForm.objects.annotate(
            sent=Count("submissions__contact", filter=recent, distinct=True),
            converted=Count(
                "submissions__contact",
                filter=recent & ~Q(submissions__contact__lifecycle_stage__in=LEAD_STAGES),
                distinct=True,
            ),
        )
        .filter(sent__gt=0)
        .order_by("-sent", "name")
    )
    rows = [
        ListRow(
            label=form.name,
            url=form.get_absolute_url(),
            detail=f"{form.sent} contact{'s' if form.sent != 1 else ''}, "
            f"{form.converted} past the lead stages",
            figure=f"{round(100 * form.converted / form.sent)} %",
        )
        for form in forms[:LIMIT]
    ]
    return ListResult(rows=rows, empty="No web form submissions you may see in 90 days.")


@register("segment_growth", "Segment growth (30 days)")
def segment_growth(user) -> ListResult:
    """Each segment's members the viewer may see, and how many joined in the last 30 days
    (static lists by the day they were added; dynamic segments only when watched, since an
    unwatched one keeps no history)."""
    from rapport.analytics import segments
    from rapport.analytics.choices import SegmentKind
    from rapport.analytics.models import Segment
    from rapport.contacts.models import Contact

    since = timezone.now() - dt.timedelta(days=30)
    visible = Contact.objects.visible_to(user).values("pk")
    rows = []
    for segment in (
        Segment.objects.visible_to(user).filter(is_archived=False).order_by("name")[:LIMIT]
    ):
        size = segments.members(segment, user).count()
        if segment.kind == SegmentKind.STATIC:
            joined = segment.memberships.filter(added_at__gte=since, contact__in=visible).count()
        elif segment.members_checked_at is not None:
            joined = segment.watched_members.filter(
                entered_at__gte=since, contact__in=visible
            ).count()
        else:
            joined = None
        rows.append(
            ListRow(
                label=segment.name,
                url=reverse("analytics:segment_detail", args=[segment.pk]),
                detail=f"{size} member{'s' if size != 1 else ''}",
                figure=f"+{joined}" if joined is not None else "Not watched",
            )
        )
    return ListResult(rows=rows, empty="No segments yet.")


@register("model_scorecards", "CRM model scorecards")
def model_scorecards(user) -> ListResult:
    """Each CRM model's stages by status: aggregate figures every signed-in user may see."""
    from rapport.frameworks import rating, scorecards
    from rapport.frameworks.catalog import MODELS

    rows = []
    for model in MODELS.values():
        card = scorecards.build(model.key)
        counts = card.status_counts
        parts = [f"{counts[status]} {rating.STATUS_LABELS[status].lower()}" for status in counts]
        rows.append(
            ListRow(
                label=model.name,
                url=reverse("frameworks:scorecard", args=[model.key]),
                detail=", ".join(parts),
                figure=f"{len(card.stages)} stages",
            )
        )
    return ListResult(
        rows=rows, empty="No CRM models.", link=("All models", reverse("frameworks:index"))
    )


def _quota_periods(today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    from rapport.sales import quota_periods

    return [
        ("This month", *quota_periods.month_bounds(today)),
        ("This quarter", *quota_periods.quarter_bounds(today)),
    ]


def _quota_row(result, *, label: str, url: str) -> ListRow:
    from rapport.sales import quota_periods

    quota = result.quota
    if quota.pipeline is not None:
        label = f"{label} · {quota.pipeline.name}"
    won = display.money_text(result.won.amount, result.currency)
    if result.target is None:
        return ListRow(label=label, url=url, detail=result.problem, figure="Not comparable")
    return ListRow(
        label=label,
        url=url,
        detail=f"{quota_periods.label(quota.period_start, quota.period_end)}: {won} won of "
        f"{display.money_text(result.target, result.currency)} · forecast "
        f"{display.money_text(result.forecast, result.currency)}",
        figure=f"{result.percent} %",
    )


def _quota_link(user) -> tuple[str, str]:
    from rapport.sales.quotas import may_manage_quotas

    url = reverse("sales:quotas")
    return ("Set quotas", url) if may_manage_quotas(user) else ("Quotas", url)


@register("quota_attainment", "Quota attainment")
def quota_attainment(user) -> ListResult:
    """Won against quota this month and this quarter, per rep and team the viewer may see, with
    the reps' total. Without quotas it says so and links to where they are set: no figure."""
    from rapport.sales import quotas

    rows, summaries, everything = [], [], []
    for name, start, end in _quota_periods(timezone.localdate()):
        results = quotas.attainment(actor=user, period_start=start, period_end=end)
        everything += results
        url = f"{reverse('sales:quotas')}?period={_period_key(start, end)}"
        rows += [_quota_row(r, label=r.quota.assignee_label, url=url) for r in results]
        summed = quotas.total(results)
        if summed is not None:
            summaries.append(
                f"{name}: {summed.percent} % of "
                f"{display.money_text(summed.target, summed.currency)}"
            )
    return ListResult(
        rows=rows[:LIMIT],
        empty="No quotas are set for this month or this quarter.",
        summary=" · ".join(summaries),
        link=_quota_link(user),
        missing=quotas.missing_across(everything),
    )


@register("my_quota", "My quota")
def my_quota(user) -> ListResult:
    """The viewer's own quotas this month and this quarter against what they won."""
    from rapport.sales import quotas

    rows, everything = [], []
    for name, start, end in _quota_periods(timezone.localdate()):
        url = f"{reverse('sales:quotas')}?period={_period_key(start, end)}"
        results = quotas.attainment(actor=user, period_start=start, period_end=end, user_id=user.pk)
        everything += results
        rows += [_quota_row(result, label=name, url=url) for result in results]
    return ListResult(
        rows=rows[:LIMIT],
        empty="No quota is set for you this month or this quarter.",
        link=_quota_link(user),
        missing=quotas.missing_across(everything),
    )


def _period_key(start: dt.date, end: dt.date) -> str:
    from rapport.sales import quota_periods

    return quota_periods.key_of(start, end)
