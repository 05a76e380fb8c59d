"""The "Schedule email" pages of a report or a dashboard: its schedules, the form to add or
change one, pause, delete and "send now", and the names the recipient picker suggests. Thin:
the report or dashboard through its `visible_to` (404 otherwise), then `deliveries` decides
who may manage its schedules (403) and checks every write."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts.models import User
from rapport.reports import deliveries
from rapport.reports.delivery_forms import DeliveryForm
from rapport.reports.delivery_schedule import zone
from rapport.reports.models import Dashboard, Delivery, Report

MODELS = {"report": Report, "dashboard": Dashboard}
SUGGESTIONS = 8


def _target(request, kind: str, pk: int):
    target = get_object_or_404(MODELS[kind].objects.visible_to(request.user), pk=pk)
    deliveries.require_manage(request.user, target)
    return target


def _delivery(request, kind: str, pk: int, schedule_id: int) -> Delivery:
    target = _target(request, kind, pk)
    return get_object_or_404(Delivery.objects.filter(**{kind: target}), pk=schedule_id)


def _urls(kind: str, pk: int, delivery: Delivery | None = None) -> dict:
    urls = {
        "list": reverse(f"reports:{kind}_schedules", args=[pk]),
        "people": reverse(f"reports:{kind}_schedule_people", args=[pk]),
    }
    if delivery is not None:
        for name in ("edit", "pause", "delete", "send"):
            urls[name] = reverse(f"reports:{kind}_schedule_{name}", args=[pk, delivery.pk])
    return urls


def _local(moment, time_zone: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone(time_zone) or moment.tzinfo)
    return f"{local:%a %d %b %Y, %H:%M}"


def _row(kind: str, target, delivery: Delivery) -> dict:
    return {
        "delivery": delivery,
        "when": deliveries.describe(delivery),
        "who": deliveries.recipients_in_words(delivery),
        "next": _local(delivery.next_run_at, delivery.time_zone),
        "last": _local(delivery.last_sent_at, delivery.time_zone),
        "urls": _urls(kind, target.pk, delivery),
    }


def _form(request, kind, target, delivery: Delivery | None = None, data=None) -> DeliveryForm:
    initial = {}
    if delivery is not None:
        initial = {
            "recipients": list(delivery.recipients.all()),
            "recipient_teams": list(delivery.recipient_teams.all()),
            "recipient_roles": list(delivery.recipient_roles.all()),
            "frequency": delivery.frequency,
            "weekday": delivery.weekday,
            "day_of_month": delivery.day_of_month,
            "time_of_day": delivery.time_of_day.strftime("%H:%M"),
            "time_zone": delivery.time_zone,
            "format": delivery.format,
            "mailbox": delivery.mailbox,
        }
    return DeliveryForm(
        data,
        initial=initial,
        user=request.user,
        target=target,
        people_url=_urls(kind, target.pk)["people"],
        current_mailbox=delivery.mailbox if delivery is not None else None,
    )


def _page(request, kind, target, form, *, status=200):
    rows = (
        Delivery.objects.filter(**{kind: target})
        .prefetch_related("recipients", "recipient_teams", "recipient_roles")
        .select_related("mailbox")
    )
    return render(
        request,
        "reports/deliveries/list.html",
        {
            "kind": kind,
            "target": target,
            "rows": [_row(kind, target, delivery) for delivery in rows],
            "form": form,
            "people": form.chosen_people(),
            "urls": _urls(kind, target.pk),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def schedules(request, kind: str, pk: int):
    """The schedules of one report or dashboard, and the form to add one."""
    target = _target(request, kind, pk)
    if request.method == "GET":
        return _page(request, kind, target, _form(request, kind, target))
    form = _form(request, kind, target, data=request.POST)
    if form.is_valid():
        try:
            deliveries.create_delivery(
                actor=request.user, **{kind: target}, **form.service_arguments()
            )
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, "Scheduled: each recipient gets their own figures.")
            return redirect(_urls(kind, target.pk)["list"])
    return _page(request, kind, target, form, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_edit(request, kind: str, pk: int, schedule_id: int):
    delivery = _delivery(request, kind, pk, schedule_id)
    target = delivery.target
    form = _form(request, kind, target, delivery, data=request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                deliveries.update_delivery(
                    actor=request.user, delivery=delivery, **form.service_arguments()
                )
            except ValidationError as exc:
                form.add_service_errors(exc.message_dict)
            else:
                messages.success(request, "Schedule saved.")
                return redirect(_urls(kind, target.pk)["list"])
        status = 422
    return render(
        request,
        "reports/deliveries/edit.html",
        {
            "kind": kind,
            "target": target,
            "delivery": delivery,
            "form": form,
            "people": form.chosen_people(),
            "urls": _urls(kind, target.pk, delivery),
        },
        status=status,
    )


@login_required
@require_POST
def schedule_pause(request, kind: str, pk: int, schedule_id: int):
    """Pause a schedule, or resume it from its next slot."""
    delivery = _delivery(request, kind, pk, schedule_id)
    try:
        delivery = deliveries.set_delivery_active(
            actor=request.user, delivery=delivery, is_active=not delivery.is_active
        )
    except ValidationError as exc:
        # Resuming checks the recipients again: one may have lost access meanwhile.
        messages.error(request, "Not resumed: " + " ".join(exc.messages))
    else:
        messages.success(request, "Schedule resumed." if delivery.is_active else "Schedule paused.")
    return redirect(_urls(kind, pk)["list"])


@login_required
@require_POST
def schedule_delete(request, kind: str, pk: int, schedule_id: int):
    delivery = _delivery(request, kind, pk, schedule_id)
    deliveries.delete_delivery(actor=request.user, delivery=delivery)
    messages.success(request, "Schedule deleted.")
    return redirect(_urls(kind, pk)["list"])


@login_required
@require_POST
def schedule_send(request, kind: str, pk: int, schedule_id: int):
    delivery = _delivery(request, kind, pk, schedule_id)
    deliveries.request_send_now(actor=request.user, delivery=delivery)
    count = len(deliveries.recipients_of(delivery))
    messages.success(request, f"Sending now to {count} {'person' if count == 1 else 'people'}.")
    return redirect(_urls(kind, pk)["list"])


@login_required
@require_GET
def schedule_people(request, kind: str, pk: int):
    """People matching a few letters who may open the report or dashboard (the picker)."""
    target = _target(request, kind, pk)
    text = (request.GET.get("q") or "").strip()[:100]
    found = []
    if len(text) >= 2:
        candidates = (
            User.objects.filter(is_active=True)
            .exclude(email="")
            .filter(
                Q(first_name__icontains=text)
                | Q(last_name__icontains=text)
                | Q(username__icontains=text)
                | Q(email__icontains=text)
            )
            .order_by("last_name", "first_name", "pk")[:50]
        )
        for user in candidates:
            if deliveries.can_open(user, target):
                found.append({"id": user.pk, "label": str(user), "detail": user.email})
            if len(found) == SUGGESTIONS:
                break
    response = JsonResponse(found, safe=False)
    response["Cache-Control"] = "private, no-store"
    return response
