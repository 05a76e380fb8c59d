"""The timeline over JSON: list (everything you may see, or one contact's or organization's),
log and delete interactions. Visibility follows the contact or organization they are about."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Path, Query, Router, Status

from rapport.accounts.api.auth import require_write
from rapport.contacts.models import Contact, Organization
from rapport.core.api_types import MAX_ID
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate
from rapport.interactions import services
from rapport.interactions.api.schemas import (
    InteractionIn,
    InteractionListParams,
    InteractionOut,
    InteractionPage,
    InteractionParams,
)
from rapport.interactions.models import Interaction

router = Router(tags=["interactions"])

NEWEST_FIRST = {"order_fields": ("occurred_at",), "descending": True}


def interaction_queryset(user):
    return Interaction.objects.visible_to(user).select_related("actor", "contact", "organization")


def _filtered(queryset, params: InteractionParams):
    if params.kind:
        queryset = queryset.filter(kind__in=params.kind)
    if params.channel:
        queryset = queryset.filter(channel__in=params.channel)
    if params.direction:
        queryset = queryset.filter(direction=params.direction)
    if params.occurred_after:
        queryset = queryset.filter(occurred_at__gte=_aware(params.occurred_after))
    if params.occurred_before:
        queryset = queryset.filter(occurred_at__lt=_aware(params.occurred_before))
    return queryset


def _aware(moment):
    # A bound without a zone is read in the site's time zone, as the web UI does.
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _page(request, queryset, params: InteractionParams, allowed) -> dict:
    check_query_params(request.GET, allowed)
    page = keyset_page(
        _filtered(queryset, params), cursor=params.cursor, limit=params.limit, **NEWEST_FIRST
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/interactions/", response=InteractionPage)
def list_interactions(request, params: Query[InteractionListParams]):
    """Every interaction you may see, newest first; narrow by contact, organization, kind,
    channel, direction and time."""
    queryset = interaction_queryset(request.user)
    if params.contact:
        queryset = queryset.filter(contact_id=params.contact)
    if params.organization:
        queryset = queryset.filter(organization_id=params.organization)
    return _page(request, queryset, params, InteractionListParams.model_fields)


@router.get("/contacts/{contact_id}/interactions", response=InteractionPage)
def list_contact_interactions(
    request, params: Query[InteractionParams], contact_id: int = Path(..., ge=1, le=MAX_ID)
):
    """The contact's timeline, newest first (404 when the contact is outside your access)."""
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=contact_id)
    queryset = interaction_queryset(request.user).filter(contact=contact)
    return _page(request, queryset, params, InteractionParams.model_fields)


@router.get("/organizations/{organization_id}/interactions", response=InteractionPage)
def list_organization_interactions(
    request, params: Query[InteractionParams], organization_id: int = Path(..., ge=1, le=MAX_ID)
):
    """The organization's timeline, newest first."""
    organization = get_object_or_404(
        Organization.objects.visible_to(request.user), pk=organization_id
    )
    queryset = interaction_queryset(request.user).filter(organization=organization)
    return _page(request, queryset, params, InteractionParams.model_fields)


@router.get("/interactions/{interaction_id}", response=InteractionOut)
def get_interaction(request, interaction_id: int = Path(..., ge=1, le=MAX_ID)):
    return get_object_or_404(interaction_queryset(request.user), pk=interaction_id)


@router.post("/interactions/", response={201: InteractionOut})
def log_interaction(request, payload: InteractionIn):
    """Put an interaction on a timeline; send `Idempotency-Key` to make a retry safe."""
    require_write(request.user)
    errors = {}
    contact = organization = None
    if payload.contact_id is not None:
        contact = Contact.objects.visible_to(request.user).filter(pk=payload.contact_id).first()
        if contact is None:
            errors["body.contact_id"] = ["No such contact."]
    if payload.organization_id is not None:
        organization = (
            Organization.objects.visible_to(request.user).filter(pk=payload.organization_id).first()
        )
        if organization is None:
            errors["body.organization_id"] = ["No such organization."]
    if errors:
        raise ValidationError(errors)
    data = payload.model_dump(exclude={"contact_id", "organization_id"})
    try:
        interaction = services.log_interaction(
            actor=request.user, contact=contact, organization=organization, **data
        )
    except ValidationError as exc:
        raise relocate(
            exc, "body", {"contact": "contact_id", "organization": "organization_id"}
        ) from None
    return Status(201, interaction_queryset(request.user).get(pk=interaction.pk))


@router.delete("/interactions/{interaction_id}", response={204: None})
def delete_interaction(request, interaction_id: int = Path(..., ge=1, le=MAX_ID)):
    """Remove an entry logged by mistake; the audit record keeps what it said."""
    require_write(request.user)
    interaction = get_object_or_404(Interaction.objects.visible_to(request.user), pk=interaction_id)
    services.delete_interaction(actor=request.user, interaction=interaction)
    return Status(204, None)
