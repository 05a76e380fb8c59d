"""Quota attainment: each quota against what its people won in its period, in the company
currency.

Won deals count in the period they closed in, open deals in the period they are expected to
close in; each converts at that day's rate, and a deal without a rate is left out and named
(`core.currency`), never converted at a guess. Which quotas: those the viewer may see
(`Quota.objects.visible_to`); which deals: every deal of the quota's people, whoever asks, so
everyone who may see a quota sees the same figure for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Q
from django.utils import timezone

from rapport.accounts.models import User
from rapport.core.currency import CompanyTotal, MissingRate, company_total, missing_rates
from rapport.core.exchange import load_rate_book
from rapport.sales.models import Deal, Quota

# `attainment(pipeline=ANY_PIPELINE)`: every quota of the period, whatever its pipeline.
ANY_PIPELINE = "any"

PERCENT = Decimal("0.1")


@dataclass(frozen=True)
class Attainment:
    """One quota against what its people won in its period, in the company currency.

    `won` and `open_pipeline` leave out deals without an exchange rate and name them in
    `missing`; `target` is None (with `problem` saying why) when the quota was set in a
    currency that is no longer the company's, since the two cannot be compared honestly.
    """

    quota: Quota
    currency: str
    target: Decimal | None
    won: CompanyTotal
    won_deals: int
    open_pipeline: CompanyTotal  # open deals expected to close in the period
    open_deals: int
    weighted_open: Decimal  # each open deal × its stage's probability
    missing: list[MissingRate]
    problem: str = ""
    # (deal id, amount, currency, day) of each deal left out, so figures over several quotas
    # can name each such deal once (`missing_across`).
    left_out: tuple = ()

    @property
    def percent(self) -> Decimal | None:
        if self.target is None:
            return None
        return (self.won.amount * 100 / self.target).quantize(PERCENT, rounding=ROUND_HALF_EVEN)

    @property
    def forecast(self) -> Decimal:
        return self.won.amount + self.weighted_open

    @property
    def remaining(self) -> Decimal | None:
        if self.target is None:
            return None
        return max(self.target - self.won.amount, Decimal(0))

    @property
    def is_complete(self) -> bool:
        return not self.missing


def _window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The period's first and after-last moments in the current time zone, where a won deal's
    close day is read (as the forecast reads it)."""
    zone = timezone.get_current_timezone()
    first = timezone.make_aware(dt.datetime.combine(start, dt.time.min), zone)
    after = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min), zone)
    return first, after


@dataclass(frozen=True)
class _DealRow:
    deal_id: int
    owner_id: int
    pipeline_id: int
    status: str
    amount: Decimal
    currency: str
    day: dt.date  # the day it counts and converts at
    weight: int  # percent


def _deal_rows(owner_ids: set[int], start: dt.date, end: dt.date) -> list[_DealRow]:
    """Every active deal of these people that counts in the period (one query): won with a
    close day inside it, or open and expected to close inside it."""
    if not owner_ids:
        return []
    first, after = _window(start, end)
    counted = (
        Q(status="won", closed_at__gte=first, closed_at__lt=after)
        | Q(status="won", closed_at__isnull=True, expected_close_date__range=(start, end))
        | Q(status="open", expected_close_date__range=(start, end))
    )
    rows = []
    for (
        deal_id,
        owner_id,
        pipeline_id,
        status,
        amount,
        currency,
        expected,
        closed_at,
        kind,
        weight,
    ) in (
        Deal.objects.active()
        .filter(counted, owner_id__in=owner_ids)
        .values_list(
            "id",
            "owner_id",
            "pipeline_id",
            "status",
            "amount",
            "currency",
            "expected_close_date",
            "closed_at",
            "stage__kind",
            "stage__probability",
        )
    ):
        if status == "open" or closed_at is None:
            day = expected
        else:
            day = timezone.localtime(closed_at).date()
        rows.append(
            _DealRow(
                deal_id=deal_id,
                owner_id=owner_id,
                pipeline_id=pipeline_id,
                status=status,
                amount=amount or Decimal(0),
                currency=currency,
                day=day,
                weight=100 if kind == "won" else 0 if kind == "lost" else weight,
            )
        )
    return rows


def visible_quotas(
    actor, *, period_start: dt.date, period_end: dt.date, pipeline=ANY_PIPELINE, user_id=None
):
    quotas = Quota.objects.visible_to(actor).for_period(period_start, period_end)
    if pipeline != ANY_PIPELINE:
        quotas = quotas.filter(pipeline=pipeline)
    if user_id is not None:
        quotas = quotas.filter(user_id=user_id)
    return quotas.select_related("user", "team", "pipeline")


def attainment(
    *,
    actor,
    period_start: dt.date,
    period_end: dt.date,
    pipeline=ANY_PIPELINE,
    user_id: int | None = None,
) -> list[Attainment]:
    """Each quota `actor` may see for exactly this period (of one pipeline, `None` for the
    quotas of every pipeline, or `ANY_PIPELINE`; of one rep when `user_id` is given), against
    the deals its people won in it and the open deals expected to close in it.

    A handful of queries whatever the number of quotas: the quotas, the teams' members, the
    deals, the rates their currencies and days need.
    """
    quotas = list(
        visible_quotas(
            actor,
            period_start=period_start,
            period_end=period_end,
            pipeline=pipeline,
            user_id=user_id,
        )
    )
    if not quotas:
        return []
    members: dict[int, set[int]] = {}
    team_ids = {quota.team_id for quota in quotas if quota.team_id}
    for team_id, member_id in User.teams.through.objects.filter(team_id__in=team_ids).values_list(
        "team_id", "user_id"
    ):
        members.setdefault(team_id, set()).add(member_id)
    owner_ids = {quota.user_id for quota in quotas if quota.user_id}
    owner_ids.update(*members.values())
    rows = _deal_rows(owner_ids, period_start, period_end)
    book = load_rate_book(
        currencies={row.currency for row in rows},
        first=min((row.day for row in rows), default=None),
        last=max((row.day for row in rows), default=None),
    )
    results = [_attain(quota, rows, members, book) for quota in quotas]
    return sorted(results, key=_order)


def _order(result: Attainment):
    quota = result.quota
    return (
        quota.user_id is None,
        quota.assignee_label.casefold(),
        quota.pipeline is not None,
        quota.pipeline.name if quota.pipeline else "",
    )


def _attain(quota: Quota, rows: list[_DealRow], members: dict, book) -> Attainment:
    people = {quota.user_id} if quota.user_id else members.get(quota.team_id, set())
    mine = [
        row
        for row in rows
        if row.owner_id in people
        and (quota.pipeline_id is None or row.pipeline_id == quota.pipeline_id)
    ]
    left_out = tuple(
        (r.deal_id, r.amount, r.currency, r.day)
        for r in mine
        if book.rate_on(r.currency, r.day) is None
    )
    won = [row for row in mine if row.status == "won"]
    open_rows = [row for row in mine if row.status == "open"]
    won_total = company_total(book, ((r.amount, r.currency, r.day) for r in won))
    open_total = company_total(book, ((r.amount, r.currency, r.day) for r in open_rows))
    weighted = Decimal(0)
    for row in open_rows:
        value, _problem = book.convert(row.amount, row.currency, row.day)
        if value is not None:
            weighted += value * row.weight / 100
    target, problem = quota.amount, ""
    if quota.currency != book.company_currency:
        target = None
        problem = (
            f"Set in {quota.currency}, but the company currency is now "
            f"{book.company_currency}: set this quota again."
        )
    return Attainment(
        quota=quota,
        currency=book.company_currency,
        target=target,
        won=won_total,
        won_deals=len(won) - sum(gap.count for gap in won_total.missing),
        open_pipeline=open_total,
        open_deals=len(open_rows) - sum(gap.count for gap in open_total.missing),
        weighted_open=weighted.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN),
        missing=missing_rates((amount, code, day) for _id, amount, code, day in left_out),
        problem=problem,
        left_out=left_out,
    )


@dataclass(frozen=True)
class AttainmentTotal:
    """The reps' quotas for every pipeline added up: each won deal has one owner, so nothing
    is counted twice (team and pipeline quotas overlap the reps' and are left out)."""

    currency: str
    target: Decimal
    won: Decimal
    quotas: int
    missing: list[MissingRate]

    @property
    def percent(self) -> Decimal:
        return (self.won * 100 / self.target).quantize(PERCENT, rounding=ROUND_HALF_EVEN)


def total(results: list[Attainment]) -> AttainmentTotal | None:
    counted = [
        r
        for r in results
        if r.quota.user_id is not None and r.quota.pipeline_id is None and r.target is not None
    ]
    if not counted:
        return None
    return AttainmentTotal(
        currency=counted[0].currency,
        target=sum((r.target for r in counted), Decimal(0)),
        won=sum((r.won.amount for r in counted), Decimal(0)),
        quotas=len(counted),
        missing=missing_across(counted),
    )


def missing_across(results: list[Attainment]) -> list[MissingRate]:
    """The deals left out of any of these figures, each counted once (a deal of this month
    is also one of this quarter, and a rep's deal is also their team's)."""
    deals = {deal_id: rest for r in results for deal_id, *rest in r.left_out}
    return missing_rates(tuple(rest) for rest in deals.values())
