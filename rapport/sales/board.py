"""The Kanban board's reads: column totals in one aggregate query, the first cards of each
column by an index range scan, and keyset pages for "show more"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Sum

from rapport.core.currency import CompanyTotal, RateBook, company_total
from rapport.core.ids import id_from_text
from rapport.core.pagination import Page, encode_cursor, keyset_page
from rapport.sales.choices import DealStatus
from rapport.sales.models import Deal, Pipeline, Stage

CARDS_PER_COLUMN = 50
# The page opens with a screenful per column and loads the rest with "Show more"
# (CARDS_PER_COLUMN at a time): rendering cards, not reading them, is what a board of
# thousands of deals spends its time on.
FIRST_CARDS_ON_PAGE = 20
CARD_ORDER = "expected_close_date"


@dataclass(frozen=True)
class BoardFilters:
    owner_id: int | None = None
    team_id: int | None = None
    close_month: dt.date | None = None

    @classmethod
    def from_params(cls, params) -> tuple[BoardFilters, dict[str, str]]:
        """Filters from query parameters, and a message per parameter that could not be read."""
        errors: dict[str, str] = {}
        values: dict = {}
        for name in ("owner_id", "team_id"):
            raw = (params.get(name) or "").strip()
            if raw:
                if (record_id := id_from_text(raw)) is not None:
                    values[name] = record_id
                else:
                    errors[name] = "Choose from the list."
        raw = (params.get("close_month") or "").strip()
        if raw:
            try:
                values["close_month"] = dt.date.fromisoformat(f"{raw}-01")
            except ValueError:
                errors["close_month"] = "Give a month as YYYY-MM."
        return cls(**values), errors

    def as_query(self) -> str:
        params = {}
        if self.owner_id:
            params["owner_id"] = self.owner_id
        if self.team_id:
            params["team_id"] = self.team_id
        if self.close_month:
            params["close_month"] = self.close_month.strftime("%Y-%m")
        return urlencode(params)


@dataclass
class Column:
    stage: Stage
    count: int = 0
    totals: list[tuple[str, Decimal]] = field(default_factory=list)
    weighted: list[tuple[str, Decimal]] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    next_cursor: str | None = None


def board_queryset(pipeline: Pipeline, user, filters: BoardFilters):
    return (
        Deal.objects.visible_to(user)
        .active()
        .filter(pipeline=pipeline)
        .filtered(
            owner_id=filters.owner_id, team_id=filters.team_id, close_month=filters.close_month
        )
    )


def column_summaries(queryset, stages: list[Stage]) -> dict[int, Column]:
    """Count and total (per currency) of every column, from one GROUP BY query."""
    columns = {stage.pk: Column(stage=stage) for stage in stages}
    rows = (
        queryset.order_by()
        .values("stage_id", "currency")
        .annotate(n=Count("id"), total=Sum("amount"))
        .values_list("stage_id", "currency", "n", "total")
    )
    for stage_id, currency, count, total in rows:
        column = columns.get(stage_id)
        if column is None:
            continue
        total = Decimal(total or 0).quantize(Decimal("0.01"))
        column.count += count
        column.totals.append((currency, total))
        column.weighted.append(
            (currency, (total * column.stage.weight / 100).quantize(Decimal("0.01")))
        )
    for column in columns.values():
        column.totals.sort()
        column.weighted.sort()
    return columns


def open_total(queryset, load_rates: Callable[..., RateBook]) -> CompanyTotal:
    """The open deals in the company currency, each converted at its expected close date.

    One GROUP BY (currency, close date) query, then only the rates those rows need (via
    `load_rates`, `rapport.core.exchange.load_rate_book`); the conversion runs in Python.
    """
    rows = list(
        queryset.filter(status=DealStatus.OPEN)
        .order_by()
        .values("currency", "expected_close_date")
        .annotate(total=Sum("amount"))
        .values_list("total", "currency", "expected_close_date")
    )
    days = [day for _total, _code, day in rows]
    book = load_rates(
        currencies={code for _total, code, _day in rows},
        first=min(days, default=None),
        last=max(days, default=None),
    )
    return company_total(book, ((total or Decimal(0), code, day) for total, code, day in rows))


CARD_FIELDS = (
    "id",
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "stage_id",
    "stage_entered_at",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
    "contact__first_name",
    "contact__last_name",
    "contact__primary_email",
    "contact__primary_phone",
    "organization__name",
)


def _cards(queryset):
    # Only what a card shows: thousands of cards must not drag whole rows through the ORM.
    return queryset.select_related("owner", "contact", "organization").only(*CARD_FIELDS)


def card_texts(deals, *, deal_base: str, back: str) -> None:
    """Put each card's display text on the deal, computed once in Python.

    Rendering hundreds of cards through template filters costs more than the queries behind
    them; plain string attributes keep the board fast at 5,000 open deals. Even the ids and
    addresses are strings here: the template would localize every integer it prints.
    `deal_base` is "/sales/deals/" and `back` the address "Move to…" returns to.
    """
    from django.utils import timezone
    from django.utils.http import urlencode
    from django.utils.timesince import timesince

    from rapport.sales.templatetags.sales_tags import format_money

    now = timezone.now()
    next_query = urlencode({"next": back})
    for deal in deals:
        deal.id_text = str(deal.pk)
        deal.detail_url = f"{deal_base}{deal.pk}/"
        deal.move_url = f"{deal_base}{deal.pk}/move/"
        deal.move_link = f"{deal.move_url}?{next_query}"
        deal.money_text = format_money(deal.amount, deal.currency)
        deal.who_text = (
            deal.organization.name
            if deal.organization_id
            else (deal.contact.full_name if deal.contact_id else "")
        )
        deal.owner_text = str(deal.owner) if deal.owner_id else "No owner"
        deal.age_text = timesince(deal.stage_entered_at, now, depth=1)
        close = deal.expected_close_date
        deal.close_iso = close.isoformat()
        deal.close_short = f"{close.day} {close:%b}"
        deal.close_long = f"{close.day} {close:%b %Y}"


def first_cards(queryset, columns: dict[int, Column], per_column: int = CARDS_PER_COLUMN) -> None:
    """Fill each column's first `per_column` cards, in close-date order.

    One small query per column, each an index range scan (pipeline, stage, close date) that
    stops after `per_column` rows — cheaper than ranking every deal of the pipeline with a
    window function once a pipeline holds thousands. Columns known to be empty are skipped.
    """
    for stage_id, column in columns.items():
        if not column.count:
            continue
        column.deals = list(
            _cards(queryset.filter(stage_id=stage_id)).order_by(CARD_ORDER, "id")[:per_column]
        )
        if column.count > len(column.deals) and column.deals:
            last = column.deals[-1]
            column.next_cursor = encode_cursor(
                last.expected_close_date, last.pk, fields=[CARD_ORDER], descending=False
            )


def column_page(
    queryset, stage: Stage, *, cursor: str | None, limit: int = CARDS_PER_COLUMN
) -> Page:
    """The next cards of one column after `cursor` (raises CursorError on a bad one)."""
    return keyset_page(
        _cards(queryset.filter(stage=stage)),
        order_field=CARD_ORDER,
        descending=False,
        cursor=cursor,
        limit=limit,
    )


def build_board(
    pipeline: Pipeline, user, filters: BoardFilters, per_column: int = CARDS_PER_COLUMN
):
    """(stages, columns in stage order) for a pipeline as `user` may see it."""
    stages = list(pipeline.stages.all())
    queryset = board_queryset(pipeline, user, filters)
    columns = column_summaries(queryset, stages)
    first_cards(queryset, columns, per_column)
    return stages, [columns[stage.pk] for stage in stages]
