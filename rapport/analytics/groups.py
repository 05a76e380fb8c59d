"""The Company group panel of an organization's page: its parent and subsidiaries as a tree,
each company with what was sold to it and to the companies under it (roll-ups).

Only what the reader may see counts: a company outside their access shows without its name,
and deals and orders are read through their own `visible_to(user)`. Amounts stay in their own
currencies (one line per currency) until Rapport has a reporting currency.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum
from django.urls import reverse

from rapport.commerce.models import Order
from rapport.contacts import hierarchy
from rapport.contacts.models import Organization
from rapport.core import display
from rapport.sales.models import Deal

Money = dict[str, Decimal]


def _add(into: Money, more: Money) -> None:
    for currency, amount in more.items():
        into[currency] = into.get(currency, Decimal(0)) + amount


def _money_text(money: Money) -> str:
    return " · ".join(
        display.money_text(amount, currency) for currency, amount in sorted(money.items())
    )


def _by_organization(rows, value: str) -> dict[int, Money]:
    result: dict[int, Money] = defaultdict(dict)
    for row in rows:
        result[row["organization_id"]][row["currency"]] = row[value] or Decimal(0)
    return result


def company_group_panel(request, organization):
    """None (no panel) when the organization belongs to no group."""
    root, size, cut = hierarchy.group_tree(organization.pk)
    if size == 1:
        return None
    user = request.user
    nodes = hierarchy.flatten(root)
    ids = [node.organization_id for node in nodes]
    names = dict(Organization.objects.visible_to(user).filter(pk__in=ids).values_list("pk", "name"))
    deals = Deal.objects.visible_to(user).filter(organization_id__in=ids, is_archived=False)
    open_deals = _by_organization(
        deals.filter(status="open")
        .values("organization_id", "currency")
        .annotate(total=Sum("amount")),
        "total",
    )
    won_deals = _by_organization(
        deals.filter(status="won")
        .values("organization_id", "currency")
        .annotate(total=Sum("amount")),
        "total",
    )
    revenue = _by_organization(
        Order.objects.visible_to(user)
        .counted_as_revenue()
        .filter(organization_id__in=ids)
        .values("organization_id", "currency")
        .annotate(total=Sum("total")),
        "total",
    )

    # Roll-ups: each company's own figures plus those of everything under it.
    rolled = {name: {} for name in ("open", "won", "revenue")}
    for node in reversed(nodes):
        for key, own in (("open", open_deals), ("won", won_deals), ("revenue", revenue)):
            total: Money = dict(own.get(node.organization_id, {}))
            for child in node.children:
                _add(total, rolled[key][child.organization_id])
            rolled[key][node.organization_id] = total

    rows = [
        {
            "depth": node.depth,
            "indent": min(node.depth, 6),
            "name": names.get(node.organization_id, ""),
            "url": reverse("contacts:organization_detail", args=[node.organization_id])
            if node.organization_id in names
            else "",
            "is_current": node.organization_id == organization.pk,
            "subsidiaries": len(node.children),
            "open": _money_text(rolled["open"][node.organization_id]),
            "won": _money_text(rolled["won"][node.organization_id]),
            "revenue": _money_text(rolled["revenue"][node.organization_id]),
        }
        for node in nodes
    ]
    return {"rows": rows, "size": size, "cut": cut}
