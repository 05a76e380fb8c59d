"""The outbox's task: deliver one queued message. Thin and idempotent: the service claims the
row, so a second run (a duplicate enqueue, a replayed job) finds nothing to do.
"""

from __future__ import annotations

from django_tasks import task

from rapport.core.context import work_context


@task(takes_context=True)
def deliver_message(context, message_pk: int) -> dict:
    """Send the outbox row `message_pk`: sent, retried later with backoff, failed, or skipped
    when it is not due or already handled."""
    from rapport.mail.sending import deliver

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        return {"message": message_pk, "outcome": deliver(message_pk)}


def connect() -> None:
    """Nothing to register: the sweep of due retries (`sending.requeue_due`) runs from the
    mail sync's schedule in rapport.mail.tasks."""
