"""Logging interactions on the timeline."""

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts.services import touch_contact
from rapport.core.events import emit
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
        membership = (
            contact.memberships.filter(is_primary=True).select_related("organization").first()
        )
        organization = membership.organization if membership else None
    if errors:
        raise ValidationError(errors)
    if external_id:
        existing = Interaction.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing
    interaction = Interaction(
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
    try:
        with transaction.atomic():
            interaction.save()
    except IntegrityError:
        # A concurrent delivery of the same external id won the race: return its entry.
        return Interaction.objects.get(external_id=external_id)
    if contact is not None:
        touch_contact(contact_id=contact.pk, at=occurred_at)
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=interaction,
        after=snapshot(
            interaction, ["kind", "channel", "subject", "outcome", "contact", "organization"]
        ),
    )
    emit(
        InteractionLogged(
            interaction_id=interaction.pk,
            contact_id=getattr(contact, "pk", None),
            organization_id=getattr(organization, "pk", None),
            kind=kind,
            channel=channel,
            direction=direction,
            actor_id=interaction.actor_id,
        )
    )
    return interaction


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
