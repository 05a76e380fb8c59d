"""Test data: leads with a back-dated history whose outcome depends on their attributes.

Rows are bulk-inserted (history cannot be written "in the past" through the services); the code
under test only reads them.
"""

import datetime as dt
import random

from django.utils import timezone

from rapport.contacts.models import Contact, LifecycleChange
from rapport.interactions.models import Interaction


def make_lead_history(count: int, *, seed: int = 1, window_days: int = 90) -> list[int]:
    """`count` contacts that became leads 120–400 days ago; executives and people who sent a
    form mostly converted within the window, the others mostly did not."""
    rng = random.Random(seed)
    now = timezone.now()
    contacts = []
    plans = []
    for i in range(count):
        executive = rng.random() < 0.4
        engaged = rng.random() < 0.5
        chance = 0.1 + 0.45 * executive + 0.3 * engaged
        plans.append((executive, engaged, rng.random() < chance))
        contacts.append(
            Contact(
                first_name=f"Hist{i}",
                last_name="Lead",
                job_title="Director of Sales" if executive else "Assistant",
                primary_email=f"hist{i}@{'corp' if i % 3 else 'gmail'}.example",
                country=rng.choice(["DE", "FR", "US"]),
                lifecycle_stage="lead",
                source=rng.choice(["web_form", "referral", "trade_show"]),
            )
        )
    Contact.objects.bulk_create(contacts)
    changes, touches = [], []
    for contact, (_executive, engaged, converts) in zip(contacts, plans, strict=True):
        since = now - dt.timedelta(days=rng.uniform(120, 400))
        changes.append(
            LifecycleChange(contact=contact, from_stage="", to_stage="lead", changed_at=since)
        )
        if engaged:
            touches.append(
                Interaction(
                    contact=contact,
                    kind="form_submission",
                    channel="web",
                    direction="inbound",
                    occurred_at=since + dt.timedelta(days=1),
                )
            )
        if converts:
            changes.append(
                LifecycleChange(
                    contact=contact,
                    from_stage="lead",
                    to_stage="customer",
                    changed_at=since + dt.timedelta(days=rng.uniform(5, window_days - 5)),
                )
            )
            # after converting they talk a lot: the model must not learn from this
            touches += [
                Interaction(
                    contact=contact,
                    kind="meeting",
                    channel="in_person",
                    direction="outbound",
                    occurred_at=since + dt.timedelta(days=window_days + 1 + k),
                )
                for k in range(3)
            ]
    LifecycleChange.objects.bulk_create(changes)
    Interaction.objects.bulk_create(touches)
    return [c.pk for c in contacts]
