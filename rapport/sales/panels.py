"""What the sales app adds to other pages: 360° panels, the home page, the contact timeline."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from rapport.contacts.choices import LEAD_STAGES
from rapport.core.registry import TimelineEntry
from rapport.sales.forms import QuickTaskForm
from rapport.sales.models import (
    Deal,
    DealStageChange,
    LeadAssignment,
    LeadScore,
    Notification,
    Task,
)

PANEL_LIMIT = 10


def _subject_filter(obj, prefix: str = "") -> Q:
    from rapport.contacts.models import Contact

    key = "contact" if isinstance(obj, Contact) else "organization"
    return Q(**{f"{prefix}{key}": obj})


def deals_panel(request, obj):
    """The contact's or organization's deals the viewer may see, open ones first."""
    deals = (
        Deal.objects.visible_to(request.user)
        .active()
        .filter(_subject_filter(obj))
        .select_related("stage", "pipeline", "owner")
        .order_by("status", "expected_close_date", "id")
    )
    rows = list(deals[: PANEL_LIMIT + 1])
    return {
        "deals": rows[:PANEL_LIMIT],
        "more": len(rows) > PANEL_LIMIT,
        "subject": obj,
        "new_deal_url": reverse("sales:deal_create")
        + ("?contact=" if _is_contact(obj) else "?organization=")
        + str(obj.pk),
    }


def _is_contact(obj) -> bool:
    from rapport.contacts.models import Contact

    return isinstance(obj, Contact)


def tasks_panel(request, obj):
    tasks = (
        Task.objects.visible_to(request.user)
        .open()
        .filter(_subject_filter(obj))
        .select_related("assignee")
        .order_by("due_at", "id")
    )
    return {
        "tasks": list(tasks[:PANEL_LIMIT]),
        "now": timezone.now(),
        "new_task_url": reverse("sales:task_create")
        + ("?contact=" if _is_contact(obj) else "?organization=")
        + str(obj.pk),
        "quick_form": QuickTaskForm(
            initial={"contact" if _is_contact(obj) else "organization": obj.pk},
            auto_id=f"id_quick_task_{obj.pk}_%s",
        ),
        "back_url": obj.get_absolute_url(),
    }


def lead_score_panel(request, obj):
    """Both scores side by side and the latest assignment, for leads (or scored contacts)."""
    score = LeadScore.objects.filter(contact=obj).select_related("model").first()
    if score is None and obj.lifecycle_stage not in LEAD_STAGES:
        return None
    from rapport.sales.scoring.services import explanation

    assignment = LeadAssignment.objects.filter(contact=obj).select_related("owner").first()
    return {
        "score": score,
        "explanation": explanation(score) if score else None,
        "assignment": assignment,
        "lead_url": reverse("sales:lead_detail", args=[obj.pk]),
        "is_lead": obj.lifecycle_stage in LEAD_STAGES,
    }


def my_day_panel(request, obj):
    user = request.user
    now = timezone.localtime()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + dt.timedelta(days=1)
    tasks = Task.objects.assigned_to(user).open()
    return {
        "overdue": tasks.filter(due_at__lt=start).count(),
        "today": tasks.filter(due_at__gte=start, due_at__lt=end).count(),
        "unread": Notification.objects.for_user(user).unread().count(),
        "url": reverse("sales:my_day"),
    }


def deal_timeline(contact_ids, organization_ids, limit):
    """Stage changes of deals of these contacts / organizations, newest first."""
    changes = (
        DealStageChange.objects.filter(
            Q(deal__contact_id__in=list(contact_ids or []))
            | Q(deal__organization_id__in=list(organization_ids or []))
        )
        .filter(deal__is_archived=False)
        .select_related("deal", "to_stage", "from_stage", "actor")
        .order_by("-changed_at", "-id")[:limit]
    )
    entries = []
    for change in changes:
        if change.from_stage_id is None:
            title = f"Deal “{change.deal.name}” opened in {change.to_stage.name}"
        else:
            title = f"Deal “{change.deal.name}” moved to {change.to_stage.name}"
        body = f"from {change.from_stage.name}" if change.from_stage_id else ""
        if change.lost_reason_id:
            body = f"{body}; lost: {change.lost_reason}".strip("; ")
        entries.append(
            TimelineEntry(
                occurred_at=change.changed_at,
                kind="deal_stage",
                title=title,
                body=body,
                url=reverse("sales:deal_detail", args=[change.deal_id]),
                icon="deal",
                meta={"actor": str(change.actor) if change.actor_id else ""},
            )
        )
    return entries
