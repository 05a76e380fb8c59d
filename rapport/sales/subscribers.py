"""How the sales app reacts to other apps' events (registered in SalesConfig.ready()).

Handlers run after the triggering transaction committed; they only enqueue tasks, so a slow
scoring or assignment never holds up the request that created the lead. Bulk work that says it
scores and assigns everything itself when it ends (`checks_deferred`: the demo builder) gets no
task per record: the worker would only repeat it, thousands of times, after the build.
"""

from __future__ import annotations

import functools

from rapport.contacts.choices import LEAD_STAGES
from rapport.core import context
from rapport.interactions.choices import Direction, InteractionKind


def _unless_deferred(handler):
    """Skip `handler` while bulk work that scores and assigns by itself runs."""

    @functools.wraps(handler)
    def guarded(*args, **kwargs):
        if not context.current().checks_deferred:
            return handler(*args, **kwargs)
        return None

    return guarded


# Contact changes that can move a lead's score (an owner change alone cannot).
SCORED_FIELDS = {
    "job_title",
    "country",
    "region",
    "postcode",
    "city",
    "source",
    "source_detail",
    "custom_fields",
    "emails",
    "phones",
    "organizations",
}


@_unless_deferred
def on_contacts_created(events) -> None:
    """New contacts in a lead stage go to scoring and the assignment rules.

    Subscribed with `many=True`: an import batch arrives as one list, so its leads are found
    with one query and handed to the worker as one task; a contact created on its own (UI, API,
    web form) arrives as a list of one and gets its own task, as before.
    """
    from rapport.contacts.models import Contact
    from rapport.sales import tasks

    ids = [event.contact_id for event in events]
    # By id alone, the stage sifted here: given the stages too, SQLite read the stage index of
    # every lead (87 ms a batch at a million contacts, against 6 ms).
    leads = sorted(
        pk
        for pk, stage in Contact.objects.filter(pk__any_of=ids)
        .order_by()
        .values_list("pk", "lifecycle_stage")
        if stage in LEAD_STAGES
    )
    creators = {event.contact_id: event.actor_id for event in events if event.actor_id}
    others = set(ids) - set(leads)
    if others:
        _assign_later("contact", {pk: creators.get(pk) for pk in others})
    if len(leads) == 1:
        tasks.process_new_lead.enqueue(contact_id=leads[0], creator_id=creators.get(leads[0]))
    elif leads:
        tasks.process_new_leads.enqueue(
            contact_ids=leads,
            creator_ids={str(pk): creators[pk] for pk in leads if pk in creators},
        )


@_unless_deferred
def _assign_later(kind: str, creators: dict[int, int | None]) -> None:
    """New records of `kind` (id → who created it) go to the assignment rules of their kind
    in the worker, when there are any: without a rule a batch costs one query here."""
    from rapport.sales import tasks
    from rapport.sales.assignment_records import has_rules

    if creators and has_rules(kind):
        tasks.assign_new_records.enqueue(
            kind=kind,
            ids=sorted(creators),
            creators={str(pk): user_id for pk, user_id in creators.items() if user_id},
        )


def on_organizations_created(events) -> None:
    """New organizations go to the organization rules (subscribed with `many=True`)."""
    _assign_later("organization", {event.organization_id: event.actor_id for event in events})


def on_deals_created(events) -> None:
    """New deals go to the deal rules (subscribed with `many=True`)."""
    _assign_later("deal", {event.deal_id: event.actor_id for event in events})


@_unless_deferred
def on_contact_updated(event) -> None:
    from rapport.sales import tasks

    if SCORED_FIELDS & set(event.changed_fields):
        tasks.score_lead.enqueue(contact_id=event.contact_id)


@_unless_deferred
def on_lifecycle_changed(event) -> None:
    from rapport.sales import tasks

    if event.to_stage in LEAD_STAGES and event.from_stage not in LEAD_STAGES:
        tasks.process_new_lead.enqueue(contact_id=event.contact_id)


@_unless_deferred
def on_interaction_logged(events) -> None:
    """Rescore the leads that something inbound happened with (subscribed with `many=True`):
    one query and one task per lead for a batch, as a mailbox sync logs hundreds at once; the
    score is computed from the lead's state, so one run covers all of its new entries."""
    from rapport.contacts.models import Contact
    from rapport.sales import tasks

    # Form submissions are handled by WebFormSubmitted; outbound work says nothing new about
    # the lead's interest.
    wanted = sorted(
        {
            event.contact_id
            for event in events
            if event.contact_id is not None
            and event.direction == Direction.INBOUND
            and event.kind != InteractionKind.FORM
        }
    )
    for start in range(0, len(wanted), 900):
        leads = Contact.objects.filter(
            pk__in=wanted[start : start + 900], lifecycle_stage__in=LEAD_STAGES
        ).order_by("pk")
        for contact_id in leads.values_list("pk", flat=True):
            tasks.score_lead.enqueue(contact_id=contact_id)


def on_web_form_submitted(event) -> None:
    from rapport.sales import tasks

    # A new contact arrives through ContactCreated already.
    if not event.is_new_contact:
        tasks.process_new_lead.enqueue(contact_id=event.contact_id)
