"""What the CRM models add to other pages: the IDIC journey on the contact's 360° page, and the
chosen model's scorecard summary on the home dashboard."""

from __future__ import annotations

from django.urls import reverse

from rapport.frameworks import journey, permissions, scorecards, services
from rapport.frameworks.catalog import MODELS
from rapport.frameworks.choices import ObjectiveStatus, Track
from rapport.frameworks.models import Objective


def idic_journey_panel(request, contact):
    """Where this customer stands on IDIC's journey, step by step (the page checked access)."""
    position = journey.position(contact)
    return {**position, "scorecard_url": reverse("frameworks:scorecard", args=["idic"])}


def home_panel(request, _obj):
    """The chosen model's stages with their status, its objectives, and the other models."""
    if not permissions.can_view(request.user):
        return None
    choice = services.current_choice()
    if choice is None or choice.model_key not in MODELS:
        return {
            "choice": None,
            "guide_url": reverse("frameworks:guide"),
            "index_url": reverse("frameworks:index"),
            "can_manage": permissions.can_manage(request.user),
        }
    card = scorecards.build(choice.model_key)
    objectives = list(
        Objective.objects.filter(model_key=choice.model_key, status=ObjectiveStatus.ACTIVE)
        .select_related("owner")
        .order_by("deadline", "id")
    )
    off = [o for o in objectives if o.track == Track.OFF_TRACK]
    return {
        "choice": choice,
        "scorecard": card,
        "objectives": objectives[:5],
        "off_track": len(off),
        "scorecard_url": reverse("frameworks:scorecard", args=[choice.model_key]),
        "others": [
            (model, reverse("frameworks:scorecard", args=[model.key]))
            for model in MODELS.values()
            if model.key != choice.model_key
        ],
        "header_link": {"url": reverse("frameworks:index"), "label": "All models"},
    }
