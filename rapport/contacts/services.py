"""Every write to contacts and organizations. The UI, API, imports and tasks call these.

Each service validates everything before writing anything (a bad field never leaves half a
record), runs in one transaction, writes a ChangeRecord and emits its event after commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain
from rapport.audit.models import ChangeAction
from rapport.audit.services import change_record, record_change, record_changes, snapshot
from rapport.contacts import events, search
from rapport.contacts.choices import (
    ConsentChannel,
    ConsentStatus,
    ContactSource,
    LabelKind,
    LawfulBasis,
    LifecycleStage,
    RelationshipKind,
)
from rapport.contacts.identity import (
    normalize_domain,
    normalize_email,
    normalize_phone,
    phone_search_digits,
)
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
    Tag,
)
from rapport.core.events import emit, emit_many
from rapport.customfields.choices import Entity
from rapport.customfields.services import check_unique, definitions_for
from rapport.customfields.validation import clean_values

CONTACT_FIELDS = [
    "first_name",
    "last_name",
    "job_title",
    "street",
    "city",
    "postcode",
    "region",
    "country",
    "source",
    "source_detail",
    "about",
]
ORGANIZATION_FIELDS = [
    "name",
    "domain",
    "website",
    "industry",
    "size",
    "phone",
    "street",
    "city",
    "postcode",
    "region",
    "country",
    "description",
]
MAX_EMAILS = 10
MAX_PHONES = 10
MAX_TAGS = 50


def _actor_id(actor):
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def _merge_errors(errors: dict, exc: ValidationError, prefix: str = "") -> None:
    if hasattr(exc, "error_dict"):
        for key, items in exc.message_dict.items():
            name = prefix if key == "__all__" and prefix else f"{prefix}{key}" if prefix else key
            errors.setdefault(name, []).extend(items)
    else:
        errors.setdefault(prefix.rstrip(".") or "__all__", []).extend(exc.messages)


def _clean_text_fields(instance, names: Iterable[str], errors: dict) -> None:
    """Model-level checks (length, choices) for the plain fields, collected into `errors`."""
    for name in names:
        field = instance._meta.get_field(name)
        value = getattr(instance, name)
        if isinstance(value, str):
            value = value.strip()
            if "\x00" in value:
                errors.setdefault(name, []).append("Contains a null character.")
                continue
            setattr(instance, name, value)
        try:
            field.clean(value, instance)
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.messages)
    if "country" in names and instance.country:
        country = instance.country.upper()
        if len(country) != 2 or not country.isalpha():
            errors.setdefault("country", []).append("Use a two-letter ISO country code, e.g. DE.")
        instance.country = country


def _clean_emails(raw, errors: dict) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.setdefault("emails", []).append("Must be a list.")
        return []
    if len(raw) > MAX_EMAILS:
        errors.setdefault("emails", []).append(f"At most {MAX_EMAILS} email addresses.")
        return []
    cleaned, seen = [], set()
    for index, item in enumerate(raw):
        if not isinstance(item, str | dict):
            errors.setdefault(f"emails[{index}].email", []).append("Enter a valid email address.")
            continue
        item = {"email": item} if isinstance(item, str) else dict(item)
        try:
            email = normalize_email(item.get("email") or "")
        except ValidationError as exc:
            errors.setdefault(f"emails[{index}].email", []).extend(exc.messages)
            continue
        label = item.get("label") or LabelKind.WORK
        if label not in LabelKind.values:
            errors.setdefault(f"emails[{index}].label", []).append(
                f"Choose one of: {', '.join(LabelKind.values)}."
            )
            continue
        if email in seen:
            continue
        seen.add(email)
        cleaned.append({"email": email, "label": label, "is_primary": bool(item.get("is_primary"))})
    _one_primary(cleaned)
    return cleaned


def _clean_phones(raw, errors: dict, region: str | None) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.setdefault("phones", []).append("Must be a list.")
        return []
    if len(raw) > MAX_PHONES:
        errors.setdefault("phones", []).append(f"At most {MAX_PHONES} phone numbers.")
        return []
    cleaned, seen = [], set()
    for index, item in enumerate(raw):
        if not isinstance(item, str | dict):
            errors.setdefault(f"phones[{index}].number", []).append("Enter a phone number.")
            continue
        item = {"number": item} if isinstance(item, str) else dict(item)
        try:
            number = normalize_phone(item.get("number") or "", region or None)
        except ValidationError as exc:
            errors.setdefault(f"phones[{index}].number", []).extend(exc.messages)
            continue
        label = item.get("label") or LabelKind.WORK
        if label not in LabelKind.values:
            errors.setdefault(f"phones[{index}].label", []).append(
                f"Choose one of: {', '.join(LabelKind.values)}."
            )
            continue
        if number in seen:
            continue
        seen.add(number)
        cleaned.append(
            {"number": number, "label": label, "is_primary": bool(item.get("is_primary"))}
        )
    _one_primary(cleaned)
    return cleaned


def _one_primary(items: list[dict]) -> None:
    if not items:
        return
    primaries = [i for i, item in enumerate(items) if item["is_primary"]]
    keep = primaries[0] if primaries else 0
    for i, item in enumerate(items):
        item["is_primary"] = i == keep


def _clean_tags(raw, errors: dict) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or any(not isinstance(t, str) for t in raw):
        errors.setdefault("tags", []).append("Must be a list of tag names.")
        return None
    names = []
    for name in raw:
        name = " ".join(name.split())
        if not name:
            continue
        if len(name) > 50:
            errors.setdefault("tags", []).append(
                f"Tag {name[:20]!r}… is longer than 50 characters."
            )
            return None
        if name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    if len(names) > MAX_TAGS:
        errors.setdefault("tags", []).append(f"At most {MAX_TAGS} tags.")
        return None
    return names


def ensure_tags(names: list[str]) -> list[Tag]:
    """The Tag rows for `names`, created when new; matched case-insensitively."""
    if not names:
        return []
    # One query for all: a contact's tags were read one name at a time.
    found: dict[str, Tag] = {}
    for tag in (
        Tag.objects.annotate(folded=Lower("name"))
        .filter(folded__in={name.lower() for name in names})
        .order_by("-name", "-pk")
    ):
        found[tag.folded] = tag  # the last written wins: the first by name, as before
    tags = []
    for name in names:
        tag = found.get(name.lower())
        if tag is None:
            tag = found[name.lower()] = Tag.objects.create(name=name)
        tags.append(tag)
    return tags


def _validate_owner(actor, owner, errors: dict, current_owner_id=0) -> None:
    """The one rule for who may be given a record (`access.owner_problem`); keeping the current
    owner is always allowed."""
    if owner is not None and owner.pk == current_owner_id:
        return
    problem = access.owner_problem(actor, owner, Domain.CONTACTS)
    if problem is not None:
        errors.setdefault("owner", []).append(problem)


def contact_search_text(contact: Contact) -> str:
    """The stored contact's search column (`search.contact_search_text`), read back."""
    return search.contact_search_text(
        first_name=contact.first_name,
        last_name=contact.last_name,
        emails=[e.email for e in contact.emails.all()],
        phone_digits=[phone_search_digits(p.number) for p in contact.phones.all()],
        organizations=[
            m.organization.name for m in contact.memberships.select_related("organization")
        ],
    )


def refresh_contact_columns(contact: Contact) -> None:
    """Bring the derived columns lists and search read (search text, primary email and phone)
    in line with the contact's rows, after a service changed them."""
    contact.search_text = contact_search_text(contact)
    primary_email = contact.emails.filter(is_primary=True).values_list("email", flat=True).first()
    primary_phone = contact.phones.filter(is_primary=True).values_list("number", flat=True).first()
    contact.primary_email = primary_email or ""
    contact.primary_phone = primary_phone or ""
    Contact.objects.filter(pk=contact.pk).update(
        search_text=contact.search_text,
        primary_email=contact.primary_email,
        primary_phone=contact.primary_phone,
    )


def _contact_state(contact: Contact, *, like: dict | None = None, reread=None) -> dict:
    """The contact as the audit record keeps it. Given the state before a change (`like`)
    and the names the change touched (`reread`), the related rows it did not touch are taken
    from `like` rather than read again."""
    state = snapshot(contact)
    related = {
        "emails": lambda: [e.email for e in contact.emails.all()],
        "phones": lambda: [p.number for p in contact.phones.all()],
        "tags": lambda: sorted(t.name for t in contact.tags.all()),
        "organizations": lambda: sorted(
            contact.memberships.values_list("organization_id", flat=True)
        ),
    }
    for name, read in related.items():
        if like is not None and name not in reread and name in like:
            state[name] = like[name]
        else:
            state[name] = read()
    return state


def _replace_emails(contact: Contact, emails: list[dict]) -> None:
    contact.emails.all().delete()
    ContactEmail.objects.bulk_create([ContactEmail(contact=contact, **item) for item in emails])


def _replace_phones(contact: Contact, phones: list[dict]) -> None:
    contact.phones.all().delete()
    ContactPhone.objects.bulk_create([ContactPhone(contact=contact, **item) for item in phones])


def _clean_external_ids(raw, errors: dict, exclude_contact=None) -> list[dict] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        errors.setdefault("external_ids", []).append("Must be a list of {system, value}.")
        return None
    cleaned = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            errors.setdefault(f"external_ids[{index}]", []).append("Give {system, value}.")
            continue
        system = str(item.get("system") or "").strip()[:51]
        value = str(item.get("value") or "").strip()[:201]
        if not system or len(system) > 50:
            errors.setdefault(f"external_ids[{index}].system", []).append(
                "Give a system name of at most 50 characters."
            )
            continue
        if not value or len(value) > 200:
            errors.setdefault(f"external_ids[{index}].value", []).append(
                "Give a value of at most 200 characters."
            )
            continue
        clash = ExternalId.objects.filter(system=system, value=value)
        if exclude_contact is not None:
            clash = clash.exclude(contact=exclude_contact)
        if clash.exists():
            errors.setdefault(f"external_ids[{index}].value", []).append(
                "Another contact already has this external id."
            )
            continue
        cleaned.append({"system": system, "value": value})
    return cleaned


def _insert_external_ids(contact: Contact, items: list[dict]) -> None:
    """The unique constraint has the last word: two writes that both passed the check (two
    webhooks for one new customer) cannot both insert, and the loser gets the check's message
    instead of a server error, its own savepoint rolled back."""
    try:
        with transaction.atomic():
            ExternalId.objects.bulk_create([ExternalId(contact=contact, **item) for item in items])
    except IntegrityError as exc:
        raise ValidationError(
            {"external_ids": ["Another contact already has this external id."]}
        ) from exc


@transaction.atomic
def create_contact(
    *,
    actor,
    first_name: str = "",
    last_name: str = "",
    emails: list | None = None,
    phones: list | None = None,
    organization: Organization | None = None,
    organization_role: str = "",
    lifecycle_stage: str = LifecycleStage.LEAD,
    owner=None,
    tags: list[str] | None = None,
    custom_fields: dict | None = None,
    external_ids: list | None = None,
    source: str = ContactSource.MANUAL,
    **fields,
) -> Contact:
    """Create a contact with its emails, phones, membership, tags and custom fields.

    Requires a name, an email or a phone. Sets off ContactCreated and a first LifecycleChange.
    """
    access.require(actor, Action.CREATE, Contact)
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    contact = Contact(source=source, **fields)
    contact.first_name = fields.get("first_name", first_name)
    contact.last_name = fields.get("last_name", last_name)
    contact.lifecycle_stage = lifecycle_stage
    contact.owner = owner
    _clean_text_fields(contact, [*CONTACT_FIELDS, "lifecycle_stage"], errors)
    cleaned_emails = _clean_emails(emails, errors)
    cleaned_phones = _clean_phones(phones, errors, contact.country)
    tag_names = _clean_tags(tags, errors)
    cleaned_ids = _clean_external_ids(external_ids, errors)
    _validate_owner(actor, owner, errors)
    definitions = definitions_for(Entity.CONTACT)
    try:
        contact.custom_fields = clean_values(definitions, custom_fields)
        check_unique(
            queryset=Contact.objects.all(), definitions=definitions, values=contact.custom_fields
        )
    except ValidationError as exc:
        _merge_errors(errors, exc)
    if (
        not (contact.first_name or contact.last_name or cleaned_emails or cleaned_phones)
        and not errors
    ):
        errors["first_name"] = ["Give at least a name, an email address or a phone number."]
    if errors:
        raise ValidationError(errors)

    now = timezone.now()
    contact.lifecycle_changed_at = now
    # A new contact's emails, phones and employer are all in hand: its search and primary
    # columns are set before the first save, in the order the rows read back (primary first,
    # then as given), instead of re-reading what was just written and updating the row again.
    emails_in_order = sorted(cleaned_emails, key=lambda item: not item["is_primary"])
    phones_in_order = sorted(cleaned_phones, key=lambda item: not item["is_primary"])
    contact.primary_email = next((e["email"] for e in emails_in_order if e["is_primary"]), "")
    contact.primary_phone = next((p["number"] for p in phones_in_order if p["is_primary"]), "")
    contact.search_text = search.contact_search_text(
        first_name=contact.first_name,
        last_name=contact.last_name,
        emails=[e["email"] for e in emails_in_order],
        phone_digits=[phone_search_digits(p["number"]) for p in phones_in_order],
        organizations=[organization.name] if organization is not None else [],
    )
    contact.save()
    ContactEmail.objects.bulk_create(
        [ContactEmail(contact=contact, **item) for item in cleaned_emails]
    )
    ContactPhone.objects.bulk_create(
        [ContactPhone(contact=contact, **item) for item in cleaned_phones]
    )
    tag_rows = ensure_tags(tag_names) if tag_names else []
    if tag_rows:
        # A new contact has no tags to replace: `add` spares `set`'s read of the current ones.
        contact.tags.add(*tag_rows)
    if cleaned_ids:
        _insert_external_ids(contact, cleaned_ids)
    if organization is not None:
        Membership.objects.create(
            contact=contact,
            organization=organization,
            role=organization_role[:150],
            is_primary=True,
        )
    LifecycleChange.objects.create(
        contact=contact,
        from_stage="",
        to_stage=contact.lifecycle_stage,
        changed_at=now,
        actor=actor if _actor_id(actor) else None,
        reason="created",
    )
    # The state `_contact_state` would read back, from what was just written.
    state = snapshot(contact)
    state["emails"] = [e["email"] for e in emails_in_order]
    state["phones"] = [p["number"] for p in phones_in_order]
    state["tags"] = sorted({tag.pk: tag.name for tag in tag_rows}.values())
    state["organizations"] = [organization.pk] if organization is not None else []
    record_change(actor=actor, action=ChangeAction.CREATE, instance=contact, after=state)
    emit(events.ContactCreated(contact_id=contact.pk, actor_id=_actor_id(actor), source=source))
    return contact


@transaction.atomic
def update_contact(*, actor, contact: Contact, **changes) -> Contact:
    """Change any of a contact's fields; lists given (emails, phones, tags) replace the old ones.

    `custom_fields` merges into the existing values (a key set to null clears it). A change of
    `lifecycle_stage` goes through `set_lifecycle_stage`, so its history is kept.
    """
    allowed = {
        *CONTACT_FIELDS,
        "emails",
        "phones",
        "tags",
        "owner",
        "custom_fields",
        "lifecycle_stage",
        "external_ids",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    access.require(actor, Action.CHANGE, contact)
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    before = _contact_state(contact)
    errors: dict[str, list[str]] = {}
    for name in CONTACT_FIELDS:
        if name in changes:
            setattr(contact, name, changes[name] if changes[name] is not None else "")
    _clean_text_fields(contact, [n for n in CONTACT_FIELDS if n in changes], errors)
    emails = _clean_emails(changes["emails"], errors) if "emails" in changes else None
    phones = (
        _clean_phones(changes["phones"], errors, contact.country) if "phones" in changes else None
    )
    tag_names = _clean_tags(changes.get("tags"), errors) if "tags" in changes else None
    external_ids = (
        _clean_external_ids(changes["external_ids"], errors, exclude_contact=contact)
        if "external_ids" in changes
        else None
    )
    if "owner" in changes:
        _validate_owner(actor, changes["owner"], errors, contact.owner_id)
        contact.owner = changes["owner"]
    stage = changes.get("lifecycle_stage")
    if stage is not None and stage not in LifecycleStage.values:
        errors["lifecycle_stage"] = [f"Choose one of: {', '.join(LifecycleStage.values)}."]
    if "custom_fields" in changes:
        definitions = definitions_for(Entity.CONTACT)
        try:
            contact.custom_fields = clean_values(
                definitions,
                changes["custom_fields"] or {},
                existing=contact.custom_fields,
                partial=True,
            )
            check_unique(
                queryset=Contact.objects.all(),
                definitions=definitions,
                values=contact.custom_fields,
                exclude_pk=contact.pk,
            )
        except ValidationError as exc:
            _merge_errors(errors, exc)
    if errors:
        raise ValidationError(errors)

    contact.save()
    if emails is not None:
        _replace_emails(contact, emails)
    if phones is not None:
        _replace_phones(contact, phones)
    if tag_names is not None:
        contact.tags.set(ensure_tags(tag_names))
    if external_ids is not None:
        contact.external_ids.all().delete()
        _insert_external_ids(contact, external_ids)
    # The derived columns read names, emails and phones only: a tag, owner or custom field
    # change (most workflow and bulk steps) need not read the rows again.
    if changes.keys() & {"first_name", "last_name", "emails", "phones"}:
        refresh_contact_columns(contact)
    if stage is not None and stage != contact.lifecycle_stage:
        _move_lifecycle(contact=contact, stage=stage, actor=actor, reason="edited")
    after = _contact_state(contact, like=before, reread=changes.keys())
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=contact, before=before, after=after
    )
    changed = tuple(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))
    if changed:
        emit(
            events.ContactUpdated(
                contact_id=contact.pk, actor_id=_actor_id(actor), changed_fields=changed
            )
        )
    return contact


@transaction.atomic
def assign_contacts(
    *, actor, contacts: Iterable[Contact], owner
) -> list[tuple[Contact, int | None]]:
    """Give many contacts to `owner` at once (a bulk action over a list): per contact the same
    access check, owner rule, audit record and ContactUpdated event as
    `update_contact(owner=...)`, written in a handful of statements instead of about fifteen
    each. Refuses the whole batch (PermissionDenied, or a ValidationError on `owner`) when one
    contact may not be changed. Returns (contact, previous owner id) for each contact that
    changed hands; those already `owner`'s are left alone."""
    contacts = list(contacts)
    for contact in contacts:
        access.require(actor, Action.CHANGE, contact)
    errors: dict[str, list[str]] = {}
    _validate_owner(actor, owner, errors)
    if errors:
        raise ValidationError(errors)
    owner_id = owner.pk if owner is not None else None
    current = dict(
        Contact.objects.select_for_update()
        .filter(pk__in=[contact.pk for contact in contacts])
        .values_list("pk", "owner_id")
    )
    moved = [(c, current[c.pk]) for c in contacts if c.pk in current and current[c.pk] != owner_id]
    if not moved:
        return []
    Contact.objects.filter(pk__in=[contact.pk for contact, _ in moved]).update(
        owner_id=owner_id, updated_at=timezone.now()
    )
    for contact, _previous in moved:
        contact.owner = owner
    record_changes(
        change_record(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=contact,
            before={"owner_id": previous},
            after={"owner_id": owner_id},
        )
        for contact, previous in moved
    )
    emit_many(
        events.ContactUpdated(
            contact_id=contact.pk, actor_id=_actor_id(actor), changed_fields=("owner_id",)
        )
        for contact, _previous in moved
    )
    return moved


def _move_lifecycle(*, contact: Contact, stage: str, actor, reason: str) -> None:
    previous = contact.lifecycle_stage
    now = timezone.now()
    contact.lifecycle_stage = stage
    contact.lifecycle_changed_at = now
    Contact.objects.filter(pk=contact.pk).update(lifecycle_stage=stage, lifecycle_changed_at=now)
    LifecycleChange.objects.create(
        contact=contact,
        from_stage=previous,
        to_stage=stage,
        changed_at=now,
        actor=actor if _actor_id(actor) else None,
        reason=reason[:200],
    )
    emit(
        events.LifecycleStageChanged(
            contact_id=contact.pk, actor_id=_actor_id(actor), from_stage=previous, to_stage=stage
        )
    )


@transaction.atomic
def set_lifecycle_stage(*, actor, contact: Contact, stage: str, reason: str = "") -> Contact:
    """Move a contact to `stage`, recording the dated change. Moving to the same stage is a no-op."""
    access.require(actor, Action.CHANGE, contact)
    if stage not in LifecycleStage.values:
        raise ValidationError(
            {"lifecycle_stage": [f"Choose one of: {', '.join(LifecycleStage.values)}."]}
        )
    if stage == contact.lifecycle_stage:
        return contact
    before = {"lifecycle_stage": contact.lifecycle_stage}
    _move_lifecycle(contact=contact, stage=stage, actor=actor, reason=reason)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=contact,
        before=before,
        after={"lifecycle_stage": stage},
        message=reason,
    )
    return contact


@transaction.atomic
def archive_contact(*, actor, contact: Contact) -> Contact:
    """Hide a contact from lists without losing it or its history; `restore_contact` undoes it."""
    access.require(actor, Action.DELETE, contact)
    if contact.is_archived:
        return contact
    contact.is_archived = True
    contact.archived_at = timezone.now()
    Contact.objects.filter(pk=contact.pk).update(is_archived=True, archived_at=contact.archived_at)
    record_change(
        actor=actor,
        action=ChangeAction.ARCHIVE,
        instance=contact,
        before={"is_archived": False},
        after={"is_archived": True},
    )
    emit(events.ContactArchived(contact_id=contact.pk, actor_id=_actor_id(actor)))
    return contact


@transaction.atomic
def restore_contact(*, actor, contact: Contact) -> Contact:
    access.require(actor, Action.DELETE, contact)
    if not contact.is_archived:
        return contact
    contact.is_archived = False
    contact.archived_at = None
    Contact.objects.filter(pk=contact.pk).update(is_archived=False, archived_at=None)
    record_change(
        actor=actor,
        action=ChangeAction.RESTORE,
        instance=contact,
        before={"is_archived": True},
        after={"is_archived": False},
    )
    return contact


@transaction.atomic
def set_consent(
    *, actor, contact: Contact, channel: str, status: str, lawful_basis: str = "", source: str = ""
) -> Consent:
    """Record the contact's current consent on one channel, with its lawful basis and time."""
    access.require(actor, Action.CHANGE, contact)
    errors = {}
    if channel not in ConsentChannel.values:
        errors["channel"] = [f"Choose one of: {', '.join(ConsentChannel.values)}."]
    if status not in ConsentStatus.values:
        errors["status"] = [f"Choose one of: {', '.join(ConsentStatus.values)}."]
    if lawful_basis and lawful_basis not in LawfulBasis.values:
        errors["lawful_basis"] = [f"Choose one of: {', '.join(LawfulBasis.values)}."]
    if status == ConsentStatus.GRANTED and not lawful_basis:
        errors["lawful_basis"] = ["Give the lawful basis for processing."]
    if len(source) > 200:
        errors["source"] = ["Use at most 200 characters."]
    if errors:
        raise ValidationError(errors)
    consent = Consent.objects.filter(contact=contact, channel=channel).first()
    before = snapshot(consent) if consent else {}
    if consent is None:
        consent = Consent(contact=contact, channel=channel)
    consent.status = status
    consent.lawful_basis = lawful_basis
    consent.source = source
    consent.recorded_at = timezone.now()
    consent.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=contact,
        before={f"consent.{channel}": before.get("status")},
        after={f"consent.{channel}": status, "lawful_basis": lawful_basis},
    )
    return consent


@transaction.atomic
def add_membership(
    *, actor, contact: Contact, organization: Organization, role: str = "", is_primary: bool = False
) -> Membership:
    """Link a contact to an organization (updating the role if already linked). The first
    link, or one asked to be, is the primary one."""
    access.require(actor, Action.CHANGE, contact)
    role = (role or "").strip()
    if len(role) > 150:
        raise ValidationError({"role": ["Use at most 150 characters."]})
    membership, _created = Membership.objects.get_or_create(
        contact=contact, organization=organization
    )
    if (
        is_primary
        or not contact.memberships.exclude(pk=membership.pk).filter(is_primary=True).exists()
    ):
        contact.memberships.exclude(pk=membership.pk).update(is_primary=False)
        membership.is_primary = True
    membership.role = role.strip()
    membership.save()
    refresh_contact_columns(contact)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=contact,
        before={},
        after={"organization_added": organization.pk, "role": membership.role},
    )
    return membership


@transaction.atomic
def remove_membership(*, actor, contact: Contact, organization: Organization) -> None:
    access.require(actor, Action.CHANGE, contact)
    deleted, _ = Membership.objects.filter(contact=contact, organization=organization).delete()
    if deleted:
        remaining = contact.memberships.order_by("created_at", "id")
        if not remaining.filter(is_primary=True).exists():
            # A contact with organizations always has one primary: the oldest takes over.
            oldest = remaining.values_list("pk", flat=True).first()
            if oldest is not None:
                Membership.objects.filter(pk=oldest).update(is_primary=True)
        refresh_contact_columns(contact)
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=contact,
            before={"organization_removed": organization.pk},
            after={},
        )


def _org_state(org: Organization) -> dict:
    state = snapshot(org)
    state["tags"] = sorted(t.name for t in org.tags.all())
    return state


def _clean_organization(org: Organization, names, errors: dict) -> None:
    _clean_text_fields(org, names, errors)
    if "domain" in names and org.domain:
        org.domain = normalize_domain(org.domain)
        if "." not in org.domain or " " in org.domain:
            errors.setdefault("domain", []).append("Enter a domain such as example.com.")
    if "phone" in names and org.phone:
        try:
            org.phone = normalize_phone(org.phone, org.country or None)
        except ValidationError as exc:
            errors.setdefault("phone", []).extend(exc.messages)
    if "name" in names and not org.name:
        errors.setdefault("name", []).append("This field is required.")


def _refresh_org_search(org: Organization) -> None:
    org.search_text = search.organization_search_text(name=org.name, domain=org.domain)
    Organization.objects.filter(pk=org.pk).update(search_text=org.search_text)


@transaction.atomic
def create_organization(
    *,
    actor,
    name: str,
    owner=None,
    tags: list[str] | None = None,
    custom_fields: dict | None = None,
    **fields,
) -> Organization:
    """Create an organization. Sets off OrganizationCreated."""
    unknown = set(fields) - set(ORGANIZATION_FIELDS)
    if unknown:
        raise ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    access.require(actor, Action.CREATE, Organization)
    org = Organization(name=name or "", owner=owner, **fields)
    _clean_organization(org, ORGANIZATION_FIELDS, errors)
    tag_names = _clean_tags(tags, errors)
    _validate_owner(actor, owner, errors)
    definitions = definitions_for(Entity.ORGANIZATION)
    try:
        org.custom_fields = clean_values(definitions, custom_fields)
        check_unique(
            queryset=Organization.objects.all(), definitions=definitions, values=org.custom_fields
        )
    except ValidationError as exc:
        _merge_errors(errors, exc)
    if errors:
        raise ValidationError(errors)
    org.save()
    if tag_names:
        org.tags.set(ensure_tags(tag_names))
    _refresh_org_search(org)
    record_change(actor=actor, action=ChangeAction.CREATE, instance=org, after=_org_state(org))
    emit(events.OrganizationCreated(organization_id=org.pk, actor_id=_actor_id(actor)))
    return org


@transaction.atomic
def update_organization(*, actor, organization: Organization, **changes) -> Organization:
    allowed = {*ORGANIZATION_FIELDS, "tags", "owner", "custom_fields"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
    access.require(actor, Action.CHANGE, organization)
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    before = _org_state(org)
    errors: dict[str, list[str]] = {}
    for name in ORGANIZATION_FIELDS:
        if name in changes:
            setattr(org, name, changes[name] if changes[name] is not None else "")
    _clean_organization(org, [n for n in ORGANIZATION_FIELDS if n in changes], errors)
    tag_names = _clean_tags(changes.get("tags"), errors) if "tags" in changes else None
    if "owner" in changes:
        _validate_owner(actor, changes["owner"], errors, org.owner_id)
        org.owner = changes["owner"]
    if "custom_fields" in changes:
        definitions = definitions_for(Entity.ORGANIZATION)
        try:
            org.custom_fields = clean_values(
                definitions,
                changes["custom_fields"] or {},
                existing=org.custom_fields,
                partial=True,
            )
            check_unique(
                queryset=Organization.objects.all(),
                definitions=definitions,
                values=org.custom_fields,
                exclude_pk=org.pk,
            )
        except ValidationError as exc:
            _merge_errors(errors, exc)
    if errors:
        raise ValidationError(errors)
    org.save()
    if tag_names is not None:
        org.tags.set(ensure_tags(tag_names))
    _refresh_org_search(org)
    if "name" in changes and before.get("name") != org.name:
        for contact in Contact.objects.filter(memberships__organization=org):
            refresh_contact_columns(contact)
    after = _org_state(org)
    record_change(actor=actor, action=ChangeAction.UPDATE, instance=org, before=before, after=after)
    changed = tuple(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))
    if changed:
        emit(
            events.OrganizationUpdated(
                organization_id=org.pk, actor_id=_actor_id(actor), changed_fields=changed
            )
        )
    return org


@transaction.atomic
def archive_organization(*, actor, organization: Organization) -> Organization:
    access.require(actor, Action.DELETE, organization)
    if organization.is_archived:
        return organization
    organization.is_archived = True
    organization.archived_at = timezone.now()
    Organization.objects.filter(pk=organization.pk).update(
        is_archived=True, archived_at=organization.archived_at
    )
    record_change(
        actor=actor,
        action=ChangeAction.ARCHIVE,
        instance=organization,
        before={"is_archived": False},
        after={"is_archived": True},
    )
    return organization


@transaction.atomic
def restore_organization(*, actor, organization: Organization) -> Organization:
    access.require(actor, Action.DELETE, organization)
    if not organization.is_archived:
        return organization
    organization.is_archived = False
    organization.archived_at = None
    Organization.objects.filter(pk=organization.pk).update(is_archived=False, archived_at=None)
    record_change(
        actor=actor,
        action=ChangeAction.RESTORE,
        instance=organization,
        before={"is_archived": True},
        after={"is_archived": False},
    )
    return organization


@transaction.atomic
def add_relationship(
    *,
    actor,
    from_organization: Organization,
    to_organization: Organization,
    kind: str,
    note: str = "",
) -> OrganizationRelationship:
    """Tie two organizations (parent / partner / supplier …): the Value Chain's network."""
    access.require(actor, Action.CHANGE, from_organization)
    errors = {}
    if kind not in RelationshipKind.values:
        errors["kind"] = [f"Choose one of: {', '.join(map(str, RelationshipKind.labels))}."]
    if from_organization.pk == to_organization.pk:
        errors["to_organization"] = ["An organization cannot be related to itself."]
    if len(note) > 300:
        errors["note"] = ["Use at most 300 characters."]
    if kind == RelationshipKind.PARENT and not errors:
        _check_parent(from_organization, to_organization, errors)
    if errors:
        raise ValidationError(errors)
    relationship, _ = OrganizationRelationship.objects.get_or_create(
        from_organization=from_organization,
        to_organization=to_organization,
        kind=kind,
        defaults={"note": note},
    )
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=from_organization,
        before={},
        after={"relationship": f"{RelationshipKind(kind).label} {to_organization.name}"},
    )
    return relationship


def _check_parent(parent: Organization, child: Organization, errors: dict) -> None:
    """A company has one parent, and a group never loops back on itself."""
    from rapport.contacts import hierarchy

    current = hierarchy.parent_id(child.pk)
    if current is not None and current != parent.pk:
        name = Organization.objects.filter(pk=current).values_list("name", flat=True).first()
        errors["to_organization"] = [
            f"{child.name} already has a parent company ({name}); remove that link first."
        ]
    elif child.pk in hierarchy.ancestor_ids(parent.pk):
        errors["to_organization"] = [
            f"{child.name} is already above {parent.name} in the group; a group cannot loop."
        ]


@transaction.atomic
def remove_relationship(*, actor, relationship: OrganizationRelationship) -> None:
    org = relationship.from_organization
    access.require(actor, Action.CHANGE, org)
    label = f"{relationship.get_kind_display()} {relationship.to_organization.name}"
    relationship.delete()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=org,
        before={"relationship": label},
        after={},
    )


def touch_contacts(newest: dict) -> None:
    """`touch_contact` for many contacts (contact id → time) in one UPDATE per 300 contacts,
    in plain SQL: Django builds a CASE of hundreds of WHENs slower than one UPDATE each."""
    from django.db import connection

    quote = connection.ops.quote_name
    table = quote(Contact._meta.db_table)
    pk = quote(Contact._meta.pk.column)
    touched = quote(Contact._meta.get_field("last_touched_at").column)
    ids = sorted(newest)
    for start in range(0, len(ids), 300):
        chunk = ids[start : start + 300]
        cases = " ".join(["WHEN %s THEN %s"] * len(chunk))
        times = [
            value
            for contact_id in chunk
            for value in (contact_id, connection.ops.adapt_datetimefield_value(newest[contact_id]))
        ]
        # Only quoted names and placeholders are put into the text.
        sql = (
            f"UPDATE {table} SET {touched} = (CASE {pk} {cases} END) "  # noqa: S608
            f"WHERE {pk} IN ({', '.join(['%s'] * len(chunk))}) "
            f"AND ({touched} IS NULL OR {touched} < (CASE {pk} {cases} END))"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*times, *chunk, *times])


def touch_contact(*, contact_id: int, at) -> None:
    """Keep `last_touched_at` at the newest interaction time (called by interactions)."""
    Contact.objects.filter(pk=contact_id).exclude(last_touched_at__gte=at).update(
        last_touched_at=at
    )


TAG_COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"


@transaction.atomic
def create_tag(*, actor, name: str, color: str = "#64748b") -> Tag:
    """Add a tag (names are unique without regard to case, so an existing one is an error)."""
    access.require_write(actor)
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name or len(name) > 50:
        errors["name"] = ["Give a name of 1 to 50 characters."]
    elif Tag.objects.filter(name__iexact=name).exists():
        errors["name"] = ["A tag with this name already exists."]
    if not re.match(TAG_COLOR_PATTERN, color or ""):
        errors["color"] = ["Give a colour as #rrggbb."]
    if errors:
        raise ValidationError(errors)
    tag = Tag.objects.create(name=name, color=color.lower())
    record_change(actor=actor, action=ChangeAction.CREATE, instance=tag, after=snapshot(tag))
    return tag


def link_external_id(*, actor, contact: Contact, system: str, value: str) -> bool:
    """Record that `contact` is `value` in `system` (a shop's customer id, another CRM's id).

    Idempotent and safe against a concurrent link of the same id: the unique constraint decides,
    inside a savepoint, so two webhooks for one new customer cannot both insert. Returns whether
    a link was added; an id already linked (to this or another contact) is left as it is.
    """
    access.require(actor, Action.CHANGE, contact)
    system, value = (system or "").strip()[:50], (value or "").strip()[:200]
    if not system or not value:
        return False
    if ExternalId.objects.filter(system=system, value=value).exists():
        return False
    try:
        with transaction.atomic():
            ExternalId.objects.create(contact=contact, system=system, value=value)
    except IntegrityError:
        return False
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=contact,
        before={},
        after={"external_ids": [f"{system}: {value}"]},
        message=f"Linked to {system}",
    )
    return True
