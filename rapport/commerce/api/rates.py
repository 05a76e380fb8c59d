"""The exchange-rate API: everyone signed in reads; administrators write. The rule is declared once
(`access.register_configuration` in `CommerceConfig.ready()`); the services apply it to writes,
and a route that takes an id asks it before looking the id up, so a caller who may not delete
learns nothing about which ids exist. Thin: translate, call `rapport.commerce.rates`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.commerce import rates
from rapport.commerce.models import CompanyCurrency, ExchangeRate
from rapport.core.api_types import PathId
from rapport.core.pagination import keyset_page

router = Router(tags=["exchange rates"])

MAX_LIMIT = 500


class CompanyCurrencyOut(Schema):
    code: str = Field(description="ISO 4217 code totals and forecasts are reported in.")


class CompanyCurrencyIn(Schema):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=3, description="A three-letter ISO 4217 code, e.g. EUR.")


class ExchangeRateIn(Schema):
    model_config = ConfigDict(extra="forbid")
    currency: str = Field(max_length=3, description="The foreign currency, e.g. USD.")
    rate: Decimal = Field(
        description="What one unit of `currency` is worth in the company currency (> 0)."
    )
    valid_on: dt.date = Field(description="The rate holds from this date on.")


class ExchangeRateOut(Schema):
    id: int
    currency: str
    to_currency: str = Field(description="The company currency the rate was given for.")
    rate: Decimal
    valid_on: dt.date
    source: str = Field(description="entered, imported or demo (not a market rate).")
    created_at: dt.datetime


class ExchangeRatePage(Schema):
    items: list[ExchangeRateOut]
    next_cursor: str | None


class RateImportIn(Schema):
    model_config = ConfigDict(extra="forbid")
    csv: str = Field(
        max_length=rates.MAX_IMPORT_BYTES,
        description="The ECB reference-rate file's text: `Date,USD,JPY,…` then a row per date.",
    )


class RateImportProblem(Schema):
    line: int
    message: str


class RateImportOut(Schema):
    created: int
    updated: int = Field(description="Rates already known for the same day, now the file's.")
    problems: list[RateImportProblem] = Field(description="Rows skipped, by line number.")


class RateFilters(Schema):
    currency: str = Field("", max_length=3)
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


@router.get("/company-currency", response=CompanyCurrencyOut)
def get_company_currency(request):
    access.require(request.auth, Action.VIEW, CompanyCurrency)
    return {"code": rates.company_currency()}


@router.put("/company-currency", response=CompanyCurrencyOut)
def put_company_currency(request, payload: CompanyCurrencyIn):
    row = rates.set_company_currency(actor=request.auth, code=payload.code)
    return {"code": row.code}


@router.get("/exchange-rates/", response=ExchangeRatePage)
def list_exchange_rates(request, filters: Query[RateFilters]):
    """The rates to the current company currency, newest date first."""
    access.require(request.auth, Action.VIEW, ExchangeRate)
    queryset = rates.rates_in_use()
    if filters.currency:
        queryset = queryset.filter(currency=filters.currency.upper())
    page = keyset_page(
        queryset,
        order_field="valid_on",
        descending=True,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/exchange-rates/", response={201: ExchangeRateOut})
def create_exchange_rate(request, payload: ExchangeRateIn):
    row = rates.add_rate(
        actor=request.auth,
        currency=payload.currency,
        rate=payload.rate,
        valid_on=payload.valid_on,
    )
    return Status(201, row)


@router.post("/exchange-rates/import", response=RateImportOut)
def import_exchange_rates(request, payload: RateImportIn):
    """Import an ECB reference-rate CSV (units per one euro), converted to the company
    currency. Unreadable rows are reported and skipped; the others are kept."""
    result = rates.import_ecb_rates(actor=request.auth, text=payload.csv)
    return {
        "created": result.created,
        "updated": result.updated,
        "problems": [{"line": line, "message": message} for line, message in result.problems],
    }


@router.delete("/exchange-rates/{rate_id}", response={204: None})
def delete_exchange_rate(request, rate_id: PathId):
    access.require(request.auth, Action.DELETE, ExchangeRate)
    rate = get_object_or_404(ExchangeRate, pk=rate_id)
    rates.delete_rate(actor=request.auth, rate=rate)
    return Status(204, None)
