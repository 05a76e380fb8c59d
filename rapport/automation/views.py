"""Settings → Webhooks (administrators only): subscriptions, their secret shown once, a test
event, the deliveries with their answers, and replay. Thin: the services decide and audit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts.access import can_administer
from rapport.accounts.forms import add_service_errors
from rapport.automation import catalogue, webhooks
from rapport.automation.forms import WebhookSubscriptionForm
from rapport.automation.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

INVALID = 422
DELIVERIES_PER_PAGE = 50


def _administrators_only(request) -> None:
    if not can_administer(request.user):
        raise PermissionDenied("Only administrators may manage webhooks.")


def _subscription(request, pk: int) -> WebhookSubscription:
    _administrators_only(request)
    return get_object_or_404(WebhookSubscription, pk=pk)


@login_required
@require_GET
def webhook_list(request):
    _administrators_only(request)
    subscriptions = WebhookSubscription.objects.select_related("owner").annotate(
        waiting=Count(
            "deliveries",
            filter=Q(deliveries__status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]),
        ),
        dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
    )
    return render(
        request,
        "automation/webhook_list.html",
        {"subscriptions": subscriptions, "section": "webhooks"},
    )


def _render_form(request, form, subscription=None, status=200):
    return render(
        request,
        "automation/webhook_form.html",
        {"form": form, "subscription": subscription, "section": "webhooks"},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def webhook_create(request):
    _administrators_only(request)
    form = WebhookSubscriptionForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                subscription, secret = webhooks.create_subscription(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    url=form.cleaned_data["url"],
                    event_types=form.cleaned_data["event_types"],
                    owner=form.cleaned_data["owner"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                # The secret is in this answer only; a reload shows just its last 4 characters.
                return _render_detail(request, subscription, secret=secret, status=201)
        return _render_form(request, form, status=INVALID)
    return _render_form(request, form)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_edit(request, pk: int):
    subscription = _subscription(request, pk)
    form = WebhookSubscriptionForm(
        request.POST or None,
        initial={
            "name": subscription.name,
            "url": subscription.url,
            "event_types": subscription.event_types,
            "owner": subscription.owner,
        },
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                webhooks.update_subscription(
                    actor=request.user,
                    subscription=subscription,
                    name=form.cleaned_data["name"],
                    url=form.cleaned_data["url"],
                    event_types=form.cleaned_data["event_types"],
                    owner=form.cleaned_data["owner"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, "Webhook saved.")
                return redirect(subscription)
        return _render_form(request, form, subscription, status=INVALID)
    return _render_form(request, form, subscription)


def _render_detail(request, subscription, *, secret: str = "", status: int = 200):
    deliveries = subscription.deliveries.all()
    shown_status = request.GET.get("status", "")
    if shown_status in DeliveryStatus.values:
        deliveries = deliveries.filter(status=shown_status)
    else:
        shown_status = ""
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    labels = {kind.name: kind.label for kind in catalogue.CATALOGUE}
    response = render(
        request,
        "automation/webhook_detail.html",
        {
            "subscription": subscription,
            "secret": secret,
            "page": page,
            "statuses": DeliveryStatus.choices,
            "shown_status": shown_status,
            "event_labels": [(name, labels.get(name, name)) for name in subscription.event_types],
            "section": "webhooks",
        },
        status=status,
    )
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def webhook_detail(request, pk: int):
    return _render_detail(request, _subscription(request, pk))


@login_required
@require_POST
def webhook_test(request, pk: int):
    subscription = _subscription(request, pk)
    webhooks.send_test_event(actor=request.user, subscription=subscription)
    messages.success(request, "A test event was queued; its delivery is listed below.")
    return redirect(subscription)


@login_required
@require_POST
def webhook_rotate_secret(request, pk: int):
    subscription = _subscription(request, pk)
    subscription, secret = webhooks.rotate_secret(actor=request.user, subscription=subscription)
    return _render_detail(request, subscription, secret=secret)


@login_required
@require_POST
def webhook_switch(request, pk: int):
    subscription = _subscription(request, pk)
    switch_on = request.POST.get("is_active") == "true"
    try:
        webhooks.update_subscription(
            actor=request.user, subscription=subscription, is_active=switch_on
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Webhook switched on." if switch_on else "Webhook switched off.")
    return redirect(subscription)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request, pk: int):
    subscription = _subscription(request, pk)
    if request.method == "POST":
        webhooks.delete_subscription(actor=request.user, subscription=subscription)
        messages.success(request, f"Webhook “{subscription.name}” deleted.")
        return redirect("automation:webhook_list")
    return render(
        request,
        "automation/webhook_delete.html",
        {"subscription": subscription, "section": "webhooks"},
    )


@login_required
@require_POST
def delivery_replay(request, pk: int):
    _administrators_only(request)
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("subscription"), pk=pk)
    try:
        webhooks.replay_delivery(actor=request.user, delivery=delivery)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The delivery will be sent again with the same webhook-id.")
    return redirect(delivery.subscription)
