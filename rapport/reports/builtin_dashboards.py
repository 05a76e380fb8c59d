"""The four dashboards Rapport ships: a sales manager's, a rep's, a marketer's and the
executive's. Made on first use (Home or the dashboards page), through the services, with their
reports saved through the reports services as the system's; each becomes the default of the
roles whose names match at that moment, and administrators choose from then on.

The manager's dashboard shows quota attainment (`sales.quotas`) beside forecast accuracy and
pipeline coverage; the rep's shows their own quota. Without quotas both widgets say so and link
to where they are set. Dashboards already made keep their widgets: these are the first-use
layouts (migration 0005 gave the quota widgets to the manager's and rep's made before quotas).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from rapport.accounts.models import Role
from rapport.reports import services
from rapport.reports.models import Dashboard, Widget, WidgetKind

BUILTINS = {
    "manager": {
        "name": "Sales manager",
        "roles": ("manager", "sales manager"),
        "widgets": [
            ("report", "pipeline", 6),
            ("list", "deals_closing_this_month", 6),
            ("list", "quota_attainment", 8),
            ("kpi", "win_rate", 4),
            ("kpi", "forecast_accuracy", 4),
            ("kpi", "pipeline_coverage", 4),
            ("kpi", "sales_cycle_days", 4),
            ("report", "activity", 12),
        ],
    },
    "rep": {
        "name": "Sales rep",
        "roles": ("sales rep", "rep", "sales representative"),
        "widgets": [
            ("list", "my_quota", 6),
            ("list", "my_pipeline", 6),
            ("list", "my_open_tasks", 6),
            ("list", "my_leads_by_score", 6),
            ("report", "closing", 6),
        ],
    },
    "marketer": {
        "name": "Marketing",
        "roles": ("marketer", "marketing"),
        "widgets": [
            ("report", "lead_sources", 6),
            ("list", "form_conversion", 6),
            ("list", "segment_growth", 6),
            ("kpi", "lead_conversion_rate", 3),
            ("kpi", "email_engagement_rate", 3),
        ],
    },
    "executive": {
        "name": "Executive scorecards",
        "roles": ("executive", "administrator"),
        "widgets": [
            ("list", "model_scorecards", 12),
            ("kpi", "win_rate", 3),
            ("kpi", "retention_rate_12m", 3),
            ("kpi", "average_clv", 3),
            ("kpi", "at_risk_value_share", 3),
        ],
    },
}

OPEN_DEALS = {"all": [{"field": "status", "op": "eq", "value": "open"}]}

REPORTS = {
    "pipeline": {
        "name": "Open pipeline by stage",
        "description": "Open deals in the company currency.",
        "source": "deals",
        "conditions": OPEN_DEALS,
        "group_by": "stage",
        "measure": "sum",
        "measure_field": "amount",
        "chart": "funnel",
    },
    "activity": {
        "name": "Activity by rep",
        "description": "Interactions per month, per person who logged them.",
        "source": "interactions",
        "group_by": "occurred",
        "group_period": "month",
        "then_by": "actor",
        "chart": "bar",
    },
    "closing": {
        "name": "Open deals by expected close month",
        "source": "deals",
        "conditions": OPEN_DEALS,
        "group_by": "expected_close_date",
        "group_period": "month",
        "measure": "sum",
        "measure_field": "amount",
        "chart": "bar",
    },
    "lead_sources": {
        "name": "Leads by source",
        "source": "leads",
        "group_by": "source",
        "chart": "donut",
    },
}


def ensure_builtin_dashboards() -> None:
    """Create whichever built-in dashboards are missing (safe to call on every Home)."""
    existing = set(Dashboard.objects.exclude(key="").values_list("key", flat=True))
    for key in BUILTINS.keys() - existing:
        try:
            with transaction.atomic():
                _create(key)
        except IntegrityError:
            # Another request made it at the same moment: theirs stands.
            continue


def _create(key: str) -> Dashboard:
    spec = BUILTINS[key]
    roles = list(Role.objects.all())
    dashboard = Dashboard.objects.create(name=spec["name"], key=key, owner=None)
    matching = [role for role in roles if role.name.strip().lower() in spec["roles"]]
    taken = set(
        Dashboard.objects.exclude(pk=dashboard.pk)
        .filter(default_for_roles__in=matching)
        .values_list("default_for_roles", flat=True)
    )
    dashboard.default_for_roles.set([role for role in matching if role.pk not in taken])
    for position, (kind, what, span) in enumerate(spec["widgets"]):
        report = None
        if kind == WidgetKind.REPORT:
            # Shared with every role, so each viewer can open it and the records behind a figure.
            report = services.create_report(actor=None, shared_roles=roles, **REPORTS[what])
        Widget.objects.create(
            dashboard=dashboard,
            kind=kind,
            report=report,
            kpi=what if kind == WidgetKind.KPI else "",
            list_key=what if kind == WidgetKind.LIST else "",
            span=span,
            position=position,
        )
    return dashboard
