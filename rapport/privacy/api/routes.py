"""The privacy API: erase a person, export everything about them, and the retention settings.
Thin: the contact is looked up in the caller's scope (404 outside it), the services decide the
rest (403 for a user who may not) and write the audit record."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router

from rapport.accounts import access
from rapport.contacts.models import Contact
from rapport.core.api_types import PathId
from rapport.core.problems import relocate
from rapport.privacy import services
from rapport.privacy.api.schemas import (
    ErasureIn,
    ErasureOut,
    RetentionSettingsIn,
    RetentionSettingsOut,
)

router = Router(tags=["privacy"])


def _contact(request, contact_id: int) -> Contact:
    return get_object_or_404(Contact.objects.visible_to(request.user), pk=contact_id)


@router.post("/privacy/contacts/{contact_id}/erase", response=ErasureOut)
def erase_contact(request, contact_id: PathId, payload: ErasureIn):
    """Erase a person everywhere their data lives, leaving an anonymous "Erased contact"
    (administrators only; cannot be undone). A second erasure answers 422."""
    contact = _contact(request, contact_id)
    try:
        erasure = services.erase_contact(actor=request.user, contact=contact, reason=payload.reason)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return {
        "contact_id": contact.pk,
        "erased_at": erasure.erased_at,
        "erased_by": str(erasure.erased_by) if erasure.erased_by else None,
        "reason": erasure.reason,
        "counts": erasure.counts,
    }


@router.get("/privacy/contacts/{contact_id}/export", response=dict)
def export_contact(request, contact_id: PathId):
    """Everything Rapport holds about the person (subject-access request), as one JSON document:
    the contact, emails, phones, memberships, consent and its history, interactions, deals,
    orders, tasks, lead scores, web-form submissions and the audit trail of their record.
    Deals, orders and tasks outside the caller's access are counted in `left_out`."""
    contact = _contact(request, contact_id)
    return services.export_contact(actor=request.user, contact=contact)


@router.get("/privacy/retention", response=RetentionSettingsOut)
def get_retention(request):
    """How long interactions and audit records are kept (administrators only)."""
    access.require(request.user, access.Action.ADMINISTER)
    return services.retention_settings()


@router.put("/privacy/retention", response=RetentionSettingsOut)
def put_retention(request, payload: RetentionSettingsIn):
    """Set the retention in months (null keeps forever); applied by the nightly job."""
    try:
        return services.update_retention_settings(
            actor=request.user,
            interaction_months=payload.interaction_months,
            audit_months=payload.audit_months,
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None
