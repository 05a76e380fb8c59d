"""Bulk actions on contacts and organizations, each through the contacts services.

`register()` (called from `ContactsConfig.ready()`) declares the two entities, the two lists
the selection bar stands on, and the actions: assign owner, add tag, remove tag, set a field
(standard or custom, validated by the same service), archive (undone by restoring). Actions
that need another app — a task for each owner (sales), add to a segment and export
(analytics) — are registered by that app for these same entities.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.contacts import services
from rapport.contacts.choices import LifecycleStage
from rapport.contacts.filters import filter_contacts, filter_organizations
from rapport.contacts.models import Contact, Organization
from rapport.core import bulk
from rapport.core.bulk import LIST_STATE, BulkAction, Entity, ListSource, Unchanged
from rapport.customfields.choices import Entity as CustomFieldEntity
from rapport.customfields.services import definitions_for
from rapport.customfields.validation import clean_value

CUSTOM_PREFIX = "custom_fields."
# One value for many people is never right for a name, so names are not offered.
NOT_SET_IN_BULK = {"first_name", "last_name", "name", "domain"}


def summarise_operation(operation, verb: str) -> None:
    """The one ChangeRecord of a whole bulk operation (its records' own records carry the same
    request id): which action, with what, over how many, and what came of it."""
    after = {
        "entity": operation.entity,
        "action": operation.action,
        "params": operation.params,
        "selection": operation.selection,
        "members": operation.total,
        "changed": operation.changed,
        "skipped": operation.skipped,
        "failed": operation.failed,
    }
    if verb == "undid":
        after.update(undone=operation.undone, undo_failed=operation.undo_failed)
    noun = bulk.entity(operation.entity).noun_plural
    message = (
        f"Bulk {verb}: {operation.action_label} on {operation.total} {noun}: "
        f"{operation.changed} changed, {operation.skipped} skipped, {operation.failed} failed"
    )
    if verb == "undid":
        message = f"Bulk undo: {operation.action_label}: {operation.undone} taken back"
    record_change(
        actor=operation.actor,
        action=ChangeAction.RESTORE if verb == "undid" else ChangeAction.UPDATE,
        entity="core.bulkoperation",
        object_id=operation.pk,
        object_repr=str(operation)[:200],
        before={},
        after=after,
        message=message,
    )


def may_change(actor, record) -> bool:
    return access.can(actor, Action.CHANGE, record)


def _list_params(params: Mapping) -> dict:
    return {name: values for name, values in params.items() if name not in LIST_STATE}


# --- how each entity is changed ------------------------------------------------------------


class ContactRecords:
    """The contacts services, as the generic actions below call them."""

    entity = "contacts"
    custom_entity = CustomFieldEntity.CONTACT
    standard_fields = [f for f in services.CONTACT_FIELDS if f not in NOT_SET_IN_BULK]
    model = Contact

    def update(self, actor, record, **changes):
        return services.update_contact(actor=actor, contact=record, **changes)

    def archive(self, actor, record):
        return services.archive_contact(actor=actor, contact=record)

    def restore(self, actor, record):
        return services.restore_contact(actor=actor, contact=record)


class OrganizationRecords:
    entity = "organizations"
    custom_entity = CustomFieldEntity.ORGANIZATION
    standard_fields = [f for f in services.ORGANIZATION_FIELDS if f not in NOT_SET_IN_BULK]
    model = Organization

    def update(self, actor, record, **changes):
        return services.update_organization(actor=actor, organization=record, **changes)

    def archive(self, actor, record):
        return services.archive_organization(actor=actor, organization=record)

    def restore(self, actor, record):
        return services.restore_organization(actor=actor, organization=record)


def owner_field(actor, domain: str) -> forms.ModelChoiceField:
    """The people `actor` may give a record to (`access.assignable_users`)."""
    return forms.ModelChoiceField(
        queryset=access.assignable_users(actor, domain).order_by("first_name", "username"),
        label="New owner",
        error_messages={"invalid_choice": "Choose someone you may give records to."},
    )


def user_by_id(pk):
    return get_user_model().objects.filter(pk=pk).first() if pk else None


class AssignOwner(BulkAction):
    key = "assign_owner"
    label = "Assign owner"
    help_text = "Give every selected record to one person."
    undoable = True
    domain = Domain.CONTACTS

    def fields(self, actor):
        return {"owner": owner_field(actor, self.domain)}

    def prepare(self, actor, params):
        return {**params, "owner": user_by_id(params["owner"])}

    def describe(self, params):
        owner = user_by_id(params.get("owner"))
        return f"Assign owner: {owner}" if owner else self.label

    def apply(self, actor, record, params):
        owner = params["owner"]
        if record.owner_id == owner.pk:
            raise Unchanged("already theirs")
        previous = record.owner_id
        self.update(actor, record, owner=owner)
        return {"owner": previous}

    def revert(self, actor, record, undo, params):
        self.update(actor, record, owner=user_by_id(undo["owner"]))


def _tag_field() -> forms.CharField:
    return forms.CharField(label="Tag", max_length=50, strip=True)


class AddTag(BulkAction):
    key = "add_tag"
    label = "Add tag"
    undoable = True

    def fields(self, actor):
        return {"tag": _tag_field()}

    def describe(self, params):
        return f"Add tag “{params.get('tag', '')}”"

    def apply(self, actor, record, params):
        names = [tag.name for tag in record.tags.all()]
        wanted = " ".join(params["tag"].split())
        if wanted.casefold() in {name.casefold() for name in names}:
            raise Unchanged("already tagged")
        self.update(actor, record, tags=[*names, wanted])
        return {"tag": wanted}

    def revert(self, actor, record, undo, params):
        names = [tag.name for tag in record.tags.all()]
        kept = [name for name in names if name.casefold() != undo["tag"].casefold()]
        if kept != names:
            self.update(actor, record, tags=kept)


class RemoveTag(BulkAction):
    key = "remove_tag"
    label = "Remove tag"
    undoable = True

    def fields(self, actor):
        return {"tag": _tag_field()}

    def describe(self, params):
        return f"Remove tag “{params.get('tag', '')}”"

    def apply(self, actor, record, params):
        names = [tag.name for tag in record.tags.all()]
        wanted = params["tag"].casefold()
        kept = [name for name in names if name.casefold() != wanted]
        if kept == names:
            raise Unchanged("not tagged")
        self.update(actor, record, tags=kept)
        return {"tag": next(name for name in names if name.casefold() == wanted)}

    def revert(self, actor, record, undo, params):
        names = [tag.name for tag in record.tags.all()]
        if undo["tag"].casefold() not in {name.casefold() for name in names}:
            self.update(actor, record, tags=[*names, undo["tag"]])


class SetField(BulkAction):
    """Set one field to one value: a standard field or a custom field ("custom_fields.<key>"),
    validated by the same service as a form save (a custom value is checked before starting)."""

    key = "set_field"
    label = "Set a field"
    undoable = True

    def _choices(self):
        model = self.model
        standard = [
            (name, str(model._meta.get_field(name).verbose_name).capitalize())
            for name in self.standard_fields
        ]
        custom = [(f"{CUSTOM_PREFIX}{d.key}", d.label) for d in definitions_for(self.custom_entity)]
        return standard + custom

    def fields(self, actor):
        return {
            "field": forms.ChoiceField(label="Field", choices=self._choices()),
            "value": forms.CharField(
                label="New value", required=False, max_length=2000, strip=True
            ),
        }

    def clean(self, actor, data):
        params = super().clean(actor, data)
        name = params["field"]
        if name.startswith(CUSTOM_PREFIX):
            key = name.removeprefix(CUSTOM_PREFIX)
            definition = next(d for d in definitions_for(self.custom_entity) if d.key == key)
            if params["value"] != "":
                try:
                    clean_value(definition, params["value"])
                except ValidationError as exc:
                    raise ValidationError({"value": exc.messages}) from exc
        else:
            field = self.model._meta.get_field(name)
            blank_allowed = field.blank and params["value"] == ""
            if (
                field.choices
                and not blank_allowed
                and params["value"] not in {str(v) for v, _l in field.choices}
            ):
                allowed = ", ".join(str(v) for v, _l in field.choices)
                raise ValidationError({"value": [f"Choose one of: {allowed}."]})
        return params

    def describe(self, params):
        name = dict(self._choices()).get(params.get("field", ""), params.get("field", ""))
        return f"Set {name} to “{params.get('value', '')}”"

    def _current(self, record, name):
        if name.startswith(CUSTOM_PREFIX):
            return (record.custom_fields or {}).get(name.removeprefix(CUSTOM_PREFIX))
        return getattr(record, name)

    def _set(self, actor, record, name, value):
        if name.startswith(CUSTOM_PREFIX):
            key = name.removeprefix(CUSTOM_PREFIX)
            self.update(actor, record, custom_fields={key: None if value == "" else value})
        else:
            self.update(actor, record, **{name: value})

    def apply(self, actor, record, params):
        name, value = params["field"], params["value"]
        previous = self._current(record, name)
        if previous == value or (previous in (None, "") and value == ""):
            raise Unchanged("already that value")
        self._set(actor, record, name, value)
        return {"value": previous}

    def revert(self, actor, record, undo, params):
        previous = undo["value"]
        self._set(actor, record, params["field"], "" if previous is None else previous)


class ArchiveRecords(BulkAction):
    key = "archive"
    label = "Archive"
    help_text = "Hide from lists, keeping history; undo restores them."
    undoable = True

    def apply(self, actor, record, params):
        if record.is_archived:
            raise Unchanged("already archived")
        self.archive(actor, record)
        return {}

    def revert(self, actor, record, undo, params):
        self.restore(actor, record)


class SetLifecycleStage(BulkAction):
    key = "set_lifecycle_stage"
    label = "Set lifecycle stage"
    undoable = True

    def fields(self, actor):
        return {"stage": forms.ChoiceField(label="Stage", choices=LifecycleStage.choices)}

    def describe(self, params):
        stage = params.get("stage", "")
        label = LifecycleStage(stage).label if stage in LifecycleStage.values else stage
        return f"Set lifecycle stage: {label}"

    def apply(self, actor, record, params):
        if record.lifecycle_stage == params["stage"]:
            raise Unchanged("already at that stage")
        previous = record.lifecycle_stage
        services.set_lifecycle_stage(
            actor=actor, contact=record, stage=params["stage"], reason="bulk action"
        )
        return {"stage": previous}

    def revert(self, actor, record, undo, params):
        services.set_lifecycle_stage(
            actor=actor, contact=record, stage=undo["stage"], reason="bulk action undone"
        )


class _ContactsAssignedInOneGo:
    """Contacts change hands a chunk at a time (`services.assign_contacts`): a list of 100,000
    is then minutes of work, not an hour. When the batch is refused as a whole, the records go
    one by one, so each refusal is told for its own record."""

    def run(self, actor, queryset, params, progress):
        records = list(queryset)
        owner = self.prepare(actor, params)["owner"]
        try:
            moved = services.assign_contacts(actor=actor, contacts=records, owner=owner)
        except (PermissionDenied, ValidationError):
            super().run(actor, queryset, params, progress)
            return
        previous = {contact.pk: owner_id for contact, owner_id in moved}
        for record in records:
            if record.pk in previous:
                progress.changed(record.pk, {"owner": previous[record.pk]})
            else:
                progress.skipped(record.pk, "already theirs")


class _TagsPrefetched:
    def run(self, actor, queryset, params, progress):
        super().run(actor, queryset.prefetch_related("tags"), params, progress)


def _entity_actions(records: type, prefix: str) -> list[type]:
    """The generic actions bound to one entity's services."""
    made = []
    for base in (AssignOwner, AddTag, RemoveTag, SetField, ArchiveRecords):
        mixins = (base, records)
        if base in (AddTag, RemoveTag):
            mixins = (_TagsPrefetched, base, records)
        elif base is AssignOwner and records is ContactRecords:
            mixins = (_ContactsAssignedInOneGo, base, records)
        made.append(type(f"{prefix}{base.__name__}", mixins, {}))
    return made


class ContactLifecycleStage(SetLifecycleStage, ContactRecords):
    pass


CONTACT_ACTIONS = [*_entity_actions(ContactRecords, "Contact"), ContactLifecycleStage]
ORGANIZATION_ACTIONS = _entity_actions(OrganizationRecords, "Organization")


def _contact_members(actor, params):
    return filter_contacts(Contact.objects.all(), _list_params(params), actor)


def _organization_members(actor, params):
    return filter_organizations(Organization.objects.all(), _list_params(params), actor)


def register() -> None:
    """Declare contacts and organizations to the bulk registry (from ContactsConfig.ready)."""
    bulk.register_entity(
        Entity(
            key="contacts",
            noun="contact",
            noun_plural="contacts",
            model=Contact,
            visible=lambda actor: Contact.objects.visible_to(actor),
            may_act=access.can_write,
            may_change=may_change,
            summarise=summarise_operation,
            detail_url=lambda pk: reverse("contacts:contact_detail", args=[pk]),
        )
    )
    bulk.register_entity(
        Entity(
            key="organizations",
            noun="organization",
            noun_plural="organizations",
            model=Organization,
            visible=lambda actor: Organization.objects.visible_to(actor),
            may_act=access.can_write,
            may_change=may_change,
            summarise=summarise_operation,
            detail_url=lambda pk: reverse("contacts:organization_detail", args=[pk]),
        )
    )
    bulk.register_list(
        ListSource(key="contacts", entity="contacts", label="Contacts", members=_contact_members)
    )
    bulk.register_list(
        ListSource(
            key="organizations",
            entity="organizations",
            label="Organizations",
            members=_organization_members,
        )
    )
    for action in [*CONTACT_ACTIONS, *ORGANIZATION_ACTIONS]:
        bulk.register_action(action)
