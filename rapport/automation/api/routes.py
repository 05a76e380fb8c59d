"""Webhook subscriptions and deliveries over JSON (administrators only: 403 for others).

Paths live under /webhooks/subscriptions and /webhooks/deliveries, apart from the inbound
/webhooks/shops/{shop_key}/orders of commerce. Thin: the services check and audit.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from rapport.accounts import access
from rapport.accounts.models import User
from rapport.automation import webhooks
from rapport.automation.api.schemas import (
    DeliveryOut,
    DeliveryPage,
    DeliveryParams,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from rapport.automation.models import WebhookDelivery, WebhookSubscription
from rapport.core.api_types import PathId
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate

router = Router(tags=["webhooks"])

RENAME = {"owner": "owner_id"}


def _administrators_only(request) -> None:
    access.require(request.user, access.Action.ADMINISTER)


def _subscription(request, subscription_id: int) -> WebhookSubscription:
    _administrators_only(request)
    return get_object_or_404(WebhookSubscription, pk=subscription_id)


def _owner(owner_id: int | None):
    if owner_id is None:
        return None
    owner = User.objects.filter(pk=owner_id, is_active=True).first()
    if owner is None:
        raise ValidationError({"body.owner_id": ["No such active user."]})
    return owner


@router.get("/webhooks/subscriptions", response=list[SubscriptionOut])
def list_subscriptions(request):
    """Every webhook subscription (the secret never; its last 4 characters)."""
    _administrators_only(request)
    return list(WebhookSubscription.objects.all())


@router.post("/webhooks/subscriptions", response={201: SubscriptionCreated})
def create_subscription(request, payload: SubscriptionIn):
    """Subscribe a URL to events. The answer holds the signing secret, this once. A URL on a
    private, loopback or link-local address (or a name resolving to one) answers 422."""
    _administrators_only(request)
    try:
        subscription, secret = webhooks.create_subscription(
            actor=request.user,
            name=payload.name,
            url=payload.url,
            event_types=payload.event_types,
            owner=_owner(payload.owner_id),
        )
    except ValidationError as exc:
        raise relocate(exc, "body", RENAME) from None
    subscription.secret = secret
    return Status(201, subscription)


@router.get("/webhooks/subscriptions/{subscription_id}", response=SubscriptionOut)
def get_subscription(request, subscription_id: PathId):
    return _subscription(request, subscription_id)


@router.patch("/webhooks/subscriptions/{subscription_id}", response=SubscriptionOut)
def patch_subscription(request, subscription_id: PathId, payload: SubscriptionPatch):
    """Change what is sent; `is_active: true` switches a switched-off subscription back on."""
    subscription = _subscription(request, subscription_id)
    try:
        return webhooks.update_subscription(
            actor=request.user,
            subscription=subscription,
            name=payload.name,
            url=payload.url,
            event_types=payload.event_types,
            owner=_owner(payload.owner_id),
            is_active=payload.is_active,
        )
    except ValidationError as exc:
        raise relocate(exc, "body", RENAME) from None


@router.delete("/webhooks/subscriptions/{subscription_id}", response={204: None})
def delete_subscription(request, subscription_id: PathId):
    subscription = _subscription(request, subscription_id)
    webhooks.delete_subscription(actor=request.user, subscription=subscription)
    return Status(204, None)


@router.get("/webhooks/subscriptions/{subscription_id}/deliveries", response=DeliveryPage)
def list_deliveries(request, subscription_id: PathId, params: Query[DeliveryParams]):
    """The subscription's deliveries, newest first, with the receiver's answer."""
    check_query_params(request.GET, DeliveryParams.model_fields)
    subscription = _subscription(request, subscription_id)
    queryset = subscription.deliveries.all()
    if params.status:
        queryset = queryset.filter(status=params.status)
    page = keyset_page(
        queryset,
        order_fields=("created_at",),
        descending=True,
        cursor=params.cursor,
        limit=params.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/webhooks/deliveries/{delivery_id}/replay", response={202: DeliveryOut})
def replay_delivery(request, delivery_id: PathId):
    """Send a delivery again with the same webhook-id (its attempts start over)."""
    _administrators_only(request)
    delivery = get_object_or_404(
        WebhookDelivery.objects.select_related("subscription"), pk=delivery_id
    )
    try:
        return Status(202, webhooks.replay_delivery(actor=request.user, delivery=delivery))
    except ValidationError as exc:
        raise relocate(exc, "body") from None


# Workflows and their runs live in their own module; mounted here so api.py needs no change.
from rapport.automation.api.workflows import router as workflows_router  # noqa: E402

router.add_router("", workflows_router)
