"""Pages of bulk actions: start one from a list's selection bar, follow its progress, see
what it did, undo it, download an export. Thin: `core.bulk` does the work and the entity's
own access decision judges every record."""

from __future__ import annotations

from urllib.parse import parse_qs

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from rapport.core import bulk
from rapport.core.htmx import is_htmx, render_page_or_fragment
from rapport.core.models import BulkOperation, BulkOperationItem

PARAMS_PREFIX = "params-"
# Outcomes listed on the result page (the counts cover all of them).
ITEMS_SHOWN = 50


def _entity_or_404(key: str) -> bulk.Entity:
    try:
        return bulk.entity(key)
    except ValidationError as exc:
        raise Http404(bulk.error_text(exc)) from exc


def _require_actor(request, kind: bulk.Entity) -> None:
    if not kind.may_act(request.user):
        raise PermissionDenied("Your role may not change these records.")


def _filter_params(text: str) -> dict[str, list[str]]:
    return parse_qs(text or "", keep_blank_values=False, max_num_fields=200)


@login_required
@require_GET
def bulk_fields(request, entity):
    """The chosen action's form fields, swapped into the selection bar's dialog."""
    kind = _entity_or_404(entity)
    _require_actor(request, kind)
    action_key = request.GET.get("action", "")
    chosen = None
    form = None
    if action_key:
        try:
            chosen = bulk.action(kind.key, action_key)
        except ValidationError as exc:
            raise Http404(bulk.error_text(exc)) from exc
        form = chosen.form(request.user)
    return render(request, "bulk/_fields.html", {"chosen": chosen, "form": form})


@login_required
@require_POST
def bulk_start(request, entity):
    """Start an action on the ids posted, or on every record the list's filter matches."""
    kind = _entity_or_404(entity)
    _require_actor(request, kind)
    post = request.POST
    action_key = post.get("action", "")
    params = {
        name.removeprefix(PARAMS_PREFIX): post.get(name)
        for name in post
        if name.startswith(PARAMS_PREFIX)
    }
    selection = {}
    if post.get("scope") == "all":
        selection = {
            "list_key": post.get("list", ""),
            "list_params": _filter_params(post.get("filter", "")),
        }
    else:
        selection = {"ids": post.getlist("ids")}
    try:
        operation = bulk.start(
            actor=request.user,
            entity_key=entity,
            action_key=action_key,
            params=params,
            **selection,
        )
    except ValidationError as exc:
        return render(
            request,
            "bulk/start_error.html",
            {
                "kind": kind,
                "errors": exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages},
                "back": _back(request),
            },
            status=422,
        )
    return redirect("core:bulk_operation", pk=operation.pk)


def _back(request) -> str:
    """The list the request came from, when it is one of ours."""
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return ""


def _operation_or_404(request, pk) -> BulkOperation:
    operation = BulkOperation.objects.filter(pk=pk).first()
    # Someone else's operation is a 404, not a 403: its existence is not theirs to know.
    if operation is None or not bulk.may_see_operation(request.user, operation):
        raise Http404("No such operation.")
    return operation


def _context(request, operation: BulkOperation) -> dict:
    kind = bulk.entities().get(operation.entity)
    try:
        chosen = bulk.action(operation.entity, operation.action)
    except ValidationError:
        chosen = None
    problems = list(
        operation.items.exclude(outcome=BulkOperationItem.Outcome.CHANGED)
        .order_by("object_id")
        .values("object_id", "outcome", "reason")[:ITEMS_SHOWN]
    )
    for problem in problems:
        problem["url"] = kind.detail_url(problem["object_id"]) if kind and kind.detail_url else ""
    return {
        "operation": operation,
        "kind": kind,
        "chosen": chosen,
        "problems": problems,
        "is_export": bool(chosen and chosen.is_export),
        "can_undo": bulk.can_undo(request.user, operation),
        "reasons": sorted(operation.reasons.items(), key=lambda pair: -pair[1]),
    }


@login_required
@require_GET
def operation_detail(request, pk):
    """The operation's progress (polled every second while it runs), then its result."""
    operation = _operation_or_404(request, pk)
    return render_page_or_fragment(
        request, "bulk/operation.html", "bulk/_progress.html", _context(request, operation)
    )


@login_required
@require_POST
def operation_undo(request, pk):
    operation = _operation_or_404(request, pk)
    bulk.start_undo(actor=request.user, operation=operation)
    if is_htmx(request):
        operation.refresh_from_db()
        return render(request, "bulk/_progress.html", _context(request, operation))
    return redirect("core:bulk_operation", pk=operation.pk)


@login_required
@require_GET
def operation_download(request, pk):
    """An export operation's CSV: its members as the actor may see them now."""
    operation = _operation_or_404(request, pk)
    chosen = bulk.action(operation.entity, operation.action)
    if not chosen.is_export or operation.status != BulkOperation.Status.DONE:
        raise Http404("This operation has nothing to download.")
    queryset = bulk.export_records(request.user, operation)
    response = StreamingHttpResponse(
        chosen.stream(request.user, queryset, operation.params),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{chosen.filename}"'
    return response
