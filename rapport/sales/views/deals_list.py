"""The deals as a table: filter, sort, page, and act on the selection with the bulk bar.

The board shows one pipeline's open work; this list is where deals are found across pipelines
and acted on many at once. Its filter is `deal_filters.filter_deals`, the same reading the
bulk actions' "all N that match" uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.views.decorators.http import require_GET

from rapport.accounts.access import can_write
from rapport.core.currency import cents
from rapport.core.exchange import load_rate_book
from rapport.core.htmx import render_page_or_fragment
from rapport.core.pagination import CursorError, keyset_page
from rapport.sales.choices import DealStatus
from rapport.sales.deal_filters import (
    DEFAULT_ORDERING,
    ORDERINGS,
    filter_deals,
    is_filtered,
    parse_sort,
    with_sort_keys,
)
from rapport.sales.forms import active_users
from rapport.sales.models import Deal, Pipeline, Stage

PAGE_SIZE = 50
FILTER_LABELS = {
    "q": "Search",
    "pipeline": "Pipeline",
    "stage": "Stage",
    "owner": "Owner",
    "status": "Status",
    "close_from": "Expected close from",
    "close_to": "Expected close to",
    "amount_min": "Amount from",
    "amount_max": "Amount to",
}
# The table's columns in order: (ordering key, css class). Narrow screens keep the deal and
# its amount; the deal's cell then carries the rest on its second line.
COLUMNS = (
    ("name", "primary-cell"),
    ("organization", "col-optional"),
    ("contact", "col-optional col-wide"),
    ("stage", "col-optional"),
    ("amount", "num"),
    ("close", "col-optional"),
    ("owner", "col-optional"),
    ("activity", "col-optional col-wide"),
)


@dataclass
class DealRow:
    deal: Deal
    # The amount in the company currency where the deal's own currency is another: the
    # figure, or why there is none (no rate).
    company_amount: Decimal | None = None
    company_missing: str = ""


def _headers(sort_key: str, descending: bool) -> list[dict]:
    headers = []
    for key, css in COLUMNS:
        current = key == sort_key
        headers.append(
            {
                "label": ORDERINGS[key].label,
                "css": css,
                "sort_param": f"-{key}" if current and not descending else key,
                "aria_sort": ("descending" if descending else "ascending") if current else "",
                "indicator": ("▼" if descending else "▲") if current else "",
            }
        )
    return headers


def _conversion_day(deal: Deal):
    # A closed deal counts at its close; an open one at the day it is expected to close.
    return deal.closed_at.date() if deal.closed_at else deal.expected_close_date


def _rows(deals: list[Deal]) -> tuple[list[DealRow], str]:
    """The page's rows with their company-currency figures, and the company currency.

    One read of the rates the page needs (its currencies between its first and last day)."""
    days = [_conversion_day(deal) for deal in deals]
    book = load_rate_book(
        currencies={deal.currency for deal in deals},
        first=min(days, default=None),
        last=max(days, default=None),
    )
    rows = []
    for deal, day in zip(deals, days, strict=True):
        row = DealRow(deal=deal)
        if deal.currency != book.company_currency:
            value, missing = book.convert(deal.amount, deal.currency, day)
            row.company_amount = cents(value) if value is not None else None
            row.company_missing = missing
        rows.append(row)
    return rows, book.company_currency


def _stage_groups() -> list[tuple[Pipeline, list[Stage]]]:
    pipelines = list(Pipeline.objects.active().order_by("name", "pk"))
    stages: dict[int, list[Stage]] = {}
    for stage in Stage.objects.filter(pipeline__in=pipelines).order_by("position", "pk"):
        stages.setdefault(stage.pipeline_id, []).append(stage)
    return [(pipeline, stages.get(pipeline.pk, [])) for pipeline in pipelines]


@login_required
@require_GET
def deal_list(request):
    """Deals the user may see, filtered, sorted by any column and paged by keyset; HTMX gets
    the results only. A bad filter is named beside its field and shows no rows."""
    params = request.GET
    errors: dict[str, list[str]] = {}
    try:
        filtered = filter_deals(request.user, params)
    except ValidationError as exc:
        errors = exc.message_dict
        filtered = Deal.objects.none()
    sort_key, descending = parse_sort(params.get("sort"))
    ordering = ORDERINGS[sort_key]
    queryset = with_sort_keys(filtered).select_related(
        "pipeline", "stage", "owner", "contact", "organization"
    )
    notices = []
    try:
        page = keyset_page(
            queryset,
            order_fields=ordering.fields,
            descending=descending,
            cursor=params.get("after") or None,
            limit=PAGE_SIZE,
        )
    except CursorError:
        notices.append("That page link no longer fits this list, so here is its first page.")
        page = keyset_page(
            queryset,
            order_fields=ordering.fields,
            descending=descending,
            cursor=None,
            limit=PAGE_SIZE,
        )
    rows, company_currency = _rows(page.items)
    sort_value = f"-{sort_key}" if descending else sort_key
    context = {
        "rows": rows,
        "page": page,
        "count": filtered.count() if not errors else 0,
        "company_currency": company_currency,
        "headers": _headers(sort_key, descending),
        "sort": sort_value if sort_value != DEFAULT_ORDERING else "",
        "is_first_page": not params.get("after"),
        "is_filtered": is_filtered(params),
        "filter_errors": errors,
        "error_list": [
            (FILTER_LABELS.get(name, "Filter"), message)
            for name, messages in errors.items()
            for message in messages
        ],
        "notices": notices,
        "params": {name: params.get(name, "") for name in FILTER_LABELS},
        "statuses": DealStatus.choices,
        "stage_groups": _stage_groups(),
        "owners": active_users(),
        "can_write": can_write(request.user),
    }
    # A bad filter still answers 200: HTMX swaps only a success, and the page names the field.
    return render_page_or_fragment(
        request, "sales/deals/list.html", "sales/deals/_list_results.html", context
    )
