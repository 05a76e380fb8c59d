"""Webhooks out: subscriptions, the outbox written with the change, and signed delivery.

Guarantees:

- **Written with the change.** `record_deliveries` observes every emitted event inside the
  emitting transaction (`core.events.observe_in_transaction`) and writes one `WebhookDelivery`
  per matching active subscription with one bulk INSERT. A change that rolls back leaves no
  delivery; a committed change always has its deliveries, whatever happens to the queue.
- **Sent at least once, never twice at the same time.** After commit a task sends the rows; a
  periodic sweep (`tasks.sweep_webhooks`) finds any due row whose task was lost. A worker claims
  rows with one conditional UPDATE that sets a lease (`lease_until`, `lease_token`), so two
  workers never send one row at once. A worker killed mid-send leaves its rows leased; when the
  lease runs out they are sent again. The receiver may therefore see a row twice, always with
  the same `webhook-id` header (the row's `event_id`): it de-duplicates on that, as the
  Standard Webhooks spec asks of receivers.
- **Signed** per Standard Webhooks (`standardwebhooks.Webhook(secret).sign`): the headers
  `webhook-id`, `webhook-timestamp` (the attempt's time) and `webhook-signature`.
- **Guarded.** Every request goes through `rapport.core.outbound` (no private addresses, checked
  on the resolved IP and on each redirect; timeouts; a capped response).
  `allow_private=True` is passed only when `settings.RAPPORT_WEBHOOKS_ALLOW_PRIVATE` is true,
  which only the tests set (to deliver to a server they run on 127.0.0.1).
- **Retried** with exponential backoff and jitter (5 s, 5 min, 30 min, 2 h, 5 h, then every
  10 h) for up to three days, then the delivery is dead. A subscription failing for three days,
  or with `DEAD_STREAK_LIMIT` dead deliveries in a row, or answered 410 Gone, is switched off
  with the reason, and its owner is notified.

Subscriptions are administrators' configuration: every service here requires
`Action.ADMINISTER` from a user actor (actor None is the system: the delivery worker).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
import random
import secrets
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks import Webhook

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.automation import catalogue, listening
from rapport.automation.models import (
    SENDABLE,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from rapport.core import display, outbound
from rapport.mail import secrets as stored_secrets

logger = logging.getLogger(__name__)

# Seconds to wait after the n-th failed attempt (the last repeats); about 2.8 days in all.
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000)
MAX_AGE = dt.timedelta(days=3)
DEAD_STREAK_LIMIT = 5
EXCERPT_CHARS = 2000
RESPONSE_CAP = 256 * 1024
SECRET_BYTES = 24
NOTIFICATION_KIND = "webhook_disabled"


# --- settings (all optional; the defaults are what production runs) ---------------------------


def allow_private() -> bool:
    """True only in tests (RAPPORT_WEBHOOKS_ALLOW_PRIVATE), to reach their 127.0.0.1 server."""
    return bool(getattr(settings, "RAPPORT_WEBHOOKS_ALLOW_PRIVATE", False))


def retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "RAPPORT_WEBHOOKS_RETRY_DELAYS", RETRY_DELAYS))


def timeouts() -> outbound.Timeouts:
    return outbound.Timeouts(
        connect=float(getattr(settings, "RAPPORT_WEBHOOKS_CONNECT_TIMEOUT", 5)),
        read=float(getattr(settings, "RAPPORT_WEBHOOKS_READ_TIMEOUT", 10)),
        total=float(getattr(settings, "RAPPORT_WEBHOOKS_TOTAL_DEADLINE", 30)),
    )


def concurrency() -> int:
    """Requests one worker sends at once (I/O-bound: a hanging receiver holds one thread)."""
    return max(1, int(getattr(settings, "RAPPORT_WEBHOOKS_CONCURRENCY", 16)))


def lease_for(count: int) -> dt.timedelta:
    """How long a worker holds `count` claimed rows: the worst case of sending them all (each
    round of `concurrency()` at most the total deadline) plus a margin for the bookkeeping."""
    rounds = math.ceil(max(count, 1) / concurrency())
    return dt.timedelta(seconds=rounds * timeouts().total + 15)


# --- subscriptions ---------------------------------------------------------------------------


def new_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook's address (checked now, on what its name resolves to)."""
    try:
        outbound.check_url(url, allow_private=allow_private())
    except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
        return exc.reason
    if len(url) > 2000:
        return "The URL is longer than 2,000 characters."
    return None


def _clean(name: str, url: str, event_types: Iterable[str]) -> tuple[str, str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the subscription a name."]
    elif len(name) > 120:
        errors["name"] = ["At most 120 characters."]
    url = (url or "").strip()
    problem = url_problem(url)
    if problem:
        errors["url"] = [problem]
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [event for event in chosen if event not in catalogue.BY_NAME]
    if unknown:
        errors["event_types"] = [
            f"Unknown event type: {', '.join(map(str, unknown))}. Known: "
            f"{', '.join(catalogue.names())}."
        ]
    elif not chosen:
        errors["event_types"] = ["Pick at least one event."]
    if errors:
        raise ValidationError(errors)
    return name, url, chosen


def _state(subscription: WebhookSubscription) -> dict:
    return {
        "name": subscription.name,
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "owner": subscription.owner_id,
        "is_active": subscription.is_active,
        "disabled_reason": subscription.disabled_reason,
    }


@transaction.atomic
def create_subscription(
    *,
    actor,
    name: str,
    url: str,
    event_types: Iterable[str],
    owner=None,
) -> tuple[WebhookSubscription, str]:
    """Subscribe `url` to `event_types`; returns the subscription and its secret, which is
    shown this once (only its last 4 characters are kept readable)."""
    access.require(actor, access.Action.ADMINISTER)
    name, url, event_types = _clean(name, url, event_types)
    secret = new_secret()
    subscription = WebhookSubscription.objects.create(
        name=name,
        url=url,
        event_types=event_types,
        secret_encrypted=stored_secrets.encrypt(secret),
        secret_hint=secret[-4:],
        owner=owner if owner is not None else actor,
        created_by=actor,
    )
    record_change(
        actor=actor, action=ChangeAction.CREATE, instance=subscription, after=_state(subscription)
    )
    return subscription, secret


@transaction.atomic
def update_subscription(
    *,
    actor,
    subscription: WebhookSubscription,
    name: str | None = None,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    owner=None,
    is_active: bool | None = None,
) -> WebhookSubscription:
    """Change what is given (None leaves a field). Switching a subscription back on clears
    the reason it was switched off and its failure count; deliveries still waiting resume."""
    access.require(actor, access.Action.ADMINISTER)
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    before = _state(subscription)
    name, url, event_types = _clean(
        subscription.name if name is None else name,
        subscription.url if url is None else url,
        subscription.event_types if event_types is None else event_types,
    )
    subscription.name, subscription.url, subscription.event_types = name, url, event_types
    if owner is not None:
        subscription.owner = owner
    if is_active is not None and is_active != subscription.is_active:
        subscription.is_active = is_active
        if is_active:
            subscription.disabled_reason = ""
            subscription.disabled_at = None
            subscription.failure_streak = 0
            subscription.failing_since = None
        else:
            subscription.disabled_reason = "Switched off by an administrator."
            subscription.disabled_at = timezone.now()
    subscription.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=subscription,
        before=before,
        after=_state(subscription),
    )
    return subscription


@transaction.atomic
def rotate_secret(*, actor, subscription: WebhookSubscription) -> tuple[WebhookSubscription, str]:
    """A new secret for the subscription (shown once); the old one stops signing at once."""
    access.require(actor, access.Action.ADMINISTER)
    secret = new_secret()
    subscription.secret_encrypted = stored_secrets.encrypt(secret)
    subscription.secret_hint = secret[-4:]
    subscription.save(update_fields=["secret_encrypted", "secret_hint", "updated_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=subscription,
        message="The signing secret was replaced.",
    )
    return subscription, secret


@transaction.atomic
def delete_subscription(*, actor, subscription: WebhookSubscription) -> None:
    """Delete the subscription with its deliveries (waiting ones are not sent)."""
    access.require(actor, access.Action.ADMINISTER)
    record_change(
        actor=actor, action=ChangeAction.DELETE, instance=subscription, before=_state(subscription)
    )
    subscription.delete()


# --- the outbox ------------------------------------------------------------------------------


def event_payload(event_type: str, data: dict, *, at: dt.datetime) -> dict:
    """The JSON body receivers get: Standard Webhooks' recommended {type, timestamp, data}."""
    return {"type": event_type, "timestamp": at.isoformat(), "data": data}


def record_deliveries(events: list) -> list[WebhookDelivery]:
    """The in-transaction observer: one delivery row per event and matching active
    subscription, written now (in the emitting transaction); sent after commit."""
    named = [(catalogue.name_of(event), event) for event in events]
    named = [(name, event) for name, event in named if name is not None]
    if not named:
        return []
    wanted = {name for name, _event in named}
    if not listening.webhook_events.any_of(wanted):
        return []
    subscriptions = [
        (pk, set(types))
        for pk, types in WebhookSubscription.objects.active().values_list("pk", "event_types")
        if wanted.intersection(types or ())
    ]
    if not subscriptions:
        return []
    now = timezone.now()
    rows = []
    for name, event in named:
        payload = event_payload(name, json.loads(json.dumps(asdict(event), default=str)), at=now)
        for pk, types in subscriptions:
            if name in types:
                rows.append(
                    WebhookDelivery(
                        subscription_id=pk,
                        event_id=uuid.uuid4(),
                        event_type=name,
                        payload=payload,
                        next_attempt_at=now,
                    )
                )
    created = WebhookDelivery.objects.bulk_create(rows, batch_size=500)
    ids = [row.pk for row in created if row.pk is not None]
    transaction.on_commit(lambda: queue_sending(ids))
    return created


def queue_sending(delivery_ids: list[int]) -> None:
    """Queue tasks to send these rows (in chunks). If queuing fails the rows still wait: the
    sweep sends them."""
    from rapport.automation import tasks

    chunk = 500
    for start in range(0, len(delivery_ids), chunk):
        try:
            tasks.deliver_webhooks.enqueue(delivery_ids=delivery_ids[start : start + chunk])
        except Exception:
            logger.exception("could not queue webhook deliveries; the sweep will send them")
            return


@transaction.atomic
def send_test_event(*, actor, subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a `webhook.test` delivery to this subscription only (even when switched off, so
    an administrator can check a receiver before switching it back on)."""
    access.require(actor, access.Action.ADMINISTER)
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event_type=catalogue.TEST_EVENT,
        payload=event_payload(
            catalogue.TEST_EVENT,
            {"subscription": subscription.name, "sent_by": str(actor) if actor else None},
            at=now,
        ),
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: queue_sending([delivery.pk]))
    return delivery


@transaction.atomic
def replay_delivery(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the delivery again, as it was (same `webhook-id`, so a receiver that already has
    it can tell); its attempts start over. Refused while a worker holds it."""
    access.require(actor, access.Action.ADMINISTER)
    now = timezone.now()
    updated = (
        WebhookDelivery.objects.filter(pk=delivery.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            error="",
            replayed_at=now,
            replayed_by=actor,
            lease_token="",
            lease_until=None,
        )
    )
    if not updated:
        raise ValidationError(
            {"delivery": ["This delivery is being sent right now; replay it when it is done."]}
        )
    delivery.refresh_from_db()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=delivery.subscription,
        message=f"Delivery {delivery.event_id} ({delivery.event_type}) replayed.",
    )
    transaction.on_commit(lambda: queue_sending([delivery.pk]))
    return delivery


# --- sending ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: int | None = None
    excerpt: str = ""
    error: str = ""
    gone: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_request(
    delivery: WebhookDelivery, secret: str, *, at: dt.datetime
) -> tuple[bytes, dict]:
    """The body and headers of one attempt, signed for `at` (the webhook-timestamp)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    msg_id = str(delivery.event_id)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": signature,
    }
    return body, headers


def _post(url: str, body: bytes, headers: dict) -> Outcome:
    """One attempt over the guarded client (runs in a sending thread: no database here)."""
    try:
        response = outbound.send(
            "POST",
            url,
            headers=headers,
            body=body,
            timeouts=timeouts(),
            max_bytes=RESPONSE_CAP,
            allow_private=allow_private(),
        )
    except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
        return Outcome(error=exc.reason[:500])
    excerpt = response.body[:EXCERPT_CHARS].decode("utf-8", errors="replace")
    if response.truncated or len(response.body) > EXCERPT_CHARS:
        excerpt += "…"
    outcome = Outcome(status=response.status, excerpt=excerpt)
    if not outcome.ok:
        outcome.error = f"The receiver answered {response.status}."
        outcome.gone = response.status == 410
    return outcome


def claim(delivery_ids: Iterable[int] | None = None, *, now=None, limit: int = 200) -> list:
    """Claim due deliveries for this worker: the given ones, or any due. One conditional
    UPDATE takes them (status sendable, due, not leased, subscription active), so of two
    workers each row goes to one. Returns the claimed rows with their subscriptions."""
    now = now or timezone.now()
    # Plain column conditions only: on PostgreSQL a concurrent UPDATE re-checks the WHERE of
    # the row it waited for, which a join (a subquery) would escape.
    active = list(WebhookSubscription.objects.active().values_list("pk", flat=True))
    if not active:
        return []
    due = WebhookDelivery.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        status__in=SENDABLE,
        next_attempt_at__lte=now,
        subscription_id__in=active,
    )
    if delivery_ids is not None:
        candidates = list(due.filter(pk__in=list(delivery_ids)).values_list("pk", flat=True))
    else:
        candidates = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    # Test events go to switched-off subscriptions too.
    if delivery_ids is not None:
        candidates += list(
            WebhookDelivery.objects.filter(
                Q(lease_until__isnull=True) | Q(lease_until__lt=now),
                pk__in=list(delivery_ids),
                event_type=catalogue.TEST_EVENT,
                status__in=SENDABLE,
            )
            .exclude(pk__in=candidates)
            .values_list("pk", flat=True)
        )
    if not candidates:
        return []
    token = uuid.uuid4().hex
    WebhookDelivery.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        pk__in=candidates,
        status__in=SENDABLE,
    ).update(
        lease_until=now + lease_for(len(candidates)),
        lease_token=token,
        attempts=F("attempts") + 1,
        last_attempt_at=now,
    )
    return list(WebhookDelivery.objects.filter(lease_token=token).select_related("subscription"))


def deliver(delivery_ids: Iterable[int] | None = None, *, limit: int = 200) -> dict[str, int]:
    """Send deliveries — these, or up to `limit` due ones — keeping `concurrency()` requests
    in flight: rows are claimed a few at a time as requests finish (each claim leased for one
    request's worst case), and each outcome is recorded as soon as it is known, so a worker
    killed mid-run leaves at most the requests in flight sent but unrecorded (the ones a
    receiver may see twice). Safe to run twice: a claimed or finished row is not taken again.
    """
    wanted = list(dict.fromkeys(delivery_ids)) if delivery_ids is not None else None
    budget = len(wanted) if wanted is not None else limit
    width = concurrency()
    counts = {"claimed": 0, "delivered": 0, "failed": 0, "dead": 0}
    secrets_by_subscription: dict[int, str | None] = {}
    health: dict[int, Health] = {}
    in_flight: dict = {}
    exhausted = False
    with ThreadPoolExecutor(max_workers=width) as pool:
        while True:
            room = min(width - len(in_flight), budget - counts["claimed"])
            # Claim when a quarter of the lanes are free (fewer, larger claims), or when idle.
            if not exhausted and room > 0 and (room >= max(1, width // 4) or not in_flight):
                if wanted is not None:
                    chunk, wanted = wanted[:room], wanted[room:]
                    claimed = claim(chunk) if chunk else []
                    exhausted = not wanted
                else:
                    claimed = claim(None, limit=room)
                    exhausted = not claimed
                counts["claimed"] += len(claimed)
                for delivery in claimed:
                    request = _signed_for(delivery, secrets_by_subscription)
                    if request is None:
                        unreadable = Outcome(
                            error="The signing secret cannot be read with this server's key; "
                            "rotate the secret."
                        )
                        status = record_outcome(delivery, unreadable)
                        _tally(health, delivery, unreadable, status, counts)
                        continue
                    in_flight[pool.submit(_post, *request)] = delivery
            if not in_flight:
                if exhausted or room <= 0:
                    break
                continue
            done, _running = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                delivery = in_flight.pop(future)
                outcome = future.result()
                status = record_outcome(delivery, outcome)
                _tally(health, delivery, outcome, status, counts)
    for subscription_id, tally in health.items():
        update_health(subscription_id, tally)
    return counts


def _signed_for(delivery: WebhookDelivery, cache: dict) -> tuple[str, bytes, dict] | None:
    """(url, body, headers) of the delivery's next attempt; None when its secret is unreadable."""
    subscription = delivery.subscription
    if subscription.pk not in cache:
        try:
            cache[subscription.pk] = stored_secrets.decrypt(subscription.secret_encrypted)
        except stored_secrets.SecretUnreadable:
            cache[subscription.pk] = None
    secret = cache[subscription.pk]
    if secret is None:
        return None
    body, headers = signed_request(delivery, secret, at=timezone.now())
    return subscription.url, body, headers


@dataclass
class Health:
    """What one batch learned about a subscription's receiver."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    gone: bool = False


def _tally(health, delivery, outcome: Outcome, status: str | None, counts: dict) -> None:
    if status is None:
        return
    counts[status] += 1
    if delivery.event_type == catalogue.TEST_EVENT:
        return  # a test event says nothing about the subscription's events
    tally = health.setdefault(delivery.subscription_id, Health())
    if status == DeliveryStatus.DELIVERED:
        tally.delivered += 1
    else:
        tally.failed += 1
        tally.dead += status == DeliveryStatus.DEAD
        tally.gone = tally.gone or outcome.gone


def next_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones, ±20 % jitter so the
    retries of one outage do not all arrive at the same moment."""
    delays = retry_delays()
    base = delays[min(attempts, len(delays)) - 1]
    return base * random.uniform(0.8, 1.2)


def record_outcome(delivery: WebhookDelivery, outcome: Outcome) -> str | None:
    """Write what one attempt came to, if the row is still this worker's (its lease token);
    returns the new status, or None when the lease was lost to another worker."""
    now = timezone.now()
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, lease_token=delivery.lease_token)
    common = {
        "response_status": outcome.status,
        "response_excerpt": outcome.excerpt,
        "lease_until": None,
        "lease_token": "",
    }
    if outcome.ok:
        if not mine.update(status=DeliveryStatus.DELIVERED, delivered_at=now, error="", **common):
            return None
        return DeliveryStatus.DELIVERED
    is_test = delivery.event_type == catalogue.TEST_EVENT
    exhausted = delivery.attempts > len(retry_delays()) or now - delivery.created_at >= MAX_AGE
    if outcome.gone or exhausted or is_test:
        status, next_at = DeliveryStatus.DEAD, delivery.next_attempt_at
    else:
        status = DeliveryStatus.FAILED
        next_at = now + dt.timedelta(seconds=next_delay(delivery.attempts))
    if not mine.update(status=status, next_attempt_at=next_at, error=outcome.error, **common):
        return None
    return status


def update_health(subscription_id: int, tally: Health, *, now=None) -> None:
    """Fold one batch's outcomes into the subscription: any delivery clears the failure
    count (the receiver is alive); otherwise the failure run and the dead streak grow, and
    a subscription failing for three days, `DEAD_STREAK_LIMIT` dead in a row, or answered
    410 Gone is switched off."""
    now = now or timezone.now()
    subscriptions = WebhookSubscription.objects.filter(pk=subscription_id)
    if tally.delivered:
        subscriptions.update(failing_since=None, failure_streak=0, last_success_at=now)
        if not tally.gone:
            return
    else:
        subscriptions.filter(failing_since__isnull=True).update(failing_since=now)
        if tally.dead:
            subscriptions.update(failure_streak=F("failure_streak") + tally.dead)
    current = subscriptions.first()
    if current is None or not current.is_active:
        return
    if tally.gone:
        reason = "The receiver answered 410 Gone: it no longer accepts these webhooks."
    elif current.failing_since and now - current.failing_since >= MAX_AGE:
        # Stored once and read later by whoever owns it, so it names its zone.
        since = display.moment_text(current.failing_since, "dated", zone=dt.UTC)
        reason = f"Every delivery has failed since {since} UTC (three days)."
    elif current.failure_streak >= DEAD_STREAK_LIMIT:
        reason = f"{current.failure_streak} deliveries in a row were given up after every retry."
    else:
        return
    disable_subscription(subscription=current, reason=reason, now=now)


def disable_subscription(*, subscription: WebhookSubscription, reason: str, now=None) -> bool:
    """Switch a failing subscription off (the system's decision) and tell its owner; False
    when it was off already. Its waiting deliveries stay and resume if it is switched on."""
    now = now or timezone.now()
    with transaction.atomic():
        switched = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
            is_active=False, disabled_reason=reason[:300], disabled_at=now
        )
        if not switched:
            return False
        subscription.refresh_from_db()
        record_change(
            actor=None,
            action=ChangeAction.UPDATE,
            instance=subscription,
            before={"is_active": True},
            after={"is_active": False, "disabled_reason": subscription.disabled_reason},
            message="Switched off after failing deliveries.",
        )
        _notify_owner(subscription)
    return True


def _notify_owner(subscription: WebhookSubscription) -> None:
    from django.urls import NoReverseMatch

    from rapport.sales.services.work import notify

    recipient = subscription.owner or subscription.created_by
    try:
        url = subscription.get_absolute_url()
    except NoReverseMatch:
        url = ""
    notify(
        recipient=recipient,
        kind=NOTIFICATION_KIND,
        title=f"Webhook “{subscription.name}” was switched off",
        body=subscription.disabled_reason,
        url=url,
        dedupe_key=f"webhook-off:{subscription.pk}:{subscription.disabled_at:%Y%m%d%H%M%S}",
    )


def due_count(now=None) -> int:
    now = now or timezone.now()
    return WebhookDelivery.objects.filter(status__in=SENDABLE, next_attempt_at__lte=now).count()
