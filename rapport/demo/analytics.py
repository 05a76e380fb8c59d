"""The demo's analytics: a first refresh over the simulated order history, the reference
parameters the model page compares the fit with, a few segments, and the nightly schedule."""

from __future__ import annotations

from rapport.analytics import refresh, services
from rapport.analytics.models import CustomerAnalytics, ModelFit, Segment
from rapport.demo.context import DemoContext

SEGMENTS = [
    (
        "Valuable and quiet",
        "Platinum and gold customers nobody has touched in 60 days.",
        {
            "all": [
                {"field": "analytics.value_tier", "op": "in", "value": ["platinum", "gold"]},
                {"field": "interactions.days_since_touch", "op": "gt", "value": 60},
            ]
        },
    ),
    (
        "Trained in the last 90 days",
        "Customers who bought training recently: invite them to the advanced webinar.",
        {"all": [{"field": "orders.category_90_days", "op": "eq", "value": "Training"}]},
    ),
    (
        "Slipping champions",
        "Customers with a high F and M score whose P(alive) fell below one half.",
        {
            "all": [
                {"field": "analytics.f_score", "op": "gte", "value": 4},
                {"field": "analytics.m_score", "op": "gte", "value": 4},
                {"field": "analytics.p_alive", "op": "lt", "value": 0.5},
            ]
        },
    ),
]


def build(ctx: DemoContext) -> None:
    """Store the true order-process parameters, refresh, and say how close the fit came."""
    truth = ctx.extras.get("order_process")
    if truth:
        services.update_configuration(
            actor=ctx.admin,
            reference_parameters={
                "label": "the parameters the demo order history was drawn from",
                "bg_nbd": {k: truth[k] for k in ("r", "alpha", "a", "b")},
                "gamma_gamma": {k: truth[k] for k in ("p", "q", "gamma")},
            },
        )
    run = refresh.refresh_now(actor=ctx.admin)
    ctx.say(f"  refresh #{run.pk}: {run.get_status_display()} — {run.n_customers} customers")
    if run.message:
        ctx.say(f"  [dim]{run.message}[/dim]")
    for fit in ModelFit.objects.filter(run=run, model__in=["bg_nbd", "gamma_gamma"]):
        if fit.is_usable and truth:
            pairs = ", ".join(
                f"{name} {fit.parameters[name]:.3f} (true {truth[name]})"
                for name in ("r", "alpha", "a", "b", "p", "q", "gamma")
                if name in fit.parameters and name in truth
            )
            ctx.say(f"  {fit.get_model_display()}: {pairs}")
        else:
            ctx.say(f"  {fit.get_model_display()}: {fit.get_status_display()} — {fit.reason}")
    existing = set(Segment.objects.filter(is_archived=False).values_list("name", flat=True))
    for name, description, conditions in SEGMENTS:
        if name not in existing:
            services.create_segment(
                actor=ctx.admin, name=name, description=description, conditions=conditions
            )
    if "Key accounts call list" not in existing:
        target = services.create_segment(
            actor=ctx.admin,
            name="Key accounts call list",
            kind="static",
            description="Picked by hand for the quarterly calls.",
        )
        platinum = list(
            CustomerAnalytics.objects.filter(value_tier__in=["platinum", "gold"])
            .order_by("-revenue_total")
            .values_list("contact_id", flat=True)[:15]
        )
        if platinum:
            services.add_to_list(actor=ctx.admin, segment=target, contact_ids=platinum)
    refresh.schedule_nightly_refresh()
