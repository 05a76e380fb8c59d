"""The data pages: duplicate review and merge, matching rules, imports, exports, data quality.

Thin: reads go through scoped querysets (a record outside the user's scope is a 404), writes
through services, read-only roles get 403 on any POST, and a refused write re-shows the page
with the message beside the field (422).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import formset_factory
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from rapport.accounts import access
from rapport.accounts.access import can_administer, can_write
from rapport.contacts.filters import filter_contacts, filter_organizations
from rapport.contacts.models import Contact, Organization
from rapport.core.htmx import is_htmx, render_page_or_fragment
from rapport.core.ids import id_from_text
from rapport.core.importing import get_importer
from rapport.core.pagination import CursorError, keyset_page
from rapport.data_exchange import detection, exporting, quality, services, vcard
from rapport.data_exchange.choices import DuplicateStatus, Entity, ImportStatus
from rapport.data_exchange.forms import (
    ExportForm,
    ImportSettingsForm,
    ImportUploadForm,
    MatchingPolicyForm,
    MatchingRuleForm,
)
from rapport.data_exchange.importing import jobs
from rapport.data_exchange.matching import matching_for
from rapport.data_exchange.models import (
    ContactDuplicate,
    MatchingRule,
    QualitySnapshot,
)
from rapport.data_exchange.querysets import sees_everything, visible_pairs

INVALID = 422
PAGE_SIZE = 50


def require_writer(request) -> None:
    access.require_write(request.user)


def require_administrator(request) -> None:
    access.require_admin(request.user)


def _messages(exc: ValidationError) -> list[str]:
    return [message for messages in exc.message_dict.values() for message in messages]


def _entity(value: str) -> str:
    if value not in Entity.values:
        raise Http404("No such kind of record.")
    return value


def _page(request, queryset, *, order_field: str, descending: bool):
    try:
        return keyset_page(
            queryset,
            order_field=order_field,
            descending=descending,
            cursor=request.GET.get("cursor") or None,
            limit=PAGE_SIZE,
        )
    except CursorError:
        return keyset_page(
            queryset, order_field=order_field, descending=descending, cursor=None, limit=PAGE_SIZE
        )


def _query_without(request, *names) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


# --- duplicates -------------------------------------------------------------------------------


def _sides(pair):
    if isinstance(pair, ContactDuplicate):
        return pair.contact_a, pair.contact_b
    return pair.organization_a, pair.organization_b


@login_required
@require_GET
def duplicate_list(request):
    """The review queue: suspected pairs, most likely first."""
    entity = _entity(request.GET.get("entity") or Entity.CONTACT)
    status = request.GET.get("status") or DuplicateStatus.PENDING
    if status not in DuplicateStatus.values:
        status = DuplicateStatus.PENDING
    pairs = visible_pairs(entity, request.user).filter(status=status)
    page = _page(request, pairs, order_field="score", descending=True)
    context = {
        "entity": entity,
        "status": status,
        "page": page,
        "rows": [(pair, *_sides(pair)) for pair in page.items],
        "counts": {
            e: visible_pairs(e, request.user).filter(status=DuplicateStatus.PENDING).count()
            for e in Entity.values
        },
        "can_write": can_write(request.user),
        "can_administer": can_administer(request.user),
        "next_query": _query_without(request, "cursor"),
        "detection": _detection_state(entity),
    }
    return render_page_or_fragment(
        request, "data_exchange/duplicates.html", "data_exchange/_duplicate_rows.html", context
    )


def _detection_state(entity: str):
    """When detection of `entity` last ran, and whether a run is going or waiting to start."""
    from rapport.core.schedules import is_waiting
    from rapport.data_exchange.tasks import detect_duplicates, scan_duplicates

    queued = is_waiting(scan_duplicates) or is_waiting(detect_duplicates)
    return detection.state(entity, queued=queued)


def _choices_from(params, survivor, loser) -> dict[str, str]:
    """The form names records by id (so flipping the survivor keeps each pick); the merge
    service speaks of survivor and loser."""
    sides = {str(survivor.pk): services.SURVIVOR, str(loser.pk): services.LOSER}
    return {
        key[len("choose_") :]: sides[value]
        for key, value in params.items()
        if key.startswith("choose_") and value in sides
    }


def _review_context(request, entity, pair, params, *, errors=None) -> dict:
    first, second = _sides(pair)
    survivor_id = params.get("survivor")
    survivor, loser = (second, first) if str(second.pk) == str(survivor_id) else (first, second)
    choices = _choices_from(params, survivor, loser)
    preview_fn = (
        services.preview_contact_merge
        if entity == Entity.CONTACT
        else services.preview_organization_merge
    )
    try:
        preview = preview_fn(survivor=survivor, loser=loser, choices=choices)
    except ValidationError as exc:
        errors = {**(errors or {}), **exc.message_dict}
        preview = preview_fn(survivor=survivor, loser=loser, choices={})
    return {
        "entity": entity,
        "pair": pair,
        "sides": (first, second),
        "survivor": survivor,
        "loser": loser,
        "preview": preview,
        "errors": errors or {},
        "can_write": can_write(request.user),
    }


@login_required
@require_GET
def duplicate_review(request, entity, pk):
    """Side by side: pick the surviving record and, per field, the value that stays."""
    entity = _entity(entity)
    pair = get_object_or_404(visible_pairs(entity, request.user), pk=pk)
    context = _review_context(request, entity, pair, request.GET)
    return render_page_or_fragment(
        request, "data_exchange/review.html", "data_exchange/_merge_preview.html", context
    )


@login_required
@require_POST
def duplicate_merge(request, entity, pk):
    require_writer(request)
    entity = _entity(entity)
    pair = get_object_or_404(visible_pairs(entity, request.user), pk=pk)
    context = _review_context(request, entity, pair, request.POST)
    if context["errors"]:
        return render(request, "data_exchange/review.html", context, status=INVALID)
    merge = services.merge_contacts if entity == Entity.CONTACT else services.merge_organizations
    choices = _choices_from(request.POST, context["survivor"], context["loser"])
    try:
        merge(
            actor=request.user,
            survivor=context["survivor"],
            loser=context["loser"],
            choices=choices,
        )
    except ValidationError as exc:
        context["errors"] = exc.message_dict
        return render(request, "data_exchange/review.html", context, status=INVALID)
    survivor = context["survivor"]
    messages.success(
        request, f"Merged into {survivor}. The other record's identifiers still lead here."
    )
    return redirect(survivor.get_absolute_url())


@login_required
@require_POST
def duplicate_dismiss(request, entity, pk):
    """Not a duplicate: remembered, never suggested again."""
    require_writer(request)
    entity = _entity(entity)
    pair = get_object_or_404(visible_pairs(entity, request.user), pk=pk)
    services.dismiss_duplicate(actor=request.user, pair=pair)
    if is_htmx(request):
        return HttpResponse("")
    messages.success(request, "Marked as not a duplicate; it will not be suggested again.")
    return redirect(f"{reverse('data_exchange:duplicates')}?entity={entity}")


@login_required
@require_POST
def duplicate_mark(request, entity):
    """ "These two are one": from a 360 page, with the other record's id or email."""
    require_writer(request)
    entity = _entity(entity)
    model = Contact if entity == Entity.CONTACT else Organization
    visible = model.objects.visible_to(request.user).active()
    record = get_object_or_404(visible, pk=request.POST.get("record") or 0)
    other_ref = (request.POST.get("other") or "").strip()
    other = None
    if (other_id := id_from_text(other_ref)) is not None:
        other = visible.filter(pk=other_id).first()
    elif other_ref and entity == Entity.CONTACT:
        other = visible.filter(emails__email=other_ref.lower()).exclude(pk=record.pk).first()
    elif other_ref:
        other = visible.filter(domain=other_ref.lower()).exclude(pk=record.pk).first()
    if other is None or other.pk == record.pk:
        messages.error(request, f"No other record {other_ref[:80]!r} that you can see.")
        return redirect(record.get_absolute_url())
    pair = services.mark_as_duplicates(actor=request.user, first=record, second=other)
    return redirect("data_exchange:duplicate_review", entity=entity, pk=pair.pk)


@login_required
@require_POST
def duplicate_scan(request):
    """Run a full scan in the background (administrators)."""
    require_administrator(request)
    from rapport.data_exchange.tasks import scan_duplicates

    entity = _entity(request.POST.get("entity") or Entity.CONTACT)
    scan_duplicates.enqueue(entity)
    messages.success(request, "The scan has started; new suspected pairs appear as it finds them.")
    return redirect(f"{reverse('data_exchange:duplicates')}?entity={entity}")


RuleFormSet = formset_factory(MatchingRuleForm, extra=1)


@login_required
def matching_rules(request, entity):
    """Administrators tune the matching rules (field, method, weight, threshold)."""
    require_administrator(request)
    entity = _entity(entity)
    matching = matching_for(entity)
    status = 200
    if request.method == "POST" and request.POST.get("reset"):
        services.reset_matching_rules(actor=request.user, entity=entity)
        messages.success(request, "The default rules are back.")
        return redirect("data_exchange:matching_rules", entity=entity)
    if request.method == "POST":
        formset = RuleFormSet(request.POST, form_kwargs={"entity": entity}, prefix="rules")
        policy_form = MatchingPolicyForm(request.POST)
        if formset.is_valid() and policy_form.is_valid():
            kept = [
                (form, form.cleaned_data)
                for form in formset.forms
                if form.cleaned_data and not form.cleaned_data.get("remove")
            ]
            rules = [
                {
                    "field": data["field"],
                    "method": data["method"],
                    "weight": data["weight"],
                    "threshold": data.get("threshold") or 0.0,
                    "conflict": data.get("conflict") or 0.0,
                    "is_active": data.get("is_active", False),
                }
                for _form, data in kept
            ]
            try:
                services.set_matching_rules(
                    actor=request.user,
                    entity=entity,
                    rules=rules,
                    review_threshold=policy_form.cleaned_data["review_threshold"],
                    import_match_threshold=policy_form.cleaned_data["import_match_threshold"],
                )
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    if key.startswith("rules["):
                        index = int(key[6 : key.index("]")])
                        name = key.split(".", 1)[1] if "." in key else None
                        kept[index][0].add_error(
                            name if name in kept[index][0].fields else None, errors
                        )
                    elif key in policy_form.fields:
                        policy_form.add_error(key, errors)
                status = INVALID
            else:
                messages.success(request, "Rules saved. The next scan scores pairs with them.")
                return redirect("data_exchange:matching_rules", entity=entity)
        else:
            status = INVALID
    else:
        rules = MatchingRule.objects.filter(entity=entity)
        formset = RuleFormSet(
            initial=[
                {
                    "field": r.field,
                    "method": r.method,
                    "weight": r.weight,
                    "threshold": r.threshold,
                    "conflict": r.conflict,
                    "is_active": r.is_active,
                }
                for r in rules
            ],
            form_kwargs={"entity": entity},
            prefix="rules",
        )
        policy_form = MatchingPolicyForm(
            initial={
                "review_threshold": matching.review_threshold,
                "import_match_threshold": matching.import_match_threshold,
            }
        )
    return render(
        request,
        "data_exchange/rules.html",
        {"entity": entity, "formset": formset, "policy_form": policy_form},
        status=status,
    )


# --- imports ----------------------------------------------------------------------------------


def _visible_job(request, pk):
    return get_object_or_404(jobs.jobs_visible_to(request.user), pk=pk)


def _import_list_page(request, form=None, status=200):
    history = jobs.jobs_visible_to(request.user)
    page = _page(request, history, order_field="created_at", descending=True)
    return render(
        request,
        "data_exchange/imports.html",
        {
            "form": form or ImportUploadForm(),
            "page": page,
            "can_write": can_write(request.user),
            "next_query": _query_without(request, "cursor"),
        },
        status=status,
    )


@login_required
@require_GET
def import_list(request):
    """Import history (who, when, file, counts) and the upload form."""
    return _import_list_page(request)


@login_required
@require_POST
def import_upload(request):
    require_writer(request)
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _import_list_page(request, form, status=INVALID)
    try:
        job = jobs.create_import(
            actor=request.user,
            entity=form.cleaned_data["entity"],
            upload=form.cleaned_data["file"],
            preset=form.cleaned_data.get("preset"),
            dry_run=True,
        )
    except ValidationError as exc:
        for key, errors in exc.message_dict.items():
            form.add_error(key if key in form.fields else None, errors)
        return _import_list_page(request, form, status=INVALID)
    return redirect("data_exchange:import_settings", pk=job.pk)


@login_required
def import_settings(request, pk):
    """Map the file's columns, choose the policy, and start (a dry run by default)."""
    job = _visible_job(request, pk)
    if job.status != ImportStatus.NEW:
        return redirect("data_exchange:import_detail", pk=job.pk)
    importer = get_importer(job.entity)
    initial = {
        "policy": job.policy,
        "dry_run": job.is_dry_run,
        **{k: v for k, v in (job.options or {}).items() if isinstance(v, str)},
    }
    status = 200
    if request.method == "POST":
        require_writer(request)
        form = ImportSettingsForm(request.POST, job=job, importer=importer, initial=initial)
        if form.is_valid():
            try:
                jobs.update_import(
                    actor=request.user,
                    job=job,
                    mapping=form.mapping(),
                    policy=form.cleaned_data["policy"],
                    dry_run=form.cleaned_data["dry_run"],
                    options=form.options(),
                    save_as=form.cleaned_data.get("save_as", ""),
                )
                jobs.start_import(actor=request.user, job=job)
            except PermissionDenied as exc:
                # Saving over someone else's preset: the form says so beside the name.
                form.add_error("save_as" if "save_as" in form.fields else None, str(exc))
                status = INVALID
            except ValidationError as exc:
                names = {header: name for header, name in form.column_fields}
                for key, errors in exc.message_dict.items():
                    if key.startswith("mapping.") and key[8:] in names:
                        form.add_error(names[key[8:]], errors)
                    elif key in form.fields:
                        form.add_error(key, errors)
                    else:
                        form.add_error(None, errors)
                status = INVALID
            else:
                return redirect("data_exchange:import_detail", pk=job.pk)
        else:
            status = INVALID
    else:
        form = ImportSettingsForm(job=job, importer=importer, initial=initial)
    from rapport.data_exchange.importing.reading import FileShape, first_rows, open_source

    # The whole file is read by the worker; the request reads its first rows only, bounded.
    with open_source(
        job.file.path, FileShape(job.file_format, job.encoding, job.delimiter)
    ) as source:
        sample = first_rows(source, 3)
    columns = [
        {"header": header, "field": form[name], "examples": [row[i] for row in sample]}
        for i, (header, name) in enumerate(form.column_fields)
    ]
    return render(
        request,
        "data_exchange/import_settings.html",
        {"job": job, "form": form, "columns": columns},
        status=status,
    )


@login_required
@require_GET
def import_detail(request, pk):
    """Progress (polled while it runs), counts, the first errors, undo."""
    job = _visible_job(request, pk)
    if job.status == ImportStatus.NEW and not is_htmx(request):
        return redirect("data_exchange:import_settings", pk=job.pk)
    errors = job.rows.filter(action="error").order_by("row_number", "id")[:100]
    context = {
        "job": job,
        "errors": errors,
        "can_write": can_write(request.user),
        "running": job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.UNDOING),
        "undo_summary": jobs.undo_summary(job.undo_report) if job.undo_report else "",
    }
    return render_page_or_fragment(
        request, "data_exchange/import_detail.html", "data_exchange/_import_progress.html", context
    )


@login_required
@require_GET
def import_errors_csv(request, pk):
    """Every row error of an import as CSV: row, column, field, problem, value."""
    job = _visible_job(request, pk)
    return exporting.error_report_response(job)


def _job_action(request, pk, action, success: str):
    require_writer(request)
    job = _visible_job(request, pk)
    try:
        job = action(actor=request.user, job=job)
    except ValidationError as exc:
        for message in _messages(exc):
            messages.error(request, message)
        return redirect("data_exchange:import_detail", pk=pk)
    messages.success(request, success)
    return redirect("data_exchange:import_detail", pk=job.pk)


@login_required
@require_POST
def import_undo(request, pk):
    return _job_action(
        request,
        pk,
        jobs.undo_import,
        "The import is being undone: what it created goes, what it changed comes back.",
    )


@login_required
@require_POST
def import_resume(request, pk):
    return _job_action(
        request, pk, jobs.resume_import, "The import carries on after its last saved batch."
    )


@login_required
@require_POST
def import_for_real(request, pk):
    """After a dry run: the same file and settings, imported for real."""

    def repeat_and_start(*, actor, job):
        if not job.is_dry_run:
            raise ValidationError({"status": ["This import was not a dry run."]})
        copy = jobs.repeat_import(actor=actor, job=job, dry_run=False)
        return jobs.start_import(actor=actor, job=copy)

    return _job_action(request, pk, repeat_and_start, "The import has started.")


# --- export -----------------------------------------------------------------------------------


def _export_queryset(request, entity: str):
    if entity == Entity.CONTACT:
        return filter_contacts(Contact.objects.all(), request.GET, request.user)
    return filter_organizations(Organization.objects.all(), request.GET, request.user)


@login_required
@require_GET
def export_page(request):
    """Choose columns and format; the list's filters ride along in the query string."""
    entity = _entity(request.GET.get("entity") or Entity.CONTACT)
    columns = exporting.available_columns(entity)
    form = ExportForm(
        initial={
            "entity": entity,
            "columns": exporting.DEFAULT_CONTACT_COLUMNS
            if entity == Entity.CONTACT
            else exporting.DEFAULT_ORGANIZATION_COLUMNS,
        },
        column_choices=[(c.key, c.label) for c in columns],
    )
    filters = [
        (key, value)
        for key in request.GET
        if key not in {"entity", "format", "columns", "cursor"}
        for value in request.GET.getlist(key)
    ]
    try:
        count = _export_queryset(request, entity).count()
        error = ""
    except ValidationError as exc:
        count, error = None, "; ".join(_messages(exc))
    return render(
        request,
        "data_exchange/export.html",
        {"form": form, "entity": entity, "filters": filters, "count": count, "error": error},
        status=INVALID if error else 200,
    )


@login_required
@require_GET
def export_download(request, entity, extension):
    """The filtered list as CSV (streamed) or XLSX (written to a temporary file)."""
    entity = _entity(entity)
    try:
        queryset = _export_queryset(request, entity)
        columns = exporting.choose_columns(entity, request.GET.getlist("columns"))
    except ValidationError as exc:
        return render(
            request,
            "data_exchange/export.html",
            {
                "form": None,
                "entity": entity,
                "filters": [],
                "count": None,
                "error": "; ".join(_messages(exc)),
            },
            status=INVALID,
        )
    filename = exporting.export_filename(entity, extension)
    if extension == "csv":
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


@login_required
@require_GET
def contact_vcard(request, pk):
    contact = get_object_or_404(
        Contact.objects.visible_to(request.user).prefetch_related("emails", "phones", "tags"),
        pk=pk,
    )
    response = HttpResponse(vcard.contact_vcard(contact), content_type="text/vcard; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{vcard.vcard_filename(contact)}"'
    return response


# --- data quality -----------------------------------------------------------------------------


@login_required
@require_GET
def quality_page(request):
    """What we have and what we lack, over the records this user may see; each figure links
    to the records behind it. The trend (all records, daily) is shown to those who see all."""
    contacts = Contact.objects.visible_to(request.user).active()
    organizations = Organization.objects.visible_to(request.user).active()
    report = quality.report(contacts, organizations)
    trend = []
    if sees_everything(request.user):
        if not QualitySnapshot.objects.filter(taken_on=timezone.localdate()).exists():
            from rapport.data_exchange.tasks import take_quality_snapshot

            take_quality_snapshot.enqueue()
        snapshots = QualitySnapshot.objects.order_by("-taken_on")[:90]
        trend = [
            {
                "day": s.taken_on.isoformat(),
                **{
                    key: (s.figures.get(key) or {}).get("percent")
                    for key in (
                        "identification_rate",
                        "profile_completeness",
                        "consent_coverage",
                        "duplicate_rate",
                        "stale_rate",
                        "invalid_rate",
                    )
                },
            }
            for s in reversed(list(snapshots))
        ]
    return render(
        request,
        "data_exchange/quality.html",
        {
            "report": report,
            "trend": trend,
            "sees_everything": sees_everything(request.user),
            "stale_note": f"no touch in {quality.STALE_AFTER_MONTHS} months",
        },
    )


@login_required
@require_GET
def quality_records(request, figure):
    """The records behind one figure, to work through."""
    field = request.GET.get("field", "")
    organizations = figure.startswith("organization")
    base = (
        Organization.objects.visible_to(request.user).active()
        if organizations
        else Contact.objects.visible_to(request.user).active()
    )
    try:
        records = quality.records_behind(figure, base, field=field)
    except KeyError:
        raise Http404("No such figure.") from None
    records = records.select_related("owner")
    page = _page(request, records, order_field="created_at", descending=True)
    label = quality.FIGURES[figure]
    if field:
        entity = "organization" if organizations else "contact"
        conditions = quality.field_conditions(entity)
        label = f"{label}: {conditions[field][0]}" if field in conditions else label
    return render(
        request,
        "data_exchange/quality_records.html",
        {
            "figure": figure,
            "label": label,
            "page": page,
            "organizations": organizations,
            "next_query": _query_without(request, "cursor"),
        },
    )
