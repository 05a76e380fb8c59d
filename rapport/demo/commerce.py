"""The demo's purchase history: the price list, a self-service shop and orders from known models.

The catalogue is `vocabulary.CATALOGUE` (licences, implementation packages, support plans,
training days, with list prices in EUR). Every customer-stage contact (customer, loyal, advocate,
churned) buys according to the BG/NBD and Gamma-Gamma processes with the parameters in
ORDER_PROCESS (see `rapport.analytics.simulation`), starting on the day the contact became a
customer: for the one who signed a won deal, that first order is the won deal's own (kind
"deal", written when the deal was won, with its product lines); later purchases are renewals and
more licences of what they bought, support plans, training or another implementation, at the
list price or a discount. The parameters are printed and left in `ctx.extras["order_process"]`,
and the analytics part stores them as the reference the model page compares its fit with (the
repeat purchases are the process's own). On top of that come orders that do not count as
revenue (cancelled, refunded, just placed), the orders of add-ons won in the renewals pipeline
and a few organization-only purchases, as a real vendor has.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
from django.utils import timezone

from rapport.analytics.simulation import PurchaseProcess, simulate_history
from rapport.commerce import services
from rapport.commerce.choices import OrderSource, OrderStatus
from rapport.contacts.models import Contact, Membership
from rapport.demo import vocabulary as words
from rapport.demo.context import DemoContext

# Time in weeks, money in EUR: a mean of about 3.9 purchases a year while active (renewals,
# more seats, support, training), a one-in-five chance of leaving after each repeat purchase,
# about 2,500 EUR a purchase, more of them before the year end (budgets are spent in Q4).
ORDER_PROCESS = PurchaseProcess(
    r=0.45, alpha=6.0, a=0.7, b=2.8, p=4.0, q=4.0, gamma=1875.0, seasonal_amplitude=0.3
)
HISTORY_DAYS = 900
CUSTOMER_STAGES = ("customer", "loyal", "advocate", "churned")
CENT = decimal.Decimal("0.01")


def build_catalogue(ctx: DemoContext) -> list:
    """The price list of `vocabulary.CATALOGUE`: licences, implementation, support, training."""
    from rapport.commerce.models import Product

    products = []
    existing = {p.sku.lower(): p for p in Product.objects.all()}
    for sku, name, category, price, unit in words.CATALOGUE:
        product = existing.get(sku.lower())
        if product is None:
            product = services.create_product(
                actor=ctx.admin,
                name=name,
                sku=sku,
                category=category,
                description=f"List price {price:,} EUR per {unit}.",
                price=f"{price:.2f}",
                currency="EUR",
            )
        products.append(product)
    return products


# What a repeat purchase is, and how often: renewals and more licences, support plans, training.
REPEAT_CATEGORIES = [
    (words.LICENCES, 60),
    (words.SUPPORT, 15),
    (words.TRAINING, 20),
    (words.IMPLEMENTATION, 5),
]


def _lines_at_list_price(product, amount: decimal.Decimal) -> list[dict]:
    """Enough units of `product` to cover `amount` at its list price, at the unit price that
    makes the order total `amount` (a volume or negotiated discount, never a mark-up)."""
    quantity = max(1, math.ceil(amount / product.price))
    unit_price = (amount / quantity).quantize(CENT, rounding=decimal.ROUND_DOWN)
    lines = [{"product": product, "quantity": quantity, "unit_price": unit_price}]
    rest = amount - unit_price * quantity
    if rest and quantity > 1:
        lines[0]["quantity"] = quantity - 1
        lines.append({"product": product, "quantity": 1, "unit_price": unit_price + rest})
    elif rest:
        lines[0]["unit_price"] = amount
    return lines


def _repeat_lines(
    ctx: DemoContext, by_category: dict, amount: decimal.Decimal, licence=None
) -> list[dict]:
    """A repeat purchase worth `amount`: more (or renewed) licences of what the customer has,
    a support plan, training days or an implementation package, whichever that amount buys
    without more than half off the list price."""
    category = ctx.rng.choices(
        [c for c, _w in REPEAT_CATEGORIES], weights=[w for _c, w in REPEAT_CATEGORIES], k=1
    )[0]
    if category == words.LICENCES and licence is not None and licence.price <= amount:
        return _lines_at_list_price(licence, amount)
    everything = sorted((p for group in by_category.values() for p in group), key=lambda p: p.price)
    if amount < everything[0].price:
        # Less than anything costs: the smallest purchase there is, at its list price.
        return _lines_at_list_price(everything[0], everything[0].price)
    group = by_category[category]
    choices = (
        [p for p in group if p.price * 3 <= amount]
        or [p for p in group if p.price <= amount]
        or [p for p in everything if p.price * 3 <= amount]
        or [p for p in everything if p.price <= amount]
    )
    return _lines_at_list_price(ctx.rng.choice(choices), amount)


def _not_before_deal(moment, first_deal: dict, contact, now):
    """No order of a customer comes before the deal that made them one."""
    deal = first_deal.get(contact.pk)
    if deal is None:
        return moment
    return min(max(moment, deal[0] + dt.timedelta(minutes=30)), now)


def _moment(ctx: DemoContext, day: int, now: dt.datetime) -> dt.datetime:
    """A time on that day when businesses order (self-service orders come in the evening too),
    never in the future."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=int(day))
    hour = ctx.rng.choice((8, 9, 10, 11, 13, 14, 15, 16, 17, 19))
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
    """The price list, the self-service shop, and two and a half years of orders: each won
    deal's order (written by winning it) as its customer's first, then renewals and add-ons."""
    from rapport.commerce.rates import add_demo_rates

    # Deals are in EUR, GBP and USD: monthly demo rates (labelled as such) let the board and
    # the forecast total them in the company currency.
    ctx.say(f"  exchange rates: {add_demo_rates(actor=ctx.admin)} demo rates added")
    products = build_catalogue(ctx)
    ctx.extras["products"] = products
    by_sku = {p.sku: p for p in products}
    by_category: dict[str, list] = {}
    for product in products:
        by_category.setdefault(product.category, []).append(product)
    from rapport.commerce.models import Shop

    if not Shop.objects.filter(key="web-shop").exists():
        services.create_shop(
            actor=ctx.admin, name="Self-service shop", key="web-shop", default_currency="EUR"
        )

    customer_ids = [pk for stage in CUSTOMER_STAGES for pk in ctx.contacts_by_stage.get(stage, [])]
    customers = list(Contact.objects.filter(pk__in=customer_ids).order_by("pk"))
    if not customers:
        ctx.say("  no customer-stage contacts: no orders")
        return
    # The won deals of the sales part: (deal id, contact id, closed at, [(sku, qty, price)]).
    won = ctx.extras.get("won_deals", [])
    first_deal = {}
    for _deal_id, contact_id, closed_at, lines in sorted(won, key=lambda w: w[2]):
        first_deal.setdefault(contact_id, (closed_at, lines))
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
    licence_of = {
        contact_id: by_sku[lines[0][0]]
        for contact_id, (_at, lines) in first_deal.items()
        if lines and lines[0][0] in by_sku
    }

    drafts = []
    previous = -1
    with ctx.progress("Orders", int(history.customer.size)) as advance:
        for index, day, amount in zip(
            history.customer.tolist(), history.day.tolist(), history.amount.tolist(), strict=True
        ):
            contact = customers[index]
            is_first = index != previous
            previous = index
            moment = _moment(ctx, day, now)
            deal = first_deal.get(contact.pk) if is_first else None
            # A purchase drawn for the day the deal was signed may fall in its morning.
            moment = _not_before_deal(moment, first_deal, contact, now)
            if deal is not None:
                # The first purchase is the signed deal: winning it wrote its order (kind
                # "deal", with the deal's lines, on the day it was won). The draw below is still
                # made, so a seeded demo keeps the rest of its history.
                ctx.rng.random()
                advance(1)
                continue
            value = decimal.Decimal(str(amount)).quantize(CENT)
            lines = _repeat_lines(ctx, by_category, value, licence_of.get(contact.pk))
            # Purchases of the process are all revenue: paid, or just invoiced if very recent.
            status = OrderStatus.PAID if (now - moment).days < 3 else OrderStatus.SHIPPED
            organization = organizations.get(organization_of.get(contact.pk))
            drafts.append(
                services.validate_order(
                    contact=contact,
                    organization=organization,
                    ordered_at=moment,
                    status=status,
                    currency="EUR",
                    lines=lines,
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
                        organization=organization,
                        ordered_at=_not_before_deal(
                            max(
                                contact.created_at,
                                moment - dt.timedelta(hours=ctx.rng.randint(1, 72)),
                            ),
                            first_deal,
                            contact,
                            now,
                        ),
                        status=extra,
                        currency="EUR",
                        lines=lines,
                        infer_organization=False,
                    )
                )
            advance(1)
    # Add-ons won in the renewals pipeline are orders of their won deals already.
    for contact in ctx.rng.sample(customers, min(len(customers), max(1, len(customers) // 40))):
        drafts.append(
            services.validate_order(
                contact=contact,
                ordered_at=_not_before_deal(
                    now - dt.timedelta(hours=ctx.rng.randint(1, 60)), first_deal, contact, now
                ),
                status=OrderStatus.PLACED,
                currency="EUR",
                lines=_lines_at_list_price(by_sku["TRN-REMOTE"], decimal.Decimal("950.00")),
                infer_organization=False,
            )
        )
    # A few purchases by organizations as such (procurement orders, no person named).
    for organization in ctx.rng.sample(ctx.organizations, min(len(ctx.organizations), 12)):
        value = decimal.Decimal(ctx.rng.choice((2400, 6000, 2850, 4200)))
        drafts.append(
            services.validate_order(
                organization=organization,
                ordered_at=ctx.moment(days_ago_max=300, days_ago_min=5),
                status=OrderStatus.SHIPPED,
                currency="EUR",
                lines=_repeat_lines(ctx, by_category, value),
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
