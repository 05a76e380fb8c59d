"""Commerce test data, built through the services so it obeys the same rules as real data."""

import datetime as dt
import itertools

from django.utils import timezone

from rapport.commerce import services

_skus = itertools.count(1)


def make_product(*, actor=None, price="10.00", category="Books", **fields):
    fields.setdefault("name", "Field Guide")
    fields.setdefault("sku", f"SKU-{next(_skus):05d}")
    return services.create_product(
        actor=actor,
        price=price,
        category=category,
        currency=fields.pop("currency", "EUR"),
        **fields,
    )


def make_order(*, contact=None, organization=None, actor=None, days_ago=0, total="20.00", **fields):
    fields.setdefault("ordered_at", timezone.now() - dt.timedelta(days=days_ago))
    fields.setdefault("currency", "EUR")
    if "lines" not in fields:
        fields["total"] = total
    return services.place_order(actor=actor, contact=contact, organization=organization, **fields)
