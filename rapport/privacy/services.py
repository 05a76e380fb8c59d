"""Privacy services: erase a person, export everything about them, keep old records only so long.

Every entry point takes an explicit `actor`, asks `accounts.access` first, runs in one
transaction and leaves one audit record that names who did it and why but holds no personal
data. Views, API routes, management commands and the retention task call these.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction, ChangeRecord
from rapport.audit.services import record_change, snapshot
from rapport.commerce.models import Order
from rapport.contacts.events import ContactArchived
from rapport.contacts.identity import display_phone, phone_search_digits
from rapport.contacts.models import (
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    ExternalId,
    LifecycleChange,
    Membership,
    Tag,
)
from rapport.core.events import emit
from rapport.core.models import IdempotencyRecord
from rapport.data_exchange.models import (
    ContactDuplicate,
    IdentityAlias,
    ImportRow,
    MergeRecord,
)
from rapport.interactions.models import Interaction
from rapport.privacy.models import Erasure, RetentionSettings
from rapport.privacy.redaction import (
    REDACTED,
    Identifiers,
    redact_json,
    scrub_json,
    scrub_text,
)
from rapport.sales.models import (
    Deal,
    LeadAssignment,
    LeadScore,
    LeadScoreHistory,
    Notification,
    ProductInterest,
    Quote,
    QuoteLine,
    Task,
    WebFormSubmission,
)

TOMBSTONE_FIRST_NAME = "Erased"
TOMBSTONE_LAST_NAME = "contact"
TOMBSTONE_NAME = f"{TOMBSTONE_FIRST_NAME} {TOMBSTONE_LAST_NAME}"
ERASED_SUBJECT = "Erased"
EXPORT_FORMAT = "rapport.subject-access-export/1"
RETENTION_BATCH = 1000
MAX_RETENTION_MONTHS = 1200


# --- erase -------------------------------------------------------------------------------------


def identifiers_of(contact: Contact) -> Identifiers:
    """Everything that names this person in free text: emails, phone numbers in the forms people
    type them, external ids, identifiers kept from merges, the street, and the name."""
    strings: list[str] = [contact.primary_email, contact.primary_phone, contact.street]
    strings += ContactEmail.objects.filter(contact=contact).values_list("email", flat=True)
    for number in ContactPhone.objects.filter(contact=contact).values_list("number", flat=True):
        strings += [number, display_phone(number), *phone_search_digits(number).split()]
    strings += ExternalId.objects.filter(contact=contact).values_list("value", flat=True)
    strings += IdentityAlias.objects.filter(contact=contact).values_list("value", flat=True)
    full_name = f"{contact.first_name} {contact.last_name}".strip()
    words = [full_name, *contact.first_name.split(), *contact.last_name.split()]
    return Identifiers.of(strings=strings, words=words)


def _search_terms(identifiers: Identifiers) -> list[str]:
    """The strings to look for with `icontains`, also as JSON writes them (SQLite keeps JSON
    with non-ASCII characters escaped, so "Müller" is stored as "M\\u00fcller")."""
    terms = set(identifiers.searchable)
    terms |= {json.dumps(term)[1:-1] for term in identifiers.searchable}
    return sorted(terms)


def _mentioning(queryset, fields: Iterable[str], terms: list[str]):
    """The rows of `queryset` where any of `fields` contains any of `terms` (one scan)."""
    condition = Q()
    for field in fields:
        for term in terms:
            condition |= Q(**{f"{field}__icontains": term})
    if not condition:
        return queryset.none()
    return queryset.filter(condition)


def _rewrite(queryset, fields: list[str], change) -> int:
    """Apply `change(value)` to `fields` of each row and save only the rows that changed."""
    count = 0
    for row in queryset.only("pk", *fields):
        values = {field: change(getattr(row, field)) for field in fields}
        if any(values[field] != getattr(row, field) for field in fields):
            type(row)._base_manager.filter(pk=row.pk).update(**values)
            count += 1
    return count


def _redact_audit(queryset, pattern) -> int:
    """Snapshots of records that were wholly about the person: every string goes."""
    count = 0
    for record in queryset.only("pk", "before", "after", "message"):
        ChangeRecord.objects.filter(pk=record.pk).update(
            before=scrub_json(redact_json(record.before), pattern),
            after=scrub_json(redact_json(record.after), pattern),
            object_repr=TOMBSTONE_NAME,
            message=scrub_text(record.message, pattern),
        )
        count += 1
    return count


def _validate_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why this person is erased."]})
    if len(reason) > 300:
        raise ValidationError({"reason": ["Use at most 300 characters."]})
    if "\x00" in reason:
        raise ValidationError({"reason": ["Remove the null character."]})
    return reason


@transaction.atomic
def erase_contact(*, actor, contact: Contact, reason: str) -> Erasure:
    """Remove a person from Rapport everywhere their data lives, keeping an anonymous tombstone.

    The Contact row stays, renamed "Erased contact", archived, without emails, phones, address,
    custom fields or search text, so counts, orders' revenue and deals stay right. Interactions
    about them keep their kind, channel, time and author but lose their subject and body; tasks,
    deals, orders and notifications keep their figures with the person's identifiers replaced;
    consent records, external ids, aliases, duplicate suggestions, product interests and list
    memberships are deleted; web-form submissions, import rows, merge snapshots and audit
    snapshots that carried them are redacted. Administrators only. Writes one audit record
    (who and why, no personal data). Sets off ContactArchived (ids only) when the contact was
    not archived yet, as archiving does; nothing else, so nothing reacts to the person.
    """
    access.require(actor, Action.ADMINISTER)
    reason = _validate_reason(reason)
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if Erasure.objects.filter(contact=contact).exists():
        raise ValidationError({"contact": ["This contact has already been erased."]})

    identifiers = identifiers_of(contact)
    pattern = identifiers.pattern()
    terms = _search_terms(identifiers)
    now = timezone.now()
    counts: dict[str, int] = {}

    def scrub(value):
        return scrub_json(value, pattern)

    # The timeline: kept for activity counts and response times, emptied of what was said.
    interaction_ids = list(Interaction.objects.filter(contact=contact).values_list("pk", flat=True))
    counts["interactions_redacted"] = Interaction.objects.filter(pk__in=interaction_ids).update(
        subject=ERASED_SUBJECT, body="", outcome="", external_id=None
    )
    counts["interactions_scrubbed"] = _rewrite(
        _mentioning(Interaction.objects.exclude(contact=contact), ["subject", "body"], terms),
        ["subject", "body"],
        scrub,
    )

    task_ids = list(Task.objects.filter(contact=contact).values_list("pk", flat=True))
    Task.objects.filter(pk__in=task_ids).update(description="")
    _rewrite(Task.objects.filter(pk__in=task_ids), ["title"], scrub)
    counts["tasks_redacted"] = len(task_ids)

    deal_ids = list(Deal.objects.filter(contact=contact).values_list("pk", flat=True))
    deal_fields = ["name", "description", "lost_note", "source_detail", "custom_fields"]
    counts["deals_scrubbed"] = _rewrite(Deal.objects.filter(pk__in=deal_ids), deal_fields, scrub)
    # A quote is a snapshot of the customer at the time: its figures stay, the person goes.
    quotes = Quote.objects.filter(Q(contact=contact) | Q(deal_id__in=deal_ids))
    quote_ids = list(quotes.values_list("pk", flat=True))
    Quote.objects.filter(pk__in=quote_ids, contact=contact).update(
        customer_name=f"{TOMBSTONE_FIRST_NAME} {TOMBSTONE_LAST_NAME}", sent_to=""
    )
    counts["quotes_scrubbed"] = _rewrite(
        Quote.objects.filter(pk__in=quote_ids),
        ["title", "customer_name", "notes", "decline_reason", "sent_to"],
        scrub,
    )
    # A deal quoted without product lines is one line named after the deal.
    _rewrite(QuoteLine.objects.filter(quote_id__in=quote_ids), ["name", "description"], scrub)
    order_ids = list(Order.objects.filter(contact=contact).values_list("pk", flat=True))
    counts["orders_scrubbed"] = _rewrite(Order.objects.filter(pk__in=order_ids), ["note"], scrub)
    counts["notifications_scrubbed"] = _rewrite(
        _mentioning(Notification.objects.all(), ["title", "body"], terms), ["title", "body"], scrub
    )

    submissions = WebFormSubmission.objects.filter(
        Q(contact=contact) | Q(pk__in=_mentioning(WebFormSubmission.objects.all(), ["data"], terms))
    )
    submission_ids = list(submissions.values_list("pk", flat=True))
    # `fields` stays a list: the form's pages read it. A submission not yet processed is marked
    # processed, so the lead task never brings the person back.
    WebFormSubmission.objects.filter(pk__in=submission_ids, processed_at__isnull=True).update(
        processed_at=now
    )
    counts["web_form_submissions_redacted"] = WebFormSubmission.objects.filter(
        pk__in=submission_ids
    ).update(data={"fields": [], "erased": True}, user_agent="", referrer="", client_hash="")

    counts["lead_scores_redacted"] = LeadScore.objects.filter(contact=contact).update(reasons={})
    LeadAssignment.objects.filter(contact=contact).update(reason="")
    LifecycleChange.objects.filter(contact=contact).update(reason="")
    Membership.objects.filter(contact=contact).update(role="")

    for label, queryset in {
        "emails_deleted": ContactEmail.objects.filter(contact=contact),
        "phones_deleted": ContactPhone.objects.filter(contact=contact),
        "external_ids_deleted": ExternalId.objects.filter(contact=contact),
        "consents_deleted": Consent.objects.filter(contact=contact),
        "product_interests_deleted": ProductInterest.objects.filter(contact=contact),
        "aliases_deleted": IdentityAlias.objects.filter(contact=contact),
        "duplicate_suggestions_deleted": ContactDuplicate.objects.filter(
            Q(contact_a=contact) | Q(contact_b=contact)
        ),
        "list_memberships_deleted": contact.segment_memberships.all(),
        "idempotency_records_deleted": _mentioning(
            IdempotencyRecord.objects.all(), ["response_body"], terms
        ),
    }.items():
        counts[label] = queryset.delete()[0]

    counts["tags_removed"] = _remove_personal_tags(contact, pattern)

    # Data exchange: merge snapshots and import rows that held the person's values.
    merges = MergeRecord.objects.filter(
        Q(survivor_contact=contact)
        | Q(pk__in=_mentioning(MergeRecord.objects.all(), ["loser_snapshot", "chosen"], terms))
    )
    counts["merge_records_redacted"] = 0
    for merge in merges.only("pk", "loser_snapshot", "chosen"):
        MergeRecord.objects.filter(pk=merge.pk).update(
            loser_snapshot=scrub(redact_json(merge.loser_snapshot)),
            chosen=scrub(redact_json(merge.chosen)),
        )
        counts["merge_records_redacted"] += 1
    rows = ImportRow.objects.filter(
        Q(entity="contact", object_id=contact.pk)
        | Q(pk__in=_mentioning(ImportRow.objects.all(), ["before", "after", "errors"], terms))
    )
    counts["import_rows_redacted"] = 0
    for row in rows.only("pk", "before", "after", "errors"):
        ImportRow.objects.filter(pk=row.pk).update(
            before=scrub(redact_json(row.before)),
            after=scrub(redact_json(row.after)),
            errors=scrub(row.errors),
            fingerprint="",
        )
        counts["import_rows_redacted"] += 1

    # The audit trail: the person's own record and the records wholly about them lose every
    # value; deals and orders keep theirs without the person's identifiers; anything else that
    # mentions them is scrubbed.
    about_them = Q(entity="contacts.contact", object_id=str(contact.pk))
    for entity, ids in {
        "interactions.interaction": interaction_ids,
        "sales.task": task_ids,
        "sales.webformsubmission": submission_ids,
    }.items():
        if ids:
            about_them |= Q(entity=entity, object_id__in=[str(pk) for pk in ids])
    # Entries deleted earlier still have their audit records, which name the contact.
    gone = ["interactions.interaction", "sales.task", "sales.webformsubmission"]
    about_them |= Q(entity__in=gone, before__contact_id=contact.pk)
    about_them |= Q(entity__in=gone, after__contact_id=contact.pk)
    redacted = ChangeRecord.objects.filter(about_them)
    counts["audit_records_redacted"] = _redact_audit(redacted, pattern)
    audit_fields = ["before", "after", "object_repr", "message"]
    # Records of what is linked to them (deals, orders, anything with their contact_id) may say
    # their first name alone, which the search for identifiers would not find.
    linked = (
        Q(entity="sales.deal", object_id__in=[str(pk) for pk in deal_ids])
        | Q(entity="commerce.order", object_id__in=[str(pk) for pk in order_ids])
        | Q(before__contact_id=contact.pk)
        | Q(after__contact_id=contact.pk)
    )
    mentioning = _mentioning(ChangeRecord.objects.all(), audit_fields, terms)
    counts["audit_records_scrubbed"] = _rewrite(
        # By primary key: excluding the JSON conditions themselves would also drop every row
        # whose snapshot lacks `contact_id` (NULL is neither equal nor unequal in SQL).
        ChangeRecord.objects.exclude(pk__in=redacted.values("pk")).filter(
            linked | Q(pk__in=mentioning)
        ),
        audit_fields,
        scrub,
    )

    Contact.objects.filter(pk=contact.pk).update(
        first_name=TOMBSTONE_FIRST_NAME,
        last_name=TOMBSTONE_LAST_NAME,
        job_title="",
        primary_email="",
        primary_phone="",
        street="",
        city="",
        postcode="",
        region="",
        country="",
        source_detail="",
        about="",
        custom_fields={},
        search_text="",
        is_archived=True,
        archived_at=contact.archived_at or now,
        updated_at=now,
    )
    erasure = Erasure.objects.create(
        contact=contact,
        erased_at=now,
        erased_by=actor if access.is_signed_in(actor) else None,
        reason=scrub_text(reason, pattern)[:300],
        counts=counts,
    )
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        entity="contacts.contact",
        object_id=contact.pk,
        object_repr=TOMBSTONE_NAME,
        before={"erased": False},
        after={"erased": True, "erasure_id": erasure.pk},
        message=f"Erased (GDPR): {erasure.reason}",
    )
    if not contact.is_archived:
        actor_id = actor.pk if access.is_signed_in(actor) else None
        emit(ContactArchived(contact_id=contact.pk, actor_id=actor_id))
    return erasure


def _remove_personal_tags(contact: Contact, pattern) -> int:
    """Tags that name the person leave the contact, and go when nothing else carries them."""
    if pattern is None:
        return 0
    personal = [tag for tag in contact.tags.all() if pattern.search(tag.name)]
    if not personal:
        return 0
    contact.tags.remove(*personal)
    for tag in personal:
        in_use = tag.contacts.exists() or tag.organizations.exists() or tag.deals.exists()
        if not in_use:
            Tag.objects.filter(pk=tag.pk).delete()
    return len(personal)


def is_erased(contact: Contact) -> bool:
    return Erasure.objects.filter(contact_id=contact.pk).exists()


# --- export ------------------------------------------------------------------------------------


def _plain(instance: models.Model, exclude: Iterable[str] = ()) -> dict:
    data = snapshot(instance)
    for name in ("search_text", *exclude):
        data.pop(name, None)
    return data


def _dated(value):
    return value.isoformat() if value is not None else None


@transaction.atomic
def export_contact(*, actor, contact: Contact) -> dict:
    """Everything Rapport holds about one person, as one JSON-able document.

    Anyone who may view the contact may export it. Deals, orders and tasks the actor could not
    open are counted in `left_out` rather than shown, so the export reveals nothing the actor's
    role hides; an administrator's export is complete. Writes one audit record.
    """
    access.require(actor, Action.VIEW, contact)
    contact = Contact.objects.get(pk=contact.pk)

    def visible(queryset):
        return queryset if actor is None else queryset.visible_to(actor)

    deals_all = Deal.objects.filter(contact=contact)
    orders_all = Order.objects.filter(contact=contact)
    tasks_all = Task.objects.filter(contact=contact)
    deals = visible(deals_all).select_related("pipeline", "stage").order_by("created_at", "id")
    orders = visible(orders_all).prefetch_related("lines").order_by("ordered_at", "id")
    tasks = visible(tasks_all).order_by("due_at", "id")

    consent_history = [
        {
            "at": _dated(record.occurred_at),
            "by": record.actor_label,
            "before": {k: v for k, v in record.before.items() if k.startswith("consent.")},
            "after": record.after,
        }
        for record in ChangeRecord.objects.filter(
            entity="contacts.contact", object_id=str(contact.pk)
        ).order_by("occurred_at", "id")
        if any(key.startswith("consent.") for key in {*record.before, *record.after})
    ]
    lead_score = LeadScore.objects.filter(contact=contact).first()
    erasure = Erasure.objects.filter(contact=contact).first()
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "exported_by": str(actor) if actor is not None else "system",
        "erased": erasure is not None,
        "contact": {
            "id": contact.pk,
            **_plain(contact, exclude=("id",)),
            "created_at": _dated(contact.created_at),
            "updated_at": _dated(contact.updated_at),
        },
        "emails": [
            {"email": e.email, "label": e.label, "is_primary": e.is_primary}
            for e in contact.emails.all()
        ],
        "phones": [
            {"number": p.number, "label": p.label, "is_primary": p.is_primary}
            for p in contact.phones.all()
        ],
        "external_ids": [
            {"system": x.system, "value": x.value} for x in contact.external_ids.all()
        ],
        "tags": sorted(tag.name for tag in contact.tags.all()),
        "memberships": [
            {
                "organization": m.organization.name,
                "organization_id": m.organization_id,
                "role": m.role,
                "is_primary": m.is_primary,
            }
            for m in contact.memberships.select_related("organization")
        ],
        "lifecycle_history": [
            {
                "from": c.from_stage,
                "to": c.to_stage,
                "at": _dated(c.changed_at),
                "reason": c.reason,
            }
            for c in contact.lifecycle_changes.order_by("changed_at", "id")
        ],
        "consent": [
            {
                "channel": c.channel,
                "status": c.status,
                "lawful_basis": c.lawful_basis,
                "recorded_at": _dated(c.recorded_at),
                "source": c.source,
            }
            for c in contact.consents.all()
        ],
        "consent_history": consent_history,
        "interactions": [
            {
                **_plain(i, exclude=("contact_id",)),
                "created_at": _dated(i.created_at),
            }
            for i in Interaction.objects.filter(contact=contact).order_by("occurred_at", "id")
        ],
        "deals": [
            {
                **_plain(d, exclude=("contact_id",)),
                "pipeline": d.pipeline.name,
                "stage": d.stage.name,
            }
            for d in deals
        ],
        "orders": [
            {
                **_plain(o, exclude=("contact_id",)),
                "lines": [_plain(line, exclude=("order_id",)) for line in o.lines.all()],
            }
            for o in orders
        ],
        "tasks": [_plain(t, exclude=("contact_id",)) for t in tasks],
        "lead_scores": {
            "current": _plain(lead_score, exclude=("contact",)) if lead_score else None,
            "history": [
                _plain(h, exclude=("contact_id",))
                for h in LeadScoreHistory.objects.filter(contact=contact).order_by(
                    "computed_at", "id"
                )
            ],
            "assignments": [
                _plain(a, exclude=("contact_id",))
                for a in LeadAssignment.objects.filter(contact=contact).order_by(
                    "assigned_at", "id"
                )
            ],
        },
        "product_interests": [
            {"product": p.product, "source": p.source, "created_at": _dated(p.created_at)}
            for p in ProductInterest.objects.filter(contact=contact)
        ],
        "web_form_submissions": [
            {
                "form": s.form.name,
                "submitted_at": _dated(s.created_at),
                "campaign": s.campaign,
                "data": s.data,
                "referrer": s.referrer,
                "user_agent": s.user_agent,
            }
            for s in WebFormSubmission.objects.filter(contact=contact)
            .select_related("form")
            .order_by("created_at", "id")
        ],
        "audit_trail": [
            {
                "at": _dated(r.occurred_at),
                "by": r.actor_label,
                "action": r.action,
                "source": r.source,
                "before": r.before,
                "after": r.after,
                "message": r.message,
            }
            for r in ChangeRecord.objects.filter(
                entity="contacts.contact", object_id=str(contact.pk)
            ).order_by("occurred_at", "id")
        ],
        "left_out": {
            "deals": deals_all.count() - deals.count(),
            "orders": orders_all.count() - orders.count(),
            "tasks": tasks_all.count() - tasks.count(),
        },
    }
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        entity="privacy.export",
        object_id=contact.pk,
        object_repr=f"Subject-access export of contact #{contact.pk}",
        after={
            "contact_id": contact.pk,
            "sections": {
                key: len(value) for key, value in document.items() if isinstance(value, list)
            },
        },
        message="Subject-access export",
    )
    return document


def export_json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False)


def export_file_name(contact: Contact) -> str:
    return f"contact-{contact.pk}-export.json"


# --- retention ---------------------------------------------------------------------------------


def retention_settings() -> RetentionSettings:
    settings, _created = RetentionSettings.objects.get_or_create(pk=1)
    return settings


def _clean_months(value, field: str, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        months = int(value)
    except (TypeError, ValueError):
        errors[field] = ["Give a whole number of months, or leave it empty to keep forever."]
        return None
    if not 1 <= months <= MAX_RETENTION_MONTHS:
        errors[field] = [f"Give between 1 and {MAX_RETENTION_MONTHS} months."]
    return months


@transaction.atomic
def update_retention_settings(
    *, actor, interaction_months: int | None, audit_months: int | None
) -> RetentionSettings:
    """Set how long interactions and audit records are kept (None: forever). Administrators
    only; audited. The daily retention job applies it."""
    access.require(actor, Action.ADMINISTER)
    errors: dict[str, list[str]] = {}
    interaction_months = _clean_months(interaction_months, "interaction_months", errors)
    audit_months = _clean_months(audit_months, "audit_months", errors)
    if errors:
        raise ValidationError(errors)
    settings = RetentionSettings.objects.select_for_update().get(pk=retention_settings().pk)
    before = snapshot(settings, ["interaction_months", "audit_months"])
    settings.interaction_months = interaction_months
    settings.audit_months = audit_months
    settings.updated_by = actor if access.is_signed_in(actor) else None
    settings.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=settings,
        before=before,
        after=snapshot(settings, ["interaction_months", "audit_months"]),
    )
    return settings


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` earlier (the month's last day when it is shorter)."""
    total = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _delete_in_batches(queryset, batch_size: int) -> int:
    """Delete the rows of `queryset` a batch at a time, each batch its own transaction, so a
    large first run neither holds one long lock nor loses its progress when interrupted."""
    deleted = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            queryset.model._base_manager.filter(pk__in=ids).delete()
        deleted += len(ids)


def apply_retention(*, actor=None, now: dt.datetime | None = None, batch_size=RETENTION_BATCH):
    """Delete interactions and audit records older than the settings allow, in batches, and
    audit the run as one record with the counts. With both settings empty it does nothing.

    The run's own audit record is written after the audit records are pruned, so it survives.
    Returns the counts, or None when nothing is configured.
    """
    if actor is not None:
        access.require(actor, Action.ADMINISTER)
    now = now or timezone.now()
    settings = retention_settings()
    if settings.interaction_months is None and settings.audit_months is None:
        return None
    counts = {"interactions": 0, "audit_records": 0}
    cutoffs = {}
    if settings.interaction_months is not None:
        cutoff = months_before(now, settings.interaction_months)
        cutoffs["interactions_before"] = cutoff.isoformat()
        counts["interactions"] = _delete_in_batches(
            Interaction.objects.filter(occurred_at__lt=cutoff), batch_size
        )
    if settings.audit_months is not None:
        cutoff = months_before(now, settings.audit_months)
        cutoffs["audit_records_before"] = cutoff.isoformat()
        counts["audit_records"] = _delete_in_batches(
            ChangeRecord.objects.filter(occurred_at__lt=cutoff), batch_size
        )
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        entity="privacy.retention",
        object_id=now.date().isoformat(),
        object_repr=f"Retention run of {now.date().isoformat()}",
        after={**counts, **cutoffs},
        message=(
            f"Retention: deleted {counts['interactions']} interactions and "
            f"{counts['audit_records']} audit records"
        ),
    )
    return counts


__all__ = [
    "REDACTED",
    "TOMBSTONE_NAME",
    "apply_retention",
    "erase_contact",
    "export_contact",
    "is_erased",
    "retention_settings",
    "update_retention_settings",
]
