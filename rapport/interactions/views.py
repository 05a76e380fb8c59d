"""The timeline on the 360° pages, and logging a call, meeting, note or email by hand.

The timeline merges this app's Interactions with the entries of every registered
`core.registry.timeline_sources` source, newest first; "load more" asks each source for more.
Writes go through `interactions.services`; reads through `visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt
import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from rapport.accounts.access import can_write
from rapport.contacts.models import Contact, Organization
from rapport.core import registry
from rapport.core.htmx import is_htmx
from rapport.core.registry import Panel, register_panel
from rapport.interactions import services
from rapport.interactions.choices import OUTCOMES, Direction, InteractionKind
from rapport.interactions.models import Interaction

logger = logging.getLogger(__name__)

TIMELINE_PAGE = 20
MAX_TIMELINE_PAGES = 50  # 1,000 entries; past that the list is the place to look
MEMBER_IDS_LIMIT = 1000
LOGGABLE_KINDS = [
    InteractionKind.NOTE,
    InteractionKind.CALL,
    InteractionKind.MEETING,
    InteractionKind.EMAIL,
]
KINDS_WITH_OUTCOME = {"call", "meeting"}
KINDS_WITH_DURATION = {"call", "meeting"}
KINDS_WITH_DIRECTION = {"call", "email"}
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def outcome_label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def outcome_groups() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(kind, label, [(value, label)]) for the outcome select's optgroups."""
    return [
        (kind, InteractionKind(kind).label, [(value, outcome_label(value)) for value in values])
        for kind, values in OUTCOMES.items()
    ]


class InteractionForm(forms.Form):
    """What a person logs by hand. The service re-checks everything (and owns the rules)."""

    kind = forms.ChoiceField(
        choices=[(kind.value, kind.label) for kind in LOGGABLE_KINDS],
        initial=InteractionKind.CALL,
        widget=forms.RadioSelect,
    )
    occurred_at = forms.DateTimeField(
        label="When",
        input_formats=[INPUT_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=INPUT_FORMAT),
    )
    subject = forms.CharField(max_length=200, required=False)
    body = forms.CharField(
        required=False,
        label="Notes",
        max_length=services.BODY_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What was said, what happens next"}),
    )
    outcome = forms.ChoiceField(
        required=False,
        choices=[("", "—")]
        + [(value, outcome_label(value)) for values in OUTCOMES.values() for value in values],
    )
    duration_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=24 * 60, label="Duration (minutes)"
    )
    direction = forms.ChoiceField(
        required=False,
        choices=[
            ("", "—"),
            (Direction.OUTBOUND.value, "Outbound"),
            (Direction.INBOUND.value, "Inbound"),
        ],
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_log_%s")
        initial = kwargs.pop("initial", None) or {}
        initial.setdefault(
            "occurred_at", timezone.localtime(timezone.now()).replace(second=0, microsecond=0)
        )
        super().__init__(*args, initial=initial, **kwargs)

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        kind = data["kind"]
        # Outcome, duration and direction only mean something for some kinds; the page hides
        # them for the others, and a stale value from a hidden input is dropped here.
        return {
            "kind": kind,
            "occurred_at": data["occurred_at"],
            "subject": data.get("subject", ""),
            "body": data.get("body", ""),
            "outcome": data.get("outcome", "") if kind in KINDS_WITH_OUTCOME else "",
            "duration_minutes": data.get("duration_minutes")
            if kind in KINDS_WITH_DURATION
            else None,
            "direction": data.get("direction", "") if kind in KINDS_WITH_DIRECTION else "",
        }

    def add_service_errors(self, error: ValidationError) -> None:
        for key, items in error.message_dict.items():
            for message in items:
                self.add_error(key if key in self.fields else None, message)


# -- the merged timeline --------------------------------------------------------------------
def _aware(moment):
    if isinstance(moment, dt.datetime):
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
    if isinstance(moment, dt.date):
        return timezone.make_aware(dt.datetime.combine(moment, dt.time.min))
    return None


def can_delete(user, interaction) -> bool:
    """Whether to offer "remove": the service's own rule (`services.may_delete`)."""
    return services.may_delete(user, interaction)


def timeline(request, *, contact=None, organization=None, page: int = 1) -> dict:
    """Page `page` of the merged timeline (newest first) and whether there is more.

    The registry's sources only take a limit, so page n asks each source for its newest
    n × page-size entries and the merge keeps the slice for page n.
    """
    page = max(1, min(page, MAX_TIMELINE_PAGES))
    wanted = page * TIMELINE_PAGE + 1
    interactions = Interaction.objects.select_related("actor", "contact", "organization")
    if contact is not None:
        interactions = interactions.filter(contact=contact)
        contact_ids, organization_ids = [contact.pk], []
    else:
        interactions = interactions.filter(organization=organization)
        contact_ids = list(
            organization.memberships.order_by("contact_id").values_list("contact_id", flat=True)[
                :MEMBER_IDS_LIMIT
            ]
        )
        organization_ids = [organization.pk]
    entries = [
        {
            "occurred_at": interaction.occurred_at,
            "interaction": interaction,
            "can_delete": can_delete(request.user, interaction),
        }
        for interaction in interactions.order_by("-occurred_at", "-id")[:wanted]
    ]
    failed = []
    for source in registry.timeline_sources:
        try:
            found = source.entries(contact_ids, organization_ids, wanted)
        except Exception:
            # One app's broken source must not take the whole 360° page down with it.
            logger.exception("timeline source %s failed", source.key)
            failed.append(source.key)
            continue
        for entry in found or []:
            moment = _aware(entry.occurred_at)
            if moment is None:
                continue
            entries.append(
                {
                    "occurred_at": moment,
                    "entry": entry,
                    "icon": entry.icon or (entry.kind[:1].upper() if entry.kind else "•"),
                }
            )
    entries.sort(key=lambda item: item["occurred_at"], reverse=True)
    start = (page - 1) * TIMELINE_PAGE
    shown = entries[start : start + TIMELINE_PAGE]
    has_more = len(entries) > start + TIMELINE_PAGE and page < MAX_TIMELINE_PAGES
    subject = contact or organization
    kind = "contact" if contact is not None else "organization"
    return {
        "entries": shown,
        "has_more": has_more,
        "next_page": page + 1,
        "failed_sources": failed,
        "more_url": reverse(f"interactions:{kind}_timeline", args=[subject.pk]),
        "log_url": reverse(f"interactions:log_for_{kind}", args=[subject.pk]),
        "show_contact": contact is None,
    }


def timeline_panel(request, obj):
    kind = "contact" if isinstance(obj, Contact) else "organization"
    context = timeline(request, **{kind: obj})
    context["form"] = InteractionForm()
    context["outcome_groups"] = outcome_groups()
    return context


def home_recent_interactions(request, _obj):
    mine = (
        Interaction.objects.visible_to(request.user)
        .filter(actor=request.user)
        .select_related("contact", "organization")
        .order_by("-occurred_at", "-id")[:8]
    )
    return {"interactions": list(mine)}


def register_panels() -> None:
    """The timeline on both 360° pages and "my recent interactions" on the home page."""
    for entity in ("contact", "organization"):
        register_panel(
            entity,
            Panel(
                "timeline",
                "Timeline",
                "interactions/panels/timeline.html",
                timeline_panel,
                order=50,
                column="main",
            ),
        )
    register_panel(
        "home",
        Panel(
            "my_interactions",
            "My recent interactions",
            "interactions/panels/home_recent.html",
            home_recent_interactions,
            order=20,
            column="main",
        ),
    )


# -- views ----------------------------------------------------------------------------------
def _subject(request, kind: str, pk: int):
    model = Contact if kind == "contact" else Organization
    return get_object_or_404(model.objects.visible_to(request.user), pk=pk)


def _page_number(request) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 5 else 1


@login_required
@require_GET
def contact_timeline(request, pk):
    return _timeline_fragment(request, "contact", pk)


@login_required
@require_GET
def organization_timeline(request, pk):
    return _timeline_fragment(request, "organization", pk)


def _timeline_fragment(request, kind: str, pk: int):
    """ "Load more": the next entries (appended by HTMX) and a fresh load-more button."""
    subject = _subject(request, kind, pk)
    context = timeline(request, **{kind: subject}, page=_page_number(request))
    context.update(object=subject, oob=True)
    if not is_htmx(request):
        return redirect(subject)
    response = render(request, "interactions/_timeline_more.html", {"ctx": context, **context})
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_POST
def log_for_contact(request, pk):
    return _log(request, "contact", pk)


@login_required
@require_POST
def log_for_organization(request, pk):
    return _log(request, "organization", pk)


def _log(request, kind: str, pk: int):
    subject = _subject(request, kind, pk)
    if not can_write(request.user) or subject.is_archived:
        raise PermissionDenied("You cannot add to this timeline.")
    form = InteractionForm(request.POST)
    interaction = None
    if form.is_valid():
        try:
            interaction = services.log_interaction(
                actor=request.user, **{kind: subject}, **form.service_arguments()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
    log_url = reverse(f"interactions:log_for_{kind}", args=[subject.pk])
    if interaction is None:
        context = {
            "form": form,
            "log_url": log_url,
            "outcome_groups": outcome_groups(),
            "object": subject,
        }
        template = "interactions/_log_form.html" if is_htmx(request) else "interactions/log.html"
        return render(request, template, context, status=422)
    label = interaction.get_kind_display()
    if not is_htmx(request):
        messages.success(request, f"{label} logged.")
        return redirect(subject)
    fresh = InteractionForm(initial={"kind": form.cleaned_data["kind"]})
    return render(
        request,
        "interactions/_log_success.html",
        {
            "form": fresh,
            "log_url": log_url,
            "outcome_groups": outcome_groups(),
            "object": subject,
            "status_message": f"{label} logged.",
            "item": {
                "occurred_at": interaction.occurred_at,
                "interaction": interaction,
                "can_delete": True,
            },
            "show_contact": kind == "organization",
            # The 360° header shows when the contact was last touched; it just changed.
            "contact": Contact.objects.get(pk=subject.pk) if kind == "contact" else None,
        },
    )


@login_required
@require_POST
def interaction_delete(request, pk):
    interaction = get_object_or_404(
        Interaction.objects.visible_to(request.user).select_related("contact", "organization"),
        pk=pk,
    )
    if not can_delete(request.user, interaction):
        raise PermissionDenied("Only whoever logged it, the owner or an administrator may delete.")
    subject = interaction.contact or interaction.organization
    services.delete_interaction(actor=request.user, interaction=interaction)
    if is_htmx(request):
        # An empty 200: HTMX swaps the entry (outerHTML) with nothing, removing it.
        response = HttpResponse("")
        response["Vary"] = "HX-Request"
        return response
    messages.success(request, "Entry deleted from the timeline.")
    return redirect(subject)
