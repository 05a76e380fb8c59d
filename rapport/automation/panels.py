"""The Workflows panel on the contact's 360° page and on the deal page: the runs of workflows
on this record, newest first, with what each did. Administrators only (workflows are their
configuration); for anyone else the panel is not shown."""

from __future__ import annotations

from rapport.accounts.access import can_administer
from rapport.automation.models import WorkflowRun
from rapport.core.registry import Panel, register_panel

RUNS_SHOWN = 10


def _runs(request, **record):
    if not can_administer(request.user):
        return None
    runs = (
        WorkflowRun.objects.filter(**record)
        .select_related("workflow", "version")
        .prefetch_related("step_runs")
        .order_by("-started_at", "-id")[:RUNS_SHOWN]
    )
    return {"runs": list(runs)}


def contact_workflow_panel(request, contact):
    return _runs(request, contact=contact)


def deal_workflow_panel(request, deal):
    return _runs(request, deal=deal)


def connect() -> None:
    for entity, context in (("contact", contact_workflow_panel), ("deal", deal_workflow_panel)):
        register_panel(
            entity,
            Panel(
                key="automation_workflows",
                title="Workflows",
                template="automation/workflows/panel.html",
                context=context,
                order=80,
                column="side",
            ),
        )
