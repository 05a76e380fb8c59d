"""Duplicate detection against the database: read records as columns, score, record pairs.

The scoring itself is `dedupe` (pure); this module feeds it the matching rules an administrator
set, the contacts or organizations to compare, and writes what it found as suspected pairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rapport.contacts.identity import normalize_email, normalize_phone
from rapport.contacts.models import (
    Contact,
    ContactEmail,
    ContactPhone,
    ExternalId,
    Membership,
    Organization,
)
from rapport.data_exchange import dedupe
from rapport.data_exchange.choices import AliasKind, DuplicateStatus, Entity
from rapport.data_exchange.models import (
    ContactDuplicate,
    IdentityAlias,
    MatchingPolicy,
    MatchingRule,
    OrganizationDuplicate,
)

logger = logging.getLogger(__name__)

# The defaults a fresh installation starts with (also written by migration 0002); an
# administrator tunes them on the matching-rules page.
# (field, method, weight, threshold, conflict)
DEFAULT_RULES = {
    Entity.CONTACT: [
        ("external_id", "exact", 0.99, 0.0, 0.0),
        # Two different addresses at one work domain are two people: halve the score.
        ("email", "exact", 0.95, 0.0, 0.5),
        ("phone", "exact", 0.9, 0.0, 0.0),
        ("name", "fuzzy", 0.7, 0.85, 0.0),
        ("organization", "fuzzy", 0.35, 0.9, 0.0),
        ("domain", "exact", 0.35, 0.0, 0.0),
        ("city", "exact", 0.15, 0.0, 0.0),
        ("postcode", "exact", 0.25, 0.0, 0.0),
    ],
    Entity.ORGANIZATION: [
        ("domain", "exact", 0.95, 0.0, 0.0),
        ("phone", "exact", 0.8, 0.0, 0.0),
        ("name", "fuzzy", 0.8, 0.9, 0.0),
        ("city", "exact", 0.2, 0.0, 0.0),
    ],
}
DEFAULT_REVIEW_THRESHOLD = 0.75
DEFAULT_IMPORT_MATCH_THRESHOLD = 0.9
CANDIDATE_LIMIT = 200


@dataclass(frozen=True)
class Matching:
    """The rules and thresholds in force for one entity."""

    entity: str
    rules: tuple[dedupe.Rule, ...]
    review_threshold: float
    import_match_threshold: float


def matching_for(entity: str) -> Matching:
    rules = tuple(
        dedupe.Rule(
            field=r.field,
            method=r.method,
            weight=r.weight,
            threshold=r.threshold,
            conflict=r.conflict,
        )
        for r in MatchingRule.objects.filter(entity=entity, is_active=True)
    )
    policy = MatchingPolicy.objects.filter(entity=entity).first()
    return Matching(
        entity=entity,
        rules=rules,
        review_threshold=policy.review_threshold if policy else DEFAULT_REVIEW_THRESHOLD,
        import_match_threshold=(
            policy.import_match_threshold if policy else DEFAULT_IMPORT_MATCH_THRESHOLD
        ),
    )


# --- reading records as columns -------------------------------------------------------------


def _rows(queryset, chunk: int):
    """All rows of a values_list queryset; a whole-table read streams in chunks (a server-side
    cursor on PostgreSQL), a small one is a single round trip."""
    return queryset.iterator(chunk_size=chunk) if chunk else list(queryset)


def _positions(ids: list[int]) -> dict[int, int]:
    return {pk: position for position, pk in enumerate(ids)}


def _identifier_rows(pairs, positions: dict[int, int]) -> tuple[list[int], list[str]]:
    rows, values = [], []
    for pk, value in pairs:
        position = positions.get(pk)
        if position is not None and value:
            rows.append(position)
            values.append(value)
    return rows, values


def people_columns(contact_ids: list[int] | None = None) -> dedupe.PeopleColumns:
    """Active contacts (or the given ones) as columns for `dedupe`, read in a few queries."""
    contacts = Contact.objects.filter(is_archived=False)
    if contact_ids is not None:
        contacts = contacts.filter(pk__in=contact_ids)
    chunk = 20_000 if contact_ids is None else 0
    ids, firsts, lasts, cities, postcodes = [], [], [], [], []
    for pk, first, last, city, postcode in _rows(
        contacts.order_by("pk").values_list("pk", "first_name", "last_name", "city", "postcode"),
        chunk,
    ):
        ids.append(pk)
        firsts.append(first)
        lasts.append(last)
        cities.append(city)
        postcodes.append(postcode)
    positions = _positions(ids)
    scope = {"contact__is_archived": False}
    if contact_ids is not None:
        scope = {"contact_id__in": contact_ids}
    emails = _identifier_rows(
        _rows(ContactEmail.objects.filter(**scope).values_list("contact_id", "email"), chunk),
        positions,
    )
    phones = _identifier_rows(
        _rows(ContactPhone.objects.filter(**scope).values_list("contact_id", "number"), chunk),
        positions,
    )
    external = _identifier_rows(
        (
            (pk, f"{system}:{value}")
            for pk, system, value in _rows(
                ExternalId.objects.filter(**scope).values_list("contact_id", "system", "value"),
                chunk,
            )
        ),
        positions,
    )
    organizations = [""] * len(ids)
    domains = [""] * len(ids)
    for pk, name, domain in _rows(
        Membership.objects.filter(is_primary=True, **scope).values_list(
            "contact_id", "organization__name", "organization__domain"
        ),
        chunk,
    ):
        position = positions.get(pk)
        if position is not None:
            organizations[position] = name
            domains[position] = domain
    return dedupe.PeopleColumns(
        keys=ids,
        first_names=firsts,
        last_names=lasts,
        organizations=organizations,
        organization_domains=domains,
        cities=cities,
        postcodes=postcodes,
        emails=emails,
        phones=phones,
        external_ids=external,
    )


def company_columns(organization_ids: list[int] | None = None) -> dedupe.CompanyColumns:
    organizations = Organization.objects.filter(is_archived=False)
    if organization_ids is not None:
        organizations = organizations.filter(pk__in=organization_ids)
    ids, names, cities, countries = [], [], [], []
    domains: tuple[list[int], list[str]] = ([], [])
    phones: tuple[list[int], list[str]] = ([], [])
    for pk, name, domain, website, phone, city, country in _rows(
        organizations.order_by("pk").values_list(
            "pk", "name", "domain", "website", "phone", "city", "country"
        ),
        20_000 if organization_ids is None else 0,
    ):
        position = len(ids)
        ids.append(pk)
        names.append(name)
        cities.append(city)
        countries.append(country)
        for value in {domain, website_domain(website)} - {""}:
            domains[0].append(position)
            domains[1].append(value)
        if phone:
            phones[0].append(position)
            phones[1].append(phone)
    return dedupe.CompanyColumns(
        keys=ids, names=names, cities=cities, countries=countries, domains=domains, phones=phones
    )


def website_domain(website: str) -> str:
    from rapport.contacts.identity import normalize_domain

    return normalize_domain(website) if website else ""


# --- full scans -----------------------------------------------------------------------------


@dataclass
class ScanResult:
    entity: str
    records: int
    suspected: int
    created: int
    updated: int
    removed: int
    seconds: float


def find_matches(entity: str, matching: Matching | None = None) -> tuple[list[dedupe.Match], int]:
    """Every suspected pair among active records of `entity` (no writes)."""
    matching = matching or matching_for(entity)
    if entity == Entity.CONTACT:
        columns = people_columns()
        table = dedupe.people_table(columns)
    else:
        columns = company_columns()
        table = dedupe.companies_table(columns)
    if len(table) < 2 or not matching.rules:
        return [], len(table)
    scored = dedupe.score_pairs(
        table,
        dedupe.candidate_pairs(table),
        matching.rules,
        threshold=matching.review_threshold,
    )
    return dedupe.explain(table, scored, matching.rules), len(table)


def scan(entity: str) -> ScanResult:
    """Find every suspected pair of `entity` and bring the review queue up to date.

    New pairs are added, pending pairs rescored, pending pairs no longer suspected removed;
    pairs someone marked "not a duplicate" are left as they are.
    """
    started = timezone.now()
    matches, records = find_matches(entity)
    created, updated, removed = record_matches(entity, matches, full=True)
    return ScanResult(
        entity=entity,
        records=records,
        suspected=len(matches),
        created=created,
        updated=updated,
        removed=removed,
        seconds=(timezone.now() - started).total_seconds(),
    )


def _pair_model(entity: str):
    if entity == Entity.CONTACT:
        return ContactDuplicate, "contact_a_id", "contact_b_id"
    return OrganizationDuplicate, "organization_a_id", "organization_b_id"


@transaction.atomic
def record_matches(
    entity: str, matches: list[dedupe.Match], *, full: bool = False, involving=None
) -> tuple[int, int, int]:
    """Write `matches` as pending pairs. With `full`, pending pairs not among them are removed
    (a full scan knows every pair); otherwise only pairs are added or rescored. Returns
    (created, updated, removed)."""
    model, a_field, b_field = _pair_model(entity)
    existing_qs = model.objects.all()
    if not full and matches:
        keys = {m.key_a for m in matches} | {m.key_b for m in matches}
        existing_qs = existing_qs.filter(**{f"{a_field}__in": keys})
    existing = {
        (a, b): (pk, status, score)
        for pk, a, b, status, score in existing_qs.values_list(
            "pk", a_field, b_field, "status", "score"
        ).iterator(chunk_size=20_000)
    }
    found = set()
    to_create, to_update = [], []
    for match in matches:
        key = (match.key_a, match.key_b)
        found.add(key)
        current = existing.get(key)
        if current is None:
            to_create.append(
                model(
                    **{a_field: match.key_a, b_field: match.key_b},
                    score=match.score,
                    reasons=list(match.reasons),
                )
            )
        elif current[1] == DuplicateStatus.PENDING and abs(current[2] - match.score) > 1e-6:
            to_update.append(model(pk=current[0], score=match.score, reasons=list(match.reasons)))
    model.objects.bulk_create(to_create, batch_size=2000, ignore_conflicts=True)
    model.objects.bulk_update(to_update, ["score", "reasons"], batch_size=2000)
    removed = 0
    if full:
        stale = [
            pk
            for key, (pk, status, _score) in existing.items()
            if status == DuplicateStatus.PENDING and key not in found
        ]
        for start in range(0, len(stale), 2000):
            removed += model.objects.filter(pk__in=stale[start : start + 2000]).delete()[0]
    return len(to_create), len(to_update), removed


# --- one record against the database -------------------------------------------------------


def _clean_emails(raw) -> list[str]:
    emails = []
    for item in raw or []:
        value = item.get("email") if isinstance(item, dict) else item
        try:
            emails.append(normalize_email(value or ""))
        except ValidationError:
            continue
    return emails


def _clean_phones(raw, region: str | None = None) -> list[str]:
    phones = []
    for item in raw or []:
        value = item.get("number") if isinstance(item, dict) else item
        try:
            phones.append(normalize_phone(value or "", region))
        except ValidationError:
            continue
    return phones


def _name_variants(name: str) -> list[str]:
    name = (name or "").strip()
    return sorted({name, name.lower(), name.upper(), name.title()} - {""})


def candidate_ids(
    *,
    first_name: str = "",
    last_name: str = "",
    emails=(),
    phones=(),
    external_ids=(),
    organization_ids=(),
    city: str = "",
    exclude_pk: int | None = None,
) -> set[int]:
    """Ids of the active contacts worth comparing with one contact: those sharing an
    identifier (or its alias), and namesakes sharing a place, organization or domain."""
    ids: set[int] = set()
    if emails:
        ids.update(
            ContactEmail.objects.filter(email__in=emails).values_list("contact_id", flat=True)
        )
        ids.update(
            IdentityAlias.objects.filter(
                kind=AliasKind.EMAIL, value__in=emails, contact__isnull=False
            ).values_list("contact_id", flat=True)
        )
    if phones:
        ids.update(
            ContactPhone.objects.filter(number__in=phones).values_list("contact_id", flat=True)
        )
        ids.update(
            IdentityAlias.objects.filter(
                kind=AliasKind.PHONE, value__in=phones, contact__isnull=False
            ).values_list("contact_id", flat=True)
        )
    for system, value in external_ids:
        ids.update(
            ExternalId.objects.filter(system=system, value=value).values_list(
                "contact_id", flat=True
            )
        )
    domains = sorted(
        {
            dedupe.email_domain(e)
            for e in emails
            if dedupe.email_domain(e) not in dedupe.FREE_MAIL_DOMAINS
        }
    )[:3]
    if last_name:
        namesakes = Contact.objects.filter(last_name__in=_name_variants(last_name))
        near = Q()
        if city:
            near |= Q(city__in=_name_variants(city))
        if organization_ids:
            near |= Q(memberships__organization__in=list(organization_ids))
        for domain in domains:
            near |= Q(primary_email__endswith=f"@{domain}")
        if first_name:
            near |= Q(first_name__in=_name_variants(first_name))
        if near:
            ids.update(
                namesakes.filter(near).values_list("pk", flat=True).distinct()[:CANDIDATE_LIMIT]
            )
    # A misspelt last name is not a namesake: look among colleagues (same organization or
    # company domain) whose name starts alike.
    alike = Q()
    if last_name:
        alike |= Q(last_name__istartswith=last_name.strip()[:2])
    if first_name:
        alike |= Q(first_name__in=_name_variants(first_name))
    if alike:
        workplace = Q()
        if organization_ids:
            workplace |= Q(memberships__organization__in=list(organization_ids))
        for domain in domains:
            workplace |= Q(primary_email__endswith=f"@{domain}")
        if workplace:
            ids.update(
                Contact.objects.filter(workplace)
                .filter(alike)
                .values_list("pk", flat=True)
                .distinct()[:CANDIDATE_LIMIT]
            )
    ids.discard(exclude_pk)
    if not ids:
        return ids
    return set(
        Contact.objects.filter(pk__in=ids, is_archived=False).values_list("pk", flat=True)[
            :CANDIDATE_LIMIT
        ]
    )


def person_of(contact_id: int) -> dedupe.Person | None:
    columns = people_columns([contact_id])
    people = _people_from_columns(columns)
    return people[0] if people else None


def _people_from_columns(columns: dedupe.PeopleColumns) -> list[dedupe.Person]:
    def grouped(identifiers):
        result: dict[int, list[str]] = {}
        for row, value in zip(*identifiers, strict=True):
            result.setdefault(row, []).append(value)
        return result

    emails, phones, external = (
        grouped(columns.emails),
        grouped(columns.phones),
        grouped(columns.external_ids),
    )
    return [
        dedupe.Person(
            key=key,
            first_name=columns.first_names[row],
            last_name=columns.last_names[row],
            emails=tuple(emails.get(row, ())),
            phones=tuple(phones.get(row, ())),
            external_ids=tuple(external.get(row, ())),
            organization=columns.organizations[row],
            organization_domain=columns.organization_domains[row],
            city=columns.cities[row],
            postcode=columns.postcodes[row],
        )
        for row, key in enumerate(columns.keys)
    ]


def matches_for_person(
    person: dedupe.Person,
    *,
    organization_ids=(),
    threshold: float | None = None,
    matching: Matching | None = None,
) -> list[dedupe.Match]:
    """The active contacts `person` likely duplicates, best first."""
    matching = matching or matching_for(Entity.CONTACT)
    if not matching.rules:
        return []
    ids = candidate_ids(
        first_name=person.first_name,
        last_name=person.last_name,
        emails=person.emails,
        phones=person.phones,
        external_ids=[tuple(e.split(":", 1)) for e in person.external_ids if ":" in e],
        organization_ids=organization_ids,
        city=person.city,
        exclude_pk=person.key,
    )
    if not ids:
        return []
    candidates = _people_from_columns(people_columns(sorted(ids)))
    return dedupe.match_one(
        Entity.CONTACT,
        person,
        candidates,
        matching.rules,
        threshold=matching.review_threshold if threshold is None else threshold,
    )


def record_suspects_for_contacts(contact_ids: list[int]) -> int:
    """Compare each of `contact_ids` with the database and record the suspected pairs."""
    matching = matching_for(Entity.CONTACT)
    columns = people_columns(contact_ids)
    found: dict[tuple[int, int], dedupe.Match] = {}
    for person in _people_from_columns(columns):
        organization_ids = list(
            Membership.objects.filter(contact_id=person.key).values_list(
                "organization_id", flat=True
            )
        )
        for match in matches_for_person(
            person, organization_ids=organization_ids, matching=matching
        ):
            found[(match.key_a, match.key_b)] = match
    created, _updated, _removed = record_matches(Entity.CONTACT, list(found.values()))
    return created


def record_suspects_for_organizations(organization_ids: list[int]) -> int:
    """Compare each of `organization_ids` with the organizations sharing a name sound, domain
    or phone, and record the suspected pairs."""
    matching = matching_for(Entity.ORGANIZATION)
    if not matching.rules:
        return 0
    found: dict[tuple[int, int], dedupe.Match] = {}
    for organization in Organization.objects.filter(pk__in=organization_ids, is_archived=False):
        key = dedupe.organization_key(organization.name)
        first_word = key.split(" ", 1)[0] if key else ""
        near = Q(pk__in=[])
        if organization.domain:
            near |= Q(domain=organization.domain)
        if organization.phone:
            near |= Q(phone=organization.phone)
        if first_word:
            near |= Q(search_text__startswith=first_word)
        candidate_pks = list(
            Organization.objects.filter(near, is_archived=False)
            .exclude(pk=organization.pk)
            .values_list("pk", flat=True)[:CANDIDATE_LIMIT]
        )
        if not candidate_pks:
            continue
        columns = company_columns([organization.pk, *candidate_pks])
        table = dedupe.companies_table(columns)
        row = list(columns.keys).index(organization.pk)
        others = [i for i in range(len(columns.keys)) if i != row]
        n = len(table)
        codes = [min(row, i) * n + max(row, i) for i in others]
        scored = dedupe.score_pairs(
            table,
            np.asarray(sorted(codes), dtype=np.int64),
            matching.rules,
            threshold=matching.review_threshold,
        )
        for match in dedupe.explain(table, scored, matching.rules):
            found[(match.key_a, match.key_b)] = match
    created, _updated, _removed = record_matches(Entity.ORGANIZATION, list(found.values()))
    return created


def score_two(entity: str, first_pk: int, second_pk: int) -> tuple[float, list[str]]:
    """The score and reasons the rules give two particular records, however low."""
    matching = matching_for(entity)
    if entity == Entity.CONTACT:
        table = dedupe.people_table(people_columns([first_pk, second_pk]))
    else:
        table = dedupe.companies_table(company_columns([first_pk, second_pk]))
    if len(table) < 2 or not matching.rules:
        return 0.0, []
    scored = dedupe.score_pairs(
        table, np.asarray([1], dtype=np.int64), matching.rules, threshold=0.0
    )
    [match] = dedupe.explain(table, scored, matching.rules)
    return match.score, list(match.reasons)


def duplicate_warnings(data: dict, exclude_pk=None, user=None) -> list[dict]:
    """The contact check the form runs before saving: likely duplicates of the data typed in.

    `data` holds first_name, last_name, emails, phones and organization (a name). With `user`,
    contacts that user may see are named and the others mentioned without name or link;
    without one, nobody is named.
    """
    emails = _clean_emails(data.get("emails"))
    phones = _clean_phones(data.get("phones"), data.get("country") or None)
    organization_name = (data.get("organization") or "").strip()
    organization_ids = []
    if organization_name:
        organization_ids = list(
            Organization.objects.filter(name__in=_name_variants(organization_name)).values_list(
                "pk", flat=True
            )[:20]
        )
    person = dedupe.Person(
        key=-1,
        first_name=data.get("first_name") or "",
        last_name=data.get("last_name") or "",
        emails=tuple(emails),
        phones=tuple(phones),
        organization=organization_name,
        city=data.get("city") or "",
        postcode=data.get("postcode") or "",
    )
    matches = [
        m
        for m in matches_for_person(person, organization_ids=organization_ids)
        if exclude_pk is None or exclude_pk not in (m.key_a, m.key_b)
    ][:5]
    if not matches:
        return []
    other_ids = [m.key_b if m.key_a == -1 else m.key_a for m in matches]
    visible = Contact.objects.filter(pk__in=other_ids)
    if user is not None:
        visible = visible.visible_to(user)
    contacts = {c.pk: c for c in visible}
    warnings = []
    for match, other_id in zip(matches, other_ids, strict=True):
        contact = contacts.get(other_id)
        why = ", ".join(match.reasons)
        if contact is None:
            message = f"A contact you cannot open looks like the same person ({why})."
            url = ""
        elif user is None:
            # Without knowing who asks, name no one: the link answers 404 outside their scope.
            message = f"Looks like an existing contact ({why})."
            url = contact.get_absolute_url()
        else:
            message = f"Looks like {contact.full_name} ({why})."
            url = contact.get_absolute_url()
        warnings.append({"message": message, "url": url, "score": match.score})
    return warnings
