"""Deal pages: create, the deal's own page (history, timeline, tasks, the contact's summary), edit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.accounts import access
from rapport.accounts.access import Action, require_write
from rapport.audit.querysets import history_of
from rapport.contacts.models import Contact, Organization
from rapport.core.htmx import panel_entries
from rapport.core.ids import id_from_text
from rapport.customfields.choices import Entity
from rapport.customfields.forms import raw_custom_values
from rapport.customfields.services import definitions_for
from rapport.interactions.models import Interaction
from rapport.interactions.views import InteractionForm, outcome_groups
from rapport.sales.forms import (
    DealForm,
    TaskForm,
    add_service_errors,
    default_due,
    names_from_text,
)
from rapport.sales.models import Deal, LeadScore, Pipeline
from rapport.sales.services import deals as deal_services
from rapport.sales.services import pipelines as pipeline_services
from rapport.sales.views.deal_lines import lines_context
from rapport.sales.views.quotes import quotes_context

TIMELINE_LIMIT = 30


def _deal_values(form: DealForm) -> dict:
    data = form.cleaned_data
    values = {
        "name": data["name"],
        "amount": data.get("amount") or "0",
        "expected_close_date": data["expected_close_date"],
        "contact": data["contact"],
        "organization": data["organization"],
        "products": names_from_text(data["products"]),
        "source": data["source"],
        "source_detail": data["source_detail"],
        "tags": names_from_text(data["tags"]),
        "description": data["description"],
        "custom_fields": raw_custom_values(form, form.definitions),
    }
    if data.get("currency"):
        values["currency"] = data["currency"]
    if data.get("owner") is not None:
        values["owner"] = data["owner"]
    return values


@login_required
def deal_create(request):
    """A new deal; ?contact= / ?organization= / ?pipeline= fill it in from where it started."""
    require_write(request.user)
    definitions = definitions_for(Entity.DEAL)
    initial = {"owner": request.user.pk}
    pipeline = pipeline_services.default_pipeline()
    if (chosen := id_from_text(request.GET.get("pipeline"))) is not None:
        pipeline = Pipeline.objects.active().filter(pk=chosen).first() or pipeline
    if pipeline is not None:
        initial["pipeline"] = pipeline.pk
        initial["currency"] = pipeline.currency
        first_stage = pipeline.stages.order_by("position").first()
        if first_stage is not None:
            initial["stage"] = first_stage.pk
    for name, model in (("contact", Contact), ("organization", Organization)):
        if (record_id := id_from_text(request.GET.get(name))) is not None:
            record = model.objects.visible_to(request.user).filter(pk=record_id).first()
            if record is not None:
                initial[name] = str(record.pk)
                initial.setdefault("name", f"{record} deal")
    form = DealForm(
        request.POST or None, user=request.user, definitions=definitions, initial=initial
    )
    if pipeline is not None:
        form.fields["stage"].queryset = pipeline.stages.all()
    if request.method == "POST" and form.is_valid():
        values = _deal_values(form)
        try:
            deal = deal_services.create_deal(
                actor=request.user,
                pipeline=form.cleaned_data["pipeline"],
                stage=form.cleaned_data.get("stage"),
                **values,
            )
        except ValidationError as exc:
            add_service_errors(form, exc, aliases={"owner_id": "owner", "stage_id": "stage"})
        else:
            messages.success(request, f"Deal “{deal.name}” created.")
            return redirect("sales:deal_detail", deal.pk)
    return render(
        request,
        "sales/deals/form.html",
        {"form": form, "deal": None},
        status=422 if form.errors else 200,
    )


def _visible_deal(user, deal_id):
    return get_object_or_404(
        Deal.objects.visible_to(user)
        .select_related("pipeline", "stage", "owner", "contact", "organization", "lost_reason")
        .prefetch_related("tags"),
        pk=deal_id,
    )


def _log_form_for(request, contact, deal) -> dict | None:
    """The interaction form of the deal's contact (else its organization), for writers."""
    subject, kind = contact, "contact"
    if subject is None and deal.organization_id:
        subject = Organization.objects.visible_to(request.user).filter(pk=deal.organization_id)
        subject, kind = subject.first(), "organization"
    # The same question `log_interaction` asks: may this user change the subject's timeline?
    if (
        subject is None
        or subject.is_archived
        or not access.can(request.user, Action.CHANGE, subject)
    ):
        return None
    return {
        "form": InteractionForm(),
        "log_url": reverse(f"interactions:log_for_{kind}", args=[subject.pk]),
        "outcome_groups": outcome_groups(),
        "subject": subject,
    }


@login_required
def deal_detail(request, deal_id: int):
    return render_deal(request, _visible_deal(request.user, deal_id))


def render_deal(request, deal: Deal, *, lines: dict | None = None, status: int = 200):
    """The deal page; `lines` replaces the product lines' context (a failed post keeps its
    input and shows its messages beside the fields)."""
    contact = None
    if deal.contact_id:
        contact = (
            Contact.objects.visible_to(request.user)
            .select_related("owner")
            .prefetch_related("memberships__organization", "tags")
            .filter(pk=deal.contact_id)
            .first()
        )
    subject = Q()
    if deal.contact_id:
        subject |= Q(contact_id=deal.contact_id)
    if deal.organization_id:
        subject |= Q(organization_id=deal.organization_id)
    timeline = []
    if subject:
        timeline = list(
            Interaction.objects.visible_to(request.user)
            .filter(subject)
            .select_related("actor", "contact")
            .order_by("-occurred_at", "-id")[:TIMELINE_LIMIT]
        )
    log = _log_form_for(request, contact, deal)
    tasks = list(deal.tasks.select_related("assignee").order_by("status", "due_at"))
    task_form = TaskForm(
        initial={"deal": deal.pk, "assignee": request.user.pk, "due_at": default_due()}
    )
    other_deals = []
    if contact is not None:
        other_deals = list(
            Deal.objects.visible_to(request.user)
            .active()
            .filter(contact=contact)
            .exclude(pk=deal.pk)
            .select_related("stage")[:5]
        )
    return render(
        request,
        "sales/deals/detail.html",
        {
            "deal": deal,
            "log": log,
            "stages": list(deal.pipeline.stages.all()),
            "changes": list(
                deal.stage_changes.select_related("from_stage", "to_stage", "actor", "lost_reason")
            ),
            "history": history_of(deal, limit=30),
            "timeline": timeline,
            "tasks": tasks,
            "task_form": task_form,
            # Blocks other apps add to the deal page (mail's messages and compose).
            "deal_panels": panel_entries("deal", request, deal),
            "contact": contact,
            "contact_hidden": deal.contact_id is not None and contact is None,
            "lead_score": LeadScore.objects.filter(contact=contact).first() if contact else None,
            "other_deals": other_deals,
            "custom_fields": [
                (d.label, deal.custom_fields.get(d.key)) for d in definitions_for(Entity.DEAL)
            ],
            "lines": lines if lines is not None else lines_context(request, deal),
            "quotes": quotes_context(request, deal),
        },
        status=status,
    )


@login_required
def deal_edit(request, deal_id: int):
    require_write(request.user)
    deal = _visible_deal(request.user, deal_id)
    definitions = definitions_for(Entity.DEAL)
    initial = {
        "name": deal.name,
        "amount": deal.amount,
        "currency": deal.currency,
        "expected_close_date": deal.expected_close_date,
        "owner": deal.owner_id,
        "contact": str(deal.contact_id or ""),
        "organization": str(deal.organization_id or ""),
        "products": ", ".join(deal.products),
        "source": deal.source,
        "source_detail": deal.source_detail,
        "tags": ", ".join(t.name for t in deal.tags.all()),
        "description": deal.description,
        "custom": deal.custom_fields,
    }
    form = DealForm(
        request.POST or None,
        user=request.user,
        definitions=definitions,
        initial=initial,
        editing=True,
    )
    if deal.lines.exists():
        # The amount is the lines' total: it is changed on the deal page, line by line.
        del form.fields["amount"]
    if request.method == "POST" and form.is_valid():
        values = _deal_values(form)
        if "amount" not in form.fields:
            del values["amount"]
        values.setdefault("owner", None)
        try:
            deal_services.update_deal(actor=request.user, deal=deal, **values)
        except ValidationError as exc:
            add_service_errors(form, exc, aliases={"owner_id": "owner"})
        else:
            messages.success(request, "Deal saved.")
            return redirect("sales:deal_detail", deal.pk)
    return render(
        request,
        "sales/deals/form.html",
        {"form": form, "deal": deal},
        status=422 if form.errors else 200,
    )


@login_required
@require_POST
def deal_archive(request, deal_id: int):
    require_write(request.user)
    deal = _visible_deal(request.user, deal_id)
    deal_services.archive_deal(actor=request.user, deal=deal)
    messages.success(request, f"Deal “{deal.name}” archived.")
    return redirect("sales:board", deal.pipeline_id)
