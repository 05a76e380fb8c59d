"""Background work of the demo app.

`build_demo_if_empty` lets a hosted instance fill itself with demo data from the task worker
instead of at start-up. Delivery is at least once, so it builds only into a database without
contacts: a second delivery of the same task finds the data and does nothing.
"""

from __future__ import annotations

from django_tasks import task

from rapport.core.context import work_context


@task(takes_context=True)
def build_demo_if_empty(
    context, contacts: int = 3000, seed: int = 1, parts: list[str] | None = None
) -> dict:
    """Build the demo business unless contacts exist; returns what it built (or that it skipped).

    `parts` limits the run to some parts (people always runs first); by default all that exist.
    """
    from rapport.demo.builder import build_demo, database_is_empty

    if not database_is_empty():
        return {"built": False, "reason": "the database already has contacts"}
    with work_context(task_id=str(context.task_result.id), source="task"):
        ctx, login = build_demo(
            contacts=contacts, seed=seed, show_progress=False, source="task", parts=parts
        )
    return {
        "built": True,
        "contacts": len(ctx.contacts),
        "organizations": len(ctx.organizations),
        "login": login.username,
    }
