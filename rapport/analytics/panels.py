"""What analytics adds to other pages: the Customer value panel of the 360° page and a home
widget."""

from django.urls import reverse

from rapport.accounts.access import scope_q
from rapport.accounts.choices import Domain
from rapport.analytics import refresh
from rapport.analytics.models import CustomerAnalytics, ModelFit


def customer_value_panel(request, contact):
    """The contact's tier, CLV, P(alive), RFM segment, expected purchases and churn risk.

    The page has already checked that the contact is visible. Without analytics (no revenue
    orders, or no refresh yet) the panel says which.
    """
    analytics = CustomerAnalytics.objects.filter(contact=contact).select_related("run").first()
    run = analytics.run if analytics is not None else refresh.latest_run()
    reasons = {}
    if run is not None:
        for fit in ModelFit.objects.filter(run=run).exclude(status="fitted"):
            reasons[fit.model] = fit.reason
    return {
        "analytics": analytics,
        "run": run,
        "model_reason": reasons.get("bg_nbd", ""),
        "spend_reason": reasons.get("gamma_gamma", ""),
        "horizon_days": (run.settings or {}).get("expected_purchases_days") if run else None,
        "clv_months": (run.settings or {}).get("clv_horizon_months") if run else None,
        "currency": run.currency if run else "",
        "customers_url": reverse("analytics:customers"),
        "history_url": reverse("analytics:customer_history", args=[contact.pk]),
    }


def home_panel(request, _obj):
    """Valuable customers at risk in the user's book, with a link to the list."""
    run = refresh.latest_run()
    if run is None:
        return None
    visible = CustomerAnalytics.objects.filter(
        scope_q(request.user, Domain.CONTACTS, "contact__owner")
    )
    at_risk = visible.filter(is_at_risk=True, value_tier__in=["platinum", "gold", "silver"]).count()
    return {
        "run": run,
        "at_risk": at_risk,
        "customers": visible.count(),
        "at_risk_url": reverse("analytics:at_risk"),
        "overview_url": reverse("analytics:overview"),
    }
