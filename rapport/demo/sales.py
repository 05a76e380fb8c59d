"""The demo's sales side: pipelines, deals with dated stage histories, leads from every source,
scoring and assignment rules, web forms, tasks, and (with enough history) a trained lead model.

Deals follow the people part's lifecycle stories, the way a B2B software vendor sells: the
company buys, so the first of an organization's people to become a customer signed the won deal
(opened on the day they became an opportunity, won on the day they became a customer); people
who never converted got deals that were lost, with a reason fitting how far they got; a third of
today's customers said no once before. Amounts are quotes from the price list
(`vocabulary.CATALOGUE`): licences by the buyer's size, an implementation package, support and
training. Sales cycles grow with the buyer's size, about three in ten decided deals are won, and
about one open deal in five sits past its stage's stall limit. Every write goes through the sales
services with back-dated times (`at=`), so the stage history, the analytics and the forecast
read like a real year of selling.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from rapport.contacts.models import Contact, LifecycleChange, Membership
from rapport.demo import vocabulary as words
from rapport.demo.context import SALES_NORTH, SALES_SOUTH, SERVICE, DemoContext
from rapport.demo.people import company_name, sales_cycle
from rapport.demo.promise import lead_promise, odds
from rapport.sales import assignment
from rapport.sales.choices import StageKind
from rapport.sales.models import Deal, LeadScoringModel, LostReason, Pipeline
from rapport.sales.scoring import services as scoring_services
from rapport.sales.services import deal_lines, deals, leads, pipelines, webforms, work
from rapport.sales.services.settings import update_sales_settings

NEW_BUSINESS = [
    {"name": "Qualification", "probability": 10, "stall_days": 21},
    {"name": "Needs analysis", "probability": 25, "stall_days": 30},
    {"name": "Proposal", "probability": 50, "stall_days": 30},
    {"name": "Negotiation", "probability": 75, "stall_days": 45},
    {"name": "Won", "kind": "won"},
    {"name": "Lost", "kind": "lost"},
]
RENEWALS = [
    {"name": "Discovery", "probability": 30, "stall_days": 30},
    {"name": "Quote sent", "probability": 60, "stall_days": 21},
    {"name": "Won", "kind": "won"},
    {"name": "Lost", "kind": "lost"},
]
LOST_REASONS = ["Price", "Went with a competitor", "No budget", "Bad timing", "No decision"]
# Why deals are lost, early in the pipeline (qualification, needs) and late (proposal, later).
EARLY_LOSS = [
    ("No budget", 4),
    ("Bad timing", 3),
    ("No decision", 3),
    ("Went with a competitor", 1),
]
LATE_LOSS = [("Price", 4), ("Went with a competitor", 4), ("No decision", 2), ("Bad timing", 1)]
# How far a lost deal got before it was lost: most fall out in qualification.
LOST_AT = [(0, 40), (1, 28), (2, 20), (3, 12)]
# Won ÷ (won + lost) of new business the demo aims for.
WIN_RATE = 0.28
# Share of open deals stuck past their stage's stall limit: a manager expects some, not most.
STALLED_SHARE = 0.22
# The product families and how often each leads a deal.
FAMILIES = [
    ("Brightwave Desk", 40),
    ("Brightwave Helpdesk", 22),
    ("Brightwave Rooms", 15),
    ("Brightwave Cloud Backup", 13),
    ("Brightwave Secure Wi-Fi", 10),
]
# Licence units per "seat" of the company: agents, rooms, terabytes and sites are fewer.
UNITS_PER_SEAT = {
    "BW-DESK-1Y": 1.0,
    "BW-HELP-1Y": 0.15,
    "BW-ROOM-1Y": 0.08,
    "BW-BKP-1Y": 0.03,
    "BW-WIFI-1Y": 0.02,
}
PRICE_LIST = {
    sku: (name, category, price, unit) for sku, name, category, price, unit in words.CATALOGUE
}
CONVERTED = ("customer", "loyal", "advocate", "churned")
CENT = decimal.Decimal("0.01")


def build(ctx: DemoContext) -> None:
    """Everything a sales rep opens in the morning, built on the people part's contacts."""
    setup = _configure(ctx)
    histories = _lifecycle_moments(ctx)
    _build_deals(ctx, setup, histories)
    _build_renewals(ctx, setup, histories)
    _build_new_leads(ctx, setup)
    _build_tasks(ctx)
    _set_quotas(ctx)
    _train_and_score(ctx)


# -- configuration -----------------------------------------------------------------------------


def _configure(ctx: DemoContext) -> dict:
    from rapport.demo.commerce import build_catalogue

    admin = ctx.admin
    # Deals sell from the price list, so it exists before the first deal.
    catalogue = {product.sku: product for product in build_catalogue(ctx)}
    main = Pipeline.objects.filter(name="New business").first() or pipelines.create_pipeline(
        actor=admin, name="New business", currency="EUR", stages=NEW_BUSINESS, is_default=True
    )
    renewals = Pipeline.objects.filter(name="Renewals & upsell").first() or (
        pipelines.create_pipeline(
            actor=admin, name="Renewals & upsell", currency="EUR", stages=RENEWALS
        )
    )
    reasons = []
    for index, name in enumerate(LOST_REASONS):
        reason = LostReason.objects.filter(name=name).first()
        reasons.append(
            reason or pipelines.create_lost_reason(actor=admin, name=name, position=index)
        )
    # The most senior rep: a seat that may work leads (never the read-only manager or seat).
    senior = (ctx.sales_reps() or [admin])[0]
    update_sales_settings(
        actor=admin,
        # Leads nobody else takes go to someone who can work them (the manager is read-only).
        fallback_owner=senior,
        conversion_window_days=90,
    )
    if not assignment.AssignmentRule.objects.exists():
        assignment.create_assignment_rule(
            actor=admin,
            name="Helpdesk interest to a senior rep",
            condition={
                "field": "product_of_interest",
                "op": "contains",
                "value": "Brightwave Helpdesk",
            },
            target_user=senior,
            position=10,
        )
        for position, (team_key, countries) in enumerate(
            (
                (SALES_NORTH, ["DE", "GB", "NL", "SE", "US"]),
                (SALES_SOUTH, ["FR", "ES", "IT", "AT", "CH"]),
            ),
            start=2,
        ):
            assignment.create_assignment_rule(
                actor=admin,
                name=f"Territory {ctx.teams[team_key].name}",
                condition={"field": "country", "op": "in", "value": countries},
                target_team=ctx.teams[team_key],
                position=position * 10,
            )
    if not scoring_services.ScoringRule.objects.exists():
        for rule in _scoring_rules():
            scoring_services.create_scoring_rule(actor=admin, **rule)
    forms = {}
    for spec in _form_specs():
        existing = webforms.WebForm.objects.filter(name=spec["name"]).first()
        forms[spec["name"]] = existing or webforms.create_webform(actor=admin, **spec)
    return {
        "main": main,
        "renewals": renewals,
        "reasons": reasons,
        "forms": forms,
        "catalogue": catalogue,
    }


def _scoring_rules() -> list[dict]:
    return [
        {
            "name": "Senior job title",
            "points": 25,
            "condition": {"field": "seniority", "op": "eq", "value": "executive"},
        },
        {
            "name": "Manager",
            "points": 10,
            "condition": {"field": "seniority", "op": "eq", "value": "manager"},
        },
        {
            "name": "Business email",
            "points": 10,
            "condition": {"field": "business_email", "op": "eq", "value": True},
        },
        {
            "name": "Company of 200+ people",
            "points": 15,
            "condition": {"field": "organization_size", "op": "in", "value": ["201-1000", "1001+"]},
        },
        {
            "name": "Sent a form",
            "points": 20,
            "condition": {"field": "form_submissions", "op": "gte", "value": 1},
            "half_life_days": 14,
            "decay_anchor": "last_form_submission",
        },
        {
            "name": "Talks to us",
            "points": 15,
            "condition": {"field": "inbound_interactions", "op": "gte", "value": 2},
            "half_life_days": 30,
            "decay_anchor": "last_inbound",
        },
        {
            "name": "Referred",
            "points": 10,
            "condition": {"field": "source", "op": "eq", "value": "referral"},
        },
        {
            "name": "Gone quiet",
            "points": -10,
            "condition": {"field": "days_since_last_touch", "op": "gt", "value": 90},
        },
    ]


def _form_specs() -> list[dict]:
    return [
        {
            "name": "Contact sales",
            "description": "The form on the pricing page.",
            "fields": [
                {"target": "first_name", "required": True},
                {"target": "last_name", "required": True},
                {"target": "email", "label": "Work email", "required": True},
                {"target": "company"},
                {"target": "job_title"},
                {"target": "country"},
                {"target": "products_of_interest", "label": "What are you interested in?"},
                {"target": "message"},
            ],
            "source_detail": "Pricing page",
        },
        {
            "name": "Trade show badge scan",
            "fields": [
                {"target": "first_name", "required": True},
                {"target": "last_name", "required": True},
                {"target": "email", "required": True},
                {"target": "company"},
                {"target": "job_title"},
                {"target": "country"},
            ],
            "source": "trade_show",
            "source_detail": "Web Summit Lisbon",
            "consent_enabled": False,
        },
        {
            "name": "Newsletter",
            "fields": [{"target": "email", "required": True}, {"target": "first_name"}],
            "lifecycle_stage": "subscriber",
            "campaign": "newsletter",
            "thank_you_message": "Thanks — the next issue is on its way.",
        },
    ]


# -- deals -------------------------------------------------------------------------------------


def _lifecycle_moments(ctx: DemoContext) -> dict[int, dict[str, dt.datetime]]:
    """When each demo contact first reached each lifecycle stage."""
    ids = [c.pk for c in ctx.contacts]
    moments: dict[int, dict[str, dt.datetime]] = defaultdict(dict)
    for start in range(0, len(ids), 2000):
        for contact_id, stage, at in (
            LifecycleChange.objects.filter(contact_id__in=ids[start : start + 2000])
            .order_by("changed_at")
            .values_list("contact_id", "to_stage", "changed_at")
        ):
            moments[contact_id].setdefault(stage, at)
    return moments


def _weighted(ctx: DemoContext, pairs):
    values, weights = zip(*pairs, strict=True)
    return ctx.rng.choices(values, weights=weights, k=1)[0]


def quote(ctx: DemoContext, size: str | None, family: str | None = None) -> dict:
    """A quote from the price list for a buyer of that size: the licences of one product
    family, usually an implementation package, often a support plan and training days, with the
    volume discount on licences. Returns {"family", "lines": [(sku, qty, unit price)], "amount"}.
    """
    low, high, implementation, _c1, _c2 = words.DEAL_SHAPE.get(size or "", words.INDIVIDUAL_SHAPE)
    family = family or _weighted(ctx, FAMILIES)
    sku = words.FAMILY_LICENCE[family]
    seats = math.exp(ctx.rng.uniform(math.log(low), math.log(high)))
    quantity = max(1, round(seats * UNITS_PER_SEAT[sku]))
    list_price = decimal.Decimal(PRICE_LIST[sku][2])
    value = list_price * quantity
    discount = (
        decimal.Decimal("0.15")
        if value >= 100_000
        else decimal.Decimal("0.10")
        if value >= 30_000
        else decimal.Decimal("0.05")
        if value >= 10_000
        else decimal.Decimal(0)
    )
    lines = [(sku, quantity, (list_price * (1 - discount)).quantize(CENT))]
    discounts = {sku: discount * 100} if discount else {}
    if implementation and ctx.rng.random() < {"1-10": 0.3, "11-50": 0.6}.get(size or "", 0.85):
        lines.append((implementation, 1, decimal.Decimal(PRICE_LIST[implementation][2])))
    if size in ("201-1000", "1001+") and ctx.rng.random() < 0.6:
        lines.append(("SUP-PREM-1Y", 1, decimal.Decimal(PRICE_LIST["SUP-PREM-1Y"][2])))
    elif size and ctx.rng.random() < (0.2 if size == "1-10" else 0.45):
        lines.append(("SUP-BIZ-1Y", 1, decimal.Decimal(PRICE_LIST["SUP-BIZ-1Y"][2])))
    if size and ctx.rng.random() < 0.5:
        big = size in ("201-1000", "1001+")
        training = "TRN-ONSITE" if big or ctx.rng.random() < 0.3 else "TRN-REMOTE"
        days = ctx.rng.randint(2, 6) if big else ctx.rng.randint(1, 2)
        lines.append((training, days, decimal.Decimal(PRICE_LIST[training][2])))
    amount = sum((qty * price for _sku, qty, price in lines), decimal.Decimal(0))
    return {
        "family": family,
        "lines": lines,
        "discounts": discounts,
        "amount": amount.quantize(CENT),
    }


def _give_lines(owner, deal: Deal, offer: dict, catalogue: dict) -> None:
    """The quote as the deal's product lines: list prices, the volume discount as a percentage
    (so a won deal's order, and its customer's value, show what was sold)."""
    discounts = offer.get("discounts", {})
    deal_lines.set_deal_lines(
        actor=owner,
        deal=deal,
        lines=[
            {
                "product": catalogue[sku],
                "quantity": quantity,
                "unit_price": decimal.Decimal(PRICE_LIST[sku][2]) if sku in discounts else price,
                "discount": discounts.get(sku, 0),
            }
            for sku, quantity, price in offer["lines"]
        ],
    )


def _deal_name(buyer: str, offer: dict) -> str:
    sku, quantity, _price = offer["lines"][0]
    unit = PRICE_LIST[sku][3]
    units = f"{quantity} {unit}s" if quantity != 1 and unit != "TB" else f"{quantity} {unit}"
    return f"{buyer} – {offer['family']}, {units}"[:200]


def _products(offer: dict) -> list[str]:
    return [PRICE_LIST[sku][0] for sku, _q, _p in offer["lines"]]


def _deal_owner(ctx: DemoContext, contact: Contact):
    # By id, returning the context's own user: `contact.owner` would read the user and then
    # its role from the database again for every deal.
    reps = {user.pk: user for user in ctx.sales_reps()}
    if contact.owner_id in reps:
        return reps[contact.owner_id]
    team = SALES_NORTH if contact.country in ("DE", "GB", "NL", "SE", "US") else SALES_SOUTH
    return ctx.pick_user(team)


def _open_stages(pipeline: Pipeline):
    return [s for s in pipeline.stages.all() if s.kind == StageKind.OPEN]


def _closing(pipeline: Pipeline, kind: str):
    return next(s for s in pipeline.stages.all() if s.kind == kind)


def _organizations(ctx: DemoContext) -> dict[int, tuple]:
    """Contact id -> (organization id, name, size) of its primary organization."""
    ids = [c.pk for c in ctx.contacts]
    found = {}
    for start in range(0, len(ids), 2000):
        for contact_id, org_id, name, size in Membership.objects.filter(
            contact_id__in=ids[start : start + 2000], is_primary=True
        ).values_list("contact_id", "organization_id", "organization__name", "organization__size"):
            found[contact_id] = (org_id, name, size)
    return found


def _plans(ctx: DemoContext, contacts: dict, moments, orgs) -> list[tuple]:
    """(contact, opened, closed, outcome) per new-business deal.

    In B2B the company buys: the first of an organization's people to become a customer signed
    the deal (the others became customers with it); a person without an organization bought
    for themselves. Deals that did not close come from the qualified leads that never
    converted, and from earlier attempts at today's customers.
    """
    # A won deal makes its contact a customer again: the signer is someone still a customer
    # (an account whose people all left has its deal from before the CRM).
    first_customer: dict[int, tuple[dt.datetime, int]] = {}
    for contact_id, reached in moments.items():
        converted = next((reached[s] for s in CONVERTED if s in reached), None)
        org = orgs.get(contact_id)
        contact = contacts.get(contact_id)
        if converted is None or org is None or contact is None:
            continue
        if contact.lifecycle_stage == "churned":
            continue
        if org[0] not in first_customer or converted < first_customer[org[0]][0]:
            first_customer[org[0]] = (converted, contact_id)
    buyers = {contact_id for _at, contact_id in first_customer.values()}
    plans = []
    # Lost deals by how likely sales was to try: qualified leads first, then earlier attempts at
    # today's customers, marketing-qualified leads, and last plain leads.
    candidates: list[list[tuple]] = [[], [], [], []]
    fresh = ctx.now - dt.timedelta(days=25)
    for contact_id, reached in moments.items():
        contact = contacts.get(contact_id)
        if contact is None or contact.is_archived:
            continue
        converted = next((reached[s] for s in CONVERTED if s in reached), None)
        org = orgs.get(contact_id)
        if converted is not None:
            if contact_id not in buyers and (
                org is not None or contact.lifecycle_stage == "churned"
            ):
                continue
            opened = reached.get("opportunity") or converted - dt.timedelta(days=20)
            plans.append((contact, opened, converted, "won"))
            # Some customers said no the first time and came back later.
            earlier = opened - dt.timedelta(days=ctx.rng.uniform(150, 400))
            if earlier > contact.created_at + dt.timedelta(days=5):
                candidates[1].append((contact, earlier, None, "lost"))
        elif "opportunity" in reached:
            plans.append((contact, reached["opportunity"], None, "open"))
        elif "sales_qualified" in reached:
            start = reached["sales_qualified"] + dt.timedelta(days=2)
            if start > fresh:
                plans.append((contact, start, None, "open"))  # still being worked
            else:
                candidates[0].append((contact, start, None, "lost"))
        elif "marketing_qualified" in reached:
            # Sales tried and lost: these never became sales-qualified.
            start = _tried(ctx, reached["marketing_qualified"], fresh)
            if start is not None:
                candidates[2].append((contact, start, None, "lost"))
        elif contact.lifecycle_stage == "lead":
            # A rep opened a deal on a lead that went nowhere.
            start = _tried(ctx, reached.get("lead", contact.created_at), fresh)
            if start is not None:
                candidates[3].append((contact, start, None, "lost"))
    # About three in ten decided deals are won: lose as many as that takes, most likely first.
    won_count = sum(1 for plan in plans if plan[3] == "won")
    wanted = round(won_count * (1 - WIN_RATE) / WIN_RATE)
    for group in candidates:
        # Sales tries the promising leads first, but only by a tilt (a weighted draw).
        group.sort(key=lambda plan: -(ctx.rng.random() ** (1 / _promise(plan[0]))))
        take = group[: max(0, wanted)]
        plans.extend(take)
        wanted -= len(take)
    plans.sort(key=lambda plan: plan[1])
    return plans


def _tried(ctx: DemoContext, since: dt.datetime, fresh: dt.datetime) -> dt.datetime | None:
    """When a rep opened a deal on a lead that never qualified: days to a year after it came
    in, as reps also go back to old leads (None: too recent a lead to have been tried and lost).

    Often after the weeks a lead's outcome is judged by, so the lead counts as one that did
    not convert then: a lead that always got its deal at once would leave no lead unconverted.
    """
    soonest = since + dt.timedelta(days=4)
    if soonest > fresh:
        return None
    latest = min(fresh, since + dt.timedelta(days=365))
    return soonest + (latest - soonest) * ctx.rng.random()


def _promise(contact: Contact) -> float:
    """How much likelier than average this lead is to be tried (the odds of its promise)."""
    return odds(
        lead_promise(
            source=contact.source,
            job_title=contact.job_title,
            has_phone=bool(contact.primary_phone),
        )
    )


def _build_deals(ctx: DemoContext, setup: dict, moments) -> None:
    pipeline = setup["main"]
    stages = _open_stages(pipeline)
    won, lost = _closing(pipeline, "won"), _closing(pipeline, "lost")
    orgs = _organizations(ctx)
    contacts = {c.pk: c for c in Contact.objects.filter(pk__in=[c.pk for c in ctx.contacts])}
    plans = _plans(ctx, contacts, moments, orgs)
    reasons = {reason.name: reason for reason in setup["reasons"]}
    won_deals = []
    counts: dict[str, int] = defaultdict(int)
    will_be_open = sum(
        1
        for _c, opened, _closed, outcome in plans
        if outcome == "open" or (outcome == "lost" and _too_fresh(ctx.now, opened))
    )
    quota = {"target": round(STALLED_SHARE * will_be_open)}
    with ctx.progress("Deals and stage histories", len(plans)) as advance:
        for start in range(0, len(plans), 100):
            with transaction.atomic():
                for contact, opened, closed, outcome in plans[start : start + 100]:
                    _org_id, org_name, size = orgs.get(contact.pk, (None, None, None))
                    deal, offer = _one_deal(
                        ctx,
                        pipeline,
                        stages,
                        won,
                        lost,
                        reasons,
                        contact,
                        org_name,
                        size,
                        opened,
                        closed,
                        outcome,
                        quota,
                        setup["catalogue"],
                    )
                    # The services moved their own copy: read back where it ended.
                    deal.refresh_from_db(fields=["status", "closed_at", "stage_entered_at"])
                    counts[deal.status] += 1
                    if deal.status == "won":
                        won_deals.append((deal.pk, contact.pk, deal.closed_at, offer["lines"]))
                    advance(1)
    ctx.extras["deals"] = sum(counts.values())
    # The commerce part turns each won deal into its first order (and yearly renewals).
    ctx.extras["won_deals"] = won_deals
    closed_count = counts["won"] + counts["lost"]
    if closed_count:
        ctx.say(
            f"  new business: {counts['won']} won, {counts['lost']} lost "
            f"({counts['won'] / closed_count:.0%} win rate), {counts['open']} open"
        )


def _too_fresh(now: dt.datetime, opened: dt.datetime) -> bool:
    """A deal this young cannot have been lost yet: it is still being worked."""
    return (now - opened).days < 21


def _dwell(ctx: DemoContext, size: str | None) -> float:
    """Days a deal of that size typically spends in one open stage."""
    low, high = sales_cycle(size)
    return ctx.rng.uniform(low, high) / 4


def _one_deal(
    ctx,
    pipeline,
    stages,
    won,
    lost,
    reasons,
    contact,
    org_name,
    size,
    opened,
    closed,
    outcome,
    quota,
    catalogue,
) -> tuple[Deal, dict]:
    now = ctx.now
    opened = ctx.working_time(min(opened, now - dt.timedelta(hours=3)))
    if outcome == "lost" and _too_fresh(now, opened):
        outcome = "open"  # too fresh to have been decided: still being worked
    owner = _deal_owner(ctx, contact)
    offer = quote(ctx, size)
    low, high = sales_cycle(size)
    expected = (closed or opened + dt.timedelta(days=ctx.rng.uniform(low, high))).date()
    if outcome == "open" and expected < now.date():
        expected = now.date() + dt.timedelta(days=ctx.rng.randint(7, max(14, high // 2)))
    deal = deals.create_deal(
        actor=owner,
        name=_deal_name(org_name or contact.full_name, offer),
        pipeline=pipeline,
        stage=stages[0],
        amount=offer["amount"],
        currency="EUR",
        expected_close_date=expected,
        owner=owner,
        contact=contact,
        products=_products(offer),
        source=contact.source,
        source_detail=contact.source_detail,
        at=opened,
    )
    _give_lines(owner, deal, offer, catalogue)
    at = opened
    if outcome == "won":
        closed = max(opened + dt.timedelta(hours=2), min(closed, now - dt.timedelta(hours=1)))
        # Spread the open stages over the time until the contract was signed.
        path = [s for s in stages[1:] if ctx.rng.random() < 0.9]
        span = (closed - opened).total_seconds()
        cuts = sorted(ctx.rng.uniform(0.05, 0.95) for _ in path)
        for stage, cut in zip(path, cuts, strict=True):
            at = max(at, opened + dt.timedelta(seconds=span * cut))
            deals.move_deal(actor=owner, deal=deal, stage=stage, at=at)
        deals.move_deal(actor=owner, deal=deal, stage=won, at=max(at, closed))
        return deal, offer
    if outcome == "open":
        _walk_open(ctx, owner, deal, stages, opened, size, quota)
        return deal, offer
    # Lost: walk the stages with their typical dwell times, then lose it.
    furthest = _weighted(ctx, LOST_AT)
    for stage in stages[1 : furthest + 1]:
        candidate = at + dt.timedelta(days=_dwell(ctx, size))
        if candidate >= now - dt.timedelta(days=3):
            break
        at = candidate
        deals.move_deal(actor=owner, deal=deal, stage=stage, at=at)
        furthest = stages.index(stage)
    lost_at = min(now - dt.timedelta(hours=1), at + dt.timedelta(days=_dwell(ctx, size)))
    reason = _weighted(ctx, EARLY_LOSS if furthest < 2 else LATE_LOSS)
    deals.move_deal(
        actor=owner,
        deal=deal,
        stage=lost,
        lost_reason=reasons.get(reason) or ctx.rng.choice(list(reasons.values())),
        lost_note=ctx.rng.choice(
            ["", "", "Asked us to come back next year.", "Budget moved to next quarter."]
        ),
        at=max(at, lost_at),
    )
    return deal, offer


def _walk_open(ctx, owner, deal, stages, opened, size, quota: dict) -> None:
    """Moves for a deal still open today: it reached a stage fitting its age and moved there
    recently (within the stage's stall limit), or it sits past that limit. Stalled deals are
    kept to about STALLED_SHARE of the pipeline's open ones: `quota` holds the target (or, when
    the total is not known in advance, counts the open deals so far) and the stalled so far."""
    now = ctx.now
    age = (now - opened).total_seconds() / 86400
    quota["open"] = quota.get("open", 0) + 1
    quota.setdefault("stalled", 0)
    target = quota.get("target", STALLED_SHARE * quota["open"])
    _low, high = sales_cycle(size)
    progress = min(0.99, age / (high * 1.1))
    furthest = min(len(stages) - 1, int(progress * len(stages) + ctx.rng.uniform(-0.5, 0.5)))
    furthest = max(0, furthest)

    def limit(index: int) -> float:
        return float(stages[index].stall_days or 30)

    stalled_at = None
    if quota["stalled"] < target and ctx.rng.random() < 0.7:
        # The furthest stage it can be stuck in: entered more than its limit ago, leaving a day
        # for each stage passed before.
        stalled_at = next(
            (i for i in range(furthest, -1, -1) if age > limit(i) * 1.15 + i),
            None,
        )
    if stalled_at is not None:
        quota["stalled"] += 1
        furthest = stalled_at
        in_stage = ctx.rng.uniform(
            limit(furthest) * 1.1, min(age - furthest, limit(furthest) * 2.5)
        )
        if furthest == 0:
            return  # stuck in qualification since it was opened
    else:
        # Moving: the current stage was entered within its limit, so a deal older than the
        # first stage's limit has moved on from qualification.
        if furthest == 0 and age > limit(0) * 0.8:
            furthest = 1
        if furthest == 0:
            return
        in_stage = ctx.rng.uniform(0.3, max(0.5, min(age * 0.7, limit(furthest) * 0.8)))
    last_move = max(opened + dt.timedelta(hours=1), now - dt.timedelta(days=in_stage))
    span = (last_move - opened).total_seconds()
    cuts = sorted(ctx.rng.uniform(0.1, 0.95) for _ in range(furthest - 1))
    at = opened
    for stage, cut in zip(stages[1:furthest], cuts, strict=True):
        at = max(at, opened + dt.timedelta(seconds=span * cut))
        deals.move_deal(actor=owner, deal=deal, stage=stage, at=at)
    deals.move_deal(actor=owner, deal=deal, stage=stages[furthest], at=max(at, last_move))


def _build_renewals(ctx: DemoContext, setup: dict, moments) -> None:
    """Renewals and add-ons with long-standing customers: most renew, some are being quoted."""
    pipeline = setup["renewals"]
    stages = _open_stages(pipeline)
    won, lost = _closing(pipeline, "won"), _closing(pipeline, "lost")
    orgs = _organizations(ctx)
    reasons = {reason.name: reason for reason in setup["reasons"]}
    loyal = [
        contact
        for contact in Contact.objects.filter(
            pk__in=[c.pk for c in ctx.contacts],
            lifecycle_stage__in=["loyal", "advocate"],
            is_archived=False,
        )
    ]
    seen_orgs: set[int] = set()
    renewal_quota: dict = {}
    with transaction.atomic():
        for contact in loyal:
            org_id, org_name, size = orgs.get(contact.pk, (None, None, None))
            if ctx.rng.random() > 0.5 or (org_id is not None and org_id in seen_orgs):
                continue
            if org_id is not None:
                seen_orgs.add(org_id)
            outcome = ctx.rng.choices(["won", "open", "lost"], weights=[7, 2, 1])[0]
            reached = moments.get(contact.pk, {}).get("loyal", ctx.now - dt.timedelta(days=60))
            if outcome == "open":
                started = ctx.now - dt.timedelta(days=ctx.rng.uniform(2, 60))
            else:
                started = max(reached, ctx.now - dt.timedelta(days=300))
                started = min(started, ctx.now - dt.timedelta(days=30))
            started = ctx.working_time(started)
            owner = _deal_owner(ctx, contact)
            offer = quote(ctx, size)
            # An add-on: more licences of what they have, without a new implementation.
            offer["lines"] = [line for line in offer["lines"] if not line[0].startswith("IMP-")]
            offer["amount"] = sum(
                (qty * price for _s, qty, price in offer["lines"]), decimal.Decimal(0)
            )
            deal = deals.create_deal(
                actor=owner,
                name=_deal_name(f"Add-on: {org_name or contact.full_name}", offer),
                pipeline=pipeline,
                stage=stages[0],
                amount=offer["amount"],
                currency="EUR",
                expected_close_date=(ctx.now + dt.timedelta(days=ctx.rng.randint(10, 60))).date(),
                owner=owner,
                contact=contact,
                products=_products(offer),
                source="referral",
                at=started,
            )
            _give_lines(owner, deal, offer, setup["catalogue"])
            if outcome == "open":
                _walk_open(ctx, owner, deal, stages, started, size, renewal_quota)
                continue
            age = (ctx.now - started).total_seconds() / 86400
            at = started + dt.timedelta(days=min(age * 0.6, ctx.rng.uniform(3, 15)))
            if age > 4:
                deals.move_deal(actor=owner, deal=deal, stage=stages[1], at=at)
            else:
                at = started
            if outcome != "open":
                close_at = min(
                    ctx.now - dt.timedelta(hours=1), at + dt.timedelta(days=ctx.rng.uniform(5, 25))
                )
                deals.move_deal(
                    actor=owner,
                    deal=deal,
                    stage=won if outcome == "won" else lost,
                    lost_reason=reasons["Price"] if outcome == "lost" else None,
                    at=max(close_at, at),
                )
                if outcome == "won":
                    deal.refresh_from_db(fields=["status", "closed_at"])
                    ctx.extras.setdefault("won_deals", []).append(
                        (deal.pk, contact.pk, deal.closed_at, offer["lines"])
                    )


# -- leads from every source -------------------------------------------------------------------

LEAD_SOURCES = [
    "api",
    "email",
    "campaign",
    "chat",
    "social",
    "referral",
    "trade_show",
    "import",
    "manual",
]
SOURCE_DETAIL = {
    "api": "Partner portal",
    "email": "sales@ inbox",
    "campaign": "Hybrid work webinar",
    "chat": "Website chat",
    "social": "LinkedIn",
    "referral": "Referred by a customer",
    "trade_show": "Web Summit Lisbon",
    "import": "Purchased list (CSV)",
    "manual": "",
}
TITLES = [title for title, _weight in words.JOB_TITLES]


def _build_new_leads(ctx: DemoContext, setup: dict) -> None:
    """Fresh leads of the last days, from forms and every other source, assigned and scored."""
    count = max(40, ctx.scale // 40)
    faker = ctx.faker
    countries = ["DE", "GB", "NL", "SE", "US", "FR", "ES", "IT", "AT", "CH"]
    made = []
    others = 0
    companies: set[str] = set()
    with ctx.progress("New leads (all sources)", count) as advance:
        for i in range(count):
            first, last = faker.first_name(), faker.last_name()
            country = ctx.rng.choice(countries)
            company = company_name(ctx, country, _weighted(ctx, words.INDUSTRIES), companies)
            email = f"{_slug(first)}.{_slug(last)}{i}@{_slug(company)}.example"
            title = ctx.rng.choice(TITLES)
            if i % 3 == 0:
                form = setup["forms"]["Contact sales" if i % 2 == 0 else "Trade show badge scan"]
                result = webforms.submit_web_form(
                    form=form,
                    data={
                        "first_name": first,
                        "last_name": last,
                        "email": email,
                        "company": company,
                        "job_title": title,
                        "country": country,
                        "products_of_interest": ctx.rng.choice(words.PRODUCTS),
                        "message": ctx.rng.choice(
                            [
                                "Please send prices for 50 seats.",
                                "Can we get a trial?",
                                "Looking for one helpdesk tool for 40 offices.",
                                "",
                            ]
                        ),
                        "consent": "yes",
                    },
                )
                contact = result.contact
            else:
                source = LEAD_SOURCES[others % len(LEAD_SOURCES)]
                others += 1
                contact = leads.create_lead(
                    actor=ctx.pick_user(SALES_NORTH) if source == "manual" else None,
                    first_name=first,
                    last_name=last,
                    emails=[email],
                    job_title=title,
                    country=country,
                    source=source,
                    source_detail=SOURCE_DETAIL[source],
                    products_of_interest=[ctx.rng.choice(words.PRODUCTS)],
                )
            made.append(contact.pk)
            advance(1)
    # Assign and score now rather than waiting for the worker to pick up the queued tasks.
    for contact_id in made:
        leads.process_new_lead(contact_id=contact_id)
    ctx.extras["new_leads"] = made


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())[:20] or "company"


# -- tasks -------------------------------------------------------------------------------------

FOLLOW_UPS = [
    "Call back about the proposal",
    "Send revised quote",
    "Book a product demo",
    "Confirm the rollout date",
    "Check in after the trial",
    "Prepare contract draft",
]


def _build_tasks(ctx: DemoContext) -> None:
    now = timezone.localtime(ctx.now)
    open_deals = list(
        Deal.objects.filter(status="open", owner__isnull=False).select_related("owner", "contact")[
            :400
        ]
    )
    with transaction.atomic():
        for deal in open_deals:
            if ctx.rng.random() > 0.7:
                continue
            offset = ctx.rng.choice([-3, -1, 0, 0, 1, 2, 5, 9])
            due = now.replace(
                hour=ctx.rng.randint(9, 17), minute=0, second=0, microsecond=0
            ) + dt.timedelta(days=offset)
            task = work.create_task(
                actor=deal.owner,
                title=ctx.rng.choice(FOLLOW_UPS),
                due_at=due,
                deal=deal,
                priority=ctx.rng.choice(["normal", "normal", "high", "low", "urgent"]),
                remind_at=due - dt.timedelta(minutes=30)
                if offset >= 0 and ctx.rng.random() < 0.4
                else None,
            )
            if offset < -1 and ctx.rng.random() < 0.5:
                work.complete_task(actor=deal.owner, task=task)
        # The seeds' hand-off: service hears "considering an upgrade" and asks sales to follow up.
        agents = ctx.members_of(SERVICE) or [ctx.admin]
        customers = list(
            Contact.objects.filter(lifecycle_stage__in=["customer", "loyal"], owner__isnull=False)[
                :25
            ]
        )
        reps = set(ctx.sales_reps())
        for contact in customers:
            rep = contact.owner if contact.owner in reps else ctx.pick_user(SALES_NORTH)
            work.create_task(
                actor=ctx.rng.choice(agents),
                title=f"{contact.full_name} is considering an upgrade",
                description="Came up in a support call; please follow up with an offer.",
                due_at=now + dt.timedelta(days=ctx.rng.choice([0, 1, 2])),
                assignee=rep,
                contact=contact,
                priority="high",
            )


# -- quotas ------------------------------------------------------------------------------------


def _set_quotas(ctx: DemoContext) -> None:
    """Monthly quotas for each rep (this month and the two before, so attainment has a history)
    and the quarter's for each sales team: what the rep sold in an average month of the last
    half year, raised by a tenth and rounded, as a manager would set them."""
    from django.db.models import Sum

    from rapport.sales.quota_periods import month_bounds, quarter_bounds
    from rapport.sales.quotas import set_quota

    today = timezone.localdate(ctx.now)
    months = [month_bounds(today)]
    for _ in range(2):
        months.append(month_bounds(months[-1][0] - dt.timedelta(days=1)))
    since = ctx.now - dt.timedelta(days=182)
    set_count = 0
    for key in (SALES_NORTH, SALES_SOUTH):
        team_total = decimal.Decimal(0)
        for rep in [user for user in ctx.members_of(key) if not user.is_read_only]:
            won = Deal.objects.filter(owner=rep, status="won", closed_at__gte=since).aggregate(
                total=Sum("amount")
            )["total"] or decimal.Decimal(0)
            monthly = max(decimal.Decimal(5_000), (won / 6 * decimal.Decimal("1.1")))
            monthly = (monthly / 1_000).quantize(decimal.Decimal(1)) * 1_000
            for start, end in months:
                set_quota(
                    actor=ctx.admin, amount=monthly, period_start=start, period_end=end, user=rep
                )
                set_count += 1
            team_total += monthly * 3
        team = ctx.teams.get(key)
        if team is not None and team_total:
            quarter, end = quarter_bounds(today)
            set_quota(
                actor=ctx.admin, amount=team_total, period_start=quarter, period_end=end, team=team
            )
            set_count += 1
    ctx.say(f"  quotas: {set_count} set for the sales reps and teams")


# -- the learned score -------------------------------------------------------------------------


def _train_and_score(ctx: DemoContext) -> None:
    run = scoring_services.train_lead_model(actor=ctx.admin, trigger="demo", seed=1)
    if run.status == "ready":
        ctx.say(
            f"  lead model trained on {run.n_labelled} leads: ROC AUC {run.roc_auc:.3f} "
            f"on {run.n_test} held-out leads"
        )
    else:
        ctx.say(f"  lead model not trained: {run.message}")
    scored = scoring_services.score_leads(actor=ctx.admin)
    ctx.say(f"  scored {scored.scored} leads by {scored.basis} in {scored.seconds:.1f} s")
    ctx.extras["lead_model"] = LeadScoringModel.objects.filter(pk=run.pk).first()
