"""The contacts app's side of merging two contacts or two organizations.

Merging belongs to data_exchange, a layer above contacts. It moves the contacts app's own rows
of the merged-away record through the services here (`absorb_contact_rows`,
`absorb_organization_rows`), so a merge writes them the way every other write does; and it
registers here how to find the record a merged one lives on in, so the 360° pages can send an
old link (a bookmark, an email, a note) on to the survivor instead of answering 404. Without a
registered lookup an unknown id is simply not found.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.contacts import services
from rapport.contacts.models import (
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    ExternalId,
    LifecycleChange,
    Membership,
    Organization,
    OrganizationRelationship,
)

# "contact" / "organization" → a function from a merged-away id to its survivor's id (or None).
_survivor_lookups: dict[str, Callable[[int], int | None]] = {}


def register_survivor_lookup(entity: str, lookup: Callable[[int], int | None]) -> None:
    """Idempotent: registering again for the same entity replaces the lookup."""
    _survivor_lookups[entity] = lookup


def survivor_id(entity: str, pk: int) -> int | None:
    lookup = _survivor_lookups.get(entity)
    return lookup(pk) if lookup is not None else None


# --- moving a merged record's own rows --------------------------------------------------------


def _ensure_one_primary(model, contact_id: int, preferred: str | None, value_field: str) -> None:
    """One primary row of `model` for the contact: `preferred` when given, else the current
    primary, else the oldest."""
    rows = list(model.objects.filter(contact_id=contact_id).order_by("-is_primary", "id"))
    if not rows:
        return
    keep = next((r for r in rows if preferred and getattr(r, value_field) == preferred), rows[0])
    if keep.is_primary and sum(r.is_primary for r in rows) == 1:
        return
    model.objects.filter(contact_id=contact_id).exclude(pk=keep.pk).update(is_primary=False)
    model.objects.filter(pk=keep.pk).update(is_primary=True)


@transaction.atomic
def absorb_contact_rows(
    *,
    actor,
    survivor: Contact,
    loser: Contact,
    primary_email: str | None = None,
    primary_phone: str | None = None,
) -> dict[str, int]:
    """Give `survivor` the contacts app's rows of `loser`, a merge's step, in a few statements
    whatever their number: emails, phones and external ids (duplicates dropped), memberships
    (an organization both belong to keeps one, with a role), tags, consents (per channel the
    most recent decision wins) and lifecycle history. The survivor keeps one primary email and
    phone (`primary_email` / `primary_phone` when given) and its search and primary columns
    are refreshed. The merge that calls this records the whole as one audited MERGE and sets
    off its event; nothing is emitted here. Returns the counts moved, for the merge record."""
    access.require(actor, Action.CHANGE, survivor)
    access.require(actor, Action.CHANGE, loser)
    moved: dict[str, int] = {}
    duplicates = loser.emails.filter(email__in=survivor.emails.values("email"))
    moved["emails_dropped_as_duplicates"] = duplicates.delete()[0]
    moved["emails"] = loser.emails.update(contact=survivor, is_primary=False)
    _ensure_one_primary(ContactEmail, survivor.pk, primary_email, "email")
    loser.phones.filter(number__in=survivor.phones.values("number")).delete()
    moved["phones"] = loser.phones.update(contact=survivor, is_primary=False)
    _ensure_one_primary(ContactPhone, survivor.pk, primary_phone, "number")
    moved["external_ids"] = ExternalId.objects.filter(contact=loser).update(contact=survivor)

    theirs = {m.organization_id: m for m in survivor.memberships.all()}
    moved["memberships"] = 0
    for membership in list(loser.memberships.all()):
        mine = theirs.get(membership.organization_id)
        if mine is None:
            Membership.objects.filter(pk=membership.pk).update(contact=survivor, is_primary=False)
            moved["memberships"] += 1
            continue
        if not mine.role and membership.role:
            Membership.objects.filter(pk=mine.pk).update(role=membership.role)
        membership.delete()
    memberships = survivor.memberships.all()
    if memberships.exists() and not memberships.filter(is_primary=True).exists():
        first = memberships.order_by("created_at", "id").first()
        Membership.objects.filter(pk=first.pk).update(is_primary=True)

    tags = list(loser.tags.all())
    survivor.tags.add(*tags)
    moved["tags"] = len(tags)

    decided = {c.channel: c for c in survivor.consents.all()}
    moved["consents"] = 0
    for consent in list(loser.consents.all()):
        mine = decided.get(consent.channel)
        if mine is not None and mine.recorded_at >= consent.recorded_at:
            consent.delete()
            continue
        if mine is not None:
            mine.delete()
        Consent.objects.filter(pk=consent.pk).update(contact=survivor)
        moved["consents"] += 1
    moved["lifecycle_changes"] = LifecycleChange.objects.filter(contact=loser).update(
        contact=survivor
    )
    services.refresh_contact_columns(survivor)
    return moved


@transaction.atomic
def absorb_organization_rows(
    *, actor, survivor: Organization, loser: Organization
) -> dict[str, int]:
    """Give `survivor` the contacts app's rows of `loser`, a merge's step: members (a contact
    in both keeps one membership, with a role and primary if either had it), relationships
    (re-pointed; one to the survivor itself or one it already has is dropped) and tags. The
    moved members' search columns name the survivor afterwards. Audited and announced by the
    merge that calls this, as one MERGE. Returns the counts moved."""
    access.require(actor, Action.CHANGE, survivor)
    access.require(actor, Action.CHANGE, loser)
    moved = {"memberships": 0, "relationships": 0}
    members = {m.contact_id: m for m in survivor.memberships.all()}
    touched = []
    for membership in list(loser.memberships.all()):
        touched.append(membership.contact_id)
        mine = members.get(membership.contact_id)
        if mine is None:
            Membership.objects.filter(pk=membership.pk).update(organization=survivor)
            moved["memberships"] += 1
            continue
        updates = {}
        if not mine.role and membership.role:
            updates["role"] = membership.role
        if membership.is_primary and not mine.is_primary:
            updates["is_primary"] = True
        membership.delete()
        if updates:
            Membership.objects.filter(pk=mine.pk).update(**updates)
    for side, other in (
        ("from_organization", "to_organization"),
        ("to_organization", "from_organization"),
    ):
        for relationship in list(OrganizationRelationship.objects.filter(**{side: loser})):
            target = getattr(relationship, f"{other}_id")
            clash = OrganizationRelationship.objects.filter(
                **{side: survivor, f"{other}_id": target, "kind": relationship.kind}
            ).exists()
            if target == survivor.pk or clash:
                relationship.delete()
                continue
            OrganizationRelationship.objects.filter(pk=relationship.pk).update(**{side: survivor})
            moved["relationships"] += 1
    tags = list(loser.tags.all())
    survivor.tags.add(*tags)
    moved["tags"] = len(tags)
    for contact in Contact.objects.filter(pk__in=touched):
        # Only the search text names organizations: the primary columns did not change.
        Contact.objects.filter(pk=contact.pk).update(
            search_text=services.contact_search_text(contact)
        )
    return moved
