"""How the sales app reacts to other apps' events (registered in SalesConfig.ready()).

Handlers run after the triggering transaction committed; they only enqueue tasks, so a slow
scoring or assignment never holds up the request that created the lead.
"""

from __future__ import annotations

from rapport.contacts.choices import LEAD_STAGES
from rapport.interactions.choices import Direction, InteractionKind

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
    if len(leads) == 1:
        tasks.process_new_lead.enqueue(contact_id=leads[0], creator_id=creators.get(leads[0]))
    elif leads:
        tasks.process_new_leads.enqueue(
            contact_ids=leads,
            creator_ids={str(pk): creators[pk] for pk in leads if pk in creators},
        )


def on_contact_updated(event) -> None:
    from rapport.sales import tasks

    if SCORED_FIELDS & set(event.changed_fields):
        tasks.score_lead.enqueue(contact_id=event.contact_id)


def on_lifecycle_changed(event) -> None:
    from rapport.sales import tasks

    if event.to_stage in LEAD_STAGES and event.from_stage not in LEAD_STAGES:
        tasks.process_new_lead.enqueue(contact_id=event.contact_id)


def on_interaction_logged(event) -> None:
    from rapport.contacts.models import Contact
    from rapport.sales import tasks

    # Form submissions are handled by WebFormSubmitted; outbound work says nothing new about
    # the lead's interest.
    if (
        event.contact_id is None
        or event.direction != Direction.INBOUND
        or event.kind == InteractionKind.FORM
    ):
        return
    if Contact.objects.filter(pk=event.contact_id, lifecycle_stage__in=LEAD_STAGES).exists():
        tasks.score_lead.enqueue(contact_id=event.contact_id)


def on_web_form_submitted(event) -> None:
    from rapport.sales import tasks

    # A new contact arrives through ContactCreated already.
    if not event.is_new_contact:
        tasks.process_new_lead.enqueue(contact_id=event.contact_id)
