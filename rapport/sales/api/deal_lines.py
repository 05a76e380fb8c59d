"""A deal's product lines under /api/v1/deals/{deal_id}/lines. Thin: the deal is found within
what the caller may see (404 otherwise); the services in `sales.services.deal_lines` check that
the caller may change it (403) and validate (422 naming the field)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from rapport.core.api_types import PathId, RecordId
from rapport.sales.models import Deal, DealLine
from rapport.sales.services import deal_lines as services

router = Router(tags=["sales"])


class DealLineIn(Schema):
    model_config = ConfigDict(extra="forbid")
    product_id: RecordId
    quantity: int = Field(default=1, ge=1, le=services.MAX_QUANTITY)
    unit_price: Decimal | None = Field(
        default=None,
        ge=0,
        max_digits=12,
        decimal_places=2,
        description="Price per unit before the discount; the product's list price when left out.",
    )
    discount: Decimal = Field(
        default=Decimal("0"), ge=0, le=100, max_digits=5, decimal_places=2, description="Percent."
    )


class DealLinePatch(Schema):
    model_config = ConfigDict(extra="forbid")
    product_id: RecordId | None = None
    quantity: int | None = Field(default=None, ge=1, le=services.MAX_QUANTITY)
    unit_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    discount: Decimal | None = Field(default=None, ge=0, le=100, max_digits=5, decimal_places=2)


class DealLinesIn(Schema):
    model_config = ConfigDict(extra="forbid")
    lines: list[DealLineIn] = Field(max_length=services.MAX_LINES)


class DealLineOut(Schema):
    id: int
    product_id: int
    product: str
    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    net_unit_price: Decimal
    line_total: Decimal


class DealLinesOut(Schema):
    deal_id: int
    amount: Decimal
    currency: str
    lines: list[DealLineOut]
    updated_at: dt.datetime


def line_out(line: DealLine) -> dict:
    return {
        "id": line.pk,
        "product_id": line.product_id,
        "product": line.product.name,
        "sku": line.product.sku,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "discount": line.discount,
        "net_unit_price": line.net_unit_price,
        "line_total": line.line_total,
    }


def _deal(user, deal_id: int) -> Deal:
    return get_object_or_404(Deal.objects.visible_to(user).active(), pk=deal_id)


def _line(deal: Deal, line_id: int) -> DealLine:
    return get_object_or_404(deal.lines.select_related("product", "deal"), pk=line_id)


def _lines_out(deal_id: int, user) -> dict:
    deal = _deal(user, deal_id)
    return {
        "deal_id": deal.pk,
        "amount": deal.amount,
        "currency": deal.currency,
        "lines": [line_out(line) for line in deal.lines.select_related("product")],
        "updated_at": deal.updated_at,
    }


def _api_names(exc: ValidationError) -> ValidationError:
    """The services say `product`; the API's field is `product_id`."""
    if not hasattr(exc, "error_dict"):
        return exc
    renamed = {}
    for key, messages in exc.message_dict.items():
        head, dot, rest = key.rpartition(".")
        if (rest or key) == "product":
            key = f"{head}{dot}product_id"
        renamed[key] = messages
    return ValidationError(renamed)


def _changes(payload: Schema) -> dict:
    data = payload.model_dump(exclude_unset=True)
    if "product_id" in data:
        data["product"] = data.pop("product_id")
    return data


@router.get("/deals/{deal_id}/lines", response=DealLinesOut)
def list_deal_lines(request, deal_id: PathId):
    """The deal's product lines and its amount (their total while it has any)."""
    return _lines_out(deal_id, request.user)


@router.post("/deals/{deal_id}/lines", response={201: DealLineOut})
def add_deal_line(request, deal_id: PathId, payload: DealLineIn):
    deal = _deal(request.user, deal_id)
    try:
        line = services.add_deal_line(actor=request.user, deal=deal, **_changes(payload))
    except ValidationError as exc:
        raise _api_names(exc) from None
    return Status(201, line_out(_line(deal, line.pk)))


@router.put("/deals/{deal_id}/lines", response=DealLinesOut)
def replace_deal_lines(request, deal_id: PathId, payload: DealLinesIn):
    """Replace every line at once; errors name the line (`lines[2].unit_price`)."""
    deal = _deal(request.user, deal_id)
    lines = [_changes(item) for item in payload.lines]
    try:
        services.set_deal_lines(actor=request.user, deal=deal, lines=lines)
    except ValidationError as exc:
        raise _api_names(exc) from None
    return _lines_out(deal_id, request.user)


@router.patch("/deals/{deal_id}/lines/{line_id}", response=DealLineOut)
def update_deal_line(request, deal_id: PathId, line_id: PathId, payload: DealLinePatch):
    deal = _deal(request.user, deal_id)
    changes = {k: v for k, v in _changes(payload).items() if v is not None}
    try:
        line = services.update_deal_line(actor=request.user, line=_line(deal, line_id), **changes)
    except ValidationError as exc:
        raise _api_names(exc) from None
    return line_out(_line(deal, line.pk))


@router.delete("/deals/{deal_id}/lines/{line_id}", response={204: None})
def remove_deal_line(request, deal_id: PathId, line_id: PathId):
    deal = _deal(request.user, deal_id)
    services.remove_deal_line(actor=request.user, line=_line(deal, line_id))
    return Status(204, None)
