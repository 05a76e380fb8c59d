"""Quotes under /api/v1/deals/{deal_id}/quotes and /api/v1/quotes/{quote_id}. Thin: deals and
quotes are found within what the caller may see (404 otherwise); `sales.quotes.services` checks
that the caller may change the deal (403) and validates (422 naming the field)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from rapport.core.api_types import PathId, RecordId
from rapport.sales.models import Deal, Quote
from rapport.sales.quotes import services
from rapport.sales.services.deal_lines import MAX_LINES, MAX_QUANTITY, MAX_UNIT_PRICE

router = Router(tags=["sales"])


class QuoteLineIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    sku: str = Field(default="", max_length=100)
    description: str = Field(default="", max_length=services.TEXT_LIMIT)
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)
    unit_price: Decimal = Field(ge=0, le=MAX_UNIT_PRICE, max_digits=12, decimal_places=2)
    discount: Decimal = Field(
        default=Decimal("0"), ge=0, le=100, max_digits=5, decimal_places=2, description="Percent."
    )


class QuoteIn(Schema):
    model_config = ConfigDict(extra="forbid")
    valid_until: dt.date | None = Field(
        default=None,
        description="The last day the offer holds; by default the quote settings' days from "
        "today. Not in the past.",
    )
    notes: str = Field(default="", max_length=services.TEXT_LIMIT)
    terms: str | None = Field(
        default=None,
        max_length=services.TEXT_LIMIT,
        description="The quote settings' standard terms when left out.",
    )
    lines: list[QuoteLineIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LINES,
        description="Lines for this quote alone; the deal's product lines when left out.",
    )


class QuoteSendIn(Schema):
    model_config = ConfigDict(extra="forbid")
    mailbox_id: RecordId = Field(description="A mailbox the caller may send from.")
    to: list[str] = Field(min_length=1, max_length=100)
    cc: list[str] = Field(default_factory=list, max_length=100)
    subject: str = Field(min_length=1, max_length=200)
    message: str = Field(
        min_length=1, max_length=services.TEXT_LIMIT, description="Plain text; the PDF is attached."
    )


class QuoteDeclineIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=services.REASON_LIMIT)


class QuoteLineOut(Schema):
    position: int
    product_id: int | None
    name: str
    sku: str
    description: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    net_unit_price: Decimal
    line_total: Decimal


class QuoteOut(Schema):
    id: int
    deal_id: int
    number: str
    version: int
    status: str = Field(description="draft, sent, accepted, declined, superseded or expired.")
    title: str
    currency: str
    issued_on: dt.date
    valid_until: dt.date
    subtotal: Decimal = Field(description="Before discounts.")
    discount_total: Decimal
    total: Decimal
    customer_name: str
    organization_name: str
    notes: str
    terms: str
    created_by_id: int | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    sent_to: str
    decided_at: dt.datetime | None
    decided_by_id: int | None
    decline_reason: str
    pdf_url: str
    lines: list[QuoteLineOut]


def quote_out(quote: Quote) -> dict:
    return {
        "id": quote.pk,
        "deal_id": quote.deal_id,
        "number": quote.number,
        "version": quote.version,
        "status": quote.current_status(timezone.localdate()),
        "title": quote.title,
        "currency": quote.currency,
        "issued_on": quote.issued_on,
        "valid_until": quote.valid_until,
        "subtotal": quote.subtotal,
        "discount_total": quote.discount_total,
        "total": quote.total,
        "customer_name": quote.customer_name,
        "organization_name": quote.organization_name,
        "notes": quote.notes,
        "terms": quote.terms,
        "created_by_id": quote.created_by_id,
        "created_at": quote.created_at,
        "sent_at": quote.sent_at,
        "sent_to": quote.sent_to,
        "decided_at": quote.decided_at,
        "decided_by_id": quote.decided_by_id,
        "decline_reason": quote.decline_reason,
        "pdf_url": f"/api/v1/quotes/{quote.pk}/pdf",
        "lines": [
            {
                "position": line.position,
                "product_id": line.product_id,
                "name": line.name,
                "sku": line.sku,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,
                "net_unit_price": line.net_unit_price,
                "line_total": line.line_total,
            }
            for line in quote.lines.all()
        ],
    }


def _deal(user, deal_id: int) -> Deal:
    return get_object_or_404(Deal.objects.visible_to(user), pk=deal_id)


def _quote(user, quote_id: int) -> Quote:
    return get_object_or_404(
        Quote.objects.visible_to(user).select_related("deal").prefetch_related("lines"),
        pk=quote_id,
    )


# The services' names, as this API calls them.
_API_NAMES = {"mailbox": "mailbox_id", "deal": "path.deal_id"}


def _api_names(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {_API_NAMES.get(key, key): messages for key, messages in exc.message_dict.items()}
    )


@router.get("/deals/{deal_id}/quotes", response=list[QuoteOut])
def list_deal_quotes(request, deal_id: PathId):
    """The deal's quotes, newest first, every version."""
    deal = _deal(request.user, deal_id)
    quotes = deal.quotes.prefetch_related("lines").order_by("-created_at", "-id")
    return [quote_out(quote) for quote in quotes]


@router.post("/deals/{deal_id}/quotes", response={201: QuoteOut})
def create_quote(request, deal_id: PathId, payload: QuoteIn):
    """A new quote of the deal: version 1 of a new number, or the next version of the deal's
    open quote (which is then superseded)."""
    deal = _deal(request.user, deal_id)
    data = payload.model_dump(exclude_unset=True)
    if data.get("lines") is not None:
        data["lines"] = [
            {**line, "unit_price": str(line["unit_price"]), "discount": str(line["discount"])}
            for line in data["lines"]
        ]
    try:
        quote = services.create_quote(actor=request.user, deal=deal, **data)
    except ValidationError as exc:
        raise _api_names(exc) from None
    return Status(201, quote_out(_quote(request.user, quote.pk)))


@router.get("/quotes/{quote_id}", response=QuoteOut)
def get_quote(request, quote_id: PathId):
    return quote_out(_quote(request.user, quote_id))


@router.get(
    "/quotes/{quote_id}/pdf",
    openapi_extra={
        "responses": {
            200: {
                "description": "The quote as a PDF document.",
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def download_quote_pdf(request, quote_id: PathId):
    quote = _quote(request.user, quote_id)
    response = HttpResponse(
        services.quote_pdf(actor=request.user, quote=quote), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="{quote.filename}"'
    return response


@router.post("/quotes/{quote_id}/send", response=QuoteOut)
def send_quote(request, quote_id: PathId, payload: QuoteSendIn):
    """Email the quote with its PDF attached, through the outbox; the quote is then sent."""
    quote = _quote(request.user, quote_id)
    try:
        services.send_quote(
            actor=request.user,
            quote=quote,
            mailbox=payload.mailbox_id,
            to=payload.to,
            cc=payload.cc,
            subject=payload.subject,
            message=payload.message,
        )
    except ValidationError as exc:
        raise _api_names(exc) from None
    return quote_out(_quote(request.user, quote_id))


@router.post("/quotes/{quote_id}/accept", response=QuoteOut)
def accept_quote(request, quote_id: PathId):
    """Record that the customer accepted. The deal is not won by this: move it when it is."""
    services.mark_accepted(actor=request.user, quote=_quote(request.user, quote_id))
    return quote_out(_quote(request.user, quote_id))


@router.post("/quotes/{quote_id}/decline", response=QuoteOut)
def decline_quote(request, quote_id: PathId, payload: QuoteDeclineIn):
    services.mark_declined(
        actor=request.user, quote=_quote(request.user, quote_id), reason=payload.reason
    )
    return quote_out(_quote(request.user, quote_id))
