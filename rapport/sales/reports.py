"""Pipeline analytics and forecast, read from the database and computed by the pure modules."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from rapport.accounts.models import User
from rapport.contacts.choices import ContactSource
from rapport.core.currency import CompanyTotal, MissingRate, cents, company_total, missing_rates
from rapport.core.exchange import load_rate_book
from rapport.sales import flow, forecast
from rapport.sales.models import Deal, DealStageChange, Pipeline


def stage_specs(pipeline: Pipeline) -> list[flow.StageSpec]:
    return [
        flow.StageSpec(
            id=s.pk, name=s.name, position=s.position, kind=s.kind, stall_days=s.stall_days
        )
        for s in pipeline.stages.all()
    ]


def deal_paths(pipeline: Pipeline, user) -> list[flow.DealPath]:
    """Every visible deal of the pipeline with its dated visits (two queries)."""
    deals = (
        Deal.objects.visible_to(user)
        .active()
        .filter(pipeline=pipeline)
        .values_list("id", "status", "source", "owner_id")
    )
    info = {pk: (status, source, owner) for pk, status, source, owner in deals}
    visits: dict[int, list[tuple[int, dt.datetime]]] = defaultdict(list)
    for deal_id, stage_id, at in (
        DealStageChange.objects.filter(pipeline=pipeline, deal_id__in=list(info))
        .order_by("deal_id", "changed_at", "id")
        .values_list("deal_id", "to_stage_id", "changed_at")
    ):
        visits[deal_id].append((stage_id, at))
    return [
        flow.DealPath(
            deal_id=pk,
            visits=tuple(visits.get(pk, ())),
            status=status,
            source=source,
            owner_id=owner,
        )
        for pk, (status, source, owner) in info.items()
    ]


def forecast_rows(
    pipeline: Pipeline, user, *, first_month: dt.date, months: int
) -> list[forecast.ForecastMonth]:
    first = forecast.month_of(first_month)
    items = forecast_deals(pipeline, user, first_month=first, months=months)
    return forecast.monthly_forecast(items, first_month=first, months=months)


@dataclass(frozen=True)
class CompanyForecast:
    currency: str
    months: list[forecast.ForecastMonth]  # every deal converted at the day it counts
    missing: list[MissingRate]  # the deals left out of `months`, per currency
    by_currency: list[forecast.ForecastMonth]  # the same deals, unconverted


def company_forecast(
    pipeline: Pipeline, user, *, first_month: dt.date, months: int
) -> CompanyForecast:
    """The forecast in the company currency beside the per-currency one (two queries)."""
    first = forecast.month_of(first_month)
    items = forecast_deals(pipeline, user, first_month=first, months=months)
    book = _book_for(items)
    converted, missing = forecast.in_company_currency(items, book)
    return CompanyForecast(
        currency=book.company_currency,
        months=forecast.monthly_forecast(converted, first_month=first, months=months),
        missing=missing,
        by_currency=forecast.monthly_forecast(items, first_month=first, months=months),
    )


def _book_for(items: list[forecast.ForecastDeal]):
    days = [forecast.conversion_date(item) for item in items]
    return load_rate_book(
        currencies={item.currency for item in items},
        first=min(days, default=None),
        last=max(days, default=None),
    )


def forecast_deals(
    pipeline: Pipeline, user, *, first_month: dt.date, months: int
) -> list[forecast.ForecastDeal]:
    """The visible deals that count in the `months` months from `first_month` (one query)."""
    first = forecast.month_of(first_month)
    after_last = forecast.add_months(first, months)
    deals = (
        Deal.objects.visible_to(user)
        .active()
        .filter(pipeline=pipeline)
        .values_list(
            "amount",
            "currency",
            "status",
            "stage__probability",
            "stage__kind",
            "expected_close_date",
            "closed_at",
        )
    )
    items = []
    for amount, currency, status, probability, kind, close_date, closed_at in deals:
        closed_on = timezone.localtime(closed_at).date() if closed_at else None
        month_day = close_date if status == "open" else (closed_on or close_date)
        if not first <= month_day < after_last:
            continue
        weight = 100 if kind == "won" else 0 if kind == "lost" else probability
        items.append(
            forecast.ForecastDeal(
                amount=amount,
                currency=currency,
                status=status,
                probability=weight,
                expected_close=close_date,
                closed_on=closed_on,
            )
        )
    return items


@dataclass(frozen=True)
class StageValue:
    stage_id: int
    name: str
    open_deals: int
    total: CompanyTotal  # the stage's open deals, each at its expected close date


@dataclass(frozen=True)
class PipelineValue:
    """What a pipeline's deals are worth in the company currency, every deal converted at its
    own date: the close date once won, the expected close date while open."""

    currency: str
    won: CompanyTotal
    won_deals: int  # those converted, which the average divides by
    average_won: Decimal | None
    by_stage: list[StageValue]
    won_by_source: dict[str, CompanyTotal]
    won_by_owner: dict[int | None, CompanyTotal]
    missing: list[MissingRate]  # every deal left out above, per currency


def pipeline_value(pipeline: Pipeline, user, stages: list[flow.StageSpec]) -> PipelineValue:
    """Won value, average won deal and open value per stage, as the user may see them (two
    queries: the deals, then only the rates their currencies and dates need)."""
    rows = []
    for amount, currency, status, stage_id, source, owner_id, close_date, closed_at in (
        Deal.objects.visible_to(user)
        .active()
        .filter(pipeline=pipeline, status__in=["open", "won"])
        .values_list(
            "amount",
            "currency",
            "status",
            "stage_id",
            "source",
            "owner_id",
            "expected_close_date",
            "closed_at",
        )
    ):
        day = close_date
        if status == "won" and closed_at:
            day = timezone.localtime(closed_at).date()
        rows.append((amount or Decimal(0), currency, status, stage_id, source, owner_id, day))
    book = load_rate_book(
        currencies={row[1] for row in rows},
        first=min((row[6] for row in rows), default=None),
        last=max((row[6] for row in rows), default=None),
    )
    won_rows = [row for row in rows if row[2] == "won"]
    won = company_total(book, ((r[0], r[1], r[6]) for r in won_rows))
    won_deals = len(won_rows) - sum(gap.count for gap in won.missing)
    by_stage = []
    for stage in stages:
        here = [(r[0], r[1], r[6]) for r in rows if r[2] == "open" and r[3] == stage.id]
        if stage.kind == "open" or here:
            by_stage.append(
                StageValue(
                    stage_id=stage.id,
                    name=stage.name,
                    open_deals=len(here),
                    total=company_total(book, here),
                )
            )
    return PipelineValue(
        currency=book.company_currency,
        won=won,
        won_deals=won_deals,
        average_won=cents(won.amount / won_deals) if won_deals else None,
        by_stage=by_stage,
        won_by_source=_won_by(book, won_rows, key=4),
        won_by_owner=_won_by(book, won_rows, key=5),
        missing=missing_rates((r[0], r[1], r[6]) for r in rows if book.rate_on(r[1], r[6]) is None),
    )


def _won_by(book, won_rows, *, key: int) -> dict:
    groups: dict = defaultdict(list)
    for row in won_rows:
        groups[row[key]].append((row[0], row[1], row[6]))
    return {group: company_total(book, items) for group, items in groups.items()}


def pipeline_report(pipeline: Pipeline, user, *, now: dt.datetime | None = None) -> dict:
    """Everything the analytics page and API show for one pipeline, as the user may see it."""
    now = now or timezone.now()
    stages = stage_specs(pipeline)
    paths = deal_paths(pipeline, user)
    conversions = flow.conversion(stages, paths)
    times = flow.time_in_stage(stages, paths, now)
    stuck = flow.stalled(stages, paths, times, now)
    by_source = flow.win_rates(paths, key=lambda p: p.source)
    by_owner = flow.win_rates(paths, key=lambda p: p.owner_id)
    owners = {
        u.pk: str(u)
        for u in User.objects.filter(pk__in=[r.key for r in by_owner if r.key is not None])
    }
    source_labels = dict(ContactSource.choices)
    stalled_deals = list(
        Deal.objects.filter(pk__in=list(stuck))
        .select_related("stage", "owner")
        .order_by("stage__position", "stage_entered_at")[:50]
    )
    for deal in stalled_deals:
        deal.days_in_stage = stuck[deal.pk]
    value = pipeline_value(pipeline, user, stages)
    won = sum(1 for p in paths if p.status == "won")
    lost = sum(1 for p in paths if p.status == "lost")
    this_month = forecast.month_of(timezone.localdate())
    first_month, months = forecast.add_months(this_month, -2), 8
    items = forecast_deals(pipeline, user, first_month=first_month, months=months)
    book = _book_for(items)
    converted, missing = forecast.in_company_currency(items, book)
    return {
        "stages": stages,
        "deal_count": len(paths),
        "open_count": sum(1 for p in paths if p.status == "open"),
        "won": won,
        "lost": lost,
        "win_rate": won / (won + lost) if won + lost else None,
        "conversion": conversions,
        "times": times,
        "bottleneck": flow.bottleneck(conversions, times),
        "stalled": stalled_deals,
        "stalled_count": len(stuck),
        "win_by_source": [
            {
                "key": r.key,
                "label": source_labels.get(r.key, r.key or "—"),
                "rate": r.rate,
                "won": r.won,
                "lost": r.lost,
                "won_value": value.won_by_source.get(r.key),
            }
            for r in by_source
        ],
        "win_by_owner": [
            {
                "key": r.key,
                "label": owners.get(r.key, "Nobody"),
                "rate": r.rate,
                "won": r.won,
                "lost": r.lost,
                "won_value": value.won_by_owner.get(r.key),
            }
            for r in by_owner
        ],
        # Won value, average won deal and open value per stage in the company currency.
        "value": value,
        "forecast": forecast.monthly_forecast(items, first_month=first_month, months=months),
        # The same forecast with every deal converted at its own date; deals without a rate
        # are left out and named in `forecast_missing`.
        "company_currency": book.company_currency,
        "forecast_company": forecast.monthly_forecast(
            converted, first_month=first_month, months=months
        ),
        "forecast_missing": missing,
    }
