"""Privacy pages: the export download and the erase confirmation (from the contact's Privacy
panel), and the retention settings (administration). Thin: the services decide and audit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from rapport.accounts.access import can_administer
from rapport.accounts.forms import add_service_errors
from rapport.contacts.models import Contact
from rapport.privacy import services
from rapport.privacy.forms import EraseForm, RetentionForm

INVALID = 422


def _visible_contact(request, pk: int) -> Contact:
    contact = Contact.objects.visible_to(request.user).filter(pk=pk).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


@login_required
@require_GET
def export(request, pk: int):
    """Everything about the person as a JSON file download."""
    contact = _visible_contact(request, pk)
    document = services.export_contact(actor=request.user, contact=contact)
    response = HttpResponse(
        services.export_json(document), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{services.export_file_name(contact)}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def erase(request, pk: int):
    """Ask for the typed confirmation and the reason, then erase (administrators only)."""
    contact = _visible_contact(request, pk)
    if not can_administer(request.user):
        raise PermissionDenied("Only administrators may erase a person.")
    if services.is_erased(contact):
        messages.info(request, "This person has already been erased.")
        return redirect(contact)
    form = EraseForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.erase_contact(
                    actor=request.user, contact=contact, reason=form.cleaned_data["reason"]
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, "The person was erased. An anonymous record remains.")
                return redirect("contacts:contact_detail", pk=contact.pk)
        status = INVALID
    return render(request, "privacy/erase.html", {"contact": contact, "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def retention(request):
    """How long interactions and audit records are kept (administrators only)."""
    if not can_administer(request.user):
        raise PermissionDenied("Only administrators may change retention.")
    current = services.retention_settings()
    form = RetentionForm(
        request.POST or None,
        initial={
            "interaction_months": current.interaction_months,
            "audit_months": current.audit_months,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.update_retention_settings(actor=request.user, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, "Retention settings saved. They apply tonight.")
                return redirect("privacy:retention")
        status = INVALID
    return render(
        request, "privacy/retention.html", {"form": form, "settings": current}, status=status
    )
