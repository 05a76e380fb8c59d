"""Administration of lead handling: scoring rules, the learned model, assignment rules and
settings, and the web forms. Administrators only (403 for anyone else)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.views.decorators.http import require_POST

from rapport.accounts.access import require_admin
from rapport.core.conditions import ConditionError
from rapport.core.conditions import validate as validate_condition
from rapport.core.htmx import is_htmx
from rapport.sales import assignment_kinds, tasks
from rapport.sales.assignment import (
    create_assignment_rule,
    delete_assignment_rule,
    update_assignment_rule,
)
from rapport.sales.choices import RecordKind
from rapport.sales.forms import (
    AssignmentRuleForm,
    SalesSettingsForm,
    ScoringRuleForm,
    WebFormForm,
    add_service_errors,
)
from rapport.sales.models import (
    AssignmentRule,
    LeadScoringModel,
    ScoringRule,
    WebForm,
)
from rapport.sales.scoring.facts import lead_field_set
from rapport.sales.scoring.features import feature_label
from rapport.sales.scoring.rules import describe
from rapport.sales.scoring.services import (
    active_model,
    create_scoring_rule,
    delete_scoring_rule,
    latest_model,
    rule_matches_now,
    score_spread,
    update_scoring_rule,
)
from rapport.sales.services.settings import get_sales_settings, update_sales_settings
from rapport.sales.services.webforms import available_targets, create_webform, update_webform
from rapport.sales.webform_embed import embed_html, iframe_html, public_urls

# -- scoring rules -----------------------------------------------------------------------------


@login_required
def scoring_rules(request):
    require_admin(request.user)
    form = ScoringRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = create_scoring_rule(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Rule “{rule.name}” added; it counts from the next scoring run."
            )
            return redirect("sales:scoring_rules")
    fields = lead_field_set()
    rules = [(rule, describe(rule.condition, fields)) for rule in ScoringRule.objects.all()]
    return render(
        request,
        "sales/scoring/rules.html",
        {"form": form, "rules": rules, "model": active_model()},
        status=422 if form.errors else 200,
    )


@login_required
def scoring_rule_edit(request, rule_id: int):
    require_admin(request.user)
    rule = get_object_or_404(ScoringRule, pk=rule_id)
    initial = {
        "name": rule.name,
        "condition": rule.condition,
        "points": rule.points,
        "decay_anchor": rule.decay_anchor,
        "half_life_days": rule.half_life_days,
        "position": rule.position,
        "is_active": rule.is_active,
    }
    form = ScoringRuleForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            delete_scoring_rule(actor=request.user, rule=rule)
            messages.success(request, f"Rule “{rule.name}” deleted.")
            return redirect("sales:scoring_rules")
        if form.is_valid():
            try:
                update_scoring_rule(actor=request.user, rule=rule, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Rule saved.")
                return redirect("sales:scoring_rules")
    return render(
        request,
        "sales/scoring/rule_edit.html",
        {"form": form, "rule": rule, "kind": "scoring"},
        status=422 if form.errors else 200,
    )


def _posted(data, name: str) -> str:
    """The field `name` of whichever rule form sent the check: the assignment page prefixes
    its fields (`rule-condition`) because it holds two forms; the other rule pages do not."""
    if name in data:
        return data[name]
    for key in data:
        if key.endswith(f"-{name}"):
            return data[key]
    return ""


@login_required
@require_POST
def condition_check(request):
    """How many current records of the rule's kind (leads for scoring rules) a condition picks
    out (the rule editors' "Check" button)."""
    require_admin(request.user)
    text = _posted(request.POST, "condition")[:20_000]
    kind = _posted(request.POST, "kind")
    kind = kind if kind in RecordKind.values else RecordKind.LEAD
    fields = assignment_kinds.field_set(kind)
    try:
        condition = json.loads(text) if text.strip() else {"all": []}
        validate_condition(condition, fields)
    except json.JSONDecodeError as exc:
        return HttpResponse(
            f'<p class="field-error" role="alert">Not valid JSON: {escape(exc.msg)}.</p>'
        )
    except ConditionError as exc:
        return HttpResponse(f'<p class="field-error" role="alert">{escape(exc.in_words)}</p>')
    if kind == RecordKind.LEAD:
        hits, examined = rule_matches_now(condition)
    else:
        hits, examined = assignment_kinds.matches_now(kind, condition)
    words = escape(describe(condition, fields))
    records = assignment_kinds.noun(kind, plural=True)
    return HttpResponse(
        f'<p class="muted" role="status">Matches <strong>{hits}</strong> of {examined} current '
        f"{records}: {words}.</p>"
    )


# -- the learned model -------------------------------------------------------------------------


@login_required
def scoring_model(request):
    """The learned score: quality on held-out leads, calibration, weights, training runs."""
    require_admin(request.user)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "retrain":
            tasks.retrain_lead_model.enqueue(actor_id=request.user.pk, trigger="user")
            messages.success(
                request,
                "Retraining started; you will get a notification when it has finished.",
            )
        elif action == "rescore":
            tasks.score_all_leads.enqueue(actor_id=request.user.pk)
            messages.success(request, "Rescoring every lead has started.")
        return redirect("sales:scoring_model")
    active = active_model()
    latest = latest_model()
    weights = []
    if active is not None:
        model = active.parameters["model"]
        scale = model["scale"]
        weights = sorted(
            (
                {
                    "feature": name,
                    "label": feature_label(name),
                    "coefficient": coef,
                    "per_unit": coef / scale[i] if scale[i] else 0.0,
                }
                for i, (name, coef) in enumerate(
                    zip(model["feature_names"], model["coef"], strict=True)
                )
            ),
            key=lambda row: -abs(row["coefficient"]),
        )
    strongest = max((abs(w["coefficient"]) for w in weights), default=1.0) or 1.0
    for row in weights:
        row["width"] = 5 * round(20 * abs(row["coefficient"]) / strongest)
    return render(
        request,
        "sales/scoring/model.html",
        {
            "active": active,
            "latest": latest,
            "runs": LeadScoringModel.objects.all()[:15],
            "weights": weights,
            "left_out": [feature_label(name) for name in (active.parameters.get("left_out") or [])]
            if active
            else [],
            "spread": score_spread(actor=request.user) if active else None,
            "settings": get_sales_settings(),
        },
    )


# -- assignment --------------------------------------------------------------------------------


def _assignment_values(form) -> dict:
    return dict(form.cleaned_data)


def _redraws_condition(request, form: AssignmentRuleForm) -> AssignmentRuleForm:
    """A change of the rule's kind fetches this page again over HTMX; the kind menu says so,
    and the answer is only the condition's builder with the new kind's fields."""
    form.fields["kind"].widget.attrs.update(
        {
            "hx-get": request.path,
            "hx-target": "#condition-block",
            "hx-swap": "outerHTML",
            "hx-trigger": "change",
        }
    )
    return form


def _condition_fragment(request, *, prefix: str | None):
    name = f"{prefix}-kind" if prefix else "kind"
    form = AssignmentRuleForm(prefix=prefix, initial={"kind": request.GET.get(name, "")})
    return render(request, "sales/scoring/_condition_field.html", {"form": form})


@login_required
def assignment_rules(request):
    """The ordered assignment rules, the fallback owner and the schedule; re-run on leads."""
    require_admin(request.user)
    if request.method == "GET" and is_htmx(request) and "rule-kind" in request.GET:
        return _condition_fragment(request, prefix="rule")
    settings_row = get_sales_settings()
    form = AssignmentRuleForm(prefix="rule")
    settings_form = SalesSettingsForm(
        prefix="settings",
        initial={
            "fallback_owner": settings_row.fallback_owner_id,
            "conversion_window_days": settings_row.conversion_window_days,
            "min_labelled_leads": settings_row.min_labelled_leads,
            "min_per_class": settings_row.min_per_class,
            "rescore_every_minutes": settings_row.rescore_every_minutes,
            "retrain_every_days": settings_row.retrain_every_days,
        },
    )
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "add_rule":
            form = AssignmentRuleForm(request.POST, prefix="rule")
            if form.is_valid():
                try:
                    rule = create_assignment_rule(actor=request.user, **_assignment_values(form))
                except ValidationError as exc:
                    add_service_errors(form, exc, aliases={"target": "target_user"})
                else:
                    messages.success(request, f"Rule “{rule.name}” added.")
                    return redirect("sales:assignment_rules")
        elif action == "settings":
            settings_form = SalesSettingsForm(request.POST, prefix="settings")
            if settings_form.is_valid():
                try:
                    update_sales_settings(actor=request.user, **settings_form.cleaned_data)
                except ValidationError as exc:
                    add_service_errors(settings_form, exc)
                else:
                    messages.success(request, "Settings saved.")
                    return redirect("sales:assignment_rules")
        elif action in {"rerun_unassigned", "rerun_all"}:
            scope = "all" if action == "rerun_all" else "unassigned"
            tasks.reassign_leads.enqueue(actor_id=request.user.pk, scope=scope)
            messages.success(
                request,
                "Assignment is running again on "
                + ("every open lead." if scope == "all" else "the unassigned leads."),
            )
            return redirect("sales:assignment_rules")
        status = 422
    fields = {kind: assignment_kinds.field_set(kind) for kind in RecordKind.values}
    order = {kind: index for index, kind in enumerate(RecordKind.values)}
    rules = [
        (rule, describe(rule.condition, fields[rule.kind]))
        for rule in sorted(
            AssignmentRule.objects.select_related("target_user", "target_team"),
            key=lambda rule: (order[rule.kind], rule.position, rule.pk),
        )
    ]
    return render(
        request,
        "sales/scoring/assignment.html",
        {
            "form": _redraws_condition(request, form),
            "settings_form": settings_form,
            "rules": rules,
        },
        status=status,
    )


@login_required
def assignment_rule_edit(request, rule_id: int):
    require_admin(request.user)
    rule = get_object_or_404(AssignmentRule, pk=rule_id)
    if request.method == "GET" and is_htmx(request) and "kind" in request.GET:
        return _condition_fragment(request, prefix=None)
    form = AssignmentRuleForm(
        request.POST or None,
        initial={
            "kind": rule.kind,
            "name": rule.name,
            "condition": rule.condition,
            "target_user": rule.target_user_id,
            "target_team": rule.target_team_id,
            "position": rule.position,
            "is_active": rule.is_active,
        },
    )
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            delete_assignment_rule(actor=request.user, rule=rule)
            messages.success(request, f"Rule “{rule.name}” deleted.")
            return redirect("sales:assignment_rules")
        if form.is_valid():
            try:
                update_assignment_rule(actor=request.user, rule=rule, **_assignment_values(form))
            except ValidationError as exc:
                add_service_errors(form, exc, aliases={"target": "target_user"})
            else:
                messages.success(request, "Rule saved.")
                return redirect("sales:assignment_rules")
    return render(
        request,
        "sales/scoring/rule_edit.html",
        {"form": _redraws_condition(request, form), "rule": rule, "kind": "assignment"},
        status=422 if form.errors else 200,
    )


# -- web forms ---------------------------------------------------------------------------------


@login_required
def webform_list(request):
    require_admin(request.user)
    return render(request, "sales/webforms/list.html", {"forms": WebForm.objects.all()})


def _webform_values(form: WebFormForm) -> dict:
    values = {
        k: v
        for k, v in form.cleaned_data.items()
        if not k.startswith(("include_", "required_", "label_"))
    }
    values["fields"] = form.field_specs()
    return values


DEFAULT_FIELDS = [
    {"target": "first_name", "required": True},
    {"target": "last_name", "required": True},
    {"target": "email", "required": True},
    {"target": "company"},
    {"target": "message"},
]


@login_required
def webform_create(request):
    require_admin(request.user)
    form = WebFormForm(request.POST or None, targets=available_targets(), selected=DEFAULT_FIELDS)
    if request.method == "POST" and form.is_valid():
        values = _webform_values(form)
        try:
            web_form = create_webform(actor=request.user, **values)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Form “{web_form.name}” created. Embed it with the snippet below."
            )
            return redirect("sales:webform_detail", web_form.pk)
    return render(
        request,
        "sales/webforms/edit.html",
        {"form": form, "web_form": None},
        status=422 if form.errors else 200,
    )


@login_required
def webform_edit(request, form_id: int):
    require_admin(request.user)
    web_form = get_object_or_404(WebForm, pk=form_id)
    initial = {
        name: getattr(web_form, name)
        for name in (
            "name",
            "description",
            "is_active",
            "source",
            "source_detail",
            "campaign",
            "lifecycle_stage",
            "submit_label",
            "thank_you_message",
            "redirect_url",
            "consent_enabled",
            "consent_text",
            "allowed_origins",
            "max_submissions_per_minute",
        )
    }
    form = WebFormForm(
        request.POST or None, targets=available_targets(), selected=web_form.fields, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_webform(actor=request.user, form=web_form, **_webform_values(form))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Form saved.")
            return redirect("sales:webform_detail", web_form.pk)
    return render(
        request,
        "sales/webforms/edit.html",
        {"form": form, "web_form": web_form},
        status=422 if form.errors else 200,
    )


@login_required
def webform_detail(request, form_id: int):
    require_admin(request.user)
    web_form = get_object_or_404(WebForm, pk=form_id)
    return render(
        request,
        "sales/webforms/detail.html",
        {
            "web_form": web_form,
            "embed": embed_html(request, web_form),
            "iframe": iframe_html(request, web_form),
            "submissions": web_form.submissions.select_related("contact")[:25],
            **public_urls(request, web_form),
        },
    )
