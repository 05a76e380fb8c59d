"""Background work of the analytics app: the refresh (nightly and on demand)."""

from django_tasks import TaskContext, task

from rapport.core.context import work_context


@task(takes_context=True)
def refresh_customer_analytics(context: TaskContext, run_id: int) -> dict:
    """Run one queued refresh. Safe to deliver twice: the second delivery finds it claimed."""
    from rapport.analytics.refresh import run_refresh

    with work_context(task_id=str(context.task_result.id)[:64], source="task"):
        run = run_refresh(run_id=run_id)
    return {"run_id": run.pk, "status": run.status, "customers": run.n_customers}
