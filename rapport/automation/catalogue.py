"""The events a webhook can subscribe to: Rapport's domain events under stable dotted names.

The dotted name ("contact.created") is the public contract — it is the `type` of the payload
and what a subscription stores — so renaming a Python class never changes what receivers see.
Events left out are internal (a scoring model retrained) or would flood a receiver with noise
(lead score recalculations).
"""

from __future__ import annotations

from dataclasses import dataclass

from rapport.analytics import events as analytics
from rapport.automation import events as automation
from rapport.commerce import events as commerce
from rapport.contacts import events as contacts
from rapport.data_exchange import events as data_exchange
from rapport.frameworks import events as frameworks
from rapport.interactions import events as interactions
from rapport.sales import events as sales


@dataclass(frozen=True)
class EventKind:
    name: str  # "contact.created"
    event_class: type
    group: str  # the record kind, in words, for the picker
    label: str  # what happened, in words


CATALOGUE: tuple[EventKind, ...] = (
    EventKind("contact.created", contacts.ContactCreated, "Contacts", "A contact was created"),
    EventKind("contact.updated", contacts.ContactUpdated, "Contacts", "A contact was changed"),
    EventKind("contact.archived", contacts.ContactArchived, "Contacts", "A contact was archived"),
    EventKind(
        "contact.lifecycle_stage_changed",
        contacts.LifecycleStageChanged,
        "Contacts",
        "A contact's lifecycle stage changed",
    ),
    EventKind(
        "contact.merged", data_exchange.ContactsMerged, "Contacts", "Two contacts were merged"
    ),
    EventKind(
        "organization.created",
        contacts.OrganizationCreated,
        "Organizations",
        "An organization was created",
    ),
    EventKind(
        "organization.updated",
        contacts.OrganizationUpdated,
        "Organizations",
        "An organization was changed",
    ),
    EventKind(
        "organization.merged",
        data_exchange.OrganizationsMerged,
        "Organizations",
        "Two organizations were merged",
    ),
    EventKind("lead.assigned", sales.LeadAssigned, "Leads", "A lead was assigned an owner"),
    EventKind("lead.converted", sales.LeadConverted, "Leads", "A lead was converted to a deal"),
    EventKind("deal.created", sales.DealCreated, "Deals", "A deal was created"),
    EventKind("deal.updated", sales.DealUpdated, "Deals", "A deal was changed"),
    EventKind("deal.stage_changed", sales.DealStageChanged, "Deals", "A deal moved stage"),
    EventKind("order.placed", commerce.OrderPlaced, "Orders", "An order was placed"),
    EventKind(
        "order.status_changed", commerce.OrderStatusChanged, "Orders", "An order's status changed"
    ),
    EventKind("order.deleted", commerce.OrderDeleted, "Orders", "An order was deleted"),
    EventKind("order.imported", commerce.OrdersImported, "Orders", "Orders were imported in bulk"),
    EventKind(
        "interaction.logged",
        interactions.InteractionLogged,
        "Interactions",
        "An interaction was logged (email, call, meeting, note)",
    ),
    EventKind("form.submitted", sales.WebFormSubmitted, "Web forms", "A web form was submitted"),
    EventKind(
        "segment.entered",
        analytics.SegmentEntered,
        "Segments",
        "A contact was added to a list, or entered a dynamic segment a workflow watches",
    ),
    EventKind(
        "segment.left",
        analytics.SegmentLeft,
        "Segments",
        "A contact was taken off a list, or left a dynamic segment a workflow watches",
    ),
    EventKind("task.created", sales.TaskCreated, "Tasks", "A task was created"),
    EventKind("task.completed", sales.TaskCompleted, "Tasks", "A task was completed"),
    EventKind(
        "objective.off_track",
        frameworks.ObjectiveOffTrack,
        "Objectives and assessments",
        "An objective is projected to miss its target",
    ),
    EventKind(
        "assessment.completed",
        frameworks.AssessmentCompleted,
        "Objectives and assessments",
        "An assessment was completed",
    ),
    EventKind(
        "workflow.run_started",
        automation.WorkflowRunStarted,
        "Workflows",
        "A workflow started a run for a record",
    ),
    EventKind(
        "workflow.run_finished",
        automation.WorkflowRunFinished,
        "Workflows",
        "A workflow run ended without failing (completed, stopped or cancelled)",
    ),
    EventKind(
        "workflow.run_failed", automation.WorkflowRunFailed, "Workflows", "A workflow run failed"
    ),
    EventKind(
        "workflow.step_failed",
        automation.WorkflowStepFailed,
        "Workflows",
        "A step of a workflow run failed",
    ),
)

BY_NAME: dict[str, EventKind] = {kind.name: kind for kind in CATALOGUE}
BY_CLASS: dict[type, EventKind] = {kind.event_class: kind for kind in CATALOGUE}
# The test event "Send a test event" delivers; not subscribable, sent to one subscription.
TEST_EVENT = "webhook.test"


def names() -> list[str]:
    return [kind.name for kind in CATALOGUE]


def groups() -> list[tuple[str, list[EventKind]]]:
    """The catalogue by record kind, in catalogue order (for the checkbox picker)."""
    grouped: dict[str, list[EventKind]] = {}
    for kind in CATALOGUE:
        grouped.setdefault(kind.group, []).append(kind)
    return list(grouped.items())


def name_of(event) -> str | None:
    kind = BY_CLASS.get(type(event))
    return kind.name if kind else None
