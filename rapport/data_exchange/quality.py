"""Data quality: what we have and what we lack, each figure defined once, here.

Every figure is a `Measurement` over a queryset (so a scorecard, the quality page and the API
compute the same number the same way) and names the records behind it (`records_behind`), which
the page links to. The CRM-model scorecards reuse these as KPIs: identification rate, profile
completeness, suspected-duplicate rate, consent coverage, stale records, invalid values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from rapport.contacts.choices import ConsentStatus
from rapport.contacts.models import Consent, Contact, Membership, Organization
from rapport.customfields.choices import Entity as CustomFieldEntity
from rapport.customfields.services import definitions_for
from rapport.customfields.validation import clean_value
from rapport.data_exchange.choices import DuplicateStatus
from rapport.data_exchange.models import (
    ContactDuplicate,
    OrganizationDuplicate,
    QualitySnapshot,
)

STALE_AFTER_MONTHS = 12
E164 = r"^\+[1-9][0-9]{6,14}$"
EMAIL_SHAPE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
COUNTRY_CODE = r"^[A-Z]{2}$"


@dataclass(frozen=True)
class Measurement:
    """A share (numerator / denominator) or, when the denominator is 0, no value and why."""

    value: float | None
    numerator: int
    denominator: int
    reason: str = ""

    @property
    def missing(self) -> int:
        return self.denominator - self.numerator

    @property
    def percent(self) -> float | None:
        return None if self.value is None else round(100 * self.value, 1)

    def as_dict(self) -> dict:
        return {**asdict(self), "percent": self.percent}


def _share(queryset: QuerySet, condition: Q, *, empty_reason: str) -> Measurement:
    counts = queryset.aggregate(total=Count("pk"), hits=Count("pk", filter=condition))
    total, hits = counts["total"], counts["hits"]
    if total == 0:
        return Measurement(value=None, numerator=0, denominator=0, reason=empty_reason)
    return Measurement(value=hits / total, numerator=hits, denominator=total)


NO_CONTACTS = "There are no contacts to measure."
NO_ORGANIZATIONS = "There are no organizations to measure."


# --- the conditions, one definition each ------------------------------------------------------


def has_name_q() -> Q:
    return ~Q(first_name="") | ~Q(last_name="")


def usable_identity_q() -> Q:
    """A usable identity: a name, plus an email address or a phone number to reach them by."""
    return has_name_q() & (~Q(primary_email="") | ~Q(primary_phone=""))


def _member_of_an_organization() -> Exists:
    return Exists(Membership.objects.filter(contact=OuterRef("pk")))


def consent_recorded_q() -> Q:
    """Someone asked: consent granted or withdrawn on at least one channel."""
    return Q(
        Exists(
            Consent.objects.filter(
                contact=OuterRef("pk"),
                status__in=[ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN],
            )
        )
    )


def email_consent_granted_q() -> Q:
    return Q(
        Exists(
            Consent.objects.filter(
                contact=OuterRef("pk"), channel="email", status=ConsentStatus.GRANTED
            )
        )
    )


def suspected_duplicate_q() -> Q:
    """In at least one suspected pair still waiting for review."""
    pending = ContactDuplicate.objects.filter(status=DuplicateStatus.PENDING)
    return Q(Exists(pending.filter(contact_a=OuterRef("pk")))) | Q(
        Exists(pending.filter(contact_b=OuterRef("pk")))
    )


def organization_suspected_duplicate_q() -> Q:
    pending = OrganizationDuplicate.objects.filter(status=DuplicateStatus.PENDING)
    return Q(Exists(pending.filter(organization_a=OuterRef("pk")))) | Q(
        Exists(pending.filter(organization_b=OuterRef("pk")))
    )


def stale_cutoff(months: int = STALE_AFTER_MONTHS, now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=round(months * 30.44))


def stale_q(months: int = STALE_AFTER_MONTHS, now: dt.datetime | None = None) -> Q:
    """No touch (interaction) in `months` months; a contact never touched counts from the day
    it was created, so a contact added last week is not stale."""
    return Q(last_touch__lt=stale_cutoff(months, now))


def _with_last_touch(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(last_touch=Coalesce("last_touched_at", "created_at"))


def invalid_value_q() -> Q:
    """A stored value a service would refuse today: a malformed email or phone number, a
    country that is not a two-letter code. (Custom-field values are checked separately.)"""
    return (
        (~Q(primary_email="") & ~Q(primary_email__regex=EMAIL_SHAPE))
        | (~Q(primary_phone="") & ~Q(primary_phone__regex=E164))
        | (~Q(country="") & ~Q(country__regex=COUNTRY_CODE))
    )


CONTACT_FIELDS = {
    "first_name": ("First name", lambda: ~Q(first_name="")),
    "last_name": ("Last name", lambda: ~Q(last_name="")),
    "email": ("Email", lambda: ~Q(primary_email="")),
    "phone": ("Phone", lambda: ~Q(primary_phone="")),
    "organization": ("Organization", lambda: Q(_member_of_an_organization())),
    "job_title": ("Job title", lambda: ~Q(job_title="")),
    "city": ("City", lambda: ~Q(city="")),
    "country": ("Country", lambda: ~Q(country="")),
    "owner": ("Owner", lambda: Q(owner__isnull=False)),
}
# The contact fields whose condition reads another table (a census counts them on their own).
CONTACT_FIELDS_ELSEWHERE = frozenset({"organization"})
ORGANIZATION_FIELDS = {
    "domain": ("Web domain", lambda: ~Q(domain="")),
    "website": ("Website", lambda: ~Q(website="")),
    "industry": ("Industry", lambda: ~Q(industry="")),
    "size": ("Size", lambda: ~Q(size="")),
    "phone": ("Phone", lambda: ~Q(phone="")),
    "city": ("City", lambda: ~Q(city="")),
    "country": ("Country", lambda: ~Q(country="")),
    "owner": ("Owner", lambda: Q(owner__isnull=False)),
}


def _custom_filled_q(key: str) -> Q:
    return Q(custom_fields__has_key=key) & ~Q(**{f"custom_fields__{key}": None})


def field_conditions(entity: str) -> dict[str, tuple[str, Q]]:
    """Field key → (label, "is filled" condition), custom fields included."""
    base = CONTACT_FIELDS if entity == "contact" else ORGANIZATION_FIELDS
    result = {key: (label, make()) for key, (label, make) in base.items()}
    custom_entity = (
        CustomFieldEntity.CONTACT if entity == "contact" else CustomFieldEntity.ORGANIZATION
    )
    for definition in definitions_for(custom_entity):
        result[f"custom_fields.{definition.key}"] = (
            definition.label,
            _custom_filled_q(definition.key),
        )
    return result


# --- the figures ------------------------------------------------------------------------------


def identification_rate(contacts: QuerySet) -> Measurement:
    """Share of contacts with a usable identity (a name, plus an email or a phone)."""
    return _share(contacts, usable_identity_q(), empty_reason=NO_CONTACTS)


def field_completeness(queryset: QuerySet, entity: str, field: str) -> Measurement:
    """Share of records with `field` filled in."""
    _label, condition = field_conditions(entity)[field]
    return _share(
        queryset,
        condition,
        empty_reason=NO_CONTACTS if entity == "contact" else NO_ORGANIZATIONS,
    )


def completeness(queryset: QuerySet, entity: str) -> dict[str, Measurement]:
    """Completeness of every field (custom fields too), in one query."""
    conditions = field_conditions(entity)
    aggregates = {"total": Count("pk")}
    for index, (_label, condition) in enumerate(conditions.values()):
        aggregates[f"f{index}"] = Count("pk", filter=condition)
    counts = queryset.aggregate(**aggregates)
    total = counts["total"]
    reason = NO_CONTACTS if entity == "contact" else NO_ORGANIZATIONS
    result = {}
    for index, key in enumerate(conditions):
        hits = counts[f"f{index}"]
        result[key] = (
            Measurement(value=hits / total, numerator=hits, denominator=total)
            if total
            else Measurement(value=None, numerator=0, denominator=0, reason=reason)
        )
    return result


def profile_completeness(queryset: QuerySet, entity: str = "contact") -> Measurement:
    """Mean completeness over the standard fields: filled cells / (records × fields)."""
    fields = CONTACT_FIELDS if entity == "contact" else ORGANIZATION_FIELDS
    per_field = completeness(queryset, entity)
    shares = [per_field[key] for key in fields]
    if not shares or shares[0].denominator == 0:
        reason = NO_CONTACTS if entity == "contact" else NO_ORGANIZATIONS
        return Measurement(value=None, numerator=0, denominator=0, reason=reason)
    filled = sum(m.numerator for m in shares)
    cells = shares[0].denominator * len(shares)
    return Measurement(value=filled / cells, numerator=filled, denominator=cells)


def consent_coverage(contacts: QuerySet) -> Measurement:
    """Share of contacts whose consent was asked and recorded on at least one channel."""
    return _share(contacts, consent_recorded_q(), empty_reason=NO_CONTACTS)


def email_consent_rate(contacts: QuerySet) -> Measurement:
    """Share of contacts who granted consent to email."""
    return _share(contacts, email_consent_granted_q(), empty_reason=NO_CONTACTS)


def _not_detected(entity: str) -> Measurement | None:
    """No value, and why, while duplicate detection of `entity` has never run: no pair then
    means nobody looked, not 0 %."""
    from rapport.data_exchange import detection

    if detection.has_run(entity):
        return None
    return Measurement(value=None, numerator=0, denominator=0, reason=detection.NOT_RUN)


def duplicate_rate(contacts: QuerySet) -> Measurement:
    """Share of contacts in a suspected duplicate pair not yet reviewed."""
    return _not_detected("contact") or _share(
        contacts, suspected_duplicate_q(), empty_reason=NO_CONTACTS
    )


def organization_duplicate_rate(organizations: QuerySet) -> Measurement:
    return _not_detected("organization") or _share(
        organizations, organization_suspected_duplicate_q(), empty_reason=NO_ORGANIZATIONS
    )


def stale_rate(
    contacts: QuerySet, months: int = STALE_AFTER_MONTHS, now: dt.datetime | None = None
) -> Measurement:
    """Share of contacts with no touch in `months` months (see `stale_q`)."""
    return _share(_with_last_touch(contacts), stale_q(months, now), empty_reason=NO_CONTACTS)


def invalid_custom_value_ids(queryset: QuerySet, entity: str, limit: int | None = None) -> list:
    """Ids of records holding a custom-field value their definition refuses today (a choice
    since removed, a number out of a new range); read in chunks."""
    custom_entity = (
        CustomFieldEntity.CONTACT if entity == "contact" else CustomFieldEntity.ORGANIZATION
    )
    definitions = {d.key: d for d in definitions_for(custom_entity)}
    if not definitions:
        return []
    ids = []
    rows = (
        queryset.exclude(custom_fields={})
        .values_list("pk", "custom_fields")
        .order_by("pk")
        .iterator(chunk_size=5000)
    )
    for pk, values in rows:
        for key, value in (values or {}).items():
            definition = definitions.get(key)
            if definition is None:
                continue
            try:
                clean_value(definition, value)
            except (ValidationError, TypeError, ValueError):
                ids.append(pk)
                break
        if limit is not None and len(ids) >= limit:
            break
    return ids


def invalid_rate(contacts: QuerySet) -> Measurement:
    """Share of contacts holding at least one value a service would refuse today."""
    flagged = set(contacts.filter(invalid_value_q()).values_list("pk", flat=True))
    flagged |= set(invalid_custom_value_ids(contacts, "contact"))
    total = contacts.count()
    if total == 0:
        return Measurement(value=None, numerator=0, denominator=0, reason=NO_CONTACTS)
    return Measurement(value=len(flagged) / total, numerator=len(flagged), denominator=total)


def interactions_linked_rate(interactions: QuerySet) -> Measurement:
    """Share of timeline entries linked to a known contact (not only to an organization)."""
    return _share(
        interactions,
        Q(contact__isnull=False),
        empty_reason="There are no interactions to measure.",
    )


# --- the records behind each figure ---------------------------------------------------------

FIGURES = {
    "identification": "Contacts without a usable identity",
    "completeness": "Contacts missing a field",
    "organization_completeness": "Organizations missing a field",
    "consent": "Contacts whose consent was never recorded",
    "duplicates": "Contacts in a suspected duplicate pair",
    "organization_duplicates": "Organizations in a suspected duplicate pair",
    "stale": "Contacts not touched in a year",
    "invalid": "Contacts holding an invalid value",
}


def records_behind(figure: str, queryset: QuerySet, *, field: str = "") -> QuerySet:
    """The records a figure counts against: what someone fixing the data works through."""
    entity = "organization" if figure.startswith("organization") else "contact"
    if figure == "identification":
        return queryset.exclude(usable_identity_q())
    if figure in ("completeness", "organization_completeness"):
        conditions = field_conditions(entity)
        if field not in conditions:
            raise KeyError(field)
        return queryset.exclude(conditions[field][1])
    if figure == "consent":
        return queryset.exclude(consent_recorded_q())
    if figure == "duplicates":
        return queryset.filter(suspected_duplicate_q())
    if figure == "organization_duplicates":
        return queryset.filter(organization_suspected_duplicate_q())
    if figure == "stale":
        return _with_last_touch(queryset).filter(stale_q())
    if figure == "invalid":
        ids = invalid_custom_value_ids(queryset, "contact", limit=10_000)
        return queryset.filter(invalid_value_q() | Q(pk__in=ids))
    raise KeyError(figure)


# --- the report and its daily snapshot ------------------------------------------------------


@dataclass
class QualityReport:
    contacts: int
    organizations: int
    identification: Measurement
    profile_completeness: Measurement
    contact_fields: dict[str, tuple[str, Measurement]]
    organization_fields: dict[str, tuple[str, Measurement]]
    consent: Measurement
    email_consent: Measurement
    duplicates: Measurement
    organization_duplicates: Measurement
    stale: Measurement
    invalid: Measurement

    def figures(self) -> dict[str, dict]:
        """Flat {key: measurement} for a snapshot, the API and the scorecards."""
        result = {
            "identification_rate": self.identification.as_dict(),
            "profile_completeness": self.profile_completeness.as_dict(),
            "consent_coverage": self.consent.as_dict(),
            "email_consent_rate": self.email_consent.as_dict(),
            "duplicate_rate": self.duplicates.as_dict(),
            "organization_duplicate_rate": self.organization_duplicates.as_dict(),
            "stale_rate": self.stale.as_dict(),
            "invalid_rate": self.invalid.as_dict(),
        }
        for key, (_label, measurement) in self.contact_fields.items():
            result[f"contact_completeness.{key}"] = measurement.as_dict()
        for key, (_label, measurement) in self.organization_fields.items():
            result[f"organization_completeness.{key}"] = measurement.as_dict()
        return result


def report(contacts: QuerySet, organizations: QuerySet) -> QualityReport:
    """Every figure over the given (already scoped) contacts and organizations."""
    contact_labels = {key: label for key, (label, _q) in field_conditions("contact").items()}
    organization_labels = {
        key: label for key, (label, _q) in field_conditions("organization").items()
    }
    contact_fields = completeness(contacts, "contact")
    organization_fields = completeness(organizations, "organization")
    return QualityReport(
        contacts=contacts.count(),
        organizations=organizations.count(),
        identification=identification_rate(contacts),
        profile_completeness=profile_completeness(contacts),
        contact_fields={k: (contact_labels[k], m) for k, m in contact_fields.items()},
        organization_fields={
            k: (organization_labels[k], m) for k, m in organization_fields.items()
        },
        consent=consent_coverage(contacts),
        email_consent=email_consent_rate(contacts),
        duplicates=duplicate_rate(contacts),
        organization_duplicates=organization_duplicate_rate(organizations),
        stale=stale_rate(contacts),
        invalid=invalid_rate(contacts),
    )


def take_snapshot(day: dt.date | None = None) -> QualitySnapshot:
    """Record today's figures over all active records (once a day; a second call that day
    replaces the first)."""
    day = day or timezone.localdate()
    figures = report(
        Contact.objects.filter(is_archived=False),
        Organization.objects.filter(is_archived=False),
    ).figures()
    snapshot, _ = QualitySnapshot.objects.update_or_create(
        taken_on=day, defaults={"figures": figures}
    )
    return snapshot


def trend(key: str, days: int = 90) -> list[tuple[dt.date, float | None]]:
    """(day, value) of one figure over the last `days` days of snapshots, oldest first."""
    since = timezone.localdate() - dt.timedelta(days=days)
    return [
        (snapshot.taken_on, (snapshot.figures.get(key) or {}).get("value"))
        for snapshot in QualitySnapshot.objects.filter(taken_on__gte=since).order_by("taken_on")
    ]
