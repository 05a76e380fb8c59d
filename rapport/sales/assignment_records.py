"""Assignment rules for contacts that are not leads, organizations and deals.

A new record of such a kind whose owner nobody chose (none, or the person who created it,
which is every form's, API call's and import's default) goes to the first rule of its kind that
matches and can place it, through the owning app's update service (audited, with its event).
An owner picked for someone else is kept. When rules matched but none could place the record
(everyone away, read-only or deactivated), it stays as it is and the person it stays with, or
else the fallback owner, is told so. Leads keep their own path (`assignment.assign_lead`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.models import User
from rapport.contacts import services as contact_services
from rapport.contacts.choices import LEAD_STAGES
from rapport.contacts.models import Contact, Organization
from rapport.sales import assignment_kinds
from rapport.sales.assignment import Decision, active_rules, walk_rules
from rapport.sales.choices import NotificationKind, RecordKind
from rapport.sales.services.settings import get_sales_settings
from rapport.sales.services.work import notify

logger = logging.getLogger(__name__)

KINDS = (RecordKind.CONTACT, RecordKind.ORGANIZATION, RecordKind.DEAL)


def has_rules(kind: str) -> bool:
    """Whether any active rule applies to `kind`: without one, new records cost nothing."""
    from rapport.sales.models import AssignmentRule

    return AssignmentRule.objects.filter(kind=kind, is_active=True).exists()


def _model(kind: str):
    if kind == RecordKind.DEAL:
        from rapport.sales.models import Deal

        return Deal
    return Organization if kind == RecordKind.ORGANIZATION else Contact


def _url(kind: str, pk: int) -> str:
    name = {
        RecordKind.CONTACT: "contacts:contact_detail",
        RecordKind.ORGANIZATION: "contacts:organization_detail",
        RecordKind.DEAL: "sales:deal_detail",
    }[RecordKind(kind)]
    return reverse(name, args=[pk])


def _give(kind: str, record, owner: User) -> None:
    # The rules' pick is an administrator's choice, not a giver's: no giver's reach applies
    # (actor None), as for leads; `walk_rules` only picks people who may own the record.
    if kind == RecordKind.DEAL:
        from rapport.sales.services.deals import update_deal

        update_deal(actor=None, deal=record, owner=owner)
    elif kind == RecordKind.ORGANIZATION:
        contact_services.update_organization(actor=None, organization=record, owner=owner)
    else:
        contact_services.update_contact(actor=None, contact=record, owner=owner)


def _tell(kind: str, record, decision: Decision | None, notes: list[str], given=True) -> None:
    noun = assignment_kinds.noun(kind)
    if decision is not None:
        if not given:
            return  # the rule's pick already owns it: nothing new to say
        notify(
            recipient=decision.owner,
            kind=NotificationKind.RECORD_ASSIGNED,
            title=f"New {noun}: {record}",
            body=decision.reason,
            url=_url(kind, record.pk),
            dedupe_key=f"{kind}-assigned:{record.pk}:{decision.owner.pk}",
        )
        return
    told = record.owner or get_sales_settings().fallback_owner
    where = f"it stays with {record.owner}" if record.owner else "it stays unassigned"
    notify(
        recipient=told,
        kind=NotificationKind.ASSIGNMENT_BLOCKED,
        title=f"No one could take the {noun} {record}",
        body=f"{' '.join(notes)} No other rule placed the {noun}: {where}.",
        url=_url(kind, record.pk),
        dedupe_key=f"{kind}-unplaced:{record.pk}",
    )


def assign_new_records(*, kind: str, ids: Iterable[int], creators: dict | None = None) -> dict:
    """Run the rules of `kind` on new records (see the module's docstring). `creators` maps
    a record's id to the id of the user who created it. Each record is its own transaction,
    so one failure does not undo the others; safe to run twice (a record already given away
    by a rule is owned by someone other than its creator then, and is left alone)."""
    if kind not in KINDS:
        raise ValueError(f"not a kind assigned here: {kind}")
    rules = active_rules(kind)
    ids = sorted(set(ids))
    if not rules or not ids:
        return {"records": len(ids), "assigned": 0, "unplaced": 0, "failed": 0}
    creators = {int(pk): user_id for pk, user_id in (creators or {}).items()}
    hits = {rule.pk: assignment_kinds.matching(kind, rule.condition, ids) for rule in rules}
    fields = assignment_kinds.field_set(kind)
    counts = {"records": len(ids), "assigned": 0, "unplaced": 0, "failed": 0}
    for pk in ids:
        if not any(pk in matched for matched in hits.values()):
            continue
        try:
            outcome = _assign_one(kind, pk, creators.get(pk), rules, hits, fields)
        except Exception:
            counts["failed"] += 1
            logger.exception("could not assign the new %s %s", kind, pk)
        else:
            if outcome:
                counts[outcome] += 1
    return counts


@transaction.atomic
def _assign_one(kind, pk, creator_id, rules, hits, fields) -> str | None:
    record = _model(kind).objects.select_for_update().filter(pk=pk).first()
    if record is None or record.owner_id not in (None, creator_id):
        return None
    if kind == RecordKind.CONTACT and record.lifecycle_stage in LEAD_STAGES:
        return None  # a lead: the lead rules place it
    decision, state, notes = walk_rules(
        rules, lambda rule: pk in hits[rule.pk], kind=kind, fields=fields
    )
    if decision is None:
        _tell(kind, record, None, notes)
        return "unplaced"
    given = decision.owner.pk != record.owner_id
    if given:
        _give(kind, record, decision.owner)
    if state is not None:
        state.last_user = decision.owner
        state.save(update_fields=["last_user", "updated_at"])
    _tell(kind, record, decision, notes, given=given)
    return "assigned"


def assign_by_rules(*, actor, kind: str, record) -> Decision | None:
    """Run the rules of `kind` on one existing record now (a bulk action's step): its owner
    becomes the first matching rule's pick. Returns the decision, or None when no rule could
    place it (the record is left as it is)."""
    access.require(actor, Action.CHANGE, record)
    if kind not in KINDS:
        raise ValueError(f"not a kind assigned here: {kind}")
    if kind == RecordKind.CONTACT and record.lifecycle_stage in LEAD_STAGES:
        raise ValidationError({"contact": ["A lead is placed by the rules for leads."]})
    rules = active_rules(kind)
    matched = {
        rule.pk: assignment_kinds.matching(kind, rule.condition, [record.pk]) for rule in rules
    }
    with transaction.atomic():
        record = _model(kind).objects.select_for_update().get(pk=record.pk)
        decision, state, _notes = walk_rules(
            rules,
            lambda rule: record.pk in matched[rule.pk],
            kind=kind,
            fields=assignment_kinds.field_set(kind),
            current_owner=record.owner,
            keep_team_owner=True,
        )
        if decision is None:
            return None
        if decision.owner.pk != record.owner_id:
            _give(kind, record, decision.owner)
        if state is not None:
            state.last_user = decision.owner
            state.save(update_fields=["last_user", "updated_at"])
    return decision
