"""When contacts or organizations merge, their sales records follow the survivor.

Called by the contacts merge service through the registry, inside its transaction.
"""

from __future__ import annotations

from django.db import transaction

from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.sales.models import (
    Deal,
    LeadAssignment,
    LeadScore,
    LeadScoreHistory,
    ProductInterest,
    Quote,
    Task,
    WebFormSubmission,
)


def move_contact_records(loser, survivor, actor) -> None:
    """Deals, quotes, tasks, form submissions, products of interest and score history move
    over (a quote keeps the name it was issued to).

    The loser's current score is dropped and the survivor is rescored once the merge commits.
    """
    moved = {
        "deals": Deal.objects.filter(contact=loser).update(contact=survivor),
        "quotes": Quote.objects.filter(contact=loser).update(contact=survivor),
        "tasks": Task.objects.filter(contact=loser).update(contact=survivor),
        "form_submissions": WebFormSubmission.objects.filter(contact=loser).update(
            contact=survivor
        ),
        "assignments": LeadAssignment.objects.filter(contact=loser).update(contact=survivor),
        "score_history": LeadScoreHistory.objects.filter(contact=loser).update(contact=survivor),
    }
    known = {p.casefold() for p in survivor.product_interests.values_list("product", flat=True)}
    for interest in ProductInterest.objects.filter(contact=loser):
        if interest.product.casefold() in known:
            interest.delete()
        else:
            known.add(interest.product.casefold())
            ProductInterest.objects.filter(pk=interest.pk).update(contact=survivor)
    LeadScore.objects.filter(contact=loser).delete()
    _record(actor, survivor, moved, f"Merged in {loser}")
    from rapport.sales import tasks

    transaction.on_commit(lambda: tasks.score_lead.enqueue(contact_id=survivor.pk))


def move_organization_records(loser, survivor, actor) -> None:
    """Deals, quotes and tasks of the merged organization move to the survivor."""
    moved = {
        "deals": Deal.objects.filter(organization=loser).update(organization=survivor),
        "quotes": Quote.objects.filter(organization=loser).update(organization=survivor),
        "tasks": Task.objects.filter(organization=loser).update(organization=survivor),
    }
    _record(actor, survivor, moved, f"Merged in {loser}")


def _record(actor, survivor, moved: dict, message: str) -> None:
    if not any(moved.values()):
        return
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=survivor,
        before={},
        # Keys the history panel reads as labels: "Deals moved here: 3".
        after={f"{key}_moved_here": count for key, count in moved.items() if count},
        message=message,
    )
