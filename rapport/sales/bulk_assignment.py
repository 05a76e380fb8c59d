""" "Assign by the assignment rules" on the organizations and deals lists: each record goes to
whoever the active rules of its kind pick (`assignment_records.assign_by_rules`); undoable."""

from __future__ import annotations

from rapport.contacts import services as contact_services
from rapport.contacts.bulk_actions import user_by_id
from rapport.core import bulk
from rapport.core.bulk import BulkAction, Unchanged
from rapport.sales.assignment_records import assign_by_rules
from rapport.sales.choices import RecordKind


class AssignRecordsByRules(BulkAction):
    key = "assign_by_rules"
    label = "Assign by the assignment rules"
    undoable = True
    kind: str

    def apply(self, actor, record, params):
        previous = record.owner_id
        decision = assign_by_rules(actor=actor, kind=self.kind, record=record)
        if decision is None:
            raise Unchanged("no rule matched or could take it")
        if decision.owner.pk == previous:
            raise Unchanged("the rules keep the current owner")
        return {"owner": previous}


class OrganizationAssignByRules(AssignRecordsByRules):
    entity = "organizations"
    kind = RecordKind.ORGANIZATION
    help_text = "Each organization goes to whoever the active organization rules pick."

    def revert(self, actor, record, undo, params):
        contact_services.update_organization(
            actor=actor, organization=record, owner=user_by_id(undo["owner"])
        )


class DealAssignByRules(AssignRecordsByRules):
    entity = "deals"
    kind = RecordKind.DEAL
    help_text = "Each deal goes to whoever the active deal rules pick."

    def revert(self, actor, record, undo, params):
        from rapport.sales.services.deals import update_deal

        update_deal(actor=actor, deal=record, owner=user_by_id(undo["owner"]))


def register() -> None:
    bulk.register_action(OrganizationAssignByRules)
    bulk.register_action(DealAssignByRules)
