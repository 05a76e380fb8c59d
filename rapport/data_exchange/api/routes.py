"""Duplicates, merges, matching rules, imports, exports and data quality over JSON.

Thin: translate, call services and scoped querysets. A record (or pair, or import) outside the
caller's scope is a 404; a read-only role gets 403 on writes; bad input is a 422 naming the
field.
"""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import File, Form, Query, Router, Status, UploadedFile

from rapport.accounts.api.auth import require_admin, require_write
from rapport.contacts.filters import (
    CONTACT_FILTERS,
    ORGANIZATION_FILTERS,
    filter_contacts,
    filter_organizations,
)
from rapport.contacts.models import Contact, Organization
from rapport.core.api_types import PathId
from rapport.core.importing import importers
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate
from rapport.data_exchange import exporting, quality, services, vcard
from rapport.data_exchange.api import schemas as s
from rapport.data_exchange.choices import Entity
from rapport.data_exchange.importing import jobs
from rapport.data_exchange.matching import matching_for
from rapport.data_exchange.models import ContactDuplicate, MappingPreset, MatchingRule
from rapport.data_exchange.querysets import sees_everything, visible_pairs

router = Router()


# --- duplicates -------------------------------------------------------------------------------


def _record_ref(record) -> dict:
    if isinstance(record, Contact):
        name = record.full_name
        detail = record.primary_email or record.primary_phone
    else:
        name, detail = record.name, record.domain
    return {"id": record.pk, "name": name, "detail": detail, "url": record.get_absolute_url()}


def _pair_out(pair) -> dict:
    if isinstance(pair, ContactDuplicate):
        records, entity = (pair.contact_a, pair.contact_b), Entity.CONTACT
    else:
        records, entity = (pair.organization_a, pair.organization_b), Entity.ORGANIZATION
    return {
        "id": pair.pk,
        "entity": entity,
        "score": pair.score,
        "reasons": pair.reasons,
        "status": pair.status,
        "records": [_record_ref(r) for r in records],
        "detected_at": pair.detected_at,
        "decided_at": pair.decided_at,
    }


def _visible_pair(request, entity: str, pair_id: int):
    if entity not in Entity.values:
        raise ValidationError({"path.entity": ["Choose contact or organization."]})
    return get_object_or_404(visible_pairs(entity, request.user), pk=pair_id)


@router.get("/duplicates/", response=s.DuplicatePage, tags=["duplicates"])
def list_duplicates(request, params: Query[s.DuplicateParams]):
    """Suspected duplicate pairs whose two records you can see, most likely first."""
    check_query_params(request.GET, ("entity", "status", "cursor", "limit"))
    pairs = visible_pairs(params.entity, request.user).filter(status=params.status)
    page = keyset_page(
        pairs, order_field="score", descending=True, cursor=params.cursor, limit=params.limit
    )
    return {"items": [_pair_out(p) for p in page.items], "next_cursor": page.next_cursor}


@router.post("/duplicates/{entity}/{pair_id}/dismiss", response=s.DuplicateOut, tags=["duplicates"])
def dismiss_duplicate(request, entity: str, pair_id: PathId):
    """Not a duplicate: remembered, never suggested again."""
    require_write(request.user)
    pair = _visible_pair(request, entity, pair_id)
    return _pair_out(services.dismiss_duplicate(actor=request.user, pair=pair))


@router.post(
    "/duplicates/{entity}/{pair_id}/merge",
    response={200: s.MergeOut | s.MergePreviewOut},
    tags=["duplicates"],
)
def merge_duplicate(request, entity: str, pair_id: PathId, payload: s.MergeIn):
    """Merge the pair into `survivor_id`, taking each field from the side named in `choices`.
    With `preview: true`, answer what would happen and write nothing."""
    if not payload.preview:
        require_write(request.user)
    pair = _visible_pair(request, entity, pair_id)
    first, second = (
        (pair.contact_a, pair.contact_b)
        if entity == Entity.CONTACT
        else (pair.organization_a, pair.organization_b)
    )
    if payload.survivor_id not in (first.pk, second.pk):
        raise ValidationError({"body.survivor_id": ["Give the id of one of the pair's records."]})
    survivor, loser = (first, second) if payload.survivor_id == first.pk else (second, first)
    try:
        if payload.preview:
            preview = (
                services.preview_contact_merge
                if entity == Entity.CONTACT
                else services.preview_organization_merge
            )
            return preview(survivor=survivor, loser=loser, choices=payload.choices).as_dict()
        merge = (
            services.merge_contacts if entity == Entity.CONTACT else services.merge_organizations
        )
        record = merge(actor=request.user, survivor=survivor, loser=loser, choices=payload.choices)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return {
        "merge_id": record.pk,
        "entity": record.entity,
        "survivor_id": record.survivor_id_at_merge,
        "loser_id": record.loser_id,
        "loser_deleted": record.loser_deleted,
        "moved": record.moved,
    }


@router.post("/duplicates/{entity}/mark", response={201: s.DuplicateOut}, tags=["duplicates"])
def mark_duplicates(request, entity: str, payload: s.MarkIn):
    """Put two records you believe are one on the review queue (a dismissed pair reopens)."""
    require_write(request.user)
    if entity not in Entity.values:
        raise ValidationError({"path.entity": ["Choose contact or organization."]})
    model = Contact if entity == Entity.CONTACT else Organization
    visible = model.objects.visible_to(request.user)
    first = get_object_or_404(visible, pk=payload.first_id)
    second = get_object_or_404(visible, pk=payload.second_id)
    try:
        pair = services.mark_as_duplicates(actor=request.user, first=first, second=second)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(201, _pair_out(visible_pairs(entity, request.user).get(pk=pair.pk)))


@router.post("/duplicates/scan", response={202: s.QueuedOut}, tags=["duplicates"])
def scan_duplicates(request, payload: s.ScanIn):
    """Compare every record with every other (blocked, so it scales); administrators only."""
    require_admin(request.user)
    from rapport.data_exchange.tasks import scan_duplicates as task

    task.enqueue(payload.entity)
    return Status(202, {"status": "queued", "detail": f"A full {payload.entity} scan is queued."})


def _rules_out(entity: str) -> dict:
    matching = matching_for(entity)
    return {
        "entity": entity,
        "rules": [
            {
                "field": r.field,
                "method": r.method,
                "weight": r.weight,
                "threshold": r.threshold,
                "conflict": r.conflict,
                "is_active": r.is_active,
            }
            for r in MatchingRule.objects.filter(entity=entity)
        ],
        "review_threshold": matching.review_threshold,
        "import_match_threshold": matching.import_match_threshold,
    }


@router.get("/matching-rules/{entity}", response=s.RulesOut, tags=["duplicates"])
def get_matching_rules(request, entity: str):
    if entity not in Entity.values:
        raise ValidationError({"path.entity": ["Choose contact or organization."]})
    return _rules_out(entity)


@router.put("/matching-rules/{entity}", response=s.RulesOut, tags=["duplicates"])
def put_matching_rules(request, entity: str, payload: s.RulesIn):
    """Replace the rules of one entity (administrators)."""
    require_admin(request.user)
    if entity not in Entity.values:
        raise ValidationError({"path.entity": ["Choose contact or organization."]})
    try:
        services.set_matching_rules(
            actor=request.user,
            entity=entity,
            rules=[r.model_dump() for r in payload.rules],
            review_threshold=payload.review_threshold,
            import_match_threshold=payload.import_match_threshold,
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return _rules_out(entity)


# --- imports ----------------------------------------------------------------------------------


def _visible_job(request, import_id: int):
    return get_object_or_404(jobs.jobs_visible_to(request.user), pk=import_id)


def _json_form(name: str, raw: str | None):
    if raw in (None, ""):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValidationError({name: ["Send a JSON object."]}) from None
    if not isinstance(value, dict):
        raise ValidationError({name: ["Send a JSON object."]})
    return value


@router.get("/importers/", response=list[s.ImporterOut], tags=["imports"])
def list_importers(request):
    """What can be imported, and the fields columns can be mapped to."""
    return [
        {
            "entity": importer.entity,
            "label": importer.label,
            "options": list(importer.option_names),
            "targets": [
                {"key": t.key, "label": t.label, "synonyms": list(t.synonyms)}
                for t in importer.all_targets()
            ],
        }
        for importer in importers()
    ]


@router.post("/imports/", response={202: s.ImportOut}, tags=["imports"])
def create_import(
    request,
    file: File[UploadedFile],
    entity: Form[str] = "contact",
    dry_run: Form[bool] = True,
    policy: Form[str] = "skip",
    mapping: Form[str | None] = None,
    preset: Form[str | None] = None,
    options: Form[str | None] = None,
    start: Form[bool] = True,
):
    """Upload a CSV or XLSX and start importing it (a dry run unless `dry_run` is false).
    `mapping` is JSON ({"column": "field"}; recognised headers are mapped when left out),
    `preset` the name of a saved mapping, `options` JSON such as
    {"external_id_system": "hubspot"}. Poll `GET /imports/{id}` for progress."""
    require_write(request.user)
    preset_row = None
    if preset:
        preset_row = MappingPreset.objects.filter(entity=entity, name=preset).first()
        if preset_row is None:
            raise ValidationError({"body.preset": ["No saved mapping of this name."]})
    try:
        job = jobs.create_import(
            actor=request.user,
            entity=entity,
            upload=file,
            mapping=_json_form("mapping", mapping),
            preset=preset_row,
            policy=policy,
            dry_run=dry_run,
            options=_json_form("options", options),
        )
        if start:
            jobs.start_import(actor=request.user, job=job)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    job.refresh_from_db()
    return Status(202, job)


@router.get("/imports/", response=s.ImportPage, tags=["imports"])
def list_imports(request, params: Query[s.CursorParams]):
    """Import history: yours, or everyone's for an administrator."""
    page = keyset_page(
        jobs.jobs_visible_to(request.user),
        order_field="created_at",
        descending=True,
        cursor=params.cursor,
        limit=params.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/imports/{import_id}", response=s.ImportOut, tags=["imports"])
def get_import(request, import_id: PathId):
    return _visible_job(request, import_id)


@router.get("/imports/{import_id}/rows", response=s.ImportRowPage, tags=["imports"])
def list_import_rows(request, import_id: PathId, params: Query[s.ImportRowParams]):
    """What the import did, row by row (unchanged rows are not listed)."""
    job = _visible_job(request, import_id)
    rows = job.rows.all()
    if params.action:
        rows = rows.filter(action=params.action)
    page = keyset_page(
        rows, order_field="row_number", descending=False, cursor=params.cursor, limit=params.limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/imports/{import_id}/errors.csv", tags=["imports"])
def import_errors(request, import_id: PathId):
    """The error report: row, column, field, problem, value."""
    return exporting.error_report_response(_visible_job(request, import_id))


def _job_action(request, import_id: int, action):
    require_write(request.user)
    job = _visible_job(request, import_id)
    try:
        job = action(actor=request.user, job=job)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    job.refresh_from_db()
    return Status(202, job)


@router.post("/imports/{import_id}/start", response={202: s.ImportOut}, tags=["imports"])
def start_import(request, import_id: PathId):
    return _job_action(request, import_id, jobs.start_import)


@router.post("/imports/{import_id}/undo", response={202: s.ImportOut}, tags=["imports"])
def undo_import(request, import_id: PathId):
    """Remove what the import created and put back what it changed (in the background)."""
    return _job_action(request, import_id, jobs.undo_import)


@router.post("/imports/{import_id}/resume", response={202: s.ImportOut}, tags=["imports"])
def resume_import(request, import_id: PathId):
    """Carry on a failed import after its last committed batch."""
    return _job_action(request, import_id, jobs.resume_import)


@router.get("/mapping-presets/", response=list[s.PresetOut], tags=["imports"])
def list_presets(request):
    return list(MappingPreset.objects.all())


@router.post("/mapping-presets/", response={201: s.PresetOut}, tags=["imports"])
def save_preset(request, payload: s.PresetIn):
    """Save (or replace) a mapping under a name, to pick it for later imports."""
    require_write(request.user)
    try:
        preset = services.save_mapping_preset(
            actor=request.user,
            entity=payload.entity,
            name=payload.name,
            mapping=payload.mapping,
            options=payload.options,
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(201, preset)


# --- exports ----------------------------------------------------------------------------------


def _export(request, entity: str, params: s.ExportParams, filters: tuple, filter_function):
    check_query_params(request.GET, ("format", "columns", *filters), prefixes=("cf_",))
    base = Contact.objects.all() if entity == Entity.CONTACT else Organization.objects.all()
    try:
        queryset = filter_function(base, request.GET, request.user)
    except ValidationError as exc:
        raise relocate(exc, "query") from None
    keys = [k.strip() for k in (params.columns or "").split(",") if k.strip()]
    try:
        columns = exporting.choose_columns(entity, keys)
    except ValidationError as exc:
        raise relocate(exc, "query") from None
    filename = exporting.export_filename(entity, params.format)
    if params.format == "csv":
        response = StreamingHttpResponse(
            exporting.csv_chunks(queryset, columns), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        exporting.write_xlsx(queryset, columns, title=entity.title()),
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.get("/exports/contacts", tags=["exports"])
def export_contacts(request, params: Query[s.ExportParams]):
    """Visible contacts, filtered as `GET /contacts/` is, as CSV (streamed) or XLSX; formula
    cells are neutralized. Columns: id, first_name, last_name, email, emails, phone, phones,
    job_title, organization, organizations, lifecycle_stage, owner, tags, street, city,
    postcode, region, country, source, source_detail, external_ids, about, created_at,
    last_touched_at, custom_fields.<key>."""
    return _export(request, Entity.CONTACT, params, CONTACT_FILTERS, filter_contacts)


@router.get("/exports/organizations", tags=["exports"])
def export_organizations(request, params: Query[s.ExportParams]):
    """Visible organizations, filtered as `GET /organizations/` is, as CSV or XLSX."""
    return _export(request, Entity.ORGANIZATION, params, ORGANIZATION_FILTERS, filter_organizations)


@router.get("/exports/contacts/{contact_id}/vcard", tags=["exports"])
def export_vcard(request, contact_id: PathId):
    """One contact as a vCard 4.0."""
    contact = get_object_or_404(
        Contact.objects.visible_to(request.user).prefetch_related("emails", "phones", "tags"),
        pk=contact_id,
    )
    response = HttpResponse(vcard.contact_vcard(contact), content_type="text/vcard; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{vcard.vcard_filename(contact)}"'
    return response


# --- data quality -----------------------------------------------------------------------------

_RECORDS = {
    "identification_rate": ("identification", ""),
    "consent_coverage": ("consent", ""),
    "duplicate_rate": ("duplicates", ""),
    "organization_duplicate_rate": ("organization_duplicates", ""),
    "stale_rate": ("stale", ""),
    "invalid_rate": ("invalid", ""),
}


def _records_url(key: str) -> str | None:
    if key in _RECORDS:
        figure, _ = _RECORDS[key]
        return reverse("data_exchange:quality_records", args=[figure])
    for prefix, figure in (
        ("contact_completeness.", "completeness"),
        ("organization_completeness.", "organization_completeness"),
    ):
        if key.startswith(prefix):
            field = key[len(prefix) :]
            return f"{reverse('data_exchange:quality_records', args=[figure])}?field={field}"
    return None


@router.get("/data-quality", response=s.QualityOut, tags=["data quality"])
def data_quality(request):
    """What we have and what we lack, over the records you can see: identification rate,
    profile completeness and completeness per field, consent coverage, suspected-duplicate
    rate, stale records (no touch in 12 months), invalid values."""
    report = quality.report(
        Contact.objects.visible_to(request.user).active(),
        Organization.objects.visible_to(request.user).active(),
    )
    figures = {
        key: {**value, "records_url": _records_url(key)} for key, value in report.figures().items()
    }
    return {"contacts": report.contacts, "organizations": report.organizations, "figures": figures}


@router.get("/data-quality/trend", response=list[s.TrendPoint], tags=["data quality"])
def data_quality_trend(request, params: Query[s.TrendParams]):
    """One figure per day from the daily snapshots (over every record, so only for those who
    can see all contacts)."""
    if not sees_everything(request.user):
        raise PermissionDenied("The trend covers every record; your role sees only some.")
    return [
        {"day": day, "value": value} for day, value in quality.trend(params.figure, params.days)
    ]
