"""Bulk actions of the sales app: on leads and deals, and the sales actions on contacts and
organizations (a task for each owner, assignment by the rules).

`register()` is called from `SalesConfig.ready()`. Every action goes through the sales
services (`assign_lead`, `assign_lead_by_hand`, `update_deal`, `move_deal`, `archive_deal`,
`create_task`), which decide access and write their own audit records.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.urls import reverse
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.choices import Domain
from rapport.contacts.bulk_actions import (
    AddTag,
    ArchiveRecords,
    AssignOwner,
    RemoveTag,
    SetLifecycleStage,
    _TagsPrefetched,
    may_change,
    owner_field,
    summarise_operation,
    user_by_id,
)
from rapport.contacts.choices import LifecycleStage
from rapport.contacts.models import Contact
from rapport.contacts.services import update_contact
from rapport.core import bulk
from rapport.core.bulk import BulkAction, Entity, ListSource, Unchanged
from rapport.sales.assignment import assign_lead, assign_lead_by_hand
from rapport.sales.choices import TaskPriority
from rapport.sales.deal_filters import filter_deals
from rapport.sales.filters import filter_leads
from rapport.sales.models import Deal, DealStageChange, LostReason, Stage, Task
from rapport.sales.querysets import leads_visible_to
from rapport.sales.services import deals as deal_services
from rapport.sales.services.work import create_task, delete_task


# --- deals ---------------------------------------------------------------------------------
class DealRecords:
    entity = "deals"
    model = Deal

    def update(self, actor, record, **changes):
        return deal_services.update_deal(actor=actor, deal=record, **changes)

    def archive(self, actor, record):
        return deal_services.archive_deal(actor=actor, deal=record)


class DealAssignOwner(AssignOwner, DealRecords):
    domain = Domain.SALES


class DealAddTag(_TagsPrefetched, AddTag, DealRecords):
    pass


class DealRemoveTag(_TagsPrefetched, RemoveTag, DealRecords):
    pass


class DealArchive(ArchiveRecords, DealRecords):
    # The sales services have no way back from archiving a deal yet.
    undoable = False
    help_text = "Hide from the board and analytics, keeping history."


class MoveDealToStage(DealRecords, BulkAction):
    """Move each deal to a stage through `move_deal`; deals of another pipeline fail with the
    service's reason. Undone through `undo_stage_move`, which allows it within 15 minutes."""

    key = "move_to_stage"
    label = "Move to stage"
    undoable = True

    def fields(self, actor):
        return {
            "stage": forms.ModelChoiceField(
                queryset=Stage.objects.filter(pipeline__is_archived=False).select_related(
                    "pipeline"
                ),
                label="Stage",
            ),
            "lost_reason": forms.ModelChoiceField(
                queryset=LostReason.objects.all(), required=False, label="Lost reason"
            ),
        }

    def prepare(self, actor, params):
        return {
            "stage": Stage.objects.select_related("pipeline").get(pk=params["stage"]),
            "lost_reason": LostReason.objects.filter(pk=params.get("lost_reason")).first()
            if params.get("lost_reason")
            else None,
        }

    def describe(self, params):
        stage = Stage.objects.select_related("pipeline").filter(pk=params.get("stage")).first()
        return f"Move to stage: {stage.pipeline.name} › {stage.name}" if stage else self.label

    def apply(self, actor, record, params):
        if record.stage_id == params["stage"].pk:
            raise Unchanged("already in that stage")
        change = deal_services.move_deal(
            actor=actor, deal=record, stage=params["stage"], lost_reason=params["lost_reason"]
        )
        if change is None:
            raise Unchanged("already in that stage")
        return {"change": change.pk}

    def revert(self, actor, record, undo, params):
        change = DealStageChange.objects.filter(pk=undo["change"]).first()
        if change is None:
            raise Unchanged("the move was already taken back")
        deal_services.undo_stage_move(actor=actor, change=change)


# --- leads ---------------------------------------------------------------------------------
class LeadRecords:
    entity = "leads"
    model = Contact

    def update(self, actor, record, **changes):
        return update_contact(actor=actor, contact=record, **changes)


class AssignLeadOwner(LeadRecords, BulkAction):
    """Give leads to a picked person by hand, recorded as the lead page's assignment is."""

    key = "assign_owner"
    label = "Assign owner"
    undoable = True

    def fields(self, actor):
        return {"owner": owner_field(actor, Domain.CONTACTS)}

    def prepare(self, actor, params):
        return {**params, "owner": user_by_id(params["owner"])}

    def describe(self, params):
        owner = user_by_id(params.get("owner"))
        return f"Assign owner: {owner}" if owner else self.label

    def apply(self, actor, record, params):
        if record.owner_id == params["owner"].pk:
            raise Unchanged("already theirs")
        previous = record.owner_id
        assign_lead_by_hand(actor=actor, contact=record, owner=params["owner"], note="bulk")
        return {"owner": previous}

    def revert(self, actor, record, undo, params):
        update_contact(actor=actor, contact=record, owner=user_by_id(undo["owner"]))


class AssignByRules(BulkAction):
    """Run the assignment rules on each record (leads only: the service refuses the others,
    which then count as failed with its reason)."""

    label = "Assign by the assignment rules"
    help_text = "Each lead goes to whoever the active assignment rules pick."
    key = "assign_by_rules"
    undoable = True

    def apply(self, actor, record, params):
        previous = record.owner_id
        assign_lead(contact=record, actor=actor, only_if_unowned=False, keep_team_owner=True)
        now = Contact.objects.filter(pk=record.pk).values_list("owner_id", flat=True).first()
        if now == previous:
            raise Unchanged("the rules keep the current owner")
        return {"owner": previous}

    def revert(self, actor, record, undo, params):
        update_contact(actor=actor, contact=record, owner=user_by_id(undo["owner"]))


class LeadAssignByRules(AssignByRules):
    entity = "leads"


class ContactAssignByRules(AssignByRules):
    entity = "contacts"


class LeadLifecycleStage(SetLifecycleStage):
    entity = "leads"

    def fields(self, actor):
        return {"stage": forms.ChoiceField(label="Stage", choices=LifecycleStage.choices)}


# --- a task for each record's owner -------------------------------------------------------
class CreateTaskForOwner(BulkAction):
    """One task per record, for the record's owner; a record without an owner is skipped.
    Undone by deleting the tasks made."""

    key = "create_task"
    label = "Create a task for each owner"
    undoable = True
    link = "contact"

    def fields(self, actor):
        return {
            "title": forms.CharField(label="Task", max_length=200),
            "due_on": forms.DateField(
                label="Due on", widget=forms.DateInput(attrs={"type": "date"})
            ),
            "priority": forms.ChoiceField(
                label="Priority", choices=TaskPriority.choices, initial=TaskPriority.NORMAL
            ),
            "description": forms.CharField(
                label="Details", required=False, max_length=2000, widget=forms.Textarea
            ),
        }

    def prepare(self, actor, params):
        due_on = dt.date.fromisoformat(params["due_on"])
        # Due at the start of the working day, in the server's time zone.
        due_at = timezone.make_aware(dt.datetime.combine(due_on, dt.time(9, 0)))
        return {**params, "due_at": due_at}

    def describe(self, params):
        return f"Create a task “{params.get('title', '')}” for each owner"

    def apply(self, actor, record, params):
        if record.owner_id is None:
            raise Unchanged("has no owner")
        task = create_task(
            actor=actor,
            title=params["title"],
            due_at=params["due_at"],
            assignee=record.owner,
            description=params.get("description") or "",
            priority=params["priority"],
            **{self.link: record},
        )
        return {"task": task.pk}

    def revert(self, actor, record, undo, params):
        task = Task.objects.filter(pk=undo["task"]).first()
        if task is not None:
            delete_task(actor=actor, task=task)

    def run(self, actor, queryset, params, progress):
        super().run(actor, queryset.select_related("owner"), params, progress)


def _task_action(entity_key: str, link: str) -> type:
    return type(
        f"CreateTaskFor{entity_key.title()}",
        (CreateTaskForOwner,),
        {"entity": entity_key, "link": link},
    )


# --- the lists -----------------------------------------------------------------------------
def deal_members(actor, params):
    """The deals list's filter (`sales.views.deals_list`) as a queryset: `filter_deals`."""
    return filter_deals(actor, params)


def register() -> None:
    """Declare leads and deals, and the sales actions on every entity (SalesConfig.ready)."""
    bulk.register_entity(
        Entity(
            key="leads",
            noun="lead",
            noun_plural="leads",
            model=Contact,
            visible=leads_visible_to,
            may_act=access.can_write,
            may_change=may_change,
            summarise=summarise_operation,
            detail_url=lambda pk: reverse("sales:lead_detail", args=[pk]),
        )
    )
    bulk.register_entity(
        Entity(
            key="deals",
            noun="deal",
            noun_plural="deals",
            model=Deal,
            visible=lambda actor: Deal.objects.visible_to(actor),
            may_act=access.can_write,
            may_change=may_change,
            summarise=summarise_operation,
            detail_url=lambda pk: reverse("sales:deal_detail", args=[pk]),
        )
    )
    # The list page filters with the same function, so "all that match" is what the page shows.
    bulk.register_list(ListSource(key="leads", entity="leads", label="Leads", members=filter_leads))
    bulk.register_list(ListSource(key="deals", entity="deals", label="Deals", members=deal_members))
    for action in (
        AssignLeadOwner,
        LeadAssignByRules,
        LeadLifecycleStage,
        _task_action("leads", "contact"),
        ContactAssignByRules,
        _task_action("contacts", "contact"),
        _task_action("organizations", "organization"),
        DealAssignOwner,
        MoveDealToStage,
        DealAddTag,
        DealRemoveTag,
        DealArchive,
        _task_action("deals", "deal"),
    ):
        bulk.register_action(action)
