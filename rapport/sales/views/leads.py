"""Leads: the rep's list (by score), the lead page with both scores and their reasons,
manual entry, conversion to a deal and (re-)assignment."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from rapport.accounts.access import can_write, require_write
from rapport.accounts.models import User
from rapport.contacts.choices import LEAD_STAGES, ContactSource, LifecycleStage
from rapport.core.htmx import render_page_or_fragment
from rapport.core.ids import id_from_text
from rapport.core.pagination import CursorError, keyset_page
from rapport.sales.assignment import assign_lead, assign_lead_by_hand
from rapport.sales.filters import filter_leads, lead_view
from rapport.sales.forms import (
    ConvertForm,
    LeadForm,
    active_users,
    add_service_errors,
    names_from_text,
)
from rapport.sales.models import LeadAssignment, LeadScore, LeadScoreHistory, WebFormSubmission
from rapport.sales.querysets import leads_visible_to
from rapport.sales.scoring.services import active_model, explanation, score_lead
from rapport.sales.services import pipelines as pipeline_services
from rapport.sales.services.leads import convert_lead, create_lead

PAGE_SIZE = 50
UNSCORED = -1_000_000
ORDERINGS = {
    "-score": ("sort_score", True),
    "score": ("sort_score", False),
    "-created": ("created_at", True),
    "created": ("created_at", False),
}

# The filters by the labels the toolbar shows them with.
FILTER_LABELS = {
    "q": "Search",
    "stage": "Stage",
    "source": "Source",
    "min_score": "Score from",
    "max_score": "Score to",
}


def _selection_count(user, page, filtered, first_page: bool) -> int:
    """How many leads the selection bar's "select all" takes. A first page without a next one
    holds them all; otherwise one count, and none for someone the bar is not shown to."""
    if first_page and page.next_cursor is None:
        return len(page.items)
    if not can_write(user):
        return 0
    return filtered.order_by().count()


@login_required
def lead_list(request):
    """My leads by default, best score first; also unassigned and all leads I may see."""
    view = lead_view(request.GET)
    filter_errors = []
    try:
        filtered = filter_leads(request.user, request.GET)
    except ValidationError as exc:
        filter_errors = [
            (FILTER_LABELS.get(name, name), message)
            for name, problems in exc.message_dict.items()
            for message in problems
        ]
        filtered = leads_visible_to(request.user).none()
    leads = filtered.select_related("owner", "lead_score").annotate(
        sort_score=Coalesce("lead_score__score", Value(UNSCORED))
    )
    ordering = request.GET.get("sort", "-score")
    if ordering not in ORDERINGS:
        ordering = "-score"
    field, descending = ORDERINGS[ordering]
    try:
        page = keyset_page(
            leads,
            order_field=field,
            descending=descending,
            cursor=request.GET.get("cursor"),
            limit=PAGE_SIZE,
        )
    except CursorError as exc:
        raise Http404(str(exc)) from exc
    first_page = not request.GET.get("cursor")
    params = request.GET.copy()
    params.pop("cursor", None)
    model = active_model()
    return render_page_or_fragment(
        request,
        "sales/leads/list.html",
        "sales/leads/_rows.html",
        {
            "page": page,
            "leads": page.items,
            "view": view,
            "stage": request.GET.get("stage", ""),
            "source": request.GET.get("source", ""),
            "min_score": request.GET.get("min_score", ""),
            "max_score": request.GET.get("max_score", ""),
            "q": request.GET.get("q", ""),
            "filter_errors": filter_errors,
            "selection_count": _selection_count(request.user, page, filtered, first_page),
            "sort": ordering,
            "query_string": params.urlencode(),
            "stages": [(s, LifecycleStage(s).label) for s in LEAD_STAGES],
            "sources": ContactSource.choices,
            "model": model,
        },
    )


@login_required
def lead_create(request):
    """Enter a lead by hand: it goes through the same rules (assignment, scoring) as any other."""
    require_write(request.user)
    form = LeadForm(request.POST or None, initial={"assign_by_rules": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contact = create_lead(
                actor=request.user,
                first_name=data["first_name"],
                last_name=data["last_name"],
                emails=[data["email"]] if data["email"] else None,
                phones=[data["phone"]] if data["phone"] else None,
                job_title=data["job_title"],
                country=data["country"],
                postcode=data["postcode"],
                lifecycle_stage=data["lifecycle_stage"],
                source=data["source"],
                source_detail=data["source_detail"],
                products_of_interest=names_from_text(data["products_of_interest"]),
                owner=None if data["assign_by_rules"] else request.user,
            )
        except ValidationError as exc:
            add_service_errors(
                form, exc, aliases={"emails[0].email": "email", "phones[0].number": "phone"}
            )
        else:
            messages.success(request, f"Lead {contact} added.")
            return redirect("sales:lead_detail", contact.pk)
    return render(
        request, "sales/leads/form.html", {"form": form}, status=422 if form.errors else 200
    )


def _lead(user, contact_id: int):
    lead = (
        leads_visible_to(user)
        .select_related("owner")
        .prefetch_related("product_interests", "memberships__organization", "tags")
        .filter(pk=contact_id)
        .first()
    )
    if lead is None:
        raise Http404
    return lead


@login_required
def lead_detail(request, contact_id: int):
    lead = _lead(request.user, contact_id)
    score = LeadScore.objects.filter(contact=lead).select_related("model").first()
    model = active_model()
    return render(
        request,
        "sales/leads/detail.html",
        {
            "lead": lead,
            "score": score,
            "explanation": explanation(score) if score else None,
            "model": model,
            "history": LeadScoreHistory.objects.filter(contact=lead)[:20],
            "assignments": LeadAssignment.objects.filter(contact=lead).select_related(
                "owner", "actor"
            )[:10],
            "submissions": WebFormSubmission.objects.filter(contact=lead).select_related("form")[
                :10
            ],
            "owners": active_users(),
            "convert_form": ConvertForm(
                initial={
                    "pipeline": getattr(pipeline_services.default_pipeline(), "pk", None),
                    "expected_close_date": timezone.localdate() + dt.timedelta(days=30),
                }
            ),
        },
    )


@login_required
def lead_convert(request, contact_id: int):
    """Open a deal for the lead; the contact moves on to "opportunity"."""
    require_write(request.user)
    lead = _lead(request.user, contact_id)
    form = ConvertForm(
        request.POST or None,
        initial={
            "pipeline": getattr(pipeline_services.default_pipeline(), "pk", None),
            "expected_close_date": timezone.localdate() + dt.timedelta(days=30),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            deal = convert_lead(
                actor=request.user,
                contact=lead,
                pipeline=data["pipeline"],
                name=data["name"],
                amount=data["amount"] or "0",
                currency=data["currency"] or None,
                expected_close_date=data["expected_close_date"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{lead} converted: deal “{deal.name}” opened.")
            return redirect("sales:deal_detail", deal.pk)
    return render(
        request,
        "sales/leads/convert.html",
        {"lead": lead, "form": form},
        status=422 if form.errors else 200,
    )


@login_required
@require_POST
def lead_assign(request, contact_id: int):
    """Re-run the assignment rules for this lead, or give it to the chosen person."""
    require_write(request.user)
    lead = _lead(request.user, contact_id)
    owner_id = id_from_text(request.POST.get("owner"))
    try:
        if owner_id:
            owner = User.objects.filter(pk=owner_id, is_active=True).first()
            if owner is None:
                raise ValidationError({"owner": ["No such active user."]})
            assignment = assign_lead_by_hand(
                actor=request.user, contact=lead, owner=owner, note=request.POST.get("note", "")
            )
        else:
            assignment = assign_lead(
                contact=lead, actor=request.user, only_if_unowned=False, keep_team_owner=True
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, assignment.reason)
    if leads_visible_to(request.user).filter(pk=lead.pk).exists():
        return redirect("sales:lead_detail", lead.pk)
    return redirect("sales:lead_list")


@login_required
@require_POST
def lead_rescore(request, contact_id: int):
    require_write(request.user)
    lead = _lead(request.user, contact_id)
    score = score_lead(contact=lead, actor=request.user)
    messages.success(request, f"Scored again: {score.score} ({score.get_basis_display()}).")
    return redirect("sales:lead_detail", lead.pk)
