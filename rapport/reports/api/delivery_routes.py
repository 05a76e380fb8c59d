"""Scheduled email in the API: /reports/{id}/deliveries and /dashboards/{id}/deliveries. Thin:
the report or dashboard through its `visible_to` (404 otherwise), the schedules of whoever may
change it (403 otherwise), every write through `reports.deliveries`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.responses import Status

from rapport.core.api_types import PathId
from rapport.reports import deliveries
from rapport.reports.api.schemas import ScheduledEmailIn, ScheduledEmailOut, ScheduledEmailPatch
from rapport.reports.models import Dashboard, Delivery, Report

router = Router(tags=["scheduled email"])

# Fields a PATCH may set to null; for the others null means "leave as it is".
NULLABLE = {"weekday", "day_of_month"}
API_NAMES = {"mailbox": "mailbox_id", "report": "report_id"}


def _target(request, model, pk: int):
    target = get_object_or_404(model.objects.visible_to(request.auth), pk=pk)
    deliveries.require_manage(request.auth, target)
    return target


def _delivery(request, model, pk: int, schedule_id: int) -> Delivery:
    target = _target(request, model, pk)
    field = "report" if model is Report else "dashboard"
    return get_object_or_404(
        Delivery.objects.filter(**{field: target}).select_related("report", "dashboard"),
        pk=schedule_id,
    )


def _out(delivery: Delivery) -> dict:
    return {
        "id": delivery.pk,
        "report_id": delivery.report_id,
        "dashboard_id": delivery.dashboard_id,
        "owner_id": delivery.owner_id,
        "mailbox_id": delivery.mailbox_id,
        "recipients": sorted(user.pk for user in delivery.recipients.all()),
        "recipient_teams": sorted(team.pk for team in delivery.recipient_teams.all()),
        "recipient_roles": sorted(role.pk for role in delivery.recipient_roles.all()),
        "frequency": delivery.frequency,
        "weekday": delivery.weekday,
        "day_of_month": delivery.day_of_month,
        "time_of_day": delivery.time_of_day.strftime("%H:%M"),
        "time_zone": delivery.time_zone,
        "format": delivery.format,
        "is_active": delivery.is_active,
        "schedule": deliveries.describe(delivery),
        "next_run_at": delivery.next_run_at,
        "last_sent_at": delivery.last_sent_at,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
    }


def _api_names(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {API_NAMES.get(key, key): value for key, value in exc.message_dict.items()}
    )


def _list(request, model, pk):
    target = _target(request, model, pk)
    field = "report" if model is Report else "dashboard"
    rows = Delivery.objects.filter(**{field: target}).prefetch_related(
        "recipients", "recipient_teams", "recipient_roles"
    )
    return [_out(delivery) for delivery in rows]


def _create(request, model, pk, payload: ScheduledEmailIn):
    target = _target(request, model, pk)
    data = payload.model_dump()
    data["mailbox"] = data.pop("mailbox_id")
    field = "report" if model is Report else "dashboard"
    try:
        delivery = deliveries.create_delivery(actor=request.auth, **{field: target}, **data)
    except ValidationError as exc:
        raise _api_names(exc) from exc
    return Status(201, _out(delivery))


def _update(request, model, pk, schedule_id, payload: ScheduledEmailPatch):
    delivery = _delivery(request, model, pk, schedule_id)
    changes = {
        key: value
        for key, value in payload.model_dump(exclude_unset=True).items()
        if value is not None or key in NULLABLE
    }
    if "mailbox_id" in changes:
        changes["mailbox"] = changes.pop("mailbox_id")
    try:
        delivery = deliveries.update_delivery(actor=request.auth, delivery=delivery, **changes)
    except ValidationError as exc:
        raise _api_names(exc) from exc
    return _out(delivery)


def _delete(request, model, pk, schedule_id):
    deliveries.delete_delivery(
        actor=request.auth, delivery=_delivery(request, model, pk, schedule_id)
    )
    return Status(204, None)


def _send(request, model, pk, schedule_id):
    delivery = deliveries.request_send_now(
        actor=request.auth, delivery=_delivery(request, model, pk, schedule_id)
    )
    return Status(202, _out(delivery))


# --------------------------------------------------------------------------- reports


@router.get("/reports/{report_id}/deliveries", response=list[ScheduledEmailOut])
def list_report_deliveries(request, report_id: PathId):
    """The report's email schedules (for whoever may change the report)."""
    return _list(request, Report, report_id)


@router.post("/reports/{report_id}/deliveries", response={201: ScheduledEmailOut})
def create_report_delivery(request, report_id: PathId, payload: ScheduledEmailIn):
    """Email the report on a schedule. Each recipient must be able to open it, and each gets
    the figures of the records they may see."""
    return _create(request, Report, report_id, payload)


@router.get("/reports/{report_id}/deliveries/{schedule_id}", response=ScheduledEmailOut)
def get_report_delivery(request, report_id: PathId, schedule_id: PathId):
    return _out(_delivery(request, Report, report_id, schedule_id))


@router.patch("/reports/{report_id}/deliveries/{schedule_id}", response=ScheduledEmailOut)
def update_report_delivery(
    request, report_id: PathId, schedule_id: PathId, payload: ScheduledEmailPatch
):
    return _update(request, Report, report_id, schedule_id, payload)


@router.delete("/reports/{report_id}/deliveries/{schedule_id}", response={204: None})
def delete_report_delivery(request, report_id: PathId, schedule_id: PathId):
    return _delete(request, Report, report_id, schedule_id)


@router.post(
    "/reports/{report_id}/deliveries/{schedule_id}/send", response={202: ScheduledEmailOut}
)
def send_report_delivery(request, report_id: PathId, schedule_id: PathId):
    """Send it to every recipient now; the schedule stays as it is."""
    return _send(request, Report, report_id, schedule_id)


# --------------------------------------------------------------------------- dashboards


@router.get("/dashboards/{dashboard_id}/deliveries", response=list[ScheduledEmailOut])
def list_dashboard_deliveries(request, dashboard_id: PathId):
    return _list(request, Dashboard, dashboard_id)


@router.post("/dashboards/{dashboard_id}/deliveries", response={201: ScheduledEmailOut})
def create_dashboard_delivery(request, dashboard_id: PathId, payload: ScheduledEmailIn):
    """Email the dashboard (a PDF of every widget) on a schedule."""
    return _create(request, Dashboard, dashboard_id, payload)


@router.get("/dashboards/{dashboard_id}/deliveries/{schedule_id}", response=ScheduledEmailOut)
def get_dashboard_delivery(request, dashboard_id: PathId, schedule_id: PathId):
    return _out(_delivery(request, Dashboard, dashboard_id, schedule_id))


@router.patch("/dashboards/{dashboard_id}/deliveries/{schedule_id}", response=ScheduledEmailOut)
def update_dashboard_delivery(
    request, dashboard_id: PathId, schedule_id: PathId, payload: ScheduledEmailPatch
):
    return _update(request, Dashboard, dashboard_id, schedule_id, payload)


@router.delete("/dashboards/{dashboard_id}/deliveries/{schedule_id}", response={204: None})
def delete_dashboard_delivery(request, dashboard_id: PathId, schedule_id: PathId):
    return _delete(request, Dashboard, dashboard_id, schedule_id)


@router.post(
    "/dashboards/{dashboard_id}/deliveries/{schedule_id}/send", response={202: ScheduledEmailOut}
)
def send_dashboard_delivery(request, dashboard_id: PathId, schedule_id: PathId):
    return _send(request, Dashboard, dashboard_id, schedule_id)
