"""Writes of the identity side: matching rules, duplicate decisions, merges, aliases, presets.

Every service here is keyword-only with an explicit actor, runs in one transaction, leaves a
ChangeRecord and emits its event after commit. Imports have their own services in
`importing.jobs`; the quality snapshot is `quality.take_snapshot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import can_administer
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts import merges
from rapport.contacts import services as contact_services
from rapport.contacts.identity import normalize_domain, normalize_email, normalize_phone
from rapport.contacts.models import (
    Contact,
    ContactEmail,
    ContactPhone,
    ExternalId,
    LifecycleChange,
    Organization,
    OrganizationRelationship,
)
from rapport.core import registry
from rapport.core.events import emit
from rapport.customfields.choices import Entity as CustomFieldEntity
from rapport.customfields.services import definitions_for
from rapport.data_exchange import dedupe, events
from rapport.data_exchange.choices import AliasKind, DuplicateStatus, Entity
from rapport.data_exchange.matching import (
    DEFAULT_IMPORT_MATCH_THRESHOLD,
    DEFAULT_REVIEW_THRESHOLD,
    DEFAULT_RULES,
)
from rapport.data_exchange.models import (
    ContactDuplicate,
    IdentityAlias,
    MappingPreset,
    MatchingPolicy,
    MatchingRule,
    MergeRecord,
    OrganizationDuplicate,
)
from rapport.interactions.models import Interaction

SURVIVOR = "survivor"
LOSER = "loser"

CONTACT_MERGE_FIELDS = [
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("job_title", "Job title"),
    ("lifecycle_stage", "Lifecycle stage"),
    ("owner", "Owner"),
    ("street", "Street"),
    ("city", "City"),
    ("postcode", "Postcode"),
    ("region", "Region"),
    ("country", "Country"),
    ("source", "Source"),
    ("source_detail", "Source detail"),
    ("about", "About"),
]
ORGANIZATION_MERGE_FIELDS = [
    ("name", "Name"),
    ("domain", "Domain"),
    ("website", "Website"),
    ("industry", "Industry"),
    ("size", "Size"),
    ("phone", "Phone"),
    ("owner", "Owner"),
    ("street", "Street"),
    ("city", "City"),
    ("postcode", "Postcode"),
    ("region", "Region"),
    ("country", "Country"),
    ("description", "Description"),
]


def _actor_id(actor):
    return actor.pk if getattr(actor, "is_authenticated", False) else None


# --- matching rules ---------------------------------------------------------------------------


@transaction.atomic
def set_matching_rules(
    *,
    actor,
    entity: str,
    rules: list[dict],
    review_threshold: float,
    import_match_threshold: float,
) -> list[MatchingRule]:
    """Replace the matching rules of `entity` (administrators only).

    Each rule is {field, method, weight, threshold, conflict, is_active}. Suspected pairs already found
    keep their score until the next scan.
    """
    if actor is not None and not can_administer(actor):
        raise PermissionDenied("Only an administrator can change matching rules.")
    if entity not in Entity.values:
        raise ValidationError({"entity": ["Choose contact or organization."]})
    errors: dict[str, list[str]] = {}
    cleaned, seen = [], set()
    for index, raw in enumerate(rules):
        try:
            rule = dedupe.Rule(
                field=str(raw.get("field", "")),
                method=str(raw.get("method", "")),
                weight=float(raw.get("weight", 0)),
                threshold=float(raw.get("threshold") or 0),
                conflict=float(raw.get("conflict") or 0),
            )
        except (TypeError, ValueError):
            errors.setdefault(f"rules[{index}].weight", []).append("Give numbers.")
            continue
        for name, message in dedupe.check_rule(entity, rule).items():
            errors.setdefault(f"rules[{index}].{name}", []).append(message)
        if (rule.field, rule.method) in seen:
            errors.setdefault(f"rules[{index}].field", []).append(
                "This field and method are listed twice."
            )
        seen.add((rule.field, rule.method))
        cleaned.append((rule, bool(raw.get("is_active", True))))
    thresholds_ok = True
    for name, value in (
        ("review_threshold", review_threshold),
        ("import_match_threshold", import_match_threshold),
    ):
        if not isinstance(value, int | float) or not 0 < value <= 1:
            errors.setdefault(name, []).append("Give a score above 0 and at most 1.")
            thresholds_ok = False
    if thresholds_ok and import_match_threshold < review_threshold:
        errors["import_match_threshold"] = [
            "Must be at least the review threshold: an import match is a sure duplicate."
        ]
    if errors:
        raise ValidationError(errors)
    before = _rules_state(entity)
    MatchingRule.objects.filter(entity=entity).delete()
    created = MatchingRule.objects.bulk_create(
        [
            MatchingRule(
                entity=entity,
                field=rule.field,
                method=rule.method,
                weight=rule.weight,
                threshold=rule.threshold,
                conflict=rule.conflict,
                is_active=is_active,
            )
            for rule, is_active in cleaned
        ]
    )
    policy, _ = MatchingPolicy.objects.get_or_create(entity=entity)
    policy.review_threshold = float(review_threshold)
    policy.import_match_threshold = float(import_match_threshold)
    policy.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        entity="data_exchange.matchingrule",
        object_id=entity,
        object_repr=f"{entity} matching rules",
        before=before,
        after=_rules_state(entity),
    )
    return created


def reset_matching_rules(*, actor, entity: str) -> list[MatchingRule]:
    """Put the shipped default rules back."""
    return set_matching_rules(
        actor=actor,
        entity=entity,
        rules=[
            {"field": f, "method": m, "weight": w, "threshold": t, "conflict": c}
            for f, m, w, t, c in DEFAULT_RULES[entity]
        ],
        review_threshold=DEFAULT_REVIEW_THRESHOLD,
        import_match_threshold=DEFAULT_IMPORT_MATCH_THRESHOLD,
    )


def _rules_state(entity: str) -> dict:
    policy = MatchingPolicy.objects.filter(entity=entity).first()
    return {
        "rules": [
            f"{r.field}/{r.method} w={r.weight} t={r.threshold} c={r.conflict}"
            f"{'' if r.is_active else ' (off)'}"
            for r in MatchingRule.objects.filter(entity=entity).order_by("field", "method")
        ],
        "review_threshold": policy.review_threshold if policy else None,
        "import_match_threshold": policy.import_match_threshold if policy else None,
    }


# --- review decisions -------------------------------------------------------------------------


@transaction.atomic
def mark_as_duplicates(*, actor, first, second):
    """Put two records someone believes are one on the review queue, with the score and
    reasons the matching rules give them (however low). A pair once dismissed is reopened:
    a person asking overrides the earlier "not a duplicate"."""
    from rapport.data_exchange import matching

    access.require_write(actor)
    if type(first) is not type(second) or first.pk == second.pk:
        raise ValidationError({"other": ["Choose another record of the same kind."]})
    entity = Entity.CONTACT if isinstance(first, Contact) else Entity.ORGANIZATION
    low, high = sorted((first, second), key=lambda record: record.pk)
    score, reasons = matching.score_two(entity, low.pk, high.pk)
    reasons = [*reasons, f"marked by {actor}" if actor else "marked"]
    if entity == Entity.CONTACT:
        pair, created = ContactDuplicate.objects.get_or_create(
            contact_a=low, contact_b=high, defaults={"score": score, "reasons": reasons}
        )
    else:
        pair, created = OrganizationDuplicate.objects.get_or_create(
            organization_a=low, organization_b=high, defaults={"score": score, "reasons": reasons}
        )
    if not created:
        pair.status, pair.decided_by, pair.decided_at = DuplicateStatus.PENDING, None, None
        pair.score, pair.reasons = score, reasons
        pair.save(update_fields=["status", "decided_by", "decided_at", "score", "reasons"])
    record_change(
        actor=actor,
        action=ChangeAction.CREATE if created else ChangeAction.UPDATE,
        instance=pair,
        after={"status": DuplicateStatus.PENDING, "score": score},
        message="marked as duplicates",
    )
    return pair


@transaction.atomic
def dismiss_duplicate(*, actor, pair: ContactDuplicate | OrganizationDuplicate):
    """Mark a suspected pair "not a duplicate": it stays recorded and is never suggested again
    (a later scan leaves dismissed pairs alone)."""
    access.require_write(actor)
    if pair.status == DuplicateStatus.DISMISSED:
        return pair
    pair.status = DuplicateStatus.DISMISSED
    pair.decided_by = actor if _actor_id(actor) else None
    pair.decided_at = timezone.now()
    pair.save(update_fields=["status", "decided_by", "decided_at"])
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=pair,
        before={"status": DuplicateStatus.PENDING},
        after={"status": DuplicateStatus.DISMISSED},
        message="not a duplicate",
    )
    return pair


# --- merge: choosing values -------------------------------------------------------------------


def _value(instance, name: str):
    if name == "owner":
        return instance.owner_id
    return getattr(instance, name)


def _is_blank(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _choose(
    survivor, loser, fields: list[tuple[str, str]], custom_keys: list[str], choices: dict
) -> dict[str, str]:
    """Which side each field's value comes from. Unless told, the survivor's value stays and
    an empty one is filled from the loser."""
    choices = dict(choices or {})
    allowed = {name for name, _ in fields} | {f"custom_fields.{k}" for k in custom_keys}
    allowed |= {"primary_email", "primary_phone"}
    errors = {}
    for key, side in choices.items():
        if key not in allowed:
            errors[f"choices.{key}"] = ["Not a field that can be chosen."]
        elif side not in (SURVIVOR, LOSER):
            errors[f"choices.{key}"] = ["Choose survivor or loser."]
    if errors:
        raise ValidationError(errors)
    resolved = {}
    for name, _label in fields:
        default = SURVIVOR
        if _is_blank(_value(survivor, name)) and not _is_blank(_value(loser, name)):
            default = LOSER
        resolved[name] = choices.get(name, default)
    for key in custom_keys:
        ours = (survivor.custom_fields or {}).get(key)
        theirs = (loser.custom_fields or {}).get(key)
        default = LOSER if _is_blank(ours) and not _is_blank(theirs) else SURVIVOR
        resolved[f"custom_fields.{key}"] = choices.get(f"custom_fields.{key}", default)
    for key in ("primary_email", "primary_phone"):
        if key in choices:
            resolved[key] = choices[key]
    return resolved


def _custom_keys(survivor, loser, entity: str) -> list[str]:
    defined = [d.key for d in definitions_for(entity)]
    present = set(survivor.custom_fields or {}) | set(loser.custom_fields or {})
    return [k for k in defined if k in present]


def _changes(survivor, loser, fields, custom_keys, resolved) -> dict:
    """Keyword arguments for the update service that give the survivor the chosen values."""
    changes: dict = {}
    for name, _label in fields:
        if resolved[name] == LOSER and _value(loser, name) != _value(survivor, name):
            changes[name] = loser.owner if name == "owner" else getattr(loser, name)
    custom = {}
    for key in custom_keys:
        if resolved[f"custom_fields.{key}"] == LOSER:
            theirs = (loser.custom_fields or {}).get(key)
            if theirs != (survivor.custom_fields or {}).get(key):
                custom[key] = theirs
    if custom:
        changes["custom_fields"] = custom
    return changes


# --- merge: what moves ------------------------------------------------------------------------

# Relations the merge moves itself; any other relation pointing at the loser must be moved by
# its app through a registered MergeRelation, or the loser is archived instead of deleted.
_CONTACT_HANDLED = {
    ("contacts", "contactemail"),
    ("contacts", "contactphone"),
    ("contacts", "externalid"),
    ("contacts", "membership"),
    ("contacts", "lifecyclechange"),
    ("contacts", "consent"),
    ("interactions", "interaction"),
    ("data_exchange", "contactduplicate"),
    ("data_exchange", "identityalias"),
    ("data_exchange", "mergerecord"),
}
_ORGANIZATION_HANDLED = {
    ("contacts", "membership"),
    ("contacts", "organizationrelationship"),
    ("interactions", "interaction"),
    ("data_exchange", "organizationduplicate"),
    ("data_exchange", "identityalias"),
    ("data_exchange", "mergerecord"),
}


def other_related_counts(instance, handled: set) -> dict[str, int]:
    """Rows of other apps that point at `instance` ({"sales.deal.contact": 3}): what a merge
    must move through the registered relations."""
    counts = {}
    for relation in instance._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        model = relation.related_model
        if (model._meta.app_label, model._meta.model_name) in handled:
            continue
        count = model._base_manager.filter(**{relation.field.name: instance}).count()
        if count:
            counts[f"{model._meta.label_lower}.{relation.field.name}"] = count
    return counts


@dataclass
class FieldChoice:
    name: str
    label: str
    survivor_value: object
    loser_value: object
    chosen: str  # "survivor" or "loser"

    @property
    def differs(self) -> bool:
        return self.survivor_value != self.loser_value

    @property
    def result(self):
        return self.loser_value if self.chosen == LOSER else self.survivor_value


@dataclass
class MergePreview:
    """What a merge would do, computed without writing anything."""

    entity: str
    survivor_id: int
    loser_id: int
    fields: list[FieldChoice]
    moves: list[str] = field(default_factory=list)
    other_records: dict[str, int] = field(default_factory=dict)
    loser_will_be: str = "deleted"
    aliases: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "entity": self.entity,
            "survivor_id": self.survivor_id,
            "loser_id": self.loser_id,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "survivor_value": _plain(f.survivor_value),
                    "loser_value": _plain(f.loser_value),
                    "chosen": f.chosen,
                }
                for f in self.fields
            ],
            "moves": self.moves,
            "other_records": self.other_records,
            "loser_will_be": self.loser_will_be,
            "aliases": self.aliases,
        }


def _plain(value):
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def _display(instance, name: str):
    if name == "owner":
        return str(instance.owner) if instance.owner_id else ""
    return getattr(instance, name)


def _field_choices(survivor, loser, fields, custom_keys, resolved, entity) -> list[FieldChoice]:
    labels = {d.key: d.label for d in definitions_for(entity)}
    result = [
        FieldChoice(
            name=name,
            label=label,
            survivor_value=_display(survivor, name),
            loser_value=_display(loser, name),
            chosen=resolved[name],
        )
        for name, label in fields
    ]
    for key in custom_keys:
        result.append(
            FieldChoice(
                name=f"custom_fields.{key}",
                label=labels.get(key, key),
                survivor_value=(survivor.custom_fields or {}).get(key),
                loser_value=(loser.custom_fields or {}).get(key),
                chosen=resolved[f"custom_fields.{key}"],
            )
        )
    return result


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def preview_contact_merge(*, survivor: Contact, loser: Contact, choices=None) -> MergePreview:
    """The field-by-field result and every record that would move, without writing."""
    _check_pair(survivor, loser)
    survivor, loser = Contact.objects.get(pk=survivor.pk), Contact.objects.get(pk=loser.pk)
    custom_keys = _custom_keys(survivor, loser, CustomFieldEntity.CONTACT)
    resolved = _choose(survivor, loser, CONTACT_MERGE_FIELDS, custom_keys, choices)
    survivor_emails = set(survivor.emails.values_list("email", flat=True))
    loser_emails = list(loser.emails.values_list("email", flat=True))
    new_emails = [e for e in loser_emails if e not in survivor_emails]
    survivor_phones = set(survivor.phones.values_list("number", flat=True))
    loser_phones = list(loser.phones.values_list("number", flat=True))
    new_phones = [p for p in loser_phones if p not in survivor_phones]
    survivor_orgs = set(survivor.memberships.values_list("organization_id", flat=True))
    loser_memberships = list(loser.memberships.select_related("organization"))
    new_tags = set(loser.tags.values_list("name", flat=True)) - set(
        survivor.tags.values_list("name", flat=True)
    )
    moves = []
    if new_emails:
        moves.append(f"Emails added: {', '.join(new_emails)}")
    if len(loser_emails) > len(new_emails):
        moves.append(_plural(len(loser_emails) - len(new_emails), "email") + " already present")
    if new_phones:
        moves.append(f"Phones added: {', '.join(new_phones)}")
    external = list(loser.external_ids.values_list("system", "value"))
    if external:
        moves.append("External ids moved: " + ", ".join(f"{s}:{v}" for s, v in external))
    moved_orgs = [
        m.organization.name for m in loser_memberships if m.organization_id not in survivor_orgs
    ]
    if moved_orgs:
        moves.append(f"Organizations joined: {', '.join(moved_orgs)}")
    if new_tags:
        moves.append(f"Tags added: {', '.join(sorted(new_tags))}")
    survivor_consents = {c.channel: c for c in survivor.consents.all()}
    for consent in loser.consents.all():
        mine = survivor_consents.get(consent.channel)
        if mine is None or consent.recorded_at > mine.recorded_at:
            moves.append(
                f"{consent.get_channel_display()} consent taken from the loser "
                f"({consent.get_status_display()}, newer)"
            )
    interactions = Interaction.objects.filter(contact=loser).count()
    if interactions:
        moves.append(
            _plural(interactions, "timeline entry").replace("entrys", "entries") + " moved"
        )
    history = LifecycleChange.objects.filter(contact=loser).count()
    if history:
        moves.append(_plural(history, "lifecycle change") + " moved")
    others = other_related_counts(loser, _CONTACT_HANDLED)
    for label, count in others.items():
        moves.append(f"{count} × {label} moved")
    aliases = [f"email {e}" for e in loser_emails] + [f"phone {p}" for p in loser_phones]
    aliases += [f"external id {s}:{v}" for s, v in external] + [f"record #{loser.pk}"]
    return MergePreview(
        entity=Entity.CONTACT,
        survivor_id=survivor.pk,
        loser_id=loser.pk,
        fields=_field_choices(
            survivor, loser, CONTACT_MERGE_FIELDS, custom_keys, resolved, CustomFieldEntity.CONTACT
        ),
        moves=moves,
        other_records=others,
        loser_will_be=_loser_fate(others),
        aliases=aliases,
    )


def _loser_fate(others: dict[str, int]) -> str:
    if not others:
        return "deleted (a snapshot is kept in the merge record)"
    return (
        "deleted once the other apps have moved their records listed above (a snapshot is "
        "kept); if any stay behind it is archived instead, so nothing is lost"
    )


def _check_pair(survivor, loser) -> None:
    if survivor.pk == loser.pk:
        raise ValidationError({"loser": ["A record cannot be merged into itself."]})


def _contact_full_state(contact: Contact) -> dict:
    state = snapshot(contact)
    state["emails"] = list(contact.emails.values_list("email", flat=True))
    state["phones"] = list(contact.phones.values_list("number", flat=True))
    state["external_ids"] = [
        f"{s}:{v}" for s, v in contact.external_ids.values_list("system", "value")
    ]
    state["organizations"] = list(
        contact.memberships.values_list("organization_id", "role", "is_primary")
    )
    state["tags"] = sorted(contact.tags.values_list("name", flat=True))
    state["consents"] = [
        {
            "channel": c.channel,
            "status": c.status,
            "lawful_basis": c.lawful_basis,
            "recorded_at": c.recorded_at.isoformat(),
            "source": c.source,
        }
        for c in contact.consents.all()
    ]
    return state


def _repoint_pairs(model, a_name: str, b_name: str, loser_id: int, survivor_id: int) -> None:
    """Pairs that involved the loser now involve the survivor. Decisions ("not a duplicate")
    carry over; pending pairs are dropped, to be rescored against the merged record."""
    pairs = model.objects.filter(Q(**{f"{a_name}_id": loser_id}) | Q(**{f"{b_name}_id": loser_id}))
    for pair in list(pairs):
        a, b = getattr(pair, f"{a_name}_id"), getattr(pair, f"{b_name}_id")
        other = b if a == loser_id else a
        if other == survivor_id or pair.status == DuplicateStatus.PENDING:
            pair.delete()
            continue
        low, high = sorted((other, survivor_id))
        if model.objects.filter(**{f"{a_name}_id": low, f"{b_name}_id": high}).exists():
            model.objects.filter(**{f"{a_name}_id": low, f"{b_name}_id": high}).update(
                status=DuplicateStatus.DISMISSED,
                decided_by=pair.decided_by,
                decided_at=pair.decided_at,
            )
            pair.delete()
        else:
            model.objects.filter(pk=pair.pk).update(**{f"{a_name}_id": low, f"{b_name}_id": high})


def _add_aliases(aliases: list[IdentityAlias]) -> None:
    IdentityAlias.objects.bulk_create(aliases, ignore_conflicts=True)


@transaction.atomic
def merge_contacts(*, actor, survivor: Contact, loser: Contact, choices=None) -> MergeRecord:
    """Fold `loser` into `survivor` in one transaction.

    Emails, phones and external ids move (duplicates dropped); memberships, tags, timeline
    entries and lifecycle history move; per consent channel the most recent decision wins;
    fields and custom fields take the chosen side; every registered MergeRelation moves its
    app's rows. The loser's identifiers become aliases of the survivor. The loser is deleted
    when nothing points at it any more (archived otherwise), leaving a MergeRecord with its
    snapshot and a "merge" ChangeRecord on both. Sets off ContactsMerged.
    """
    access.require_write(actor)
    _check_pair(survivor, loser)
    locked = {
        # Locked in id order, so two merges touching the same contacts cannot deadlock.
        c.pk: c
        for c in Contact.objects.select_for_update()
        .filter(pk__in=[survivor.pk, loser.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError({"loser": ["One of the two contacts no longer exists."]})
    survivor, loser = locked[survivor.pk], locked[loser.pk]
    custom_keys = _custom_keys(survivor, loser, CustomFieldEntity.CONTACT)
    resolved = _choose(survivor, loser, CONTACT_MERGE_FIELDS, custom_keys, choices)
    loser_state = _contact_full_state(loser)
    survivor_before = _contact_full_state(survivor)
    loser_primary_email = (
        loser.emails.filter(is_primary=True).values_list("email", flat=True).first()
    )
    loser_primary_phone = (
        loser.phones.filter(is_primary=True).values_list("number", flat=True).first()
    )
    moved = merges.absorb_contact_rows(
        actor=actor,
        survivor=survivor,
        loser=loser,
        primary_email=loser_primary_email if resolved.get("primary_email") == LOSER else None,
        primary_phone=loser_primary_phone if resolved.get("primary_phone") == LOSER else None,
    )
    moved["interactions"] = Interaction.objects.filter(contact=loser).update(contact=survivor)
    for relation in registry.merge_relations:
        if relation.entity == "contact":
            relation.move(loser=loser, survivor=survivor, actor=actor)
            moved[f"relation:{relation.key}"] = 1

    _repoint_pairs(ContactDuplicate, "contact_a", "contact_b", loser.pk, survivor.pk)
    IdentityAlias.objects.filter(contact=loser).update(contact=survivor)

    changes = _changes(survivor, loser, CONTACT_MERGE_FIELDS, custom_keys, resolved)
    stage = changes.pop("lifecycle_stage", None)
    survivor = contact_services.update_contact(actor=actor, contact=survivor, **changes)
    if stage is not None:
        contact_services.set_lifecycle_stage(
            actor=actor, contact=survivor, stage=stage, reason=f"merged with {loser}"[:200]
        )

    leftovers = other_related_counts(loser, _CONTACT_HANDLED)
    loser_id = loser.pk
    merge = MergeRecord.objects.create(
        entity=Entity.CONTACT,
        survivor_contact=survivor,
        survivor_id_at_merge=survivor.pk,
        loser_id=loser_id,
        loser_snapshot=loser_state,
        chosen=resolved,
        moved=moved,
        loser_deleted=not leftovers,
        actor=actor if _actor_id(actor) else None,
    )
    aliases = [
        IdentityAlias(kind=AliasKind.EMAIL, value=e, contact=survivor, merge=merge)
        for e in loser_state["emails"]
    ]
    aliases += [
        IdentityAlias(kind=AliasKind.PHONE, value=p, contact=survivor, merge=merge)
        for p in loser_state["phones"]
    ]
    for item in loser_state["external_ids"]:
        system, _, value = item.partition(":")
        aliases.append(
            IdentityAlias(
                kind=AliasKind.EXTERNAL_ID,
                system=system,
                value=value,
                contact=survivor,
                merge=merge,
            )
        )
    aliases.append(
        IdentityAlias(kind=AliasKind.RECORD, value=str(loser_id), contact=survivor, merge=merge)
    )
    _add_aliases(aliases)

    survivor.refresh_from_db()
    record_change(
        actor=actor,
        action=ChangeAction.MERGE,
        instance=survivor,
        before=survivor_before,
        after=_contact_full_state(survivor),
        message=f"Merged {loser} into this contact",
    )
    record_change(
        actor=actor,
        action=ChangeAction.MERGE,
        entity="contacts.contact",
        object_id=loser_id,
        object_repr=str(loser)[:200],
        before=loser_state,
        after={"merged_into": survivor.pk},
        message=f"Merged into {survivor}",
    )
    if leftovers:
        contact_services.archive_contact(actor=actor, contact=loser)
    else:
        loser.delete()
    emit(
        events.ContactsMerged(
            survivor_id=survivor.pk, loser_id=loser_id, actor_id=_actor_id(actor), merge_id=merge.pk
        )
    )
    transaction.on_commit(lambda: _rescan_later(Entity.CONTACT, survivor.pk))
    return merge


def _rescan_later(entity: str, pk: int) -> None:
    from rapport.data_exchange.tasks import find_duplicates_of

    find_duplicates_of.enqueue(entity, [pk])


# --- organizations ----------------------------------------------------------------------------


def preview_organization_merge(
    *, survivor: Organization, loser: Organization, choices=None
) -> MergePreview:
    _check_pair(survivor, loser)
    survivor = Organization.objects.get(pk=survivor.pk)
    loser = Organization.objects.get(pk=loser.pk)
    custom_keys = _custom_keys(survivor, loser, CustomFieldEntity.ORGANIZATION)
    resolved = _choose(survivor, loser, ORGANIZATION_MERGE_FIELDS, custom_keys, choices)
    survivor_members = set(survivor.memberships.values_list("contact_id", flat=True))
    loser_members = list(loser.memberships.values_list("contact_id", flat=True))
    moving = [c for c in loser_members if c not in survivor_members]
    moves = []
    if moving:
        moves.append(_plural(len(moving), "contact") + " join the surviving organization")
    if len(loser_members) > len(moving):
        moves.append(_plural(len(loser_members) - len(moving), "contact") + " already members")
    relationships = OrganizationRelationship.objects.filter(
        Q(from_organization=loser) | Q(to_organization=loser)
    ).count()
    if relationships:
        moves.append(_plural(relationships, "relationship") + " re-pointed")
    interactions = Interaction.objects.filter(organization=loser).count()
    if interactions:
        moves.append(
            _plural(interactions, "timeline entry").replace("entrys", "entries") + " moved"
        )
    new_tags = set(loser.tags.values_list("name", flat=True)) - set(
        survivor.tags.values_list("name", flat=True)
    )
    if new_tags:
        moves.append(f"Tags added: {', '.join(sorted(new_tags))}")
    others = other_related_counts(loser, _ORGANIZATION_HANDLED)
    for label, count in others.items():
        moves.append(f"{count} × {label} moved")
    aliases = [f"record #{loser.pk}"] + ([f"domain {loser.domain}"] if loser.domain else [])
    return MergePreview(
        entity=Entity.ORGANIZATION,
        survivor_id=survivor.pk,
        loser_id=loser.pk,
        fields=_field_choices(
            survivor,
            loser,
            ORGANIZATION_MERGE_FIELDS,
            custom_keys,
            resolved,
            CustomFieldEntity.ORGANIZATION,
        ),
        moves=moves,
        other_records=others,
        loser_will_be=_loser_fate(others),
        aliases=aliases,
    )


@transaction.atomic
def merge_organizations(
    *, actor, survivor: Organization, loser: Organization, choices=None
) -> MergeRecord:
    """Fold `loser` into `survivor`: members, relationships, timeline entries, tags, chosen
    fields and every registered MergeRelation move; the loser's domain and id become aliases;
    the loser is deleted (archived if something still points at it). Sets off
    OrganizationsMerged."""
    access.require_write(actor)
    _check_pair(survivor, loser)
    locked = {
        o.pk: o
        for o in Organization.objects.select_for_update()
        .filter(pk__in=[survivor.pk, loser.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError({"loser": ["One of the two organizations no longer exists."]})
    survivor, loser = locked[survivor.pk], locked[loser.pk]
    custom_keys = _custom_keys(survivor, loser, CustomFieldEntity.ORGANIZATION)
    resolved = _choose(survivor, loser, ORGANIZATION_MERGE_FIELDS, custom_keys, choices)
    loser_state = snapshot(loser)
    loser_state["tags"] = sorted(loser.tags.values_list("name", flat=True))
    loser_state["members"] = list(loser.memberships.values_list("contact_id", "role", "is_primary"))
    survivor_before = snapshot(survivor)
    moved = merges.absorb_organization_rows(actor=actor, survivor=survivor, loser=loser)
    moved["interactions"] = Interaction.objects.filter(organization=loser).update(
        organization=survivor
    )
    for relation in registry.merge_relations:
        if relation.entity == "organization":
            relation.move(loser=loser, survivor=survivor, actor=actor)
            moved[f"relation:{relation.key}"] = 1
    _repoint_pairs(OrganizationDuplicate, "organization_a", "organization_b", loser.pk, survivor.pk)
    IdentityAlias.objects.filter(organization=loser).update(organization=survivor)

    changes = _changes(survivor, loser, ORGANIZATION_MERGE_FIELDS, custom_keys, resolved)
    survivor = contact_services.update_organization(actor=actor, organization=survivor, **changes)

    leftovers = other_related_counts(loser, _ORGANIZATION_HANDLED)
    loser_id = loser.pk
    merge = MergeRecord.objects.create(
        entity=Entity.ORGANIZATION,
        survivor_organization=survivor,
        survivor_id_at_merge=survivor.pk,
        loser_id=loser_id,
        loser_snapshot=loser_state,
        chosen=resolved,
        moved=moved,
        loser_deleted=not leftovers,
        actor=actor if _actor_id(actor) else None,
    )
    aliases = [
        IdentityAlias(
            kind=AliasKind.RECORD, value=str(loser_id), organization=survivor, merge=merge
        )
    ]
    for domain in {loser.domain, normalize_domain(loser.website) if loser.website else ""} - {""}:
        aliases.append(
            IdentityAlias(kind=AliasKind.DOMAIN, value=domain, organization=survivor, merge=merge)
        )
    _add_aliases(aliases)
    record_change(
        actor=actor,
        action=ChangeAction.MERGE,
        instance=survivor,
        before=survivor_before,
        after=snapshot(survivor),
        message=f"Merged {loser} into this organization",
    )
    record_change(
        actor=actor,
        action=ChangeAction.MERGE,
        entity="contacts.organization",
        object_id=loser_id,
        object_repr=str(loser)[:200],
        before=loser_state,
        after={"merged_into": survivor.pk},
        message=f"Merged into {survivor}",
    )
    if leftovers:
        contact_services.archive_organization(actor=actor, organization=loser)
    else:
        loser.delete()
    emit(
        events.OrganizationsMerged(
            survivor_id=survivor.pk, loser_id=loser_id, actor_id=_actor_id(actor), merge_id=merge.pk
        )
    )
    transaction.on_commit(lambda: _rescan_later(Entity.ORGANIZATION, survivor.pk))
    return merge


# --- resolving identifiers --------------------------------------------------------------------


def resolve_contact(
    *,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    system: str = "",
    user=None,
) -> Contact | None:
    """The contact known by these identifiers — its own or one it absorbed in a merge.

    Tried in order: external id, email, phone; each first on live identifiers, then on
    aliases. With `user`, only contacts that user may see are returned. An identifier that
    cannot be normalized resolves to nobody.
    """
    contacts = Contact.objects.all()
    if user is not None:
        contacts = contacts.visible_to(user)

    def first(ids):
        ids = list(ids)
        if not ids:
            return None
        return contacts.filter(pk__in=ids).order_by("is_archived", "pk").first()

    if external_id:
        external = ExternalId.objects.filter(value=external_id)
        aliases = IdentityAlias.objects.filter(
            kind=AliasKind.EXTERNAL_ID, value=external_id, contact__isnull=False
        )
        if system:
            external = external.filter(system=system)
            aliases = aliases.filter(system=system)
        found = first(external.values_list("contact_id", flat=True)) or first(
            aliases.values_list("contact_id", flat=True)
        )
        if found:
            return found
    if email:
        try:
            email = normalize_email(email)
        except ValidationError:
            email = None
    if email:
        found = first(ContactEmail.objects.filter(email=email).values_list("contact_id", flat=True))
        found = found or first(
            IdentityAlias.objects.filter(
                kind=AliasKind.EMAIL, value=email, contact__isnull=False
            ).values_list("contact_id", flat=True)
        )
        if found:
            return found
    if phone:
        try:
            phone = normalize_phone(phone)
        except ValidationError:
            phone = None
    if phone:
        found = first(
            ContactPhone.objects.filter(number=phone).values_list("contact_id", flat=True)
        )
        found = found or first(
            IdentityAlias.objects.filter(
                kind=AliasKind.PHONE, value=phone, contact__isnull=False
            ).values_list("contact_id", flat=True)
        )
        if found:
            return found
    return None


def resolve_merged_contact_id(contact_id: int) -> int | None:
    """Where a merged-away contact id lives now (for old links and API references)."""
    alias = IdentityAlias.objects.filter(
        kind=AliasKind.RECORD, value=str(contact_id), contact__isnull=False
    ).first()
    return alias.contact_id if alias else None


def resolve_merged_organization_id(organization_id: int) -> int | None:
    """Where a merged-away organization id lives now (for old links)."""
    alias = IdentityAlias.objects.filter(
        kind=AliasKind.RECORD, value=str(organization_id), organization__isnull=False
    ).first()
    return alias.organization_id if alias else None


# --- mapping presets --------------------------------------------------------------------------


@transaction.atomic
def save_mapping_preset(
    *, actor, entity: str, name: str, mapping: dict, options: dict | None = None
) -> MappingPreset:
    """Create or replace the preset `name` for `entity`. Targets must be fields the entity's
    importer knows (or blank to ignore the column). A preset is personal: only its creator or
    an administrator may replace it (PermissionDenied otherwise)."""
    from rapport.core.importing import get_importer

    access.require_write(actor)
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        errors["name"] = ["Give a name of at most 80 characters."]
    try:
        importer = get_importer(entity)
    except KeyError:
        raise ValidationError({"entity": ["No importer for this kind of record."]}) from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        errors["mapping"] = ["Map column names to field names."]
    else:
        for column, target in mapping.items():
            if target and not importer.knows_target(target):
                errors[f"mapping.{column}"] = [f"Unknown field {target!r}."]
    options = dict(options or {})
    unknown = set(options) - set(importer.option_names)
    if unknown:
        errors["options"] = [f"Unknown options: {', '.join(sorted(unknown))}."]
    if errors:
        raise ValidationError(errors)
    preset = MappingPreset.objects.filter(entity=entity, name=name).first()
    if preset is not None:
        access.require(actor, access.Action.CHANGE, preset)
    before = snapshot(preset) if preset else {}
    if preset is None:
        preset = MappingPreset(
            entity=entity, name=name, created_by=actor if _actor_id(actor) else None
        )
    preset.mapping = {k: v for k, v in mapping.items() if v}
    preset.options = options
    preset.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE if before else ChangeAction.CREATE,
        instance=preset,
        before=before,
        after=snapshot(preset),
    )
    return preset


@transaction.atomic
def delete_mapping_preset(*, actor, preset: MappingPreset) -> None:
    """Delete a preset: its creator or an administrator only (PermissionDenied otherwise)."""

    access.require_write(actor)
    access.require(actor, access.Action.DELETE, preset)
    state = snapshot(preset)
    pk = preset.pk
    preset.delete()
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        entity="data_exchange.mappingpreset",
        object_id=pk,
        object_repr=state.get("name", ""),
        before=state,
    )
