"""What the commerce app tells other apps. Fields are plain values (they double as webhook payloads)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class OrderPlaced:
    order_id: int
    contact_id: int | None
    organization_id: int | None
    status: str
    currency: str
    total: str  # a decimal string, so the payload never rounds money
    source: str
    actor_id: int | None


@dataclass(frozen=True)
class OrderStatusChanged:
    order_id: int
    contact_id: int | None
    from_status: str
    to_status: str
    actor_id: int | None


@dataclass(frozen=True)
class OrderDeleted:
    order_id: int
    contact_id: int | None
    actor_id: int | None


@dataclass(frozen=True)
class OrdersImported:
    """Many orders written at once (bulk import or demo data): one event, not one per order."""

    count: int
    source: str
    actor_id: int | None
