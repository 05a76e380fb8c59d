"""Leads: contacts in the lead stages. Creating them, their products of interest, converting them."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.contacts.choices import LEAD_STAGES, ContactSource, LifecycleStage
from rapport.contacts.models import Contact
from rapport.contacts.services import create_contact, set_lifecycle_stage
from rapport.core.events import emit
from rapport.sales import events
from rapport.sales.models import Deal, Pipeline, ProductInterest, Stage
from rapport.sales.services.deals import create_deal
from rapport.sales.services.validation import actor_id, clean_names, merge_errors

logger = logging.getLogger(__name__)


@transaction.atomic
def create_lead(
    *,
    actor,
    lifecycle_stage: str = LifecycleStage.LEAD,
    source: str = ContactSource.MANUAL,
    products_of_interest: list[str] | None = None,
    **contact_fields,
) -> Contact:
    """A new contact in a lead stage, with the products it asked about.

    Goes through `contacts.services.create_contact`, so its ContactCreated event brings the
    lead to the assignment rules and the scoring (after commit).
    """
    errors: dict[str, list[str]] = {}
    if lifecycle_stage not in LEAD_STAGES:
        errors["lifecycle_stage"] = [f"A lead is in one of: {', '.join(LEAD_STAGES)}."]
        lifecycle_stage = LifecycleStage.LEAD  # still check the other fields, to report all
    products = clean_names(products_of_interest, field="products_of_interest", errors=errors)
    try:
        contact = create_contact(
            actor=actor, lifecycle_stage=lifecycle_stage, source=source, **contact_fields
        )
    except ValidationError as exc:
        merge_errors(errors, exc)
    if errors:
        # Raising inside this transaction also undoes a contact written above.
        raise ValidationError(errors)
    if products:
        _add_products(contact, products, source=source)
    return contact


def _add_products(contact: Contact, products: list[str], *, source: str) -> list[str]:
    existing = {p.casefold() for p in contact.product_interests.values_list("product", flat=True)}
    added = [p for p in products if p.casefold() not in existing]
    ProductInterest.objects.bulk_create(
        [ProductInterest(contact=contact, product=p, source=source[:100]) for p in added],
        ignore_conflicts=True,
    )
    return added


@transaction.atomic
def add_products_of_interest(
    *, actor, contact: Contact, products: list[str], source: str = ""
) -> list[str]:
    """Record products a lead asked about (kept; the list only grows). Returns the new ones."""
    access.require(actor, Action.CHANGE, contact)
    errors: dict[str, list[str]] = {}
    products = clean_names(products, field="products_of_interest", errors=errors)
    if errors:
        raise ValidationError(errors)
    added = _add_products(contact, products, source=source)
    if added:
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=contact,
            before={},
            after={"products_of_interest_added": added},
        )
    return added


@transaction.atomic
def convert_lead(
    *,
    actor,
    contact: Contact,
    pipeline: Pipeline,
    expected_close_date,
    amount=0,
    currency: str | None = None,
    name: str = "",
    owner=None,
    stage: Stage | None = None,
) -> Deal:
    """Open a deal for a qualified lead and move the contact on to "opportunity".

    The deal takes the lead's source, its products of interest and its primary organization;
    its owner is the lead's owner (or the actor). Sets off LeadConverted (and DealCreated,
    LifecycleStageChanged).
    """
    access.require(actor, Action.CHANGE, contact)
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.lifecycle_stage not in LEAD_STAGES:
        raise ValidationError(
            {
                "contact": [
                    f"Only leads can be converted; this contact is {contact.get_lifecycle_stage_display()}."
                ]
            }
        )
    if contact.is_archived:
        raise ValidationError({"contact": ["This contact is archived."]})
    membership = contact.memberships.filter(is_primary=True).select_related("organization").first()
    organization = membership.organization if membership else None
    default_name = f"{organization.name if organization else contact.full_name}"
    deal = create_deal(
        actor=actor,
        name=name or default_name,
        pipeline=pipeline,
        stage=stage,
        amount=amount,
        currency=currency,
        expected_close_date=expected_close_date,
        owner=owner or contact.owner or actor,
        contact=contact,
        organization=organization,
        products=list(contact.product_interests.values_list("product", flat=True)),
        source=contact.source,
        source_detail=contact.source_detail,
    )
    set_lifecycle_stage(
        actor=actor,
        contact=contact,
        stage=LifecycleStage.OPPORTUNITY,
        reason=f"converted to the deal “{deal.name}”"[:200],
    )
    emit(events.LeadConverted(contact_id=contact.pk, deal_id=deal.pk, actor_id=actor_id(actor)))
    return deal


def _creator(user_id: int | None):
    from rapport.accounts.models import User

    return User.objects.filter(pk=user_id).first() if user_id else None


def process_new_lead(*, contact_id: int, creator_id: int | None = None) -> None:
    """Score a lead, then (if nobody owns it yet) run the assignment rules. Safe to repeat."""
    from rapport.sales.assignment import assign_lead
    from rapport.sales.scoring.services import score_leads

    contact = Contact.objects.filter(pk=contact_id, is_archived=False).first()
    if contact is None or contact.lifecycle_stage not in LEAD_STAGES:
        return
    score_leads(contact_ids=[contact.pk])
    if contact.owner_id is None:
        assign_lead(contact=contact, actor=None, only_if_unowned=True, creator=_creator(creator_id))


def process_new_leads(*, contact_ids: list[int], creator_ids: dict | None = None) -> dict:
    """`process_new_lead` for a batch (an import's): one scoring pass, then the assignment
    rules for each lead nobody owns yet. Unlike a lone lead, whose task fails with its
    assignment, a lead whose assignment fails is logged and the others go on."""
    from rapport.sales.assignment import assign_lead
    from rapport.sales.scoring.services import score_leads

    leads = list(
        Contact.objects.filter(
            pk__in=contact_ids, is_archived=False, lifecycle_stage__in=LEAD_STAGES
        ).order_by("pk")
    )
    if leads:
        score_leads(contact_ids=[contact.pk for contact in leads])
    assigned = failed = 0
    # {contact id: who created it}; JSON keys arrive as strings through the task queue.
    creators = {int(pk): user_id for pk, user_id in (creator_ids or {}).items()}
    people = {user_id: _creator(user_id) for user_id in set(creators.values()) if user_id}
    for contact in leads:
        if contact.owner_id is not None:
            continue
        try:
            assignment = assign_lead(
                contact=contact,
                actor=None,
                only_if_unowned=True,
                creator=people.get(creators.get(contact.pk)),
            )
        except Exception:
            failed += 1
            logger.exception("could not assign the new lead %s", contact.pk)
        else:
            assigned += assignment is not None
    return {"leads": len(leads), "assigned": assigned, "failed": failed}
