"""The IDIC journey of each customer: identified → differentiated → interacted → customized.

Each step is a condition on the contact, evaluated in the database:

- identified: a usable identity (a name plus an email or a phone — the data-quality definition);
- differentiated: placed in a value tier by the analytics, or with needs on record (a product of
  interest or an "About" note);
- interacted: a customer-facing interaction in the last 90 days;
- customized: something made for them in the last 180 days — a deal (a proposal built for that
  customer). When Rapport holds personalized offers they will count here too.

A customer's position is the last step of the unbroken run from the start; the funnel counts the
contacts that reached each step with every step before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone

INTERACT_DAYS = 90
CUSTOMIZE_DAYS = 180


@dataclass(frozen=True)
class Step:
    key: str
    name: str
    meaning: str


STEPS = (
    Step("identify", "Identified", "A name plus an email address or phone number."),
    Step(
        "differentiate",
        "Differentiated",
        "Placed in a value tier, or needs on record (a product of interest or an About note).",
    ),
    Step("interact", "Interacted", "A call, email, meeting or message in the last 90 days."),
    Step(
        "customize",
        "Customized",
        "A deal made for them in the last 180 days (offers will count here once Rapport holds "
        "them).",
    ),
)


def step_conditions(moment: dt.datetime | None = None) -> dict[str, Q]:
    """step key → the condition on Contact that the step is reached, as of `moment`."""
    from rapport.analytics.models import CustomerAnalytics
    from rapport.data_exchange.quality import usable_identity_q
    from rapport.interactions.models import Interaction
    from rapport.sales.models import DealStageChange, ProductInterest

    moment = moment or timezone.now()
    mine = OuterRef("pk")
    # EXISTS throughout, not IN (subquery): the funnel evaluates the steps in its select list,
    # where an IN whose rows outgrow work_mem is rescanned for every contact; EXISTS probes the
    # index, or is hashed when the planner finds that cheaper.
    return {
        "identify": usable_identity_q(),
        # The note first: the database stops at the first alternative that holds.
        "differentiate": ~Q(about="")
        | Q(Exists(CustomerAnalytics.objects.filter(contact_id=mine)))
        | Q(Exists(ProductInterest.objects.filter(contact_id=mine))),
        "interact": Q(
            Exists(
                Interaction.objects.filter(
                    contact_id=mine,
                    occurred_at__gte=moment - dt.timedelta(days=INTERACT_DAYS),
                    occurred_at__lt=moment,
                ).exclude(channel="internal")
            )
        ),
        "customize": Q(
            Exists(
                DealStageChange.objects.filter(
                    deal__contact_id=mine,
                    from_stage__isnull=True,
                    changed_at__gte=moment - dt.timedelta(days=CUSTOMIZE_DAYS),
                    changed_at__lt=moment,
                )
            )
        ),
    }


def reached_steps(conditions: dict[str, Q]):
    """How many steps of the unbroken run from the start a contact reached (0–4), as one
    expression: each step is only looked up for the contacts that reached every step before it
    (nested CASE evaluates lazily), so the costlier later steps (recent interactions, deals)
    are probed for the few contacts still in the run, not for every contact."""
    reached = Value(len(STEPS))
    for index in range(len(STEPS) - 1, -1, -1):
        reached = Case(
            When(conditions[STEPS[index].key], then=reached),
            default=Value(index),
            output_field=IntegerField(),
        )
    return reached


def funnel(contacts, moment: dt.datetime | None = None) -> list[dict]:
    """How many of `contacts` reached each step together with all steps before it.

    One query grouping the contacts by how far along the run they got; a step reached with
    every step before it is counted for everyone who got at least that far.
    """
    rows = (
        contacts.order_by()
        .annotate(reached=reached_steps(step_conditions(moment)))
        .values("reached")
        .annotate(contacts=Count("pk"))
        .values_list("reached", "contacts")
    )
    furthest = dict.fromkeys(range(len(STEPS) + 1), 0)
    for reached, count in rows:
        furthest[int(reached)] += count
    total = sum(furthest.values())
    result = []
    for index, step in enumerate(STEPS, start=1):
        count = sum(n for reached, n in furthest.items() if reached >= index)
        result.append(
            {
                "key": step.key,
                "name": step.name,
                "meaning": step.meaning,
                "count": count,
                "share": count / total if total else None,
                "total": total,
            }
        )
    return result


def position(contact, moment: dt.datetime | None = None) -> dict:
    """Which steps one contact has reached, and where it stands on the journey."""
    from rapport.contacts.models import Contact

    conditions = step_conditions(moment)
    flags = Contact.objects.filter(pk=contact.pk).aggregate(
        **{key: Count("pk", filter=condition) for key, condition in conditions.items()}
    )
    reached = {step.key: bool(flags[step.key]) for step in STEPS}
    furthest = 0
    for step in STEPS:
        if not reached[step.key]:
            break
        furthest += 1
    return {
        "steps": [
            {
                "key": step.key,
                "name": step.name,
                "meaning": step.meaning,
                "reached": reached[step.key],
                "in_run": index < furthest,
            }
            for index, step in enumerate(STEPS)
        ],
        "position": furthest,
        "current": STEPS[furthest - 1].name if furthest else "Not yet identified",
        "next": STEPS[furthest] if furthest < len(STEPS) else None,
    }
