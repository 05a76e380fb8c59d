"""Template pages: the list, the editor with its merge-field picker and live preview for a real
contact, and removal. The templating services check the template and say what is wrong, with the
line, beside the field.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.forms import add_service_errors
from rapport.mail import templating
from rapport.mail.forms import PreviewRecordForm, TemplateForm
from rapport.mail.models import EmailTemplate
from rapport.mail.rendering import MERGE_FIELDS
from rapport.mail.views_messages import INVALID


def _visible_template(request, pk: int) -> EmailTemplate:
    template = EmailTemplate.objects.visible_to(request.user).filter(pk=pk).first()
    if template is None:
        raise Http404("No such template.")
    return template


@login_required
@require_GET
def template_list(request):
    templates = list(
        EmailTemplate.objects.visible_to(request.user)
        .filter(is_archived=False)
        .select_related("owner"),
    )
    rows = [
        {"template": t, "may_change": access.can(request.user, Action.CHANGE, t)} for t in templates
    ]
    return render(
        request,
        "mail/templates.html",
        {"rows": rows, "can_add": access.can(request.user, Action.CREATE, EmailTemplate)},
    )


def _editor(request, *, template: EmailTemplate | None):
    form = TemplateForm(request.POST or None, user=request.user, template=template)
    preview = PreviewRecordForm(user=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                if template is None:
                    saved = templating.create_template(
                        actor=request.user,
                        name=data["name"],
                        subject=data["subject"],
                        body_html=data["body_html"],
                        purpose=data["purpose"],
                        shared=data.get("shared", False),
                    )
                else:
                    saved = templating.update_template(
                        actor=request.user,
                        template=template,
                        name=data["name"],
                        subject=data["subject"],
                        body_html=data["body_html"],
                        purpose=data["purpose"],
                    )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, f"The template {saved.name} was saved.")
                return redirect("mail:template_edit", pk=saved.pk)
        status = INVALID
    return render(
        request,
        "mail/template_form.html",
        {
            "form": form,
            "preview": preview,
            "template": template,
            "merge_fields": MERGE_FIELDS,
            "custom_fields": sorted(
                f"{root}.custom.{key}"
                for root, keys in templating.custom_keys().items()
                for key in keys
            ),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request):
    if not access.can(request.user, Action.CREATE, EmailTemplate):
        raise PermissionDenied("A read-only seat cannot write templates.")
    return _editor(request, template=None)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, pk: int):
    template = _visible_template(request, pk)
    if not access.can(request.user, Action.CHANGE, template):
        raise PermissionDenied("Only administrators may change a shared template.")
    return _editor(request, template=template)


@login_required
@require_POST
def template_delete(request, pk: int):
    template = _visible_template(request, pk)
    name = template.name
    templating.delete_template(actor=request.user, template=template)
    messages.success(request, f"The template {name} was removed.")
    return redirect("mail:templates")
