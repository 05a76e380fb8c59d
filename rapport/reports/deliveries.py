"""Scheduled email of reports and dashboards: every write of a `Delivery`, and the send.

Whoever may change a report or dashboard (its owner, an administrator; a built-in dashboard:
administrators) manages its schedules. A recipient must be able to open what is sent, checked
when the schedule is saved (a field error naming them) and again at every send (they are then
left out, and `last_error` says so). Each copy is computed with the recipient's own access.

Mail goes out through `mail.sending.send_email` as the system (no sender), from a *shared*
mailbox the scheduler may send from: a personal mailbox would file every recipient's copy,
with figures its owner may not see, in that person's Sent folder. Nothing a copy says is
stored beyond the outbox row.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.models import Role, Team, User
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core import display
from rapport.reports import dashboards
from rapport.reports import delivery_schedule as schedule
from rapport.reports.models import (
    WEEKDAYS,
    Dashboard,
    Delivery,
    DeliveryFormat,
    DeliveryFrequency,
    Report,
)

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
BATCH = 50
FIELDS = [
    "report",
    "dashboard",
    "owner",
    "mailbox",
    "frequency",
    "weekday",
    "day_of_month",
    "time_of_day",
    "time_zone",
    "format",
    "is_active",
]
EDITABLE = {
    "recipients",
    "recipient_teams",
    "recipient_roles",
    "frequency",
    "weekday",
    "day_of_month",
    "time_of_day",
    "time_zone",
    "format",
    "mailbox",
    "is_active",
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


# --------------------------------------------------------------------------- who may


def noun(target) -> str:
    return "report" if isinstance(target, Report) else "dashboard"


def can_open(user, target) -> bool:
    """Whether `user` may open `target` (the report's or dashboard's sharing and scope)."""
    model = type(target)
    return model.objects.visible_to(user).filter(pk=target.pk).exists()


def may_manage(actor, target) -> bool:
    """Who may schedule `target`: whoever may change it."""
    if isinstance(target, Dashboard):
        return dashboards.may_change(actor, target)
    return access.can(actor, Action.CHANGE, target)


def require_manage(actor, target) -> None:
    if not may_manage(actor, target):
        raise PermissionDenied(
            f"Only whoever may change this {noun(target)} may schedule it by email."
        )


def sending_mailboxes(actor):
    """The shared mailboxes `actor` may send from that can send; real ones before the local
    sink, which delivers on this machine only."""
    from rapport.mail.choices import MailboxKind
    from rapport.mail.models import Mailbox

    candidates = Mailbox.objects.usable_by(actor).filter(kind=MailboxKind.SHARED)
    return [m for m in candidates.order_by("is_local_sink", "name", "pk") if m.sends]


# --------------------------------------------------------------------------- in words


def describe(delivery: Delivery) -> str:
    """ "Every Monday at 7:30 AM (Europe/Paris)"."""
    at = display.time_text(delivery.time_of_day) or "—"
    if delivery.frequency == DeliveryFrequency.WEEKLY:
        when = f"Every {dict(WEEKDAYS).get(delivery.weekday, 'week')}"
    elif delivery.frequency == DeliveryFrequency.MONTHLY:
        day = delivery.day_of_month or 1
        when = f"On day {day} of every month" + (" (or its last day)" if day > 28 else "")
    else:
        when = "Every day"
    return f"{when} at {at} ({delivery.time_zone})"


def recipients_in_words(delivery: Delivery) -> str:
    people = [str(user) for user in delivery.recipients.all()]
    people += [f"team {team}" for team in delivery.recipient_teams.all()]
    people += [f"role {role}" for role in delivery.recipient_roles.all()]
    return ", ".join(people)


# --------------------------------------------------------------------------- checking


def parse_time(value) -> dt.time | None:
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if not isinstance(value, str):
        return None
    match = _TIME.match(value.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59 or int(match.group(3) or 0) > 59:
        return None
    return dt.time(hour, minute)


def _whole(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _clean_schedule(delivery: Delivery, errors: dict) -> None:
    from rapport.accounts.services import time_zone_names

    if delivery.frequency not in DeliveryFrequency.values:
        errors.setdefault("frequency", []).append(
            f"Choose one of: {', '.join(label for _v, label in DeliveryFrequency.choices)}."
        )
    time = parse_time(delivery.time_of_day)
    if time is None:
        errors.setdefault("time_of_day", []).append("Give a time of day such as 07:30.")
    else:
        delivery.time_of_day = time
    if delivery.time_zone not in time_zone_names():
        errors.setdefault("time_zone", []).append("Choose a time zone such as Europe/Paris.")
    weekday, day = _whole(delivery.weekday), _whole(delivery.day_of_month)
    delivery.weekday = delivery.day_of_month = None
    if delivery.frequency == DeliveryFrequency.WEEKLY:
        if weekday is None or not 1 <= weekday <= 7:
            errors.setdefault("weekday", []).append("Choose a day of the week (1 is Monday).")
        delivery.weekday = weekday
    elif delivery.frequency == DeliveryFrequency.MONTHLY:
        if day is None or not 1 <= day <= 31:
            errors.setdefault("day_of_month", []).append("Choose a day of the month, 1 to 31.")
        delivery.day_of_month = day
    if delivery.format not in DeliveryFormat.values:
        errors.setdefault("format", []).append(
            f"Choose one of: {', '.join(label for _v, label in DeliveryFormat.choices)}."
        )
    elif delivery.dashboard_id and delivery.format != DeliveryFormat.PDF:
        errors.setdefault("format", []).append(
            "A dashboard is sent with its PDF only: CSV and Excel files hold one report."
        )


def _ids(values, field: str, errors: dict) -> list[int]:
    ids = []
    for value in values or []:
        item = getattr(value, "pk", value)
        if isinstance(item, bool) or not isinstance(item, int):
            errors.setdefault(field, []).append("Give ids (whole numbers).")
            return []
        ids.append(item)
    return sorted(set(ids))


def _names(users) -> str:
    names = [str(user) for user in users[:5]]
    more = len(users) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _clean_recipients(target, users, teams, roles, errors: dict):
    """The people, teams and roles asked for, each checked: may they open `target`?"""
    what = noun(target)
    user_ids = _ids(users, "recipients", errors)
    found_users = list(User.objects.filter(pk__in=user_ids))
    if len(found_users) != len(user_ids):
        errors.setdefault("recipients", []).append("No such person.")
    for user in found_users:
        if not user.is_active:
            errors.setdefault("recipients", []).append(f"{user} is deactivated.")
        elif not user.email:
            errors.setdefault("recipients", []).append(f"{user} has no email address.")
        elif not can_open(user, target):
            errors.setdefault("recipients", []).append(
                f"{user} may not open this {what}: share it with them first."
            )
    groups = []
    for model, field, given in ((Team, "recipient_teams", teams), (Role, "recipient_roles", roles)):
        ids = _ids(given, field, errors)
        found = list(model.objects.filter(pk__in=ids))
        if len(found) != len(ids):
            errors.setdefault(field, []).append(f"No such {model._meta.verbose_name}.")
        for group in found:
            members = _members(group)
            blocked = [member for member in members if not can_open(member, target)]
            if blocked:
                errors.setdefault(field, []).append(
                    f"Not everyone in {group} may open this {what} ({_names(blocked)}): "
                    f"share it with them first."
                )
        groups.append(found)
    found_teams, found_roles = groups
    if not (found_users or found_teams or found_roles) and not errors.get("recipients"):
        errors.setdefault("recipients", []).append("Choose at least one person, team or role.")
    everyone = {user.pk for user in found_users}
    for group in (*found_teams, *found_roles):
        everyone.update(member.pk for member in _members(group))
    if len(everyone) > MAX_RECIPIENTS:
        errors.setdefault("recipients", []).append(
            f"This would email {display.number_text(len(everyone))} people; at most "
            f"{display.number_text(MAX_RECIPIENTS)} are allowed."
        )
    return found_users, found_teams, found_roles


def _members(group) -> list[User]:
    users = group.members if isinstance(group, Team) else group.users
    return list(users.filter(is_active=True).exclude(email="").order_by("pk"))


def _clean_mailbox(actor, mailbox, errors: dict):
    usable = sending_mailboxes(actor)
    if mailbox is None:
        if usable:
            return usable[0]
        errors.setdefault("mailbox", []).append(
            "No shared mailbox you may send from can send mail: an administrator connects one "
            "under Mail."
        )
        return None
    pk = getattr(mailbox, "pk", mailbox)
    chosen = next((m for m in usable if m.pk == pk), None)
    if chosen is None:
        errors.setdefault("mailbox", []).append("Choose a shared mailbox you may send from.")
    return chosen


def _plan(delivery: Delivery, now: dt.datetime) -> None:
    delivery.next_run_at = (
        schedule.next_run(
            frequency=delivery.frequency,
            time_of_day=delivery.time_of_day,
            time_zone=delivery.time_zone,
            weekday=delivery.weekday,
            day_of_month=delivery.day_of_month,
            after=now,
        )
        if delivery.is_active
        else None
    )


def _state(delivery: Delivery) -> dict:
    return {
        **snapshot(delivery, FIELDS),
        "recipients": sorted(delivery.recipients.values_list("pk", flat=True)),
        "recipient_teams": sorted(delivery.recipient_teams.values_list("pk", flat=True)),
        "recipient_roles": sorted(delivery.recipient_roles.values_list("pk", flat=True)),
    }


# --------------------------------------------------------------------------- writes


@transaction.atomic
def create_delivery(
    *,
    actor,
    report: Report | None = None,
    dashboard: Dashboard | None = None,
    frequency: str,
    time_of_day,
    recipients=(),
    recipient_teams=(),
    recipient_roles=(),
    weekday: int | None = None,
    day_of_month: int | None = None,
    time_zone: str | None = None,
    format: str = DeliveryFormat.PDF,
    mailbox=None,
    is_active: bool = True,
    now: dt.datetime | None = None,
) -> Delivery:
    """Schedule `report` or `dashboard` (one of them) by email, in `time_zone` (the actor's
    own by default). Refused with PermissionDenied unless the actor may change it; with a
    ValidationError naming the field for a bad schedule, a recipient who may not open it, or
    no usable mailbox."""
    if (report is None) == (dashboard is None):
        raise ValidationError({"report": ["Schedule either a report or a dashboard."]})
    target = report or dashboard
    require_manage(actor, target)
    delivery = Delivery(
        report=report,
        dashboard=dashboard,
        owner=actor,
        frequency=frequency,
        time_of_day=time_of_day,
        weekday=weekday,
        day_of_month=day_of_month,
        time_zone=time_zone or getattr(actor, "time_zone", "") or settings.TIME_ZONE,
        format=format or DeliveryFormat.PDF,
        is_active=bool(is_active),
    )
    errors: dict[str, list[str]] = {}
    _clean_schedule(delivery, errors)
    people = _clean_recipients(target, recipients, recipient_teams, recipient_roles, errors)
    delivery.mailbox = _clean_mailbox(actor, mailbox, errors)
    if errors:
        raise ValidationError(errors)
    _plan(delivery, now or timezone.now())
    delivery.save()
    _set_recipients(delivery, *people)
    record_change(
        actor=actor, action=ChangeAction.CREATE, instance=delivery, after=_state(delivery)
    )
    return delivery


def _set_recipients(delivery: Delivery, users, teams, roles) -> None:
    delivery.recipients.set(users)
    delivery.recipient_teams.set(teams)
    delivery.recipient_roles.set(roles)


@transaction.atomic
def update_delivery(*, actor, delivery: Delivery, now: dt.datetime | None = None, **changes):
    """Change a schedule: its recipients (checked again, all of them), timing, format, mailbox,
    or pause it (`is_active`). The next send is worked out again from now."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    if changes == {"is_active": False}:
        return _pause(actor, delivery)
    target = delivery.target
    require_manage(actor, target)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    before = _state(delivery)
    errors: dict[str, list[str]] = {}
    for name in ("frequency", "weekday", "day_of_month", "time_of_day", "time_zone", "format"):
        if name in changes:
            setattr(delivery, name, changes[name])
    if "is_active" in changes:
        delivery.is_active = bool(changes["is_active"])
    _clean_schedule(delivery, errors)
    people = _clean_recipients(
        target,
        changes["recipients"] if "recipients" in changes else list(delivery.recipients.all()),
        changes.get("recipient_teams", list(delivery.recipient_teams.all())),
        changes.get("recipient_roles", list(delivery.recipient_roles.all())),
        errors,
    )
    if "mailbox" in changes and getattr(changes["mailbox"], "pk", changes["mailbox"]) != (
        delivery.mailbox_id
    ):
        delivery.mailbox = _clean_mailbox(actor, changes["mailbox"], errors)
    if errors:
        raise ValidationError(errors)
    _plan(delivery, now or timezone.now())
    delivery.last_error = ""
    delivery.save()
    _set_recipients(delivery, *people)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=delivery,
        before=before,
        after=_state(delivery),
    )
    return delivery


def set_delivery_active(*, actor, delivery: Delivery, is_active: bool) -> Delivery:
    """Pause a schedule, or resume it from its next slot after now (a missed one is not sent;
    its recipients are checked again)."""
    return update_delivery(actor=actor, delivery=delivery, is_active=is_active)


def _pause(actor, delivery: Delivery) -> Delivery:
    # Pausing checks nothing else: a schedule whose recipient lost access can still be stopped.
    require_manage(actor, delivery.target)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    before = _state(delivery)
    delivery.is_active = False
    delivery.next_run_at = None
    delivery.save(update_fields=["is_active", "next_run_at", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=delivery,
        before=before,
        after=_state(delivery),
    )
    return delivery


@transaction.atomic
def delete_delivery(*, actor, delivery: Delivery) -> None:
    require_manage(actor, delivery.target)
    record_change(
        actor=actor, action=ChangeAction.DELETE, instance=delivery, before=_state(delivery)
    )
    delivery.delete()


@transaction.atomic
def request_send_now(*, actor, delivery: Delivery, now: dt.datetime | None = None) -> Delivery:
    """Send every recipient their copy now, whatever the schedule (which stays as it is). The
    request is stored, so a lost task is made good by the next sweep and a task run twice
    sends once."""
    require_manage(actor, delivery.target)
    now = now or timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(send_requested_at=now)
    delivery.send_requested_at = now
    pk = delivery.pk

    def enqueue():
        from rapport.reports.tasks import send_delivery

        send_delivery.enqueue(delivery_id=pk)

    transaction.on_commit(enqueue)
    return delivery


# --------------------------------------------------------------------------- sending


def recipients_of(delivery: Delivery) -> list[User]:
    """Everyone the schedule names today: its people and the active members of its teams and
    roles, with an email address, each once."""
    people = {u.pk: u for u in delivery.recipients.filter(is_active=True).exclude(email="")}
    for group in (*delivery.recipient_teams.all(), *delivery.recipient_roles.all()):
        for member in _members(group):
            people.setdefault(member.pk, member)
    return [people[pk] for pk in sorted(people)][:MAX_RECIPIENTS]


def send_due(*, now: dt.datetime | None = None) -> dict:
    """Send every schedule whose slot has come (and every "send now"); one failing schedule is
    recorded on it and the others go on."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    due = Delivery.objects.due(now).order_by("next_run_at", "pk").values_list("pk", flat=True)
    for pk in list(due[:BATCH]):
        outcome = send_delivery(pk, now=now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def send_delivery(pk: int, *, now: dt.datetime | None = None) -> str:
    """Send one schedule's due slot or requested send: "sent", "partly" (some recipients
    left out), "failed", or "skipped" when nothing is due (another run did it: the slot's
    messages and the move to the next slot commit together)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            delivery = (
                Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("report", "dashboard", "owner", "mailbox")
                .filter(pk=pk)
                .first()
            )
            if delivery is None:
                return "skipped"
            slot_due = (
                delivery.is_active
                and delivery.next_run_at is not None
                and delivery.next_run_at <= now
            )
            if not slot_due and delivery.send_requested_at is None:
                return "skipped"
            sent, problems = _send_copies(delivery, now)
            if sent:
                delivery.last_sent_at = now
            delivery.last_error = " ".join(problems)[:1000]
            delivery.send_requested_at = None
            if slot_due:
                _plan(delivery, now)
            delivery.save(
                update_fields=[
                    "last_sent_at",
                    "last_error",
                    "send_requested_at",
                    "next_run_at",
                    "updated_at",
                ]
            )
    except Exception as exc:  # one schedule's failure must not stop the others
        logger.exception("scheduled email %s failed", pk)
        _skip(pk, now, f"Not sent: {type(exc).__name__}: {exc}"[:1000])
        return "failed"
    if not sent:
        return "failed"
    return "partly" if problems else "sent"


def _skip(pk: int, now: dt.datetime, reason: str) -> None:
    """Record why a slot failed and move on to the next one, rather than retry every minute."""
    delivery = Delivery.objects.filter(pk=pk).first()
    if delivery is None:
        return
    fields = {"last_error": reason, "send_requested_at": None}
    if delivery.is_active and delivery.next_run_at is not None and delivery.next_run_at <= now:
        try:
            _plan(delivery, now)
            fields["next_run_at"] = delivery.next_run_at
        except ValueError:
            fields["is_active"] = False
    Delivery.objects.filter(pk=pk).update(**fields)


def _send_copies(delivery: Delivery, now: dt.datetime) -> tuple[int, list[str]]:
    from rapport.mail.sending import send_email
    from rapport.reports.delivery_mail import compose

    target = delivery.target
    owner = delivery.owner
    if owner is None or not owner.is_active:
        return 0, ["Not sent: whoever scheduled this email is no longer active."]
    mailbox = delivery.mailbox
    if mailbox is None or not mailbox.sends:
        return 0, ["Not sent: its mailbox was disconnected or cannot send; choose another."]
    sent, problems = 0, []
    for recipient in recipients_of(delivery):
        if not can_open(recipient, target):
            problems.append(f"Not sent to {recipient}: they may no longer open it.")
            continue
        try:
            # Each copy is written in its reader's own formats, as their pages are.
            with transaction.atomic(), display.reading_as(recipient.locale):
                email = compose(delivery, recipient, now=now)
                send_email(
                    actor=None,
                    mailbox=mailbox,
                    to=[recipient.email],
                    subject=email.subject,
                    body_html=email.body_html,
                    attachments=email.attachments,
                    track=False,
                    internal=True,
                )
        except ValidationError as exc:
            problems.append(f"Not sent to {recipient}: {' '.join(exc.messages)}")
        except Exception:
            logger.exception(
                "the copy of scheduled email %s for user %s", delivery.pk, recipient.pk
            )
            problems.append(f"Not sent to {recipient}: an error occurred; it is logged.")
        else:
            sent += 1
    if not sent and not problems:
        problems.append("Not sent: nobody it names may receive it any more.")
    return sent, problems
