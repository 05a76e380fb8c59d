"""Background work of the sales app. Thin and idempotent: load by id, call a service.

Delivery is at least once, so each task is safe to run twice: scoring overwrites, assignment
skips owned leads, reminders are claimed, training keeps one more run.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from rapport.core import schedules
from rapport.core.context import work_context

SCHEDULER_TICK = dt.timedelta(seconds=60)


def _as_actor(user_id: int | None):
    if user_id is None:
        return None
    from rapport.accounts.models import User

    return User.objects.filter(pk=user_id, is_active=True).first()


@task(takes_context=True)
def process_new_lead(context, contact_id: int, creator_id: int | None = None) -> None:
    """Score a new lead and run the assignment rules for it."""
    from rapport.sales.services.leads import process_new_lead as process

    with work_context(task_id=context.task_result.id, source="task"):
        process(contact_id=contact_id, creator_id=creator_id)


@task(takes_context=True)
def process_new_leads(context, contact_ids: list[int], creator_ids: dict | None = None) -> dict:
    """Score many new leads in one pass (an import batch) and run the assignment rules."""
    from rapport.sales.services.leads import process_new_leads as process

    with work_context(task_id=context.task_result.id, source="task"):
        return process(contact_ids=contact_ids, creator_ids=creator_ids)


@task(takes_context=True)
def process_web_form_submission(context, submission_id: int) -> None:
    """Make a stored public submission a lead on its timeline (idempotent)."""
    from rapport.sales.services.webforms import process_submission

    with work_context(task_id=context.task_result.id, source="task"):
        process_submission(submission_id=submission_id)


@task(takes_context=True)
def score_lead(context, contact_id: int) -> None:
    from rapport.contacts.choices import LEAD_STAGES
    from rapport.contacts.models import Contact
    from rapport.sales.scoring.services import score_leads

    with work_context(task_id=context.task_result.id, source="task"):
        if Contact.objects.filter(pk=contact_id, lifecycle_stage__in=LEAD_STAGES).exists():
            score_leads(contact_ids=[contact_id])


@task(takes_context=True)
def score_all_leads(context, actor_id: int | None = None) -> dict:
    """Rescore every current lead (decay moves scores even when nothing else happens)."""
    from rapport.sales.scoring.services import score_leads

    with work_context(task_id=context.task_result.id, source="task"):
        run = score_leads(actor=_as_actor(actor_id))
    return {"scored": run.scored, "changed": run.changed, "seconds": round(run.seconds, 3)}


@task(takes_context=True)
def retrain_lead_model(context, actor_id: int | None = None, trigger: str = "user") -> dict:
    """Train the learned score; when it is ready, rescore every lead with it."""
    from rapport.sales.choices import ModelStatus
    from rapport.sales.scoring.services import score_leads, train_lead_model

    actor = _as_actor(actor_id)
    with work_context(task_id=context.task_result.id, source="task"):
        row = train_lead_model(actor=actor, trigger=trigger)
        if row.status == ModelStatus.READY:
            score_leads(actor=actor)
        if actor is not None:
            from rapport.sales.choices import NotificationKind
            from rapport.sales.services.work import notify

            notify(
                recipient=actor,
                kind=NotificationKind.MODEL_TRAINED,
                title=f"Lead model retrained: {row.get_status_display()}",
                body=(
                    f"ROC AUC {row.roc_auc:.3f} on {row.n_test} held-out leads."
                    if row.roc_auc is not None
                    else row.message
                ),
                url="/sales/scoring/model/",
                dedupe_key=f"model-trained:{row.pk}",
            )
    return {"model_id": row.pk, "status": row.status, "roc_auc": row.roc_auc}


@task(takes_context=True)
def reassign_leads(context, actor_id: int | None = None, scope: str = "unassigned") -> dict:
    from rapport.sales.assignment import reassign_leads as run

    with work_context(task_id=context.task_result.id, source="task"):
        return run(actor=_as_actor(actor_id), scope=scope)


@task(takes_context=True)
def assign_new_records(context, kind: str, ids: list[int], creators: dict | None = None) -> dict:
    """Run the assignment rules of `kind` on new contacts, organizations or deals."""
    from rapport.sales.assignment_records import assign_new_records as run

    with work_context(task_id=context.task_result.id, source="task"):
        return run(kind=kind, ids=ids, creators=creators)


@task(takes_context=True)
def send_reminders(context) -> int:
    from rapport.sales.services.work import send_due_reminders

    with work_context(task_id=context.task_result.id, source="task"):
        return send_due_reminders()


@task(takes_context=True)
def run_sales_schedule(context) -> list[str]:
    """Enqueue the due periodic jobs, then come back in a minute (when the backend can defer).

    Only the chain that claims the scheduler's own slot re-enqueues itself, so starting it
    twice still leaves one chain.
    """
    from rapport.sales.services.schedule import claim, run_due_jobs

    now = timezone.now()
    with work_context(task_id=context.task_result.id, source="task"):
        if not claim("scheduler", every=SCHEDULER_TICK - dt.timedelta(seconds=5), now=now):
            return []
        started = run_due_jobs(now=now)
    schedule_next_tick(now + SCHEDULER_TICK)
    return started


def schedule_next_tick(run_after: dt.datetime | None = None) -> bool:
    """Queue the sales scheduler's next tick (at once without `run_after`: the chain's start);
    False when the backend cannot run tasks later (a chain started anyway would run once and
    stop)."""
    return schedules.queue_later(run_sales_schedule, run_after)
