"""What commerce adds to the 360° pages: the Orders panel and order entries on the timeline."""

from django.db.models import Count, Q, Sum
from django.urls import reverse

from rapport.commerce.choices import REVENUE_STATUSES
from rapport.commerce.models import Order
from rapport.contacts.models import Contact
from rapport.core.registry import TimelineEntry

PANEL_ORDERS = 5


def orders_panel(request, obj):
    """Recent orders of a contact or organization, with revenue per currency.

    The page has already checked that `obj` is visible; its orders are visible with it.
    """
    field = "contact" if isinstance(obj, Contact) else "organization"
    orders = Order.objects.filter(**{field: obj})
    totals = list(
        orders.values("currency")
        .annotate(
            revenue=Sum("total", filter=Q(status__in=REVENUE_STATUSES)),
            count=Count("id"),
            revenue_count=Count("id", filter=Q(status__in=REVENUE_STATUSES)),
        )
        .order_by("-revenue_count", "currency")
    )
    recent = list(orders.order_by("-ordered_at", "-id")[:PANEL_ORDERS])
    count = sum(row["count"] for row in totals)
    return {
        "orders": recent,
        "count": count,
        "totals": totals,
        "more": max(0, count - len(recent)),
        "list_url": reverse("commerce:order_list") + f"?{field}={obj.pk}",
        "create_url": reverse("commerce:order_create") + f"?{field}={obj.pk}",
    }


def timeline_entries(contact_ids, organization_ids, limit):
    """Orders of the given contacts / organizations as timeline entries, newest first."""
    contact_ids = list(contact_ids or [])
    organization_ids = list(organization_ids or [])
    if not contact_ids and not organization_ids:
        return []
    orders = (
        Order.objects.filter(
            Q(contact_id__in=contact_ids) | Q(organization_id__in=organization_ids)
        )
        .order_by("-ordered_at", "-id")
        .annotate(line_count=Count("lines"))[:limit]
    )
    entries = []
    for order in orders:
        lines = f"{order.line_count} line{'s' if order.line_count != 1 else ''}"
        entries.append(
            TimelineEntry(
                occurred_at=order.ordered_at,
                kind="order",
                title=f"Order {order.reference} · {order.total} {order.currency}",
                body=f"{order.get_status_display()} · {lines}",
                url=order.get_absolute_url(),
                icon="order",
                meta={
                    "status": order.status,
                    "total": str(order.total),
                    "currency": order.currency,
                },
            )
        )
    return entries
