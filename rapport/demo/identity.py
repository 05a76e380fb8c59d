"""Demo part: a few believable duplicates for the review queue, and the first quality snapshot.

Real CRMs collect second records of the same person — a trade-show badge scan with a personal
address, a typo from a phone call, a nickname — and of the same company spelled another way.
This part plants a handful of each (about one contact in fifty), through the services, then
runs the duplicate scan so the Duplicates page has something to review.
"""

from __future__ import annotations

import contextlib

from django.core.exceptions import ValidationError

from rapport.contacts import services as contact_services
from rapport.data_exchange import dedupe, matching, quality
from rapport.demo.context import DemoContext

NICKNAME_OF = {full: nick for nick, full in dedupe.NICKNAMES.items()}
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com")


def _typo(rng, word: str) -> str:
    if len(word) < 4:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _second_record(ctx: DemoContext, contact) -> dict:
    rng = ctx.rng
    first, last = contact.first_name, contact.last_name
    emails = list(contact.emails.values_list("email", flat=True))
    phones = list(contact.phones.values_list("number", flat=True))
    membership = contact.memberships.select_related("organization").first()
    kind = rng.choice(["badge scan", "phone call", "nickname"])
    data = {
        "first_name": first,
        "last_name": last,
        "owner": contact.owner,
        "lifecycle_stage": contact.lifecycle_stage,
        "source": "trade_show" if kind == "badge scan" else "manual",
    }
    if kind == "badge scan" and emails:
        data["emails"] = [emails[0].upper()]
    elif kind == "phone call" and phones:
        data["last_name"] = _typo(rng, last) if last else last
        data["phones"] = phones[:1]
    else:
        data["first_name"] = NICKNAME_OF.get(first.lower(), first).title()
        if first:
            local = f"{data['first_name']}.{last}".lower().replace(" ", "")
            data["emails"] = [f"{local}@{rng.choice(FREE_MAIL)}"]
        if membership is not None:
            data["organization"] = membership.organization
        elif phones:
            data["phones"] = phones[:1]
    if contact.city:
        data["city"] = contact.city
    return data


def build(ctx: DemoContext) -> None:
    contacts = [c for c in ctx.contacts if c.first_name or c.last_name]
    if len(contacts) < 10:
        return
    count = max(5, min(200, len(contacts) // 50))
    chosen = ctx.rng.sample(contacts, count)
    with ctx.progress("Duplicates", count + 2) as advance:
        for contact in chosen:
            # A variant the services refuse (say, a name now too long) is simply not planted.
            with contextlib.suppress(ValidationError):
                contact_services.create_contact(actor=contact.owner, **_second_record(ctx, contact))
            advance(1)
        organizations = [o for o in ctx.organizations if o.name]
        for organization in ctx.rng.sample(organizations, min(3, len(organizations))):
            variant = organization.name.upper()
            for suffix in (" Inc", " Ltd", " GmbH", " LLC"):
                if organization.name.endswith(suffix):
                    variant = organization.name[: -len(suffix)]
            contact_services.create_organization(
                actor=organization.owner,
                owner=organization.owner,
                name=variant,
                city=organization.city,
                country=organization.country,
            )
        matching.scan("contact")
        matching.scan("organization")
        advance(1)
        quality.take_snapshot()
        advance(1)
    ctx.say(f"  planted {count} second records of contacts and 3 of organizations")
