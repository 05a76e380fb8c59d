"""The commerce API: products, orders, shops and the signed order webhook. Thin: translate,
check access, call services."""

from __future__ import annotations

import datetime as dt
import json

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from rapport.accounts import access
from rapport.accounts.models import User
from rapport.commerce import services
from rapport.commerce.api.schemas import (
    OrderIn,
    OrderLineIn,
    OrderOut,
    OrderPage,
    OrderPatch,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    ShopIn,
    ShopOut,
    ShopPatch,
    ShopWithSecretOut,
    WebhookResult,
)
from rapport.commerce.choices import OrderStatus
from rapport.commerce.models import Order, OrderLine, Product, Shop
from rapport.commerce.signing import SIGNATURE_HEADER, SignatureError, verify
from rapport.contacts.models import Contact, Organization
from rapport.core.api_types import PathId, RecordId
from rapport.core.pagination import keyset_page
from rapport.core.problems import problem

router = Router(tags=["commerce"])

MAX_LIMIT = 200


def _require_write(request) -> None:
    access.require_write(request.auth)


def _require_admin(request) -> None:
    access.require_admin(request.auth)


def _orders(user):
    return (
        Order.objects.visible_to(user)
        .select_related("contact", "organization")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.select_related("product")))
    )


# --------------------------------------------------------------------------- products


class ProductFilters(Schema):
    q: str = Field("", max_length=100)
    category: str = Field("", max_length=100)
    is_active: bool | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


@router.get("/products/", response=ProductPage)
def list_products(request, filters: Query[ProductFilters]):
    products = Product.objects.search(filters.q)
    if filters.category:
        products = products.filter(category__iexact=filters.category)
    if filters.is_active is not None:
        products = products.filter(is_active=filters.is_active)
    page = keyset_page(
        products, order_field="name", descending=False, cursor=filters.cursor, limit=filters.limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/products/", response={201: ProductOut})
def create_product(request, payload: ProductIn):
    _require_write(request)
    product = services.create_product(actor=request.auth, **payload.model_dump())
    return Status(201, product)


@router.get("/products/{product_id}", response=ProductOut)
def get_product(request, product_id: PathId):
    return get_object_or_404(Product, pk=product_id)


@router.patch("/products/{product_id}", response=ProductOut)
def update_product(request, product_id: PathId, payload: ProductPatch):
    _require_write(request)
    product = get_object_or_404(Product, pk=product_id)
    changes = payload.model_dump(exclude_unset=True)
    for name in ("name", "sku", "price", "currency", "is_active"):
        if name in changes and changes[name] is None:
            raise ValidationError({name: ["Must not be null."]})
    return services.update_product(actor=request.auth, product=product, **changes)


# --------------------------------------------------------------------------- orders


class OrderFilters(Schema):
    contact: RecordId | None = None
    organization: RecordId | None = None
    status: str | None = Field(None, max_length=20)
    since: dt.date | None = None
    until: dt.date | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


def _order_page(orders, filters: OrderFilters):
    if filters.status:
        if filters.status not in OrderStatus.values:
            raise ValidationError({"status": [f"Choose one of: {', '.join(OrderStatus.values)}."]})
        orders = orders.filter(status=filters.status)
    if filters.since:
        orders = orders.filter(ordered_at__date__gte=filters.since)
    if filters.until:
        orders = orders.filter(ordered_at__date__lte=filters.until)
    page = keyset_page(
        orders,
        order_field="ordered_at",
        descending=True,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/orders/", response=OrderPage)
def list_orders(request, filters: Query[OrderFilters]):
    orders = _orders(request.auth)
    if filters.contact is not None:
        orders = orders.filter(contact_id=filters.contact)
    if filters.organization is not None:
        orders = orders.filter(organization_id=filters.organization)
    return _order_page(orders, filters)


@router.get("/contacts/{contact_id}/orders", response=OrderPage)
def list_contact_orders(request, contact_id: PathId, filters: Query[OrderFilters]):
    contact = get_object_or_404(Contact.objects.visible_to(request.auth), pk=contact_id)
    return _order_page(_orders(request.auth).filter(contact=contact), filters)


def _resolve_customer(request, contact_id, organization_id, errors: dict):
    contact = organization = None
    if contact_id is not None:
        contact = Contact.objects.visible_to(request.auth).filter(pk=contact_id).first()
        if contact is None:
            errors["contact_id"] = ["No such contact, or it is outside your access."]
    if organization_id is not None:
        organization = (
            Organization.objects.visible_to(request.auth).filter(pk=organization_id).first()
        )
        if organization is None:
            errors["organization_id"] = ["No such organization, or it is outside your access."]
    return contact, organization


def _lines(lines: list[OrderLineIn] | None):
    if lines is None:
        return None
    return [line.model_dump() for line in lines]


@router.post("/orders/", response={201: OrderOut})
def create_order(request, payload: OrderIn):
    _require_write(request)
    errors: dict[str, list[str]] = {}
    contact, organization = _resolve_customer(
        request, payload.contact_id, payload.organization_id, errors
    )
    if errors:
        raise ValidationError(errors)
    order = services.place_order(
        actor=request.auth,
        contact=contact,
        organization=organization,
        ordered_at=payload.ordered_at,
        status=payload.status,
        currency=payload.currency,
        lines=_lines(payload.lines) or None,
        total=payload.total,
        note=payload.note,
        source="api",
        external_system="api",
        external_id=payload.external_id,
    )
    return Status(201, _orders(request.auth).get(pk=order.pk))


@router.get("/orders/{order_id}", response=OrderOut)
def get_order(request, order_id: PathId):
    return get_object_or_404(_orders(request.auth), pk=order_id)


@router.patch("/orders/{order_id}", response=OrderOut)
def update_order(request, order_id: PathId, payload: OrderPatch):
    _require_write(request)
    order = get_object_or_404(Order.objects.visible_to(request.auth), pk=order_id)
    changes = payload.model_dump(exclude_unset=True)
    errors: dict[str, list[str]] = {}
    if "contact_id" in changes or "organization_id" in changes:
        contact, organization = _resolve_customer(
            request, changes.pop("contact_id", None), changes.pop("organization_id", None), errors
        )
        if "contact_id" in payload.model_fields_set:
            changes["contact"] = contact
        if "organization_id" in payload.model_fields_set:
            changes["organization"] = organization
    for name in ("status", "ordered_at", "currency"):
        if name in changes and changes[name] is None:
            errors[name] = ["Must not be null."]
    if errors:
        raise ValidationError(errors)
    if "lines" in changes:
        changes["lines"] = _lines(payload.lines)
    services.update_order(actor=request.auth, order=order, **changes)
    return _orders(request.auth).get(pk=order.pk)


@router.delete("/orders/{order_id}", response={204: None})
def delete_order(request, order_id: PathId):
    _require_write(request)
    order = get_object_or_404(Order.objects.visible_to(request.auth), pk=order_id)
    services.delete_order(actor=request.auth, order=order)
    return Status(204, None)


# --------------------------------------------------------------------------- shops


@router.get("/shops/", response=list[ShopOut])
def list_shops(request):
    _require_admin(request)
    return list(Shop.objects.all())


@router.post("/shops/", response={201: ShopWithSecretOut})
def create_shop(request, payload: ShopIn):
    _require_admin(request)
    owner = None
    if payload.default_owner_id is not None:
        owner = User.objects.filter(pk=payload.default_owner_id, is_active=True).first()
        if owner is None:
            raise ValidationError({"default_owner_id": ["No such active user."]})
    shop = services.create_shop(
        actor=request.auth,
        name=payload.name,
        key=payload.key,
        default_currency=payload.default_currency,
        default_owner=owner,
    )
    return Status(201, shop)


@router.patch("/shops/{shop_id}", response=ShopOut)
def update_shop(request, shop_id: PathId, payload: ShopPatch):
    _require_admin(request)
    shop = get_object_or_404(Shop, pk=shop_id)
    return services.set_shop_active(actor=request.auth, shop=shop, is_active=payload.is_active)


@router.post("/shops/{shop_id}/rotate-secret", response=ShopWithSecretOut)
def rotate_shop_secret(request, shop_id: PathId):
    _require_admin(request)
    shop = get_object_or_404(Shop, pk=shop_id)
    return services.rotate_shop_secret(actor=request.auth, shop=shop)


# --------------------------------------------------------------------------- webhook


@router.post(
    "/webhooks/shops/{shop_key}/orders",
    auth=None,
    response={200: WebhookResult, 201: WebhookResult},
    summary="Receive an order from a shop (signed)",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "required": True,
        }
    },
)
def receive_shop_order(request, shop_key: str):
    """A shop posts each order (and each later status change) here.

    Sign the raw body: `X-Rapport-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret,
    "<t>." + body)>`. Deliveries more than 5 minutes old are refused; the same order id twice
    is recorded once (200 with `created: false`).
    """
    shop = Shop.objects.filter(key=shop_key[:50], is_active=True).first()
    if shop is None:
        return problem(404, "Not Found", "No active shop with this key.")
    if len(request.body) > 1_000_000:
        return problem(413, "Payload Too Large", "Deliveries are at most 1 MB.")
    try:
        verify(request.body, request.headers.get(SIGNATURE_HEADER), shop.secret)
    except SignatureError as exc:
        return problem(401, "Unauthorized", str(exc))
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return problem(
            422,
            "Validation failed",
            "The body is not valid JSON.",
            errors=[{"field": "body", "message": "Not valid JSON."}],
        )
    order, created = services.record_shop_order(shop=shop, payload=payload)
    return Status(
        201 if created else 200, {"order_id": order.pk, "created": created, "status": order.status}
    )


# Exchange rates and the company currency live in their own module; mounted here so api.py
# needs no change.
from rapport.commerce.api.rates import router as rates_router  # noqa: E402

router.add_router("", rates_router)

# Which orders count as revenue: its own module, mounted here so api.py needs no change.
from rapport.commerce.api.revenue import router as revenue_router  # noqa: E402

router.add_router("", revenue_router)
