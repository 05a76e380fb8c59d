"""What counts as revenue: won deals as orders of kind "deal", and the setting of which kinds
of order the analytics and the value KPIs count.

Why orders, not a second revenue model beside them: everything that measures customer value
(RFM, CLV, value tiers, churn, segments, the models' KPIs, the 360° page's Orders panel) already
reads orders, so a won deal written as one order of kind "deal" reaches all of them through the
same queries, with one filter (`counted_kinds`) to leave either kind out.

The sales services reach the deal-order functions through `rapport.core.revenue` (they may not
import commerce); they call them inside the transaction that moved the deal.
"""

from __future__ import annotations

import decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.commerce import events
from rapport.commerce.choices import (
    COUNTED_KINDS,
    OrderKind,
    OrderSource,
    OrderStatus,
    RevenueSources,
)
from rapport.commerce.models import Order, OrderLine, RevenueSettings
from rapport.commerce.services import order_state
from rapport.core.events import emit
from rapport.core.revenue import Sale

CENT = decimal.Decimal("0.01")


# --------------------------------------------------------------------------- the setting


def revenue_sources() -> str:
    """The administrator's choice; both kinds count until there is one."""
    row = RevenueSettings.objects.filter(pk=1).only("sources").first()
    return row.sources if row else RevenueSources.BOTH


def counted_kinds() -> tuple[str, ...]:
    """The order kinds that count as revenue for analytics and the value KPIs."""
    return tuple(str(kind) for kind in COUNTED_KINDS[RevenueSources(revenue_sources())])


@transaction.atomic
def set_revenue_sources(*, actor, sources: str) -> RevenueSettings:
    """Count `sources` ("both", "shop" or "deals") as revenue from the next analytics refresh
    on (the KPIs at once). Administrators only; audited."""
    access.require_admin(actor)
    if sources not in RevenueSources.values:
        labels = ", ".join(f"{label} ({value})" for value, label in RevenueSources.choices)
        raise ValidationError({"sources": [f"Choose one of: {labels}."]})
    row = RevenueSettings.objects.select_for_update().filter(pk=1).first()
    if row is None:
        row = RevenueSettings.objects.create(pk=1, sources=sources)
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            instance=row,
            after=snapshot(row, ["sources"]),
        )
        return row
    before = snapshot(row, ["sources"])
    row.sources = sources
    row.save(update_fields=["sources", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=row,
        before=before,
        after=snapshot(row, ["sources"]),
    )
    return row


# --------------------------------------------------------------------------- won deals


def _actor_id(actor) -> int | None:
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def _largest_unit_price() -> decimal.Decimal:
    field = OrderLine._meta.get_field("unit_price")
    whole = field.max_digits - field.decimal_places
    return decimal.Decimal(10) ** whole - decimal.Decimal(10) ** -field.decimal_places


def _lines_of(sale: Sale) -> list[OrderLine]:
    if not sale.lines:
        if sale.amount > _largest_unit_price():
            # A deal's amount may exceed what an order line's unit price holds: the order is
            # then its total alone, as an order imported as a single amount is.
            return []
        return [
            # Not the deal's name: a name may hold a person's, and the erasure of a person
            # scrubs the order's note, not its lines.
            OrderLine(
                description="Won deal",
                quantity=1,
                unit_price=sale.amount,
                line_total=sale.amount,
            )
        ]
    return [
        OrderLine(
            product_id=line.product_id,
            description=line.description[:200],
            quantity=line.quantity,
            unit_price=line.unit_price,
            line_total=(line.unit_price * line.quantity).quantize(CENT),
        )
        for line in sale.lines
    ]


def _write_lines(order: Order, lines: list[OrderLine]) -> None:
    for line in lines:
        line.order = order
    OrderLine.objects.bulk_create(lines)


def record_deal_order(sale: Sale, actor) -> Order | None:
    """Write the won deal's order, or bring the one it has up to date (one per deal).

    Paid on the deal's close date, in its currency, for its contact and organization, with the
    deal's lines (or one line of its amount). No access check of its own: the sales service
    that won or changed the deal has checked the actor may change the deal, and the revenue
    follows the deal to whoever owns its customer. Audited; sets off OrderPlaced when new.
    A deal with neither contact nor organization is nobody's revenue: its order goes.
    """
    if sale.contact_id is None and sale.organization_id is None:
        withdraw_deal_order(sale.deal_id, actor, "the won deal has no contact or organization")
        return None
    lines = _lines_of(sale)
    total = (
        sum((line.line_total for line in lines), decimal.Decimal("0.00")) if lines else sale.amount
    )
    facts = {
        "contact_id": sale.contact_id,
        "organization_id": sale.organization_id,
        "ordered_at": sale.closed_at,
        "currency": sale.currency,
        "total": total,
    }
    order = Order.objects.select_for_update().filter(deal_id=sale.deal_id).first()
    if order is None:
        order = Order.objects.create(
            **facts,
            status=OrderStatus.PAID,
            kind=OrderKind.DEAL,
            source=OrderSource.DEAL,
            deal_id=sale.deal_id,
            note=f"Won deal: {sale.name}"[:500],
        )
        _write_lines(order, lines)
        record_change(
            actor=actor, action=ChangeAction.CREATE, instance=order, after=order_state(order)
        )
        emit(
            events.OrderPlaced(
                order_id=order.pk,
                contact_id=order.contact_id,
                organization_id=order.organization_id,
                status=order.status,
                currency=order.currency,
                total=str(order.total),
                source=order.source,
                actor_id=_actor_id(actor),
            )
        )
        return order
    before = order_state(order)
    for name, value in facts.items():
        setattr(order, name, value)
    order.note = f"Won deal: {sale.name}"[:500]
    new_lines = [
        {
            "product": line.product_id,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": str(line.unit_price),
        }
        for line in lines
    ]
    if before["lines"] != new_lines:
        order.lines.all().delete()
        _write_lines(order, lines)
    after = order_state(order)
    if after != before:
        order.save()
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=order,
            before=before,
            after=after,
            message=f"follows the won deal #{sale.deal_id}",
        )
    return order


def withdraw_deal_order(deal_id: int, actor, reason: str) -> bool:
    """Remove the order of a deal that is no longer won; the audit record keeps what it said.
    Returns whether there was one. Sets off OrderDeleted."""
    order = Order.objects.select_for_update().filter(deal_id=deal_id).first()
    if order is None:
        return False
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        instance=order,
        before=order_state(order),
        message=f"the deal #{deal_id} {reason}"[:300],
    )
    order_id, contact_id = order.pk, order.contact_id
    order.delete()
    emit(events.OrderDeleted(order_id=order_id, contact_id=contact_id, actor_id=_actor_id(actor)))
    return True
