"""Custom-field definitions: everyone signed in reads them (forms and filters need them);
administrators create and change them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router, Status

from rapport.accounts.api.auth import require_admin
from rapport.core.api_types import MAX_ID
from rapport.core.problems import check_query_params, relocate
from rapport.customfields import services
from rapport.customfields.api.schemas import (
    CustomFieldIn,
    CustomFieldList,
    CustomFieldOut,
    CustomFieldParams,
    CustomFieldPatch,
)
from rapport.customfields.models import CustomFieldDefinition

router = Router(tags=["custom fields"])


@router.get("/custom-fields/", response=CustomFieldList)
def list_custom_fields(request, params: Query[CustomFieldParams]):
    """Every definition (active and retired), by entity and position."""
    check_query_params(request.GET, CustomFieldParams.model_fields)
    definitions = CustomFieldDefinition.objects.all()
    if params.entity:
        definitions = definitions.filter(entity=params.entity)
    if params.is_active is not None:
        definitions = definitions.filter(is_active=params.is_active)
    return {"items": list(definitions.order_by("entity", "position", "label", "id"))}


@router.get("/custom-fields/{definition_id}", response=CustomFieldOut)
def get_custom_field(request, definition_id: int = Path(..., ge=1, le=MAX_ID)):
    return get_object_or_404(CustomFieldDefinition, pk=definition_id)


@router.post("/custom-fields/", response={201: CustomFieldOut})
def create_custom_field(request, payload: CustomFieldIn):
    require_admin(request.user)
    data = payload.model_dump()
    try:
        definition = services.create_definition(actor=request.user, **data)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(201, definition)


@router.patch("/custom-fields/{definition_id}", response=CustomFieldOut)
def update_custom_field(
    request, payload: CustomFieldPatch, definition_id: int = Path(..., ge=1, le=MAX_ID)
):
    require_admin(request.user)
    definition = get_object_or_404(CustomFieldDefinition, pk=definition_id)
    changes = payload.model_dump(exclude_unset=True)
    for name in ("label", "help_text", "is_required", "is_unique", "position", "is_active"):
        if name in changes and changes[name] is None:
            raise ValidationError({f"body.{name}": ["Cannot be null."]})
    if "choices" in changes and changes["choices"] is None:
        changes["choices"] = []
    try:
        definition = services.update_definition(
            actor=request.user, definition=definition, **changes
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return definition
