"""Logging interactions on the timeline."""

import datetime as dt
import inspect

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import change_record, record_change, record_changes, snapshot
from rapport.contacts.services import touch_contact, touch_contacts
from rapport.core.events import emit, emit_many
from rapport.interactions.choices import (
    DEFAULT_CHANNEL,
    OUTCOMES,
    Channel,
    Direction,
    InteractionKind,
)
from rapport.interactions.events import InteractionLogged
from rapport.interactions.models import Interaction

BODY_LIMIT = 50_000


def _choice_error(values) -> list[str]:
    return [f"Choose one of: {', '.join(values)}."]


def _checked_interaction(
    *,
    actor,
    kind: str,
    contact=None,
    organization=None,
    occurred_at: dt.datetime | None = None,
    channel: str = "",
    direction: str = "",
    subject: str = "",
    body: str = "",
    outcome: str = "",
    duration_minutes: int | None = None,
    external_id: str | None = None,
    employers: dict | None = None,
) -> Interaction:
    """The entry `log_interaction` writes, checked and not yet saved; raises PermissionDenied or
    a ValidationError naming each bad field. `employers` (contact id → primary organization)
    lets a batch look each contact's employer up once instead of once per entry."""
    # Logging on a timeline changes the record it is about: the actor must be able to write it.
    access.require(actor, Action.CREATE, Interaction)
    for subject_record in (contact, organization):
        if subject_record is not None:
            access.require(actor, Action.CHANGE, subject_record)
    errors: dict[str, list[str]] = {}
    if kind not in InteractionKind.values:
        errors["kind"] = _choice_error(InteractionKind.values)
    channel = channel or DEFAULT_CHANNEL.get(kind, Channel.INTERNAL)
    if channel not in Channel.values:
        errors["channel"] = _choice_error(Channel.values)
    direction = direction or (
        Direction.INTERNAL if kind == InteractionKind.NOTE else Direction.OUTBOUND
    )
    if direction not in Direction.values:
        errors["direction"] = _choice_error(Direction.values)
    if contact is None and organization is None:
        errors["contact"] = ["Link the interaction to a contact or an organization."]
    subject = (subject or "").strip()
    if len(subject) > 200:
        errors["subject"] = [f"Use at most 200 characters (it has {len(subject)})."]
    if len(body or "") > BODY_LIMIT:
        errors["body"] = [f"Use at most {BODY_LIMIT} characters."]
    elif kind == InteractionKind.NOTE and not subject and not (body or "").strip():
        # A call or meeting is worth logging with only its outcome; a note is only its text.
        errors["body"] = ["Write the note: it is empty."]
    if "\x00" in subject or "\x00" in (body or ""):
        errors.setdefault("body", []).append("Contains a null character.")
    if outcome:
        allowed = OUTCOMES.get(kind)
        if allowed is not None and outcome not in allowed:
            errors["outcome"] = _choice_error(allowed)
        elif len(outcome) > 30:
            errors["outcome"] = ["Use at most 30 characters."]
    if duration_minutes is not None and (
        isinstance(duration_minutes, bool)
        or not isinstance(duration_minutes, int)
        or not 0 <= duration_minutes <= 24 * 60
    ):
        errors["duration_minutes"] = ["Give whole minutes between 0 and 1440."]
    if external_id is not None and len(external_id) > 200:
        errors["external_id"] = ["Use at most 200 characters."]
    occurred_at = occurred_at or timezone.now()
    if timezone.is_naive(occurred_at):
        errors["occurred_at"] = ["Give a time zone with the time."]
    elif occurred_at > timezone.now() + dt.timedelta(days=366):
        errors["occurred_at"] = ["Must not be more than a year in the future."]
    if organization is None and contact is not None:
        if employers is not None and contact.pk in employers:
            organization = employers[contact.pk]
        else:
            membership = (
                contact.memberships.filter(is_primary=True).select_related("organization").first()
            )
            organization = membership.organization if membership else None
            if employers is not None:
                employers[contact.pk] = organization
    if errors:
        raise ValidationError(errors)
    return Interaction(
        kind=kind,
        channel=channel,
        direction=direction,
        occurred_at=occurred_at,
        duration_minutes=duration_minutes,
        subject=subject,
        body=body or "",
        outcome=outcome,
        contact=contact,
        organization=organization,
        external_id=external_id or None,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _primary_employers(entries) -> dict:
    """Contact id → primary organization (or None) of every contact an entry names without an
    organization, in one query per 900 contacts: what `_checked_interaction` would otherwise
    look up once per contact."""
    from rapport.contacts.models import Membership

    wanted = {
        entry["contact"].pk
        for entry in entries
        if isinstance(entry, dict)
        and entry.get("organization") is None
        and getattr(entry.get("contact"), "pk", None) is not None
    }
    employers: dict = {}
    ordering = Membership._meta.ordering or ["pk"]
    ids = sorted(wanted)
    for start in range(0, len(ids), 900):
        for membership in (
            Membership.objects.filter(contact_id__in=ids[start : start + 900], is_primary=True)
            .select_related("organization")
            .order_by(*ordering, "pk")
        ):
            employers.setdefault(membership.contact_id, membership.organization)
    for pk in ids:
        employers.setdefault(pk, None)
    return employers


def _logged_record(actor, interaction: Interaction):
    return change_record(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=interaction,
        after=snapshot(
            interaction, ["kind", "channel", "subject", "outcome", "contact", "organization"]
        ),
    )


def _logged_event(interaction: Interaction) -> InteractionLogged:
    return InteractionLogged(
        interaction_id=interaction.pk,
        contact_id=interaction.contact_id,
        organization_id=interaction.organization_id,
        kind=interaction.kind,
        channel=interaction.channel,
        direction=interaction.direction,
        actor_id=interaction.actor_id,
    )


@transaction.atomic
def log_interaction(
    *,
    actor,
    kind: str,
    contact=None,
    organization=None,
    occurred_at: dt.datetime | None = None,
    channel: str = "",
    direction: str = "",
    subject: str = "",
    body: str = "",
    outcome: str = "",
    duration_minutes: int | None = None,
    external_id: str | None = None,
) -> Interaction:
    """Put an interaction on the timeline of a contact and/or organization.

    Text is stored as given and escaped when shown. A repeated `external_id` returns the entry
    already logged instead of a second one. Sets off InteractionLogged.
    """
    interaction = _checked_interaction(
        actor=actor,
        kind=kind,
        contact=contact,
        organization=organization,
        occurred_at=occurred_at,
        channel=channel,
        direction=direction,
        subject=subject,
        body=body,
        outcome=outcome,
        duration_minutes=duration_minutes,
        external_id=external_id,
    )
    if interaction.external_id:
        existing = Interaction.objects.filter(external_id=interaction.external_id).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            interaction.save()
    except IntegrityError:
        # A concurrent delivery of the same external id won the race: return its entry.
        return Interaction.objects.get(external_id=external_id)
    if interaction.contact_id is not None:
        touch_contact(contact_id=interaction.contact_id, at=interaction.occurred_at)
    _logged_record(actor, interaction).save(force_insert=True)
    emit(_logged_event(interaction))
    return interaction


_ENTRY_FIELDS = frozenset(inspect.signature(log_interaction).parameters)


@transaction.atomic
def log_interactions(*, entries: list[dict]) -> list[Interaction]:
    """Put many interactions on timelines at once: a contact's history, an import, a mailbox sync.

    Each entry holds the keyword arguments of `log_interaction` (its own `actor` included) and
    gets exactly its checks, audit record, InteractionLogged event and `last_touched_at` update;
    only the writes are grouped (one insert for the entries, one for their audit records, one
    touch per contact). Every entry is checked before anything is written: a bad one raises a
    ValidationError naming `entries[i].<field>` and logs none. A repeated `external_id` (already
    stored, or earlier in the batch) returns that entry instead of a second one. Returns the
    entries in the order given.
    """
    errors: dict[str, list[str]] = {}
    checked: list[Interaction] = []
    employers = _primary_employers(entries)
    for index, entry in enumerate(entries):
        unknown = set(entry) - _ENTRY_FIELDS
        if unknown or "actor" not in entry or "kind" not in entry:
            errors[f"entries[{index}]"] = [
                f"Give {', '.join(sorted(_ENTRY_FIELDS))} only (with actor and kind)."
            ]
            continue
        try:
            checked.append(_checked_interaction(**entry, employers=employers))
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(f"entries[{index}].{name}", []).extend(messages)
    if errors:
        raise ValidationError(errors)
    wanted = {i.external_id for i in checked if i.external_id}
    known = (
        {i.external_id: i for i in Interaction.objects.filter(external_id__in=wanted)}
        if wanted
        else {}
    )
    logged, new, actors = [], [], []
    for interaction, entry in zip(checked, entries, strict=True):
        if interaction.external_id and interaction.external_id in known:
            logged.append(known[interaction.external_id])
            continue
        if interaction.external_id:
            known[interaction.external_id] = interaction
        logged.append(interaction)
        new.append(interaction)
        actors.append(entry["actor"])
    try:
        with transaction.atomic():
            Interaction.objects.bulk_create(new)
    except IntegrityError:
        # A concurrent delivery of one of these external ids won the race: log the entries one
        # by one, each returning the entry that won, as single calls would have.
        return [log_interaction(**entry) for entry in entries]
    # `touch_contact` keeps the newest time, so one touch with each contact's newest entry
    # leaves the same `last_touched_at` as one touch per entry.
    newest: dict[int, dt.datetime] = {}
    for interaction in new:
        if interaction.contact_id is not None:
            at = newest.get(interaction.contact_id)
            newest[interaction.contact_id] = (
                max(at, interaction.occurred_at) if at else (interaction.occurred_at)
            )
    touch_contacts(newest)
    record_changes(
        _logged_record(actor, interaction) for actor, interaction in zip(actors, new, strict=True)
    )
    # One delivery for the batch: a subscriber that takes many reacts to it in one go.
    emit_many([_logged_event(interaction) for interaction in new])
    return logged


def may_delete(actor, interaction: Interaction) -> bool:
    """Whoever logged it, the owner of the record it is about, or an administrator (and only
    within the actor's access) may remove an entry; the system always may."""
    if not access.can(actor, Action.DELETE, interaction):
        return False
    if actor is None or actor.is_administrator or interaction.actor_id == actor.pk:
        return True
    return actor.pk in access.rule_for(interaction).owners(interaction)


@transaction.atomic
def delete_interaction(*, actor, interaction: Interaction) -> None:
    """Remove a timeline entry logged by mistake; the audit record keeps what it said."""
    access.require(actor, Action.DELETE, interaction)
    if not may_delete(actor, interaction):
        raise PermissionDenied(
            "Only whoever logged it, the record's owner or an administrator may remove it."
        )
    before = snapshot(interaction, ["kind", "channel", "subject", "body", "outcome", "contact"])
    record_change(actor=actor, action=ChangeAction.DELETE, instance=interaction, before=before)
    interaction.delete()


def set_delivery_outcome(*, external_ids, outcome: str) -> int:
    """The system's update of entries a channel put on the timeline, as their delivery moves on
    (an email's "sending" becomes "sent" or "failed"). No audit record: it is the channel's
    state, not a person's change; the channel keeps the detail. Exact ids, so the unique index
    finds them (a prefix would scan the whole table on PostgreSQL)."""
    external_ids = [value for value in external_ids if value]
    if not external_ids:
        return 0
    return Interaction.objects.filter(external_id__in=external_ids).update(outcome=outcome[:30])
