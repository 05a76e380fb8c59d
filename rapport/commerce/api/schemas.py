"""Request and response shapes of the commerce API. Money travels as decimal strings."""

from __future__ import annotations

import datetime as dt
import decimal

from ninja import Schema
from pydantic import ConfigDict, Field

from rapport.core.api_types import Moment, Quantity, RecordId


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class ProductIn(Strict):
    name: str = Field(max_length=200)
    sku: str = Field(max_length=64)
    price: decimal.Decimal
    category: str = Field("", max_length=100)
    currency: str | None = Field(None, max_length=3)
    description: str = Field("", max_length=10_000)
    is_active: bool = True


class ProductPatch(Strict):
    name: str | None = Field(None, max_length=200)
    sku: str | None = Field(None, max_length=64)
    price: decimal.Decimal | None = None
    category: str | None = Field(None, max_length=100)
    currency: str | None = Field(None, max_length=3)
    description: str | None = Field(None, max_length=10_000)
    is_active: bool | None = None


class ProductOut(Schema):
    id: int
    name: str
    sku: str
    category: str
    price: decimal.Decimal
    currency: str
    description: str
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductPage(Schema):
    items: list[ProductOut]
    next_cursor: str | None


class OrderLineIn(Strict):
    product_id: RecordId | None = None
    sku: str | None = Field(None, max_length=64)
    description: str = Field("", max_length=200)
    quantity: Quantity = 1
    unit_price: decimal.Decimal | None = None


class OrderIn(Strict):
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    ordered_at: Moment | None = None
    status: str = "paid"
    currency: str | None = Field(None, max_length=3)
    total: decimal.Decimal | None = None
    note: str = Field("", max_length=500)
    external_id: str = Field("", max_length=100)
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=500)


class OrderPatch(Strict):
    contact_id: RecordId | None = None
    organization_id: RecordId | None = None
    ordered_at: Moment | None = None
    status: str | None = None
    currency: str | None = Field(None, max_length=3)
    total: decimal.Decimal | None = None
    note: str | None = Field(None, max_length=500)
    lines: list[OrderLineIn] | None = Field(None, max_length=500)


class OrderLineOut(Schema):
    id: int
    product_id: int | None
    sku: str | None
    description: str
    quantity: int
    unit_price: decimal.Decimal
    line_total: decimal.Decimal

    @staticmethod
    def resolve_sku(line) -> str | None:
        return line.product.sku if line.product_id else None


class OrderOut(Schema):
    id: int
    reference: str
    contact_id: int | None
    organization_id: int | None
    ordered_at: dt.datetime
    status: str
    is_revenue: bool
    currency: str
    total: decimal.Decimal
    source: str
    kind: str = Field(description='"shop" (a purchase) or "deal" (a won deal\'s order).')
    deal_id: int | None = Field(description="The won deal this order records.")
    shop_id: int | None
    external_id: str
    note: str
    lines: list[OrderLineOut]
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_lines(order) -> list:
        return list(order.lines.all())


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None


class ShopIn(Strict):
    name: str = Field(max_length=100)
    key: str = Field(max_length=50)
    default_currency: str | None = Field(None, max_length=3)
    default_owner_id: RecordId | None = None


class ShopPatch(Strict):
    is_active: bool


class ShopOut(Schema):
    id: int
    name: str
    key: str
    is_active: bool
    default_currency: str
    default_owner_id: int | None
    webhook_path: str
    last_delivery_at: dt.datetime | None

    @staticmethod
    def resolve_webhook_path(shop) -> str:
        return f"/api/v1/webhooks/shops/{shop.key}/orders"


class ShopWithSecretOut(ShopOut):
    """Returned on creation and rotation only: the one time the API shows the secret."""

    secret: str


class WebhookResult(Schema):
    order_id: int
    created: bool
    status: str
