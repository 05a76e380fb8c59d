"""The demo's sales side: pipelines, deals with dated stage histories, leads from every source,
scoring and assignment rules, web forms, tasks, and (with enough history) a trained lead model.

Deals follow the people part's lifecycle stories: a contact that reached "opportunity" got a
deal on that day; if it became a customer the deal was won on the day it did, otherwise it is
still open (some stalled long ago); some sales-qualified leads that never converted got a deal
that was lost, with a reason. Every write goes through the sales services with back-dated times
(`at=`), so the stage history, the analytics and the forecast read like a real year of selling.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from rapport.contacts.models import Contact, LifecycleChange, Membership
from rapport.demo.context import SALES_NORTH, SALES_SOUTH, SERVICE, DemoContext
from rapport.sales import assignment
from rapport.sales.choices import StageKind
from rapport.sales.models import Deal, LeadScoringModel, LostReason, Pipeline
from rapport.sales.scoring import services as scoring_services
from rapport.sales.services import deals, leads, pipelines, webforms, work
from rapport.sales.services.settings import update_sales_settings

NEW_BUSINESS = [
    {"name": "Qualification", "probability": 10, "stall_days": 21},
    {"name": "Needs analysis", "probability": 25},
    {"name": "Proposal", "probability": 50},
    {"name": "Negotiation", "probability": 75, "stall_days": 30},
    {"name": "Won", "kind": "won"},
    {"name": "Lost", "kind": "lost"},
]
RENEWALS = [
    {"name": "Discovery", "probability": 30},
    {"name": "Quote sent", "probability": 60},
    {"name": "Won", "kind": "won"},
    {"name": "Lost", "kind": "lost"},
]
# Typical days a deal spends in each open stage of the new-business pipeline.
DWELL_DAYS = {"Qualification": 6, "Needs analysis": 10, "Proposal": 14, "Negotiation": 9}
LOST_REASONS = ["Price", "Went with a competitor", "No budget", "Bad timing", "No decision"]
PRODUCTS = [
    "Wholesale account",
    "Corporate gifts",
    "Café supply contract",
    "Custom print run",
    "Office coffee service",
    "Garden kits for events",
]
BASE_AMOUNT = {"1-10": 1500, "11-50": 4000, "51-200": 9000, "201-1000": 20000, "1001+": 45000}
CURRENCY = {"US": "USD", "GB": "GBP"}
CONVERTED = ("customer", "loyal", "advocate", "churned")


def build(ctx: DemoContext) -> None:
    """Everything a sales rep opens in the morning, built on the people part's contacts."""
    setup = _configure(ctx)
    histories = _lifecycle_moments(ctx)
    _build_deals(ctx, setup, histories)
    _build_renewals(ctx, setup, histories)
    _build_new_leads(ctx, setup)
    _build_tasks(ctx)
    _train_and_score(ctx)


# -- configuration -----------------------------------------------------------------------------


def _configure(ctx: DemoContext) -> dict:
    admin = ctx.admin
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
    north, south = ctx.members_of(SALES_NORTH), ctx.members_of(SALES_SOUTH)
    senior = (north or south or [admin])[0]
    update_sales_settings(
        actor=admin,
        fallback_owner=ctx.extras.get("manager") or senior,
        conversion_window_days=90,
    )
    if not assignment.AssignmentRule.objects.exists():
        assignment.create_assignment_rule(
            actor=admin,
            name="Enterprise interest to a senior rep",
            condition={
                "field": "product_of_interest",
                "op": "contains",
                "value": "Wholesale account",
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
    return {"main": main, "renewals": renewals, "reasons": reasons, "forms": forms}


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
            "source_detail": "Ambiente Frankfurt",
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


def _amount(ctx: DemoContext, size: str) -> decimal.Decimal:
    base = BASE_AMOUNT.get(size, 800)
    value = base * math.exp(ctx.rng.gauss(0, 0.5))
    return decimal.Decimal(max(50, round(value / 50) * 50))


def _deal_owner(ctx: DemoContext, contact: Contact):
    reps = set(ctx.sales_reps())
    if contact.owner in reps:
        return contact.owner
    team = SALES_NORTH if contact.country in ("DE", "GB", "NL", "SE", "US") else SALES_SOUTH
    return ctx.pick_user(team)


def _open_stages(pipeline: Pipeline):
    return [s for s in pipeline.stages.all() if s.kind == StageKind.OPEN]


def _closing(pipeline: Pipeline, kind: str):
    return next(s for s in pipeline.stages.all() if s.kind == kind)


def _organizations(ctx: DemoContext) -> dict[int, tuple]:
    ids = [c.pk for c in ctx.contacts]
    found = {}
    for start in range(0, len(ids), 2000):
        for contact_id, name, size in Membership.objects.filter(
            contact_id__in=ids[start : start + 2000], is_primary=True
        ).values_list("contact_id", "organization__name", "organization__size"):
            found[contact_id] = (name, size)
    return found


def _build_deals(ctx: DemoContext, setup: dict, moments) -> None:
    pipeline = setup["main"]
    stages = _open_stages(pipeline)
    won, lost = _closing(pipeline, "won"), _closing(pipeline, "lost")
    orgs = _organizations(ctx)
    contacts = {c.pk: c for c in Contact.objects.filter(pk__in=[c.pk for c in ctx.contacts])}
    plans = []
    for contact_id, reached in moments.items():
        contact = contacts.get(contact_id)
        if contact is None or contact.is_archived:
            continue
        if "opportunity" in reached:
            converted = next((reached[s] for s in CONVERTED if s in reached), None)
            plans.append(
                (contact, reached["opportunity"], converted, "won" if converted else "open")
            )
        elif "sales_qualified" in reached and ctx.rng.random() < 0.9:
            plans.append((contact, reached["sales_qualified"] + dt.timedelta(days=2), None, "lost"))
        elif "marketing_qualified" in reached and ctx.rng.random() < 0.35:
            # Sales tried early and lost: these never became sales-qualified.
            start = reached["marketing_qualified"] + dt.timedelta(days=3)
            plans.append((contact, start, None, "lost"))
    made = 0
    with ctx.progress("Deals and stage histories", len(plans)) as advance:
        for start in range(0, len(plans), 100):
            with transaction.atomic():
                for contact, opened, closed, outcome in plans[start : start + 100]:
                    org_name, size = orgs.get(contact.pk, (None, ""))
                    _one_deal(
                        ctx,
                        pipeline,
                        stages,
                        won,
                        lost,
                        setup["reasons"],
                        contact,
                        org_name,
                        size,
                        opened,
                        closed,
                        outcome,
                    )
                    made += 1
                    advance(1)
    ctx.extras["deals"] = made


def _one_deal(
    ctx, pipeline, stages, won, lost, reasons, contact, org_name, size, opened, closed, outcome
) -> Deal:
    now = ctx.now
    opened = min(opened, now - dt.timedelta(hours=1))
    owner = _deal_owner(ctx, contact)
    currency = CURRENCY.get(contact.country, "EUR")
    name_base = org_name or contact.full_name
    products = ctx.rng.sample(PRODUCTS, ctx.rng.choice([1, 1, 2]))
    expected = (closed or opened + dt.timedelta(days=ctx.rng.uniform(20, 90))).date()
    if outcome == "open" and expected < now.date():
        expected = now.date() + dt.timedelta(days=ctx.rng.randint(5, 120))
    deal = deals.create_deal(
        actor=owner,
        name=f"{name_base} – {products[0]}"[:200],
        pipeline=pipeline,
        stage=stages[0],
        amount=_amount(ctx, size),
        currency=currency,
        expected_close_date=expected,
        owner=owner,
        contact=contact,
        products=products,
        source=contact.source,
        source_detail=contact.source_detail,
        at=opened,
    )
    at = opened
    if outcome == "won":
        closed = min(closed, now - dt.timedelta(hours=1))
        # Spread the open stages over the time until the contact became a customer.
        path = [s for s in stages[1:] if ctx.rng.random() < 0.85]
        span = max((closed - opened).total_seconds(), 3600.0)
        cuts = sorted(ctx.rng.uniform(0.05, 0.95) for _ in path)
        for stage, cut in zip(path, cuts, strict=True):
            at = max(at, opened + dt.timedelta(seconds=span * cut))
            deals.move_deal(actor=owner, deal=deal, stage=stage, at=at)
        deals.move_deal(actor=owner, deal=deal, stage=won, at=max(at, closed))
        return deal
    # Open or lost: walk the stages with their typical dwell times until now (or the loss).
    furthest = ctx.rng.randint(0, len(stages) - 1) if outcome == "open" else ctx.rng.randint(0, 2)
    for stage in stages[1 : furthest + 1]:
        dwell = DWELL_DAYS.get(stage.name, 10) * ctx.rng.uniform(0.4, 1.6)
        candidate = at + dt.timedelta(days=dwell)
        if candidate >= now - dt.timedelta(hours=2):
            break
        at = candidate
        deals.move_deal(actor=owner, deal=deal, stage=stage, at=at)
    if outcome == "lost":
        lost_at = min(now - dt.timedelta(hours=1), at + dt.timedelta(days=ctx.rng.uniform(3, 25)))
        deals.move_deal(
            actor=owner,
            deal=deal,
            stage=lost,
            lost_reason=ctx.rng.choice(reasons),
            lost_note=ctx.rng.choice(
                ["", "", "Asked us to come back next year.", "Budget moved to Q4."]
            ),
            at=max(at, lost_at),
        )
    return deal


def _build_renewals(ctx: DemoContext, setup: dict, moments) -> None:
    pipeline = setup["renewals"]
    stages = _open_stages(pipeline)
    won, lost = _closing(pipeline, "won"), _closing(pipeline, "lost")
    orgs = _organizations(ctx)
    loyal = [
        contact
        for contact in Contact.objects.filter(
            pk__in=[c.pk for c in ctx.contacts],
            lifecycle_stage__in=["loyal", "advocate"],
            is_archived=False,
        )
    ]
    with transaction.atomic():
        for contact in loyal:
            if ctx.rng.random() > 0.5:
                continue
            _name, size = orgs.get(contact.pk, (None, ""))
            started = min(
                max(
                    moments.get(contact.pk, {}).get("loyal", ctx.now - dt.timedelta(days=60)),
                    ctx.now - dt.timedelta(days=200),
                ),
                ctx.now - dt.timedelta(hours=3),
            )
            outcome = ctx.rng.choices(["won", "open", "lost"], weights=[5, 3, 2])[0]
            owner = _deal_owner(ctx, contact)
            deal = deals.create_deal(
                actor=owner,
                name=f"Upsell: {contact.full_name}"[:200],
                pipeline=pipeline,
                stage=stages[0],
                amount=_amount(ctx, size) / 2,
                currency=CURRENCY.get(contact.country, "EUR"),
                expected_close_date=(ctx.now + dt.timedelta(days=ctx.rng.randint(10, 90))).date(),
                owner=owner,
                contact=contact,
                products=[ctx.rng.choice(PRODUCTS)],
                source="referral",
                at=started,
            )
            at = started + dt.timedelta(days=ctx.rng.uniform(5, 20))
            if at < ctx.now - dt.timedelta(hours=2):
                deals.move_deal(actor=owner, deal=deal, stage=stages[1], at=at)
            else:
                # Too recent to have moved on yet: the close below counts from the opening, so
                # it can never land in the future.
                at = started
            if outcome != "open":
                close_at = min(
                    ctx.now - dt.timedelta(hours=1), at + dt.timedelta(days=ctx.rng.uniform(5, 30))
                )
                deals.move_deal(
                    actor=owner,
                    deal=deal,
                    stage=won if outcome == "won" else lost,
                    lost_reason=ctx.rng.choice(setup["reasons"]) if outcome == "lost" else None,
                    at=max(close_at, at),
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
    "campaign": "Spring catalogue mailing",
    "chat": "Website chat",
    "social": "LinkedIn",
    "referral": "Referred by a customer",
    "trade_show": "Ambiente Frankfurt",
    "import": "Purchased list (CSV)",
    "manual": "",
}
TITLES = [
    "Managing Director",
    "Head of Purchasing",
    "Office Manager",
    "Buyer",
    "Assistant",
    "Facilities Manager",
    "Owner",
    "Marketing Coordinator",
]


def _build_new_leads(ctx: DemoContext, setup: dict) -> None:
    """Fresh leads of the last days, from forms and every other source, assigned and scored."""
    count = max(40, ctx.scale // 40)
    faker = ctx.faker
    countries = ["DE", "GB", "NL", "SE", "US", "FR", "ES", "IT", "AT", "CH"]
    made = []
    others = 0
    with ctx.progress("New leads (all sources)", count) as advance:
        for i in range(count):
            first, last = faker.first_name(), faker.last_name()
            company = faker.company()
            country = ctx.rng.choice(countries)
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
                        "products_of_interest": ctx.rng.choice(PRODUCTS),
                        "message": ctx.rng.choice(
                            [
                                "Please send prices.",
                                "Can we get samples?",
                                "Looking for a supplier for 40 offices.",
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
                    products_of_interest=[ctx.rng.choice(PRODUCTS)],
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
    "Book a tasting session",
    "Confirm delivery dates",
    "Check in after the samples",
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
