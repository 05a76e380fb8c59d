"""The demo's purchase history: a product catalogue, a web shop and orders drawn from known models.

Every customer-stage contact (customer, loyal, advocate, churned) buys according to the BG/NBD
and Gamma-Gamma processes with the parameters in ORDER_PROCESS (see
`rapport.analytics.simulation`), starting on the day the contact became a customer. The
parameters are printed and left in `ctx.extras["order_process"]`, and the analytics part stores
them as the reference the model page compares its fit with, so anyone can check that the
models find what was put in. On top of that process come orders that do not count as revenue
(cancelled, refunded, just placed) and a few organization-only purchases, as a real shop has.
"""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
from django.utils import timezone

from rapport.analytics.simulation import PurchaseProcess, simulate_history
from rapport.commerce import services
from rapport.commerce.choices import OrderSource, OrderStatus
from rapport.contacts.models import Contact, Membership
from rapport.demo.context import DemoContext

# Time in weeks, money in EUR: a mean of about 3.9 purchases a year while active, a one-in-five
# chance of leaving after each repeat purchase, about 47 EUR a purchase.
ORDER_PROCESS = PurchaseProcess(
    r=0.45, alpha=6.0, a=0.7, b=2.8, p=4.0, q=4.0, gamma=35.0, seasonal_amplitude=0.3
)
HISTORY_DAYS = 900
CUSTOMER_STAGES = ("customer", "loyal", "advocate", "churned")
CENT = decimal.Decimal("0.01")

CATALOGUE = {
    "Books": [
        ("Field guide to birds", 24.90),
        ("The patient gardener", 19.50),
        ("Atlas of small islands", 39.00),
        ("Cooking with one pan", 27.00),
        ("A history of maps", 32.00),
    ],
    "Kitchen": [
        ("Cast-iron skillet", 49.00),
        ("Stoneware mug set", 34.00),
        ("Chef's knife", 89.00),
        ("Pour-over kettle", 59.00),
    ],
    "Coffee & tea": [
        ("Single-origin beans 1 kg", 32.00),
        ("Breakfast tea 250 g", 9.50),
        ("Espresso blend 500 g", 16.90),
        ("Matcha tin", 24.00),
    ],
    "Garden": [
        ("Pruning shears", 29.00),
        ("Raised bed kit", 129.00),
        ("Heirloom seed box", 18.00),
        ("Watering can", 22.00),
    ],
    "Outdoor": [
        ("Day pack 20 l", 79.00),
        ("Enamel camping set", 45.00),
        ("Merino socks (3 pairs)", 36.00),
        ("Headlamp", 29.90),
    ],
    "Home": [
        ("Linen throw", 69.00),
        ("Beeswax candles (6)", 21.00),
        ("Wool rug 120×180", 189.00),
        ("Ceramic vase", 38.00),
    ],
    "Office": [
        ("Dot-grid notebook", 14.00),
        ("Fountain pen", 64.00),
        ("Desk organiser", 42.00),
    ],
    "Toys & games": [
        ("Wooden puzzle", 26.00),
        ("Strategy board game", 49.90),
        ("Kite", 31.00),
    ],
}


SKU_PREFIX = {
    "Books": "BK",
    "Kitchen": "KT",
    "Coffee & tea": "CF",
    "Garden": "GD",
    "Outdoor": "OD",
    "Home": "HM",
    "Office": "OF",
    "Toys & games": "TY",
}


def _sku(category: str, index: int) -> str:
    return f"{SKU_PREFIX[category]}-{index + 1:03d}"


def build_catalogue(ctx: DemoContext) -> list:
    from rapport.commerce.models import Product

    products = []
    existing = {p.sku.lower(): p for p in Product.objects.all()}
    for category, items in CATALOGUE.items():
        for index, (name, price) in enumerate(items):
            sku = _sku(category, index)
            product = existing.get(sku.lower())
            if product is None:
                product = services.create_product(
                    actor=ctx.admin,
                    name=name,
                    sku=sku,
                    category=category,
                    price=f"{price:.2f}",
                    currency="EUR",
                )
            products.append(product)
    return products


def _order_lines(ctx: DemoContext, products: list, amount: decimal.Decimal) -> list[dict]:
    """One to three lines whose unit prices add up to the drawn purchase value exactly.

    Prices are "as sold" (the drawn value spread over the products bought), so the order total
    is the simulated spend to the cent.
    """
    count = 1 if amount < 30 else ctx.rng.choice((1, 1, 2, 2, 3))
    chosen = ctx.rng.sample(products, count)
    if count == 1:
        return [{"product": chosen[0], "quantity": 1, "unit_price": amount}]
    weights = [decimal.Decimal(str(ctx.rng.uniform(0.5, 1.5))) for _ in chosen]
    total_weight = sum(weights)
    lines, remaining = [], amount
    for product, weight in zip(chosen[:-1], weights[:-1], strict=True):
        price = max(CENT, (amount * weight / total_weight).quantize(CENT))
        price = min(price, remaining - CENT * (len(chosen) - len(lines) - 1))
        lines.append({"product": product, "quantity": 1, "unit_price": price})
        remaining -= price
    lines.append({"product": chosen[-1], "quantity": 1, "unit_price": remaining})
    return lines


def _moment(ctx: DemoContext, day: int, now: dt.datetime) -> dt.datetime:
    """A shopping time on that day (shops sell evenings and weekends too), never in the future."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=int(day))
    hour = ctx.rng.choice((8, 10, 12, 13, 17, 19, 20, 21, 22))
    moment = timezone.make_aware(dt.datetime.combine(date, dt.time(hour, ctx.rng.randrange(60))))
    return min(moment, now - dt.timedelta(minutes=5))


def _acquisition_days(
    ctx: DemoContext, customers: list[Contact], start: int, end: int
) -> np.ndarray:
    days = []
    for contact in customers:
        since = (contact.custom_fields or {}).get("customer_since")
        try:
            day = (dt.date.fromisoformat(since) - dt.date(1970, 1, 1)).days if since else None
        except ValueError:
            day = None
        if day is None:
            day = int(start + (end - start) * ctx.rng.random() ** 0.5)
        days.append(day)
    return np.asarray(days, dtype=np.int64)


def build(ctx: DemoContext) -> None:
    """Products, the web shop, and two and a half years of orders for the customers."""
    products = build_catalogue(ctx)
    ctx.extras["products"] = products
    from rapport.commerce.models import Shop

    if not Shop.objects.filter(key="web-shop").exists():
        services.create_shop(
            actor=ctx.admin, name="Web shop", key="web-shop", default_currency="EUR"
        )

    customer_ids = [pk for stage in CUSTOMER_STAGES for pk in ctx.contacts_by_stage.get(stage, [])]
    customers = list(Contact.objects.filter(pk__in=customer_ids).order_by("pk"))
    if not customers:
        ctx.say("  no customer-stage contacts: no orders")
        return
    now = ctx.now
    end = (timezone.localdate(now) - dt.date(1970, 1, 1)).days
    start = end - HISTORY_DAYS
    rng = np.random.default_rng(ctx.rng.getrandbits(64))
    history = simulate_history(
        rng,
        len(customers),
        start_day=start,
        end_day=end,
        process=ORDER_PROCESS,
        acquisition_day=_acquisition_days(ctx, customers, start, end),
    )
    organization_of = dict(
        Membership.objects.filter(contact__in=customers, is_primary=True).values_list(
            "contact_id", "organization_id"
        )
    )
    from rapport.contacts.models import Organization

    organizations = {
        o.pk: o for o in Organization.objects.filter(pk__in=set(organization_of.values()))
    }

    drafts = []
    with ctx.progress("Orders", int(history.customer.size)) as advance:
        for index, day, amount in zip(
            history.customer.tolist(), history.day.tolist(), history.amount.tolist(), strict=True
        ):
            contact = customers[index]
            value = decimal.Decimal(str(amount)).quantize(CENT)
            moment = _moment(ctx, day, now)
            # Purchases of the process are all revenue: shipped, or just paid if very recent.
            status = OrderStatus.PAID if (now - moment).days < 3 else OrderStatus.SHIPPED
            drafts.append(
                services.validate_order(
                    contact=contact,
                    organization=organizations.get(organization_of.get(contact.pk)),
                    ordered_at=moment,
                    status=status,
                    currency="EUR",
                    lines=_order_lines(ctx, products, value),
                    infer_organization=False,
                )
            )
            # Orders outside the process: they must never count as revenue.
            roll = ctx.rng.random()
            if roll < 0.04:
                extra = OrderStatus.CANCELLED if roll < 0.025 else OrderStatus.REFUNDED
                drafts.append(
                    services.validate_order(
                        contact=contact,
                        ordered_at=moment - dt.timedelta(hours=ctx.rng.randint(1, 72)),
                        status=extra,
                        currency="EUR",
                        lines=_order_lines(ctx, products, value),
                        infer_organization=False,
                    )
                )
            advance(1)
    for contact in ctx.rng.sample(customers, min(len(customers), max(1, len(customers) // 40))):
        drafts.append(
            services.validate_order(
                contact=contact,
                ordered_at=now - dt.timedelta(hours=ctx.rng.randint(1, 60)),
                status=OrderStatus.PLACED,
                currency="EUR",
                lines=_order_lines(ctx, products, decimal.Decimal("42.00")),
                infer_organization=False,
            )
        )
    # A few purchases by organizations as such (a company card, no person named).
    for organization in ctx.rng.sample(ctx.organizations, min(len(ctx.organizations), 12)):
        value = decimal.Decimal(str(round(ctx.rng.uniform(150, 1500), 2)))
        drafts.append(
            services.validate_order(
                organization=organization,
                ordered_at=ctx.moment(days_ago_max=HISTORY_DAYS),
                status=OrderStatus.SHIPPED,
                currency="EUR",
                lines=_order_lines(ctx, products, value),
            )
        )
    written = 0
    for start_index in range(0, len(drafts), 2000):
        written += services.record_orders_in_bulk(
            actor=ctx.admin,
            orders=drafts[start_index : start_index + 2000],
            source=OrderSource.DEMO,
        )
    truth = {
        **ORDER_PROCESS.as_dict(),
        "time_unit": "weeks",
        "customers": len(customers),
        "purchases": int(history.customer.size),
        "orders_written": written,
    }
    ctx.extras["order_process"] = truth
    ctx.say(
        f"  {written} orders for {len(customers)} customers, drawn from BG/NBD r={ORDER_PROCESS.r} "
        f"alpha={ORDER_PROCESS.alpha} a={ORDER_PROCESS.a} b={ORDER_PROCESS.b} (weeks) and "
        f"Gamma-Gamma p={ORDER_PROCESS.p} q={ORDER_PROCESS.q} gamma={ORDER_PROCESS.gamma} (EUR)"
    )
