"""Importing organizations: a row means an existing organization with the same web domain
(its own or an alias from a merge), then the same name once legal forms are set aside ("ACME
Inc." is "Acme"), then the same row imported before. Organizations are far fewer than contacts,
so each row goes through contacts.services, which validate and audit it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from rapport.audit.querysets import changed_since as audit_changed_since
from rapport.audit.services import record_deletions
from rapport.contacts import services as contact_services
from rapport.contacts.choices import OrganizationSize
from rapport.contacts.identity import DEFAULT_PHONE_REGION, normalize_domain
from rapport.contacts.models import Membership, Organization
from rapport.core.importing import (
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
from rapport.data_exchange.importing.contacts import (
    clean_country,
    owner_column_problem,
    phone_identity,
    writable_ids,
)
from rapport.data_exchange.importing.history import imported_before
from rapport.data_exchange.models import IdentityAlias

TEXT_LIMITS = {
    "name": 200,
    "industry": 100,
    "street": 200,
    "city": 100,
    "postcode": 20,
    "region": 100,
    "description": 10_000,
}

ORGANIZATION_TARGETS = (
    Target(
        "name",
        "Name",
        (
            "company",
            "company name",
            "account name",
            "organization",
            "organisation",
            "organization name",
        ),
    ),
    Target(
        "domain",
        "Web domain",
        ("website", "company domain name", "web site", "company website", "url"),
    ),
    Target("industry", "Industry", ("sector", "branche")),
    Target(
        "size",
        "Size",
        ("employees", "number of employees", "company size", "headcount", "size"),
    ),
    Target("phone", "Phone", ("phone number", "company phone", "main phone", "telephone")),
    Target("street", "Street", ("street address", "address", "billing street", "address 1")),
    Target("city", "City", ("billing city", "town")),
    Target(
        "postcode",
        "Postcode",
        (
            "zip",
            "zip code",
            "postal code",
            "billing zip postal code",
            "billing postal code",
            "billing code",
        ),
    ),
    Target(
        "region",
        "Region",
        ("state", "state region", "billing state province", "billing state", "province"),
    ),
    Target("country", "Country", ("country region", "billing country")),
    Target("description", "Description", ("about", "notes", "about us")),
    Target("owner", "Owner (email)", ("owner email", "company owner", "account owner", "owner")),
    Target("tags", "Tags", ("tag", "labels")),
)


def clean_size(raw: str) -> str:
    text = raw.strip()
    if not text:
        return ""
    if text in OrganizationSize.values:
        return text
    digits = "".join(ch for ch in text.split("-")[-1] if ch.isdigit())
    if not digits:
        raise ValidationError(f"Give a headcount or one of: {', '.join(OrganizationSize.values)}.")
    count = int(digits)
    for limit, size in (
        (10, OrganizationSize.MICRO),
        (50, OrganizationSize.SMALL),
        (200, OrganizationSize.MEDIUM),
        (1000, OrganizationSize.LARGE),
    ):
        if count <= limit:
            return size
    return OrganizationSize.ENTERPRISE


@dataclass
class OrganizationRun:
    job: object
    actor: object
    policy: str
    tag_separator: str
    region: str
    definitions: list
    owners: dict = field(default_factory=dict)
    index: dict = field(default_factory=dict)  # ("domain"|"name"|"fingerprint", value) → id
    # Organizations the importer may not change: a row meaning one is refused, never shown.
    foreign: set = field(default_factory=set)


class OrganizationImporter(Importer):
    entity = Entity.ORGANIZATION
    label = "Organizations"
    targets = ORGANIZATION_TARGETS
    option_names = ("tag_separator", "phone_region")

    def dynamic_targets(self) -> list[Target]:
        return [
            Target(f"custom_fields.{d.key}", d.label, (d.key,))
            for d in definitions_for(CustomFieldEntity.ORGANIZATION)
        ]

    def begin(self, job) -> OrganizationRun:
        run = OrganizationRun(
            job=job,
            actor=job.created_by,
            policy=job.policy,
            tag_separator=(job.options or {}).get("tag_separator") or ";",
            region=((job.options or {}).get("phone_region") or DEFAULT_PHONE_REGION).upper(),
            definitions=definitions_for(CustomFieldEntity.ORGANIZATION),
        )
        self._load_index(run)
        return run

    def _load_index(self, run: OrganizationRun) -> None:
        run.index.clear()
        organizations = list(
            Organization.objects.order_by("pk").values_list("pk", "name", "domain", "owner_id")
        )
        writable = writable_ids(
            run.actor, Organization, {pk: owner_id for pk, _n, _d, owner_id in organizations}
        )
        run.foreign = {pk for pk, *_rest in organizations} - writable
        # The importer's own organizations first: a name shared with another team's
        # organization means the one the importer may work with.
        organizations.sort(key=lambda row: row[0] in run.foreign)
        for pk, name, domain, _owner_id in organizations:
            if domain:
                run.index.setdefault(("domain", domain), pk)
            key = dedupe.organization_key(name)
            if key:
                run.index.setdefault(("name", key), pk)
        for value, pk in IdentityAlias.objects.filter(
            kind=AliasKind.DOMAIN, organization__isnull=False
        ).values_list("value", "organization_id"):
            run.index.setdefault(("domain", value), pk)

    def _clean(self, row: SourceRow, run: OrganizationRun) -> dict:
        values, errors, data = row.values, [], {"fields": {}}

        def fail(target, message):
            errors.append({"field": target, "message": message})

        for name, limit in TEXT_LIMITS.items():
            text = (
                " ".join(values.get(name, "").split())
                if name != "description"
                else values.get(name, "").strip()
            )
            if not text:
                continue
            if "\x00" in text:
                fail(name, "Contains a null character.")
            elif len(text) > limit:
                fail(name, f"Use at most {limit} characters (it has {len(text)}).")
            else:
                data["fields"][name] = text
        if not data["fields"].get("name") and not errors:
            fail("name", "Every organization needs a name.")
        domain_raw = values.get("domain", "").strip()
        if domain_raw:
            domain = normalize_domain(domain_raw)
            if "." not in domain or " " in domain or len(domain) > 253:
                fail("domain", "Enter a domain such as example.com.")
            else:
                data["fields"]["domain"] = domain
                if domain_raw.startswith(("http://", "https://")) and len(domain_raw) <= 500:
                    data["fields"]["website"] = domain_raw
        for name, clean in (("size", clean_size), ("country", clean_country)):
            raw = values.get(name, "")
            if raw.strip():
                try:
                    data["fields"][name] = clean(raw)
                except ValidationError as exc:
                    fail(name, exc.messages[0])
        phone = values.get("phone", "").strip()
        if phone:
            try:
                data["fields"]["phone"] = phone_identity(
                    phone, data["fields"].get("country") or run.region
                )[0]
            except ValidationError as exc:
                fail("phone", exc.messages[0])
        owner_raw = values.get("owner", "").strip()
        if owner_raw:
            owner, problem = owner_column_problem(owner_raw, run)
            if problem:
                fail("owner", problem)
            else:
                data["owner"] = owner
        tags = []
        for name in values.get("tags", "").split(run.tag_separator):
            name = " ".join(name.split())
            if name and name.casefold() not in {t.casefold() for t in tags}:
                if len(name) > 50:
                    fail("tags", f"Tag {name[:20]!r}… is longer than 50 characters.")
                tags.append(name)
        data["tags"] = tags
        raw_custom = {
            key.split(".", 1)[1]: value
            for key, value in values.items()
            if key.startswith("custom_fields.") and value.strip()
        }
        data["custom_fields"] = {}
        if raw_custom:
            try:
                data["custom_fields"] = clean_values(run.definitions, raw_custom, partial=True)
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    fail(key, messages[0])
        if errors:
            raise RowErrors(errors)
        return data

    def _find(self, data: dict, fingerprint: str, run: OrganizationRun, earlier: dict):
        """The organization a row means: by domain, by name, by a row of this run with the same
        fingerprint, else by what an earlier import made of it (`earlier`, read per batch)."""
        domain = data["fields"].get("domain")
        if domain and ("domain", domain) in run.index:
            return run.index[("domain", domain)]
        key = dedupe.organization_key(data["fields"]["name"])
        if ("name", key) in run.index:
            return run.index[("name", key)]
        if ("fingerprint", fingerprint) in run.index:
            return run.index[("fingerprint", fingerprint)]
        return earlier.get(fingerprint)

    def _remember(self, data: dict, fingerprint: str, target, run: OrganizationRun) -> None:
        if data["fields"].get("domain"):
            run.index[("domain", data["fields"]["domain"])] = target
        run.index[("name", dedupe.organization_key(data["fields"]["name"]))] = target
        run.index[("fingerprint", fingerprint)] = target

    def process_batch(self, rows: list[SourceRow], run: OrganizationRun, *, dry_run: bool):
        results = []
        earlier = imported_before(Entity.ORGANIZATION, {row.fingerprint for row in rows})
        for row in rows:
            result = RowResult(
                number=row.number,
                action=RowAction.CREATED,
                entity=Entity.ORGANIZATION,
                fingerprint=row.fingerprint,
            )
            results.append(result)
            try:
                data = self._clean(row, run)
            except RowErrors as exc:
                result.action, result.errors = RowAction.ERROR, exc.errors
                continue
            target = self._find(data, row.fingerprint, run, earlier)
            if target in run.foreign:
                # Never changed, and none of its values reported.
                result.action = RowAction.ERROR
                result.errors = [
                    {
                        "field": "domain"
                        if ("domain", data["fields"].get("domain")) in run.index
                        else "name",
                        "message": "An organization with this name or website already exists "
                        "and is not yours: the row was left out and it was not changed.",
                    }
                ]
                self._remember(data, row.fingerprint, target, run)
                continue
            try:
                with transaction.atomic():
                    if target is None:
                        self._create(data, result, run, dry_run=dry_run)
                        self._remember(
                            data, row.fingerprint, result.object_id or f"row:{row.number}", run
                        )
                    elif isinstance(target, str):  # created earlier in this dry run
                        result.action = (
                            RowAction.SKIPPED
                            if run.policy == ImportPolicy.SKIP
                            else RowAction.UPDATED
                        )
                        result.after = {"same_as": target}
                    else:
                        self._update(data, target, result, run, dry_run=dry_run)
            except ValidationError as exc:
                result.action = RowAction.ERROR
                result.before, result.after = {}, {}
                result.errors = [
                    {"field": key, "message": message}
                    for key, messages in exc.message_dict.items()
                    for message in messages
                ]
            except PermissionDenied as exc:
                result.action = RowAction.ERROR
                result.before, result.after = {}, {}
                result.errors = [{"field": "", "message": str(exc)}]
        return results

    def _create(self, data: dict, result: RowResult, run: OrganizationRun, *, dry_run: bool):
        result.action = RowAction.CREATED
        result.after = {"name": data["fields"]["name"]}
        if dry_run:
            clean_values(run.definitions, data["custom_fields"])
            return
        organization = contact_services.create_organization(
            actor=run.actor,
            owner=data.get("owner")
            or (run.actor if getattr(run.actor, "is_authenticated", False) else None),
            tags=data["tags"],
            custom_fields=data["custom_fields"],
            **data["fields"],
        )
        result.object_id = organization.pk

    def _update(self, data: dict, pk: int, result: RowResult, run: OrganizationRun, *, dry_run):
        result.object_id = pk
        if run.policy == ImportPolicy.SKIP:
            result.action = RowAction.SKIPPED
            return
        organization = Organization.objects.prefetch_related("tags").get(pk=pk)
        overwrite = run.policy == ImportPolicy.OVERWRITE
        changes, before = {}, {}
        for name, value in data["fields"].items():
            current = getattr(organization, name)
            if current and not overwrite:
                continue
            if value != current:
                changes[name], before[name] = value, current
        owner = data.get("owner")
        if (
            owner is not None
            and owner.pk != organization.owner_id
            and (overwrite or organization.owner_id is None)
        ):
            changes["owner"], before["owner"] = owner, organization.owner_id
        tag_names = [t.name for t in organization.tags.all()]
        new_tags = [
            t for t in data["tags"] if t.casefold() not in {n.casefold() for n in tag_names}
        ]
        if new_tags:
            changes["tags"], before["tags"] = tag_names + new_tags, tag_names
        custom = {}
        for key, value in data["custom_fields"].items():
            current = (organization.custom_fields or {}).get(key)
            if current not in (None, "", []) and not overwrite:
                continue
            if value != current:
                custom[key] = value
                before.setdefault("custom_fields", {})[key] = current
        if custom:
            changes["custom_fields"] = custom
        if not changes:
            result.action = RowAction.UNCHANGED
            return
        result.action = RowAction.UPDATED
        result.before = before
        result.after = {k: (v.pk if hasattr(v, "pk") else v) for k, v in changes.items()}
        if not dry_run:
            contact_services.update_organization(
                actor=run.actor, organization=organization, **changes
            )

    def undo(self, job, rows, actor) -> dict:
        """Delete the organizations this import created, unless they changed since or gained
        members; put back the values it replaced. A chunk's checks are a few queries."""
        report = {"deleted": 0, "restored": 0, "kept_changed_since": 0, "already_gone": 0}
        finished = job.finished_at or job.created_at
        rows = [r for r in rows if r.entity == Entity.ORGANIZATION and r.object_id]
        ids = [r.object_id for r in rows]
        organizations = Organization.objects.in_bulk(ids)
        changed_since = audit_changed_since("contacts.organization", ids, finished)
        with_members = set(
            Membership.objects.filter(organization_id__in=ids).values_list(
                "organization_id", flat=True
            )
        )
        deletable = []
        for row in rows:
            organization = organizations.get(row.object_id)
            if organization is None:
                report["already_gone"] += 1
            elif row.object_id in changed_since:
                report["kept_changed_since"] += 1
            elif row.action == RowAction.CREATED:
                if row.object_id in with_members:
                    report["kept_changed_since"] += 1
                else:
                    deletable.append(organization)
            elif row.action == RowAction.UPDATED and row.before:
                restore = dict(row.before)
                if "owner" in restore:
                    from django.contrib.auth import get_user_model

                    restore["owner"] = (
                        get_user_model().objects.filter(pk=restore["owner"]).first()
                        if restore["owner"]
                        else None
                    )
                contact_services.update_organization(
                    actor=actor, organization=organization, **restore
                )
                report["restored"] += 1
        record_deletions(actor=actor, instances=deletable, message=f"import #{job.pk} undone")
        Organization.objects.filter(pk__in=[o.pk for o in deletable]).delete()
        report["deleted"] += len(deletable)
        return report
