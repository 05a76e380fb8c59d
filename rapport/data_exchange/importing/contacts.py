"""Importing contacts: clean each row, find the contact it means, then create or update.

A row means an existing contact when it carries the same external id, then the same email
(its own or an alias left by a merge), then when the matching rules score it at the import
threshold against contacts sharing its phone, then when the very same row was imported before.
Matching rows follow the chosen policy (skip, fill empty fields, overwrite); a blank cell never
clears a value. New contacts are written in bulk per batch with everything create_contact would
write (emails, phones, external id, membership, first lifecycle step, tags, search text, audit
record, ContactCreated), because a million rows one service call at a time would take hours;
updates go through contacts.services.update_contact, one by one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import phonenumbers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain
from rapport.audit.models import ChangeAction, ChangeRecord
from rapport.audit.querysets import changed_since as audit_changed_since
from rapport.audit.services import record_deletions, stamp
from rapport.contacts import search
from rapport.contacts import services as contact_services
from rapport.contacts.choices import LEAD_STAGES, ContactSource, LabelKind, LifecycleStage
from rapport.contacts.events import ContactCreated, OrganizationCreated
from rapport.contacts.identity import (
    DEFAULT_PHONE_REGION,
    is_valid_phone,
    normalize_domain,
    normalize_email,
    search_digits,
)
from rapport.contacts.models import (
    Contact,
    ContactEmail,
    ContactPhone,
    ExternalId,
    LifecycleChange,
    Membership,
    Organization,
    Tag,
)
from rapport.core.importing import (
    DEFAULT_SYSTEM,
    Importer,
    RowErrors,
    RowResult,
    SourceRow,
    Target,
)
from rapport.customfields.choices import Entity as CustomFieldEntity
from rapport.customfields.services import definitions_for
from rapport.customfields.validation import clean_values
from rapport.data_exchange import dedupe
from rapport.data_exchange.choices import AliasKind, Entity, ImportPolicy, RowAction
from rapport.data_exchange.importing.bulk import BulkWriter
from rapport.data_exchange.importing.history import imported_before
from rapport.data_exchange.matching import Matching, matching_for, people_columns
from rapport.data_exchange.models import IdentityAlias

TEXT_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "job_title": 150,
    "street": 200,
    "city": 100,
    "postcode": 20,
    "region": 100,
    "source_detail": 200,
    "about": 10_000,
}
PLAIN_FIELDS = [*TEXT_LIMITS, "country", "lifecycle_stage"]

CONTACT_TARGETS = (
    Target("external_id", "External id", ("record id", "contact id", "id", "customer id")),
    Target("first_name", "First name", ("firstname", "given name", "first", "vorname")),
    Target("last_name", "Last name", ("lastname", "family name", "surname", "last", "nachname")),
    Target("full_name", "Full name", ("name", "contact name", "full name", "display name")),
    Target(
        "email",
        "Email",
        (
            "email address",
            "e mail",
            "e mail address",
            "e mail 1 value",
            "email 1",
            "primary email",
            "work email",
            "business email",
        ),
    ),
    Target(
        "email_2",
        "Second email",
        ("e mail 2 value", "email 2", "secondary email", "other email", "personal email"),
    ),
    Target("email_3", "Third email", ("e mail 3 value", "email 3", "home email")),
    Target(
        "phone",
        "Phone",
        (
            "phone number",
            "phone 1 value",
            "business phone",
            "work phone",
            "telephone",
            "primary phone",
            "office phone",
        ),
    ),
    Target(
        "mobile",
        "Mobile phone",
        ("mobile", "mobile phone number", "cell", "cell phone", "phone 2 value", "mobile number"),
    ),
    Target("phone_2", "Other phone", ("home phone", "other phone", "phone 3 value")),
    Target("job_title", "Job title", ("title", "position", "job title", "organization 1 title")),
    Target(
        "organization",
        "Organization",
        (
            "company",
            "company name",
            "account name",
            "organisation",
            "organization name",
            "organization 1 name",
            "employer",
            "associated company",
        ),
    ),
    Target(
        "organization_domain",
        "Organization website",
        ("website", "company domain name", "company website", "web site", "domain"),
    ),
    Target("organization_role", "Role in the organization", ("department", "role")),
    Target(
        "street",
        "Street",
        (
            "street address",
            "address",
            "mailing street",
            "address 1 street",
            "address line 1",
            "billing street",
        ),
    ),
    Target("city", "City", ("mailing city", "address 1 city", "town", "billing city")),
    Target(
        "postcode",
        "Postcode",
        (
            "zip",
            "zip code",
            "postal code",
            "mailing zip postal code",
            "mailing zip",
            "mailing postal code",
            "address 1 postal code",
            "zip postal code",
        ),
    ),
    Target(
        "region",
        "Region",
        (
            "state",
            "state region",
            "mailing state",
            "mailing state province",
            "address 1 region",
            "province",
        ),
    ),
    Target("country", "Country", ("country region", "mailing country", "address 1 country")),
    Target("lifecycle_stage", "Lifecycle stage", ("lifecyclestage", "stage")),
    Target(
        "owner",
        "Owner (email)",
        ("owner email", "contact owner", "contact owner email", "owner", "record owner"),
    ),
    Target("tags", "Tags", ("tag", "labels", "group membership")),
    Target(
        "source_detail",
        "Source detail",
        ("lead source", "source", "original source", "contact source"),
    ),
    Target("about", "About", ("notes", "description", "comments", "background info")),
    Target(
        "created_at",
        "Created on",
        (
            "created date",  # Salesforce (CreatedDate)
            "create date",  # HubSpot
            "created time",  # Zoho
            "created at",
            "date created",
            "created",
            "creation date",
        ),
        help="When the contact was first recorded in the system the file comes from: a new "
        "contact keeps it, so cohorts and its history start there.",
    ),
)

STAGE_WORDS = {
    "subscriber": LifecycleStage.SUBSCRIBER,
    "lead": LifecycleStage.LEAD,
    "mql": LifecycleStage.MARKETING_QUALIFIED,
    "marketingqualifiedlead": LifecycleStage.MARKETING_QUALIFIED,
    "marketingqualified": LifecycleStage.MARKETING_QUALIFIED,
    "sql": LifecycleStage.SALES_QUALIFIED,
    "salesqualifiedlead": LifecycleStage.SALES_QUALIFIED,
    "salesqualified": LifecycleStage.SALES_QUALIFIED,
    "opportunity": LifecycleStage.OPPORTUNITY,
    "customer": LifecycleStage.CUSTOMER,
    "loyal": LifecycleStage.LOYAL,
    "loyalcustomer": LifecycleStage.LOYAL,
    "advocate": LifecycleStage.ADVOCATE,
    "evangelist": LifecycleStage.ADVOCATE,
    "churned": LifecycleStage.CHURNED,
    "former customer": LifecycleStage.CHURNED,
    "formercustomer": LifecycleStage.CHURNED,
}
COUNTRY_NAMES = {
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "germany": "DE",
    "deutschland": "DE",
    "france": "FR",
    "spain": "ES",
    "espana": "ES",
    "italy": "IT",
    "italia": "IT",
    "netherlands": "NL",
    "the netherlands": "NL",
    "belgium": "BE",
    "switzerland": "CH",
    "schweiz": "CH",
    "austria": "AT",
    "osterreich": "AT",
    "ireland": "IE",
    "canada": "CA",
    "australia": "AU",
    "new zealand": "NZ",
    "sweden": "SE",
    "norway": "NO",
    "denmark": "DK",
    "finland": "FI",
    "poland": "PL",
    "portugal": "PT",
    "brazil": "BR",
    "mexico": "MX",
    "india": "IN",
    "japan": "JP",
    "china": "CN",
    "singapore": "SG",
    "south africa": "ZA",
}


def clean_country(raw: str) -> str:
    text = raw.strip()
    if not text:
        return ""
    if len(text) == 2 and text.isalpha():
        return text.upper()
    code = COUNTRY_NAMES.get(dedupe.fold(text))
    if code is None:
        raise ValidationError("Use a two-letter country code (e.g. DE) or a country's name.")
    return code


_STAGE_NAMES: dict[str, str] = {}
STAGE_VALUES = frozenset(LifecycleStage.values)
# Plain strings on the per-row path: an enum member's attribute access costs more than the
# rest of a cell's cleaning.
PHONE_COLUMNS = (("phone", "work"), ("mobile", "mobile"), ("phone_2", "other"))
CREATED, ERROR, CONTACT = RowAction.CREATED.value, RowAction.ERROR.value, Entity.CONTACT.value


def clean_stage(raw: str) -> str:
    """A lifecycle stage from its value, its label or another CRM's name for it."""
    text = raw.strip()
    if not text:
        return ""
    if not _STAGE_NAMES:
        for value, label in LifecycleStage.choices:
            _STAGE_NAMES[dedupe.fold(value)] = value
            _STAGE_NAMES[dedupe.fold(label)] = value
        _STAGE_NAMES.update(STAGE_WORDS)
    if text in STAGE_VALUES:
        return text
    folded = dedupe.fold(text)
    stage = _STAGE_NAMES.get(folded) or _STAGE_NAMES.get(folded.replace(" ", ""))
    if stage is None:
        # A file is written by people: the stages by the names they see in Rapport.
        raise ValidationError(
            f"{text[:40]!r} is not a lifecycle stage. Use one of: "
            f"{', '.join(map(str, LifecycleStage.labels))}."
        )
    return stage


def clean_created_at(raw: str):
    """An exported creation date: ISO 8601 as the CRMs write it ("2023-04-05",
    "2023-04-05 10:20:30", Salesforce's "2023-04-05T10:20:30.000+0000"). A time without a
    zone is taken in the current time zone; a date alone is the start of that day."""
    text = raw.strip()
    if len(text) > 40:
        raise ValidationError("Give a date such as 2024-03-31 or 2024-03-31 14:05.")
    if len(text) > 19 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # "+0000" → "+00:00"
    try:
        moment = parse_datetime(text.replace(" ", "T", 1))
        day = None if moment else parse_date(text)
    except ValueError:
        moment = day = None
    if moment is None and day is not None:
        moment = dt.datetime.combine(day, dt.time())
    if moment is None:
        raise ValidationError("Give a date such as 2024-03-31 or 2024-03-31 14:05.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > timezone.now():
        raise ValidationError("A creation date cannot be in the future.")
    if moment.year < 1900:
        raise ValidationError("Give a date after 1900.")
    return moment


def find_owner(raw: str, cache: dict):
    """The active user a cell names — by email, else username, else "First Last" — or None.
    Looked up once per distinct value of the run."""
    key = raw.casefold()
    if key not in cache:
        users = get_user_model().objects.filter(is_active=True)
        if "@" in raw:
            user = users.filter(email__iexact=raw).first()
        else:
            user = users.filter(username__iexact=raw).first()
            parts = raw.split()
            if user is None and len(parts) >= 2:
                user = users.filter(
                    first_name__iexact=parts[0], last_name__iexact=" ".join(parts[1:])
                ).first()
        cache[key] = user
    return cache[key]


def owner_column_problem(raw: str, run) -> tuple[object, str | None]:
    """(the user an `owner` cell names, why the importer may not give them the record): an
    unknown user, a read-only or deactivated one, or one outside the importer's reach
    (`access.owner_problem`, the rule every service applies). Decided once per distinct value."""
    owner = find_owner(raw, run.owners)
    if owner is None:
        return None, f"No active user {raw[:80]!r}; give a user's email address."
    key = ("problem", raw.casefold())
    if key not in run.owners:
        run.owners[key] = access.owner_problem(run.actor, owner, Domain.CONTACTS)
    return owner, run.owners[key]


# What a row that names an existing record outside the importer's access is told, by what
# matched it; the record's values are never shown.
NOT_YOURS = {
    "external_id": "A contact with this id already exists and is not yours",
    "email": "A contact with this email address already exists and is not yours",
    "phone": "A contact with this phone number and a similar name already exists and is not yours",
    "": "This row was imported before into a contact that is not yours",
}
LEFT_ALONE = ": the row was left out and the contact was not changed."
ORGANIZATION_NOT_YOURS = (
    "An organization with this name or website already exists and is not yours: the row was "
    "left out. Ask its owner, or leave the column empty."
)


@dataclass(frozen=True)
class NotYours:
    """What a row resolved to when it means a record the importer may not change."""

    matched_by: str


def writable_ids(actor, model, owners: dict[int, int | None]) -> set[int]:
    """Of the records `owners` (id → owner id), those `actor` may change: `access.can` on each,
    decided in memory, so a batch costs one query (the owners) and never one per row."""
    if actor is None:  # the system itself (a CLI run without --as) is not scoped
        return set(owners)
    return {
        pk
        for pk, owner_id in owners.items()
        if access.can(actor, Action.CHANGE, model(pk=pk, owner_id=owner_id))
    }


def phone_identity(raw: str, region: str) -> tuple[str, str]:
    """(E.164, search digits) of a phone number, by the rules of contacts.identity.normalize_phone
    — parsed once, since parsing is the costliest step of a contacts import."""
    text = raw.strip()
    if len(text) > 40:
        raise ValidationError("Use at most 40 characters.")
    try:
        parsed = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("Enter a valid phone number, e.g. +1 415 555 0100.") from exc
    if not is_valid_phone(parsed, region):
        raise ValidationError("Enter a valid phone number, e.g. +1 415 555 0100.")
    e164 = f"+{parsed.country_code}{parsed.national_number}"
    if parsed.italian_leading_zero:
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, search_digits(e164, parsed.national_number)


# Earlier rows of a batch holding one phone that a later row is compared with.
PHONE_TWIN_CANDIDATES = 50


@dataclass
class Draft:
    """A cleaned row: what the contact should look like after this row."""

    number: int
    fingerprint: str
    fields: dict = field(default_factory=dict)
    emails: list[str] = field(default_factory=list)
    phones: list[tuple[str, str, str]] = field(default_factory=list)  # e164, digits, label
    external_id: str = ""
    organization: str = ""
    organization_domain: str = ""
    organization_role: str = ""
    owner: object = None
    has_owner: bool = False
    tags: list[str] = field(default_factory=list)
    # When the source system first recorded the contact (a new contact keeps it).
    created_at: object = None
    custom_fields: dict = field(default_factory=dict)
    result: RowResult | None = None
    contact_id: int | None = None
    # How the row was matched to an existing contact: "external_id", "email", "phone" or "".
    matched_by: str = ""
    # Drafts of later rows in the same batch that turned out to be this same person.
    followers: list = field(default_factory=list)


@dataclass
class ContactRun:
    """What one import run keeps between batches."""

    job: object
    actor: object
    policy: str
    system: str
    tag_separator: str
    region: str
    matching: Matching
    definitions: list
    check_duplicates: bool
    # New leads without an owner column go to the assignment rules (like a web form's lead, or
    # the lead form's "let the assignment rules pick the owner"); else the importer owns them.
    assign_leads_by_rules: bool = True
    owners: dict = field(default_factory=dict)
    organizations: dict = field(default_factory=dict)  # organization key / domain → id
    # Organizations the importer may not change: a row naming one is refused, not linked.
    foreign_organizations: set = field(default_factory=set)
    tags: dict = field(default_factory=dict)  # folded name → Tag
    # identity → contact id (or a draft, in a dry run): rows seen earlier in this run.
    seen: dict = field(default_factory=dict)
    # E.164 phone → [(row, what that row resolved to)]: earlier rows holding the phone, which
    # the matching rules compare a later row with, as they compare it with the database.
    seen_phones: dict = field(default_factory=dict)
    created_ids: list[int] = field(default_factory=list)
    new_organizations: int = 0
    # Events of the batch being written; the engine delivers them once the batch commits,
    # except to the subscribers listed here (this app's duplicate checks, which the import
    # runs for all its new records at once when it ends).
    events: list = field(default_factory=list)
    skip_subscribers: tuple = ()
    created_organization_ids: list[int] = field(default_factory=list)
    # The custom-field values a new organization starts with, or None when one is required
    # without a default (then `organization_problem` says which).
    organization_defaults: dict | None = None
    organization_problem: str = ""


class ContactImporter(Importer):
    entity = Entity.CONTACT
    label = "Contacts"
    targets = CONTACT_TARGETS
    option_names = (
        "external_id_system",
        "tag_separator",
        "phone_region",
        "check_duplicates",
        "assign_leads_by_rules",
    )
    looked_up_models = (Contact, ContactEmail, ContactPhone, ExternalId)

    def dynamic_targets(self) -> list[Target]:
        return [
            Target(f"custom_fields.{d.key}", d.label, (d.key,))
            for d in definitions_for(CustomFieldEntity.CONTACT)
        ]

    # --- run ---------------------------------------------------------------------------------

    def begin(self, job) -> ContactRun:
        options = job.options or {}
        run = ContactRun(
            job=job,
            actor=job.created_by,
            policy=job.policy,
            system=(options.get("external_id_system") or DEFAULT_SYSTEM)[:50],
            tag_separator=options.get("tag_separator") or ";",
            region=(options.get("phone_region") or DEFAULT_PHONE_REGION).upper(),
            matching=matching_for(Entity.CONTACT),
            definitions=definitions_for(CustomFieldEntity.CONTACT),
            check_duplicates=bool(options.get("check_duplicates", True)),
            assign_leads_by_rules=bool(options.get("assign_leads_by_rules", True)),
        )
        from rapport.data_exchange import subscribers

        run.skip_subscribers = (subscribers.check_new_contact, subscribers.check_new_organization)
        try:
            run.organization_defaults = clean_values(
                definitions_for(CustomFieldEntity.ORGANIZATION), None
            )
        except ValidationError as exc:
            run.organization_problem = "; ".join(
                f"{key.split('.', 1)[-1]}: {messages[0]}"
                for key, messages in exc.message_dict.items()
            )
        organizations = list(
            Organization.objects.order_by("pk").values_list("pk", "name", "domain", "owner_id")
        )
        writable = writable_ids(
            run.actor, Organization, {pk: owner_id for pk, _n, _d, owner_id in organizations}
        )
        # The importer's own organizations first: a name shared with another team's
        # organization means the one the importer may work with.
        organizations.sort(key=lambda row: row[0] not in writable)
        for pk, name, domain, _owner_id in organizations:
            key = dedupe.organization_key(name)
            if key:
                run.organizations.setdefault(("name", key), pk)
            if domain:
                run.organizations.setdefault(("domain", domain), pk)
            if pk not in writable:
                run.foreign_organizations.add(pk)
        return run

    def process_batch(self, rows: list[SourceRow], run: ContactRun, *, dry_run: bool):
        results: list[RowResult] = []
        drafts: list[Draft] = []
        for row in rows:
            try:
                draft = self._clean(row, run)
            except RowErrors as exc:
                results.append(
                    RowResult(
                        number=row.number,
                        action=ERROR,
                        entity=CONTACT,
                        errors=exc.errors,
                        fingerprint=row.fingerprint,
                    )
                )
                continue
            draft.result = RowResult(
                number=row.number,
                action=CREATED,
                entity=CONTACT,
                fingerprint=row.fingerprint,
            )
            drafts.append(draft)
            results.append(draft.result)
        matches = self._match(drafts, run)
        foreign = self._not_writable(matches, run)
        # A row skipped for matching a contact needs only that contact's id.
        skipping = run.policy == ImportPolicy.SKIP
        existing = (
            {}
            if skipping
            else self._load_existing(
                {pk for pk in matches.values() if isinstance(pk, int) and pk not in foreign}
            )
        )
        creates: list[Draft] = []
        unique_seen: dict[str, set] = {}
        for draft in drafts:
            target = matches.get(draft.number)
            if target is None:
                target = self._seen(draft, run)
            if target is None:
                target = self._seen_by_rules(draft, run)
            if isinstance(target, int) and target in foreign:
                target = NotYours(draft.matched_by)
            if isinstance(target, NotYours):
                self._not_yours(draft, target, run)
                continue
            if self._names_foreign_organization(draft, run):
                continue
            if isinstance(target, int) and target not in existing and not skipping:
                # Resolved through a row of an earlier batch of a dry run.
                existing.update(self._load_existing({target}))
            if isinstance(target, Draft):
                self._fold_into(target, draft, run)
            elif isinstance(target, int) and skipping:
                self._skip(draft, target, run)
            elif isinstance(target, int) and target in existing:
                self._update(draft, existing[target], run, dry_run=dry_run)
                if draft.result.action == RowAction.UPDATED and not dry_run:
                    # A later row of this batch may update the same contact: it must start
                    # from what this row left, not from the state read before the batch.
                    existing.update(self._load_existing({target}))
            else:
                errors = self._check_new(draft, run, unique_seen)
                if errors:
                    draft.result.action = RowAction.ERROR
                    draft.result.errors = errors
                    continue
                creates.append(draft)
                self._remember(draft, draft, run)
        if creates and run.organization_defaults is None:
            creates = self._without_unmakeable_organizations(creates, run)
        if creates:
            results.extend(self._create(creates, run, dry_run=dry_run))
        for draft in creates:
            for follower in draft.followers:
                follower.result.object_id = draft.contact_id
        if not dry_run:
            # Later batches find these rows' contacts in the database; the index only has to
            # cover one batch, which keeps a million-row run's memory flat.
            run.seen.clear()
            run.seen_phones.clear()
        return results

    def _not_writable(self, matches: dict[int, int], run: ContactRun) -> set[int]:
        """The matched contacts the importer may not change (one query for the batch)."""
        ids = {pk for pk in matches.values() if isinstance(pk, int)}
        if not ids or run.actor is None:
            return set()
        owners = dict(Contact.objects.filter(pk__any_of=ids).values_list("pk", "owner_id"))
        return ids - writable_ids(run.actor, Contact, owners)

    def _not_yours(self, draft: Draft, target: NotYours, run: ContactRun) -> None:
        """A row meaning a contact outside the importer's access: reported without any of the
        contact's values, never changed, and later rows meaning the same person likewise."""
        result = draft.result
        result.action = RowAction.ERROR
        result.object_id = None
        result.errors = [
            {"field": target.matched_by, "message": NOT_YOURS[target.matched_by] + LEFT_ALONE}
        ]
        self._remember(draft, target, run)

    def _names_foreign_organization(self, draft: Draft, run: ContactRun) -> bool:
        """A row naming an organization the importer may not change is refused (on the
        organization column) rather than linked to it."""
        if not draft.organization or not run.foreign_organizations:
            return False
        found = None
        if draft.organization_domain:
            found = run.organizations.get(("domain", draft.organization_domain))
        found = found or run.organizations.get(
            ("name", dedupe.organization_key(draft.organization))
        )
        if found not in run.foreign_organizations:
            return False
        draft.result.action = RowAction.ERROR
        draft.result.errors = [{"field": "organization", "message": ORGANIZATION_NOT_YOURS}]
        return True

    def _check_new(self, draft: Draft, run: ContactRun, unique_seen: dict) -> list[dict]:
        """What stops a new contact being created from this row: a required custom field it
        lacks, a unique custom-field value already taken."""
        try:
            draft.custom_fields = clean_values(run.definitions, draft.custom_fields)
        except ValidationError as exc:
            return [
                {"field": key, "message": messages[0]} for key, messages in exc.message_dict.items()
            ]
        errors = []
        for definition in run.definitions:
            value = draft.custom_fields.get(definition.key)
            if not definition.is_unique or value is None:
                continue
            seen = unique_seen.setdefault(definition.key, set())
            taken = (
                value in seen
                or Contact.objects.filter(**{f"custom_fields__{definition.key}": value}).exists()
            )
            if taken:
                errors.append(
                    {
                        "field": f"custom_fields.{definition.key}",
                        "message": "Another record already has this value.",
                    }
                )
            seen.add(value)
        return errors

    def finish(self, job, run: ContactRun) -> None:
        """Compare a few new contacts (and organizations) with the database at once, so their
        likely duplicates show as the import ends. Many are left to the full detection that
        every import that wrote records queues in the worker (`subscribers.detect_after_import`),
        which is cheaper than comparing them one by one."""
        from rapport.data_exchange import matching

        if not run.check_duplicates:
            return
        if run.created_ids and len(run.created_ids) <= 2000:
            matching.record_suspects_for_contacts(run.created_ids)
        if run.created_organization_ids and len(run.created_organization_ids) <= 500:
            matching.record_suspects_for_organizations(run.created_organization_ids)

    # --- cleaning ----------------------------------------------------------------------------

    def _clean(self, row: SourceRow, run: ContactRun) -> Draft:
        values = row.values
        errors: list[dict] = []
        draft = Draft(number=row.number, fingerprint=row.fingerprint)

        def fail(target, message):
            errors.append({"field": target, "message": message})

        full_name = values.get("full_name", "").strip()
        if full_name and not (values.get("first_name") or values.get("last_name")):
            if "," in full_name:
                last, _, first = full_name.partition(",")
            else:
                first, _, last = full_name.rpartition(" ")
                if not first:
                    first, last = last, ""
            values = {**values, "first_name": first.strip(), "last_name": last.strip()}
        for name, limit in TEXT_LIMITS.items():
            text = values.get(name, "").strip()
            if not text:
                continue
            if "\x00" in text:
                fail(name, "Contains a null character.")
            elif len(text) > limit:
                fail(name, f"Use at most {limit} characters (it has {len(text)}).")
            else:
                draft.fields[name] = text
        for name, clean in (("country", clean_country), ("lifecycle_stage", clean_stage)):
            raw = values.get(name, "")
            if raw.strip():
                try:
                    draft.fields[name] = clean(raw)
                except ValidationError as exc:
                    fail(name, exc.messages[0])
        for name in ("email", "email_2", "email_3"):
            raw = values.get(name, "").strip()
            if not raw:
                continue
            try:
                email = normalize_email(raw)
            except ValidationError as exc:
                fail(name, exc.messages[0])
                continue
            if email not in draft.emails:
                draft.emails.append(email)
        region = draft.fields.get("country") or run.region
        for name, label in PHONE_COLUMNS:
            raw = values.get(name, "").strip()
            if not raw:
                continue
            try:
                e164, digits = phone_identity(raw, region)
            except ValidationError as exc:
                fail(name, exc.messages[0])
                continue
            if all(e164 != p[0] for p in draft.phones):
                draft.phones.append((e164, digits, label))
        external = values.get("external_id", "").strip()
        if external:
            if len(external) > 200:
                fail("external_id", "Use at most 200 characters.")
            else:
                draft.external_id = external
        organization = " ".join(values.get("organization", "").split())
        if len(organization) > 200:
            fail("organization", "Use at most 200 characters.")
        else:
            draft.organization = organization
        domain_raw = values.get("organization_domain", "").strip()
        if domain_raw:
            domain = normalize_domain(domain_raw)
            if "." not in domain or " " in domain or len(domain) > 253:
                fail("organization_domain", "Enter a domain such as example.com.")
            else:
                draft.organization_domain = domain
        role = values.get("organization_role", "").strip()
        if len(role) > 150:
            fail("organization_role", "Use at most 150 characters.")
        draft.organization_role = role
        owner_raw = values.get("owner", "").strip()
        if owner_raw:
            owner, problem = owner_column_problem(owner_raw, run)
            if problem:
                fail("owner", problem)
            else:
                draft.owner, draft.has_owner = owner, True
        created_raw = values.get("created_at", "").strip()
        if created_raw:
            try:
                draft.created_at = clean_created_at(created_raw)
            except ValidationError as exc:
                fail("created_at", exc.messages[0])
        tags_raw = values.get("tags", "")
        if tags_raw.strip():
            separator = " ::: " if " ::: " in tags_raw else run.tag_separator
            for name in tags_raw.split(separator):
                name = " ".join(name.split())
                if not name or name.startswith("* "):
                    continue  # Google Contacts' system groups ("* myContacts")
                if len(name) > 50:
                    fail("tags", f"Tag {name[:20]!r}… is longer than 50 characters.")
                elif name.casefold() not in {t.casefold() for t in draft.tags}:
                    draft.tags.append(name)
        raw_custom = {
            key.split(".", 1)[1]: value
            for key, value in values.items()
            if key.startswith("custom_fields.") and value.strip()
        }
        if raw_custom:
            try:
                draft.custom_fields = clean_values(run.definitions, raw_custom, partial=True)
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    fail(key, messages[0])
        if not errors and not (
            draft.fields.get("first_name")
            or draft.fields.get("last_name")
            or draft.emails
            or draft.phones
        ):
            fail("", "The row has no name, email or phone: there is no one to import.")
        if errors:
            raise RowErrors(errors)
        return draft

    # --- matching ----------------------------------------------------------------------------

    def _match(self, drafts: list[Draft], run: ContactRun) -> dict[int, int]:
        """Row number → id of the existing contact each row means (rows that match none are
        left out)."""
        found: dict[int, int] = {}
        externals = {d.external_id for d in drafts if d.external_id}
        if externals:
            by_external = dict(
                ExternalId.objects.filter(system=run.system, value__any_of=externals).values_list(
                    "value", "contact_id"
                )
            )
            by_external_alias = dict(
                _contact_aliases(AliasKind.EXTERNAL_ID, externals, system=run.system)
            )
            for draft in drafts:
                pk = by_external.get(draft.external_id) or by_external_alias.get(draft.external_id)
                if pk:
                    found[draft.number] = pk
                    draft.matched_by = "external_id"
        emails = {e for d in drafts if d.number not in found for e in d.emails}
        if emails:
            by_email: dict[str, int] = {}
            for email, pk in (
                ContactEmail.objects.filter(email__any_of=emails)
                .order_by("contact_id")
                .values_list("email", "contact_id")
            ):
                by_email.setdefault(email, pk)
            for email, pk in _contact_aliases(AliasKind.EMAIL, emails):
                by_email.setdefault(email, pk)
            for draft in drafts:
                if draft.number in found:
                    continue
                for email in draft.emails:
                    if email in by_email:
                        found[draft.number] = by_email[email]
                        draft.matched_by = "email"
                        break
        self._match_by_rules([d for d in drafts if d.number not in found], run, found)
        fingerprints = {d.fingerprint for d in drafts if d.number not in found}
        if fingerprints:
            by_fingerprint = imported_before(Entity.CONTACT, fingerprints)
            for draft in drafts:
                if draft.number not in found and draft.fingerprint in by_fingerprint:
                    found[draft.number] = by_fingerprint[draft.fingerprint]
        return found

    def _match_by_rules(self, drafts: list[Draft], run: ContactRun, found: dict) -> None:
        """Rows whose phone is already known: the matching rules decide, at the import
        threshold, whether the contact holding it is the same person."""
        phones = {p[0] for d in drafts for p in d.phones}
        if not phones or not run.matching.rules:
            return
        holders: dict[str, set[int]] = {}
        for number, pk in ContactPhone.objects.filter(number__any_of=phones).values_list(
            "number", "contact_id"
        ):
            holders.setdefault(number, set()).add(pk)
        for number, pk in _contact_aliases(AliasKind.PHONE, phones):
            holders.setdefault(number, set()).add(pk)
        candidate_ids = sorted({pk for pks in holders.values() for pk in pks})
        if not candidate_ids:
            return
        columns = people_columns(candidate_ids)
        from rapport.data_exchange.matching import _people_from_columns

        people = {p.key: p for p in _people_from_columns(columns)}
        for draft in drafts:
            candidates = [
                people[pk] for p in draft.phones for pk in holders.get(p[0], ()) if pk in people
            ]
            if not candidates:
                continue
            person = self._person(draft, run, key=-draft.number)
            matches = dedupe.match_one(
                Entity.CONTACT,
                person,
                list({c.key: c for c in candidates}.values()),
                run.matching.rules,
                threshold=run.matching.import_match_threshold,
            )
            if matches:
                best = matches[0]
                found[draft.number] = best.key_b if best.key_a == person.key else best.key_a
                draft.matched_by = "phone"

    @staticmethod
    def _person(draft: Draft, run: ContactRun, *, key: int) -> dedupe.Person:
        return dedupe.Person(
            key=key,
            first_name=draft.fields.get("first_name", ""),
            last_name=draft.fields.get("last_name", ""),
            emails=tuple(draft.emails),
            phones=tuple(p[0] for p in draft.phones),
            external_ids=(f"{run.system}:{draft.external_id}",) if draft.external_id else (),
            organization=draft.organization,
            organization_domain=draft.organization_domain,
            city=draft.fields.get("city", ""),
            postcode=draft.fields.get("postcode", ""),
        )

    def _seen_by_rules(self, draft: Draft, run: ContactRun):
        """What an earlier row of this batch (or dry run) sharing a phone with `draft` resolved
        to, when the matching rules say it is the same person: a row's outcome must not depend
        on whether its twin fell in the same batch (compared here) or an earlier one (compared
        with the database by `_match_by_rules`)."""
        if not draft.phones or not run.matching.rules:
            return None
        earlier = {
            id(row): (row, target)
            for e164, _digits, _label in draft.phones
            for row, target in run.seen_phones.get(e164, ())
        }
        if not earlier:
            return None
        rows = list(earlier.values())
        matches = dedupe.match_one(
            Entity.CONTACT,
            self._person(draft, run, key=-1),
            [self._person(row, run, key=index) for index, (row, _target) in enumerate(rows)],
            run.matching.rules,
            threshold=run.matching.import_match_threshold,
        )
        if not matches:
            return None
        best = matches[0]
        return rows[best.key_b if best.key_a == -1 else best.key_a][1]

    def _identities(self, draft: Draft, run: ContactRun) -> list[tuple]:
        keys = [("fingerprint", draft.fingerprint)]
        if draft.external_id:
            keys.append(("external_id", draft.external_id))
        keys += [("email", e) for e in draft.emails]
        return keys

    def _seen(self, draft: Draft, run: ContactRun):
        for key in self._identities(draft, run):
            if key in run.seen:
                return run.seen[key]
        return None

    def _remember(self, draft: Draft, target, run: ContactRun) -> None:
        for key in self._identities(draft, run):
            run.seen[key] = target
        for e164, _digits, _label in draft.phones:
            holders = run.seen_phones.setdefault(e164, [])
            # A switchboard number on thousands of rows would make each later row meet them
            # all; the first few are as good a sample of who shares it.
            if len(holders) < PHONE_TWIN_CANDIDATES:
                holders.append((draft, target))

    # --- updating ----------------------------------------------------------------------------

    def _load_existing(self, ids: set[int]) -> dict[int, Contact]:
        if not ids:
            return {}
        return {
            c.pk: c
            for c in Contact.objects.filter(pk__in=ids)
            .select_related("owner")
            .prefetch_related("emails", "phones", "tags", "external_ids", "memberships")
        }

    def _fold_into(self, target: Draft, draft: Draft, run: ContactRun) -> None:
        """A later row of the same batch (or of this dry run) describes a contact that an
        earlier row is creating: apply the policy to the pending values."""
        result = draft.result
        result.pending = target
        if run.policy == ImportPolicy.SKIP:
            result.action = RowAction.SKIPPED
        else:
            changed = {}
            for name, value in draft.fields.items():
                current = target.fields.get(name, "")
                if current and run.policy == ImportPolicy.UPDATE_EMPTY:
                    continue
                if value != current:
                    target.fields[name] = value
                    changed[name] = value
            for email in draft.emails:
                if email not in target.emails:
                    target.emails.append(email)
                    changed.setdefault("emails", []).append(email)
            for phone in draft.phones:
                if all(phone[0] != p[0] for p in target.phones):
                    target.phones.append(phone)
                    changed.setdefault("phones", []).append(phone[0])
            for tag in draft.tags:
                if tag.casefold() not in {t.casefold() for t in target.tags}:
                    target.tags.append(tag)
                    changed.setdefault("tags", []).append(tag)
            for key, value in draft.custom_fields.items():
                current = target.custom_fields.get(key)
                if current not in (None, "", []) and run.policy == ImportPolicy.UPDATE_EMPTY:
                    continue
                if value != current:
                    target.custom_fields[key] = value
                    changed[f"custom_fields.{key}"] = value
            if draft.has_owner and (run.policy == ImportPolicy.OVERWRITE or not target.has_owner):
                target.owner, target.has_owner = draft.owner, True
            if draft.external_id and not target.external_id:
                target.external_id = draft.external_id
            if draft.organization and not target.organization:
                target.organization = draft.organization
                target.organization_domain = draft.organization_domain
            result.action = RowAction.UPDATED if changed else RowAction.UNCHANGED
            result.after = {"same_as_row": target.number, **{k: v for k, v in changed.items()}}
        target.followers.append(draft)
        self._remember(draft, target, run)

    def _changes(self, draft: Draft, contact: Contact, run: ContactRun) -> tuple[dict, dict]:
        """(changes for update_contact, the values they replace)."""
        overwrite = run.policy == ImportPolicy.OVERWRITE
        changes, before = {}, {}
        for name, value in draft.fields.items():
            current = getattr(contact, name)
            if current and not overwrite:
                continue
            if name == "lifecycle_stage" and not overwrite:
                continue  # every contact has a stage; only overwriting replaces it
            if value != current:
                changes[name], before[name] = value, current
        if (
            draft.has_owner
            and draft.owner.pk != contact.owner_id
            and (overwrite or contact.owner_id is None)
        ):
            changes["owner"], before["owner"] = draft.owner, contact.owner_id
        emails = [e.email for e in contact.emails.all()]
        new_emails = [e for e in draft.emails if e not in emails]
        if new_emails:
            changes["emails"] = [
                {"email": e.email, "label": e.label, "is_primary": e.is_primary}
                for e in contact.emails.all()
            ] + [{"email": e} for e in new_emails]
            before["emails"] = emails
        numbers = [p.number for p in contact.phones.all()]
        new_phones = [p for p in draft.phones if p[0] not in numbers]
        if new_phones:
            changes["phones"] = [
                {"number": p.number, "label": p.label, "is_primary": p.is_primary}
                for p in contact.phones.all()
            ] + [{"number": p[0], "label": p[2]} for p in new_phones]
            before["phones"] = numbers
        tag_names = [t.name for t in contact.tags.all()]
        new_tags = [t for t in draft.tags if t.casefold() not in {n.casefold() for n in tag_names}]
        if new_tags:
            changes["tags"], before["tags"] = tag_names + new_tags, tag_names
        if draft.external_id:
            existing = [(x.system, x.value) for x in contact.external_ids.all()]
            if (run.system, draft.external_id) not in existing and not any(
                system == run.system for system, _ in existing
            ):
                taken = ExternalId.objects.filter(
                    system=run.system, value=draft.external_id
                ).exists()
                if not taken:
                    changes["external_ids"] = [{"system": s, "value": v} for s, v in existing] + [
                        {"system": run.system, "value": draft.external_id}
                    ]
                    before["external_ids"] = [{"system": s, "value": v} for s, v in existing]
        custom = {}
        for key, value in draft.custom_fields.items():
            current = (contact.custom_fields or {}).get(key)
            if current not in (None, "", []) and not overwrite:
                continue
            if value != current:
                custom[key] = value
                before.setdefault("custom_fields", {})[key] = current
        if custom:
            changes["custom_fields"] = custom
        return changes, before

    def _skip(self, draft: Draft, contact_id: int, run: ContactRun) -> None:
        draft.result.object_id = contact_id
        draft.result.action = RowAction.SKIPPED
        self._remember(draft, contact_id, run)

    def _update(self, draft: Draft, contact: Contact, run: ContactRun, *, dry_run: bool) -> None:
        result = draft.result
        result.object_id = contact.pk
        self._remember(draft, contact.pk, run)
        changes, before = self._changes(draft, contact, run)
        organization_id = None
        if draft.organization:
            organization_id = self._organization_id(draft, run, dry_run=dry_run, results=None)
            member_of = {m.organization_id for m in contact.memberships.all()}
            if organization_id in member_of:
                organization_id = None
        if not changes and organization_id is None:
            result.action = RowAction.UNCHANGED
            return
        result.action = RowAction.UPDATED
        result.before = before
        result.after = {k: (v.pk if hasattr(v, "pk") else v) for k, v in changes.items()}
        if organization_id is not None:
            result.after["organization_added"] = (
                organization_id if isinstance(organization_id, int) else draft.organization
            )
        if dry_run:
            return
        try:
            with transaction.atomic():
                if changes:
                    contact_services.update_contact(actor=run.actor, contact=contact, **changes)
                if isinstance(organization_id, int):
                    contact_services.add_membership(
                        actor=run.actor,
                        contact=contact,
                        organization=Organization.objects.get(pk=organization_id),
                        role=draft.organization_role,
                    )
        except ValidationError as exc:
            # The savepoint rolled back this row alone; the rest of the batch goes on.
            result.action = RowAction.ERROR
            result.before, result.after = {}, {}
            result.errors = [
                {"field": _target_of(key), "message": message}
                for key, messages in exc.message_dict.items()
                for message in messages
            ]
        except PermissionDenied as exc:
            result.action = RowAction.ERROR
            result.before, result.after = {}, {}
            result.errors = [{"field": "", "message": str(exc)}]

    # --- creating ----------------------------------------------------------------------------

    def _organization_id(self, draft: Draft, run: ContactRun, *, dry_run: bool, results):
        key = dedupe.organization_key(draft.organization)
        found = None
        if draft.organization_domain:
            found = run.organizations.get(("domain", draft.organization_domain))
        found = found or run.organizations.get(("name", key))
        if found is not None:
            return found
        if dry_run:
            placeholder = f"new:{key}"
            run.organizations[("name", key)] = placeholder
            if results is not None:
                results.append(
                    RowResult(
                        number=draft.number,
                        action=RowAction.CREATED,
                        entity=Entity.ORGANIZATION,
                        after={"name": draft.organization},
                    )
                )
            return placeholder
        organization = contact_services.create_organization(
            actor=run.actor,
            name=draft.organization,
            domain=draft.organization_domain,
        )
        run.organizations[("name", key)] = organization.pk
        if draft.organization_domain:
            run.organizations[("domain", draft.organization_domain)] = organization.pk
        run.new_organizations += 1
        if results is not None:
            results.append(
                RowResult(
                    number=draft.number,
                    action=RowAction.CREATED,
                    entity=Entity.ORGANIZATION,
                    object_id=organization.pk,
                    after={"name": organization.name},
                )
            )
        return organization.pk

    def _tag(self, name: str, run: ContactRun) -> Tag:
        key = name.casefold()
        tag = run.tags.get(key)
        if tag is None:
            tag = contact_services.ensure_tags([name])[0]
            run.tags[key] = tag
        return tag

    def _without_unmakeable_organizations(self, drafts: list[Draft], run: ContactRun):
        """Rows naming an unknown organization, when organizations cannot be made here."""
        kept = []
        for draft in drafts:
            known = not draft.organization or (
                (
                    draft.organization_domain
                    and ("domain", draft.organization_domain) in run.organizations
                )
                or ("name", dedupe.organization_key(draft.organization)) in run.organizations
            )
            if known:
                kept.append(draft)
                continue
            draft.result.action = RowAction.ERROR
            draft.result.errors = [
                {
                    "field": "organization",
                    "message": f"No organization {draft.organization[:80]!r} yet, and one cannot "
                    f"be created from a contact row ({run.organization_problem}).",
                }
            ]
        return kept

    def _organization_ids(self, drafts: list[Draft], run: ContactRun, *, dry_run: bool, writer):
        """Row number → organization id, for the new contacts naming one. Organizations not
        known yet are created in bulk, audited, with OrganizationCreated sent for each."""
        found: dict[int, object] = {}
        extra: list[RowResult] = []
        new: dict[str, tuple[str, str, int]] = {}
        for draft in drafts:
            if not draft.organization:
                continue
            key = dedupe.organization_key(draft.organization)
            pk = None
            if draft.organization_domain:
                pk = run.organizations.get(("domain", draft.organization_domain))
            pk = pk or run.organizations.get(("name", key))
            if pk is None:
                new.setdefault(key, (draft.organization, draft.organization_domain, draft.number))
                found[draft.number] = ("new", key)
            else:
                found[draft.number] = pk
        if not new:
            return found, extra
        now = timezone.now()
        created: dict[str, object] = {}
        if dry_run:
            for key, (name, _domain, number) in new.items():
                created[key] = f"new:{key}"
                extra.append(
                    RowResult(
                        number=number,
                        action=RowAction.CREATED,
                        entity=Entity.ORGANIZATION,
                        after={"name": name},
                    )
                )
        else:
            ids = writer.reserve_ids(Organization, len(new))
            rows, records = [], []
            audit = _Audit(run, now)
            owner_id = _user_id(run.actor)
            for pk, (key, (name, domain, number)) in zip(ids, new.items(), strict=True):
                created[key] = pk
                rows.append(
                    {
                        "id": pk,
                        "name": name,
                        "domain": domain,
                        "owner_id": owner_id,
                        "custom_fields": run.organization_defaults,
                        "search_text": search.organization_search_text(name=name, domain=domain),
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                records.append(
                    audit.created(
                        "contacts.organization", pk, name, {"name": name, "domain": domain}, number
                    )
                )
                extra.append(
                    RowResult(
                        number=number,
                        action=RowAction.CREATED,
                        entity=Entity.ORGANIZATION,
                        object_id=pk,
                        after={"name": name},
                    )
                )
            writer.insert(Organization, rows)
            writer.insert(ChangeRecord, records)
            run.events.extend(
                OrganizationCreated(organization_id=pk, actor_id=owner_id) for pk in ids
            )
            run.new_organizations += len(ids)
            run.created_organization_ids.extend(ids)
        for key, (_name, domain, _number) in new.items():
            run.organizations[("name", key)] = created[key]
            if domain:
                run.organizations.setdefault(("domain", domain), created[key])
        for number, value in list(found.items()):
            if isinstance(value, tuple):
                found[number] = created[value[1]]
        return found, extra

    def _create(self, drafts: list[Draft], run: ContactRun, *, dry_run: bool) -> list[RowResult]:
        writer = BulkWriter(connection)
        organization_ids, extra = self._organization_ids(
            drafts, run, dry_run=dry_run, writer=writer
        )
        if dry_run:
            for draft in drafts:
                name = f"{draft.fields.get('first_name', '')} {draft.fields.get('last_name', '')}"
                draft.result.after = {"name": name.strip()}
            return extra
        now = timezone.now()
        actor_id = _user_id(run.actor)
        ids = writer.reserve_ids(Contact, len(drafts))
        audit = _Audit(run, now)
        contacts, emails, phones, externals, memberships = [], [], [], [], []
        history, tag_links, records = [], [], []
        for draft, pk in zip(drafts, ids, strict=True):
            fields = draft.fields
            first, last = fields.get("first_name", ""), fields.get("last_name", "")
            stage = fields.get("lifecycle_stage") or LifecycleStage.LEAD
            # The source system's creation date, when the file gives one, starts the contact's
            # life and its first lifecycle step; the audit record still says when it came in.
            since = draft.created_at or now
            draft.contact_id = pk
            draft.result.object_id = pk
            run.created_ids.append(pk)
            contacts.append(
                {
                    **fields,  # cleaned column values; the writer fills the absent ones with ""
                    "id": pk,
                    "lifecycle_stage": stage,
                    "lifecycle_changed_at": since,
                    "owner_id": _new_owner_id(draft, stage, actor_id, run),
                    "source": ContactSource.IMPORT,
                    "custom_fields": draft.custom_fields,
                    "primary_email": draft.emails[0] if draft.emails else "",
                    "primary_phone": draft.phones[0][0] if draft.phones else "",
                    "search_text": search.contact_search_text(
                        first_name=first,
                        last_name=last,
                        emails=draft.emails,
                        phone_digits=[p[1] for p in draft.phones],
                        organizations=[draft.organization] if draft.organization else [],
                    ),
                    "is_archived": False,
                    "created_at": since,
                    "updated_at": now,
                }
            )
            for index, email in enumerate(draft.emails):
                emails.append(
                    {
                        "contact_id": pk,
                        "email": email,
                        "label": LabelKind.WORK,
                        "is_primary": index == 0,
                    }
                )
            for index, (e164, _digits, label) in enumerate(draft.phones):
                phones.append(
                    {"contact_id": pk, "number": e164, "label": label, "is_primary": index == 0}
                )
            if draft.external_id:
                externals.append(
                    {"contact_id": pk, "system": run.system, "value": draft.external_id}
                )
            organization_id = organization_ids.get(draft.number)
            if isinstance(organization_id, int):
                memberships.append(
                    {
                        "contact_id": pk,
                        "organization_id": organization_id,
                        "role": draft.organization_role,
                        "is_primary": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            history.append(
                {
                    "contact_id": pk,
                    "from_stage": "",
                    "to_stage": stage,
                    "changed_at": since,
                    "actor_id": actor_id,
                    "reason": "imported",
                }
            )
            for name in draft.tags:
                tag_links.append({"contact_id": pk, "tag_id": self._tag(name, run).pk})
            records.append(
                audit.created(
                    "contacts.contact",
                    pk,
                    f"{first} {last}".strip() or (draft.emails[0] if draft.emails else ""),
                    {
                        "first_name": first,
                        "last_name": last,
                        "emails": draft.emails,
                        "phones": [p[0] for p in draft.phones],
                    },
                    draft.number,
                )
            )
        writer.insert(Contact, contacts)
        for model, rows in (
            (ContactEmail, emails),
            (ContactPhone, phones),
            (ExternalId, externals),
            (Membership, memberships),
            (LifecycleChange, history),
            (Contact.tags.through, tag_links),
            (ChangeRecord, records),
        ):
            writer.insert(model, rows)
        run.events.extend(
            ContactCreated(contact_id=pk, actor_id=actor_id, source=ContactSource.IMPORT)
            for pk in ids
        )
        return extra

    # --- undo --------------------------------------------------------------------------------

    def undo(self, job, rows, actor) -> dict:
        """Delete the contacts (and organizations) this import created, unless they changed
        since; put back the values it replaced where nobody changed them since."""
        from rapport.interactions.models import Interaction

        report = {"deleted": 0, "restored": 0, "kept_changed_since": 0, "already_gone": 0}
        finished = job.finished_at or job.created_at
        created = [
            r.object_id
            for r in rows
            if r.action == RowAction.CREATED and r.entity == Entity.CONTACT and r.object_id
        ]
        changed_since = audit_changed_since("contacts.contact", created, finished)
        changed_since |= set(
            Interaction.objects.filter(contact_id__in=created).values_list("contact_id", flat=True)
        )
        deletable = [pk for pk in created if pk not in changed_since]
        existing = set(Contact.objects.filter(pk__in=deletable).values_list("pk", flat=True))
        report["already_gone"] += len(set(deletable) - existing)
        report["kept_changed_since"] += len([pk for pk in created if pk in changed_since])
        message = f"import #{job.pk} undone"
        for start in range(0, len(deletable), 500):
            chunk = [pk for pk in deletable[start : start + 500] if pk in existing]
            report["deleted"] += len(chunk)
            Contact.objects.filter(pk__in=chunk).delete()
            record_deletions(
                actor=actor, entity="contacts.contact", object_ids=chunk, message=message
            )
        gone = set(deletable)
        for row in rows:
            if row.action != RowAction.UPDATED or row.entity != Entity.CONTACT or not row.before:
                continue
            if row.object_id in gone:
                continue
            contact = Contact.objects.filter(pk=row.object_id).first()
            if contact is None:
                report["already_gone"] += 1
                continue
            restore = self._restorable(contact, row)
            if restore is None:
                report["kept_changed_since"] += 1
                continue
            if restore:
                contact_services.update_contact(actor=actor, contact=contact, **restore)
            report["restored"] += 1
        organizations = [
            r.object_id
            for r in rows
            if r.action == RowAction.CREATED and r.entity == Entity.ORGANIZATION and r.object_id
        ]
        if organizations:
            empty = list(
                Organization.objects.filter(pk__in=organizations).exclude(
                    Q(memberships__isnull=False)
                )
            )
            report["organizations_deleted"] = len(empty)
            record_deletions(actor=actor, instances=empty, message=message)
            Organization.objects.filter(pk__in=[o.pk for o in empty]).delete()
        return report

    def _restorable(self, contact: Contact, row) -> dict | None:
        """The values to put back, or None when the contact changed since the import."""
        after, before = row.after, row.before
        restore = {}
        for name, old in before.items():
            if name in ("emails", "phones", "tags", "external_ids"):
                current = {
                    "emails": lambda: [e.email for e in contact.emails.all()],
                    "phones": lambda: [p.number for p in contact.phones.all()],
                    "tags": lambda: [t.name for t in contact.tags.all()],
                    "external_ids": lambda: [
                        {"system": x.system, "value": x.value} for x in contact.external_ids.all()
                    ],
                }[name]()
                expected = after.get(name)
                if name == "emails":
                    expected = [e["email"] for e in expected]
                elif name == "phones":
                    expected = [p["number"] for p in expected]
                if sorted(map(str, current)) != sorted(map(str, expected)):
                    return None
                restore[name] = old
            elif name == "custom_fields":
                current = contact.custom_fields or {}
                for key in old:
                    if current.get(key) != after.get("custom_fields", {}).get(key):
                        return None
                restore["custom_fields"] = old
            elif name == "owner":
                if contact.owner_id != after.get("owner"):
                    return None
                restore["owner"] = get_user_model().objects.filter(pk=old).first() if old else None
            else:
                if getattr(contact, name) != after.get(name):
                    return None
                restore[name] = old
        return restore


def _contact_aliases(kind: str, values, **more) -> list[tuple[str, int]]:
    """(value, contact id) of the contacts' aliases of `kind` among `values`. Aliases come from
    merges, and most databases have few: a batch's lookup by thousands of values runs only when
    there is one of the kind."""
    aliases = IdentityAlias.objects.filter(kind=kind, contact__isnull=False, **more)
    if not aliases.exists():
        return []
    return list(aliases.filter(value__any_of=values).values_list("value", "contact_id"))


def _new_owner_id(draft: Draft, stage: str, actor_id: int | None, run: ContactRun) -> int | None:
    """Who owns a new contact: the owner column's user; else, for a lead, nobody yet — the
    sales app's assignment rules place it after the batch commits, as they place a web form's
    lead (ContactCreated, delivered in the batch's events) — unless the import says the
    importer keeps its leads; else the importer."""
    if draft.has_owner:
        return draft.owner.pk
    if stage in LEAD_STAGES and run.assign_leads_by_rules:
        return None
    return actor_id


def _user_id(user):
    return user.pk if getattr(user, "is_authenticated", False) else None


class _Audit:
    """ChangeRecord rows as record_change would write them, for records made by this import:
    what every row of a batch shares is worked out once."""

    def __init__(self, run, now):
        self.job_id, self.file_name = run.job.pk, run.job.file_name
        shared = stamp(run.actor)
        self.shared = {
            **shared,
            "source": shared["source"] or "import",
            "occurred_at": now,
            "action": ChangeAction.CREATE,
            "before": {},
        }

    def created(self, entity: str, pk: int, label: str, after: dict, row: int) -> dict:
        return {
            **self.shared,
            "entity": entity,
            "object_id": str(pk),
            "object_repr": (label or f"#{pk}")[:200],
            "after": {**after, "import_id": self.job_id, "row": row},
            "message": f"imported from {self.file_name}, row {row}"[:300],
        }


def _target_of(service_key: str) -> str:
    """The import field a service error key refers to: 'emails[2].email' → 'email'."""
    if service_key.startswith("custom_fields."):
        return service_key
    head = service_key.split("[", 1)[0].split(".", 1)[0]
    return {"emails": "email", "phones": "phone", "external_ids": "external_id"}.get(head, head)
