"""Settings → Workflows (administrators only): the list, the editor, the workflow's page with
its runs and a dry run on one record, and each run's steps. Thin: the services decide."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts.access import can_administer
from rapport.automation import records, steps, triggers, workflows
from rapport.automation.forms_workflows import apply_action, editor_context, read_draft
from rapport.automation.models import RecordType, RunStatus, Workflow, WorkflowRun
from rapport.core.htmx import is_htmx
from rapport.core.ids import id_from_text
from rapport.core.widgets import RecordPicker
from rapport.mail import secrets as stored_secrets

INVALID = 422
RUNS_PER_PAGE = 50
SECTION = "workflows"


def _administrators_only(request) -> None:
    if not can_administer(request.user):
        raise PermissionDenied("Only administrators may manage workflows.")


def _workflow(request, pk: int) -> Workflow:
    _administrators_only(request)
    return get_object_or_404(Workflow.objects.listed().select_related("current_version"), pk=pk)


@login_required
@require_GET
def workflow_list(request):
    _administrators_only(request)
    rows = (
        Workflow.objects.listed()
        .select_related("current_version")
        .annotate(runs_count=Count("runs"), last_run_at=Max("runs__started_at"))
    )
    listed = [
        {
            "workflow": workflow,
            "trigger": triggers.describe(workflow.current_version.trigger, workflow.record_type),
        }
        for workflow in rows
    ]
    return render(request, "automation/workflows/list.html", {"rows": listed, "section": SECTION})


def _render_editor(request, draft, errors, *, workflow=None, status=200):
    context = editor_context(draft, errors, is_new=workflow is None)
    context.update({"workflow": workflow, "section": SECTION})
    template = (
        "automation/workflows/_editor.html"
        if is_htmx(request)
        else "automation/workflows/edit.html"
    )
    return render(request, template, context, status=status)


def _draft_of(workflow: Workflow) -> dict:
    version = workflow.current_version
    return {
        "name": workflow.name,
        "description": workflow.description,
        "record_type": workflow.record_type,
        "trigger": dict(version.trigger),
        "conditions": version.conditions or {"all": []},
        "steps": version.steps,
    }


def _save(request, draft, workflow):
    definition = {
        "name": draft["name"],
        "description": draft["description"],
        "trigger": draft["trigger"],
        "conditions": draft["conditions"] if isinstance(draft["conditions"], dict) else None,
        "steps": draft["steps"],
    }
    if not isinstance(draft["conditions"], dict):
        raise ValidationError({"conditions": ["Not valid JSON; build the condition again."]})
    if workflow is None:
        return workflows.create_workflow(
            actor=request.user, record_type=draft["record_type"], **definition
        )
    return workflows.update_workflow(actor=request.user, workflow=workflow, **definition)


def _edit(request, workflow=None):
    if request.method != "POST":
        draft = _draft_of(workflow) if workflow else read_draft({"trigger-type": "contact_created"})
        return _render_editor(request, draft, {}, workflow=workflow)
    data = request.POST.copy()
    if workflow is not None:
        data["record_type"] = workflow.record_type  # a workflow keeps the records it runs on
    draft = read_draft(data)
    action = request.POST.get("action", "save")
    if action != "save":
        apply_action(draft, action, request.POST)
        return _render_editor(request, draft, {}, workflow=workflow)
    try:
        saved = _save(request, draft, workflow)
    except ValidationError as error:
        return _render_editor(
            request,
            draft,
            getattr(error, "message_dict", {"__all__": error.messages}),
            workflow=workflow,
            status=INVALID,
        )
    messages.success(request, "Workflow saved." if workflow else "Workflow made; it is off.")
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = saved.get_absolute_url()
        return response
    return redirect(saved)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_create(request):
    _administrators_only(request)
    return _edit(request)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_edit(request, pk: int):
    return _edit(request, _workflow(request, pk))


def _describe_steps(items: list, record_type: str, prefix: str = "") -> list[dict]:
    rows = []
    for index, item in enumerate(items or []):
        step = steps.STEPS.get(item.get("type"))
        key = f"{prefix}{index + 1}"
        settings = {k: v for k, v in item.items() if k not in ("type", "yes", "no")}
        row = {
            "key": key,
            "words": step.describe(settings, record_type) if step else item.get("type"),
            "branches": [],
        }
        for branch in step.branches if step else ():
            row["branches"].append(
                {
                    "label": "If yes" if branch == "yes" else "Otherwise",
                    "steps": _describe_steps(item.get(branch), record_type, f"{key}.{branch}."),
                }
            )
        rows.append(row)
    return rows


def _typed_record(workflow: Workflow, typed) -> str:
    """Without JavaScript the picker posts what was typed: an email (contact) or a name."""
    typed = (typed or "").strip()
    if not typed:
        return ""
    model = records.model_for(workflow.record_type)
    if workflow.record_type == RecordType.CONTACT:
        found = model.objects.filter(primary_email__iexact=typed).first()
    elif workflow.record_type == RecordType.DEAL:
        found = model.objects.filter(name__iexact=typed).first()
    else:
        found = None
    return str(found.pk) if found else typed


def _picker(workflow: Workflow) -> RecordPicker | None:
    if workflow.record_type == RecordType.CONTACT:
        url = reverse("contacts:contact_suggestions")
    elif workflow.record_type == RecordType.DEAL:
        url = reverse("automation:workflow_deal_suggestions")
    else:
        return None
    return RecordPicker(
        suggest_url=url,
        label_for=lambda pk: records.label(records.load(workflow.record_type, pk)),
        attrs={"placeholder": "Type a name", "id": "id_record"},
    )


@login_required
@require_GET
def workflow_detail(request, pk: int):
    workflow = _workflow(request, pk)
    version = workflow.current_version
    runs = workflow.runs.select_related("version", "contact", "deal", "objective")
    shown_status = request.GET.get("status", "")
    if shown_status in RunStatus.values:
        runs = runs.filter(status=shown_status)
    else:
        shown_status = ""
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    dry_run, dry_run_error = None, ""
    chosen = (request.GET.get("record") or "").strip() or _typed_record(
        workflow, request.GET.get("record_label")
    )
    if chosen:
        try:
            dry_run = workflows.dry_run(
                actor=request.user,
                workflow=workflow,
                record_id=id_from_text(chosen),
            )
        except ValidationError as error:
            dry_run_error = " ".join(error.messages)
    picker = _picker(workflow)
    objectives = []
    if picker is None:
        from rapport.frameworks.models import Objective

        objectives = [(o.pk, str(o)) for o in Objective.objects.order_by("title")[:500]]
    try:
        secret = workflows.signing_secret(actor=request.user, workflow=workflow)
    except stored_secrets.SecretUnreadable:
        secret = ""
    response = render(
        request,
        "automation/workflows/detail.html",
        {
            "workflow": workflow,
            "version": version,
            "trigger": triggers.describe(version.trigger, workflow.record_type),
            "conditions": records.describe(workflow.record_type, version.conditions),
            "steps": _describe_steps(version.steps, workflow.record_type),
            "page": page,
            "statuses": RunStatus.choices,
            "shown_status": shown_status,
            "picker_html": picker.render("record", chosen or None) if picker else "",
            "objectives": objectives,
            "chosen": chosen,
            "dry_run": dry_run,
            "dry_run_error": dry_run_error,
            "secret": secret,
            "section": SECTION,
        },
        status=INVALID if dry_run_error else 200,
    )
    response["Cache-Control"] = "no-store"  # the page shows the signing secret
    return response


@login_required
@require_POST
def workflow_switch(request, pk: int):
    workflow = _workflow(request, pk)
    switch_on = request.POST.get("is_active") == "true"
    try:
        if switch_on:
            workflows.activate_workflow(actor=request.user, workflow=workflow)
        else:
            workflows.deactivate_workflow(actor=request.user, workflow=workflow)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, "Workflow switched on." if switch_on else "Workflow switched off."
        )
    return redirect(workflow)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_delete(request, pk: int):
    workflow = _workflow(request, pk)
    if request.method == "POST":
        workflows.delete_workflow(actor=request.user, workflow=workflow)
        messages.success(request, f"Workflow “{workflow.name}” deleted.")
        return redirect("automation:workflow_list")
    waiting = workflow.runs.filter(status=RunStatus.WAITING).count()
    return render(
        request,
        "automation/workflows/delete.html",
        {"workflow": workflow, "waiting": waiting, "section": SECTION},
    )


@login_required
@require_GET
def workflow_run(request, pk: int):
    _administrators_only(request)
    run = get_object_or_404(
        WorkflowRun.objects.select_related("workflow", "version").prefetch_related("step_runs"),
        pk=pk,
    )
    return render(
        request,
        "automation/workflows/run.html",
        {
            "run": run,
            "record_url": records.url_of(run.record) if run.record else "",
            "section": SECTION,
        },
    )


@login_required
@require_GET
def workflow_deal_suggestions(request):
    """Deals by name for the dry run's record picker (administrators only)."""
    _administrators_only(request)
    from rapport.sales.models import Deal

    query = (request.GET.get("q") or "").strip()
    deals = Deal.objects.filter(is_archived=False).select_related("stage")
    if query:
        deals = deals.filter(name__icontains=query)
    return JsonResponse(
        [
            {"id": deal.pk, "label": deal.name, "detail": deal.stage.name}
            for deal in deals.order_by("name")[:20]
        ],
        safe=False,
    )
