"""The lists' saved views and column chooser: thin POST handlers over `contacts.saved_views`.

Each answers with a redirect back to the list (a message says what happened or why not); the
services make every decision (PermissionDenied is a 403).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from rapport.contacts import saved_views
from rapport.contacts.models import ListKind, SavedView

LIST_URLS = {
    ListKind.CONTACTS: "contacts:contact_list",
    ListKind.ORGANIZATIONS: "contacts:organization_list",
}


def _list_kind(request) -> str:
    kind = request.POST.get("list_kind", "")
    return kind if kind in LIST_URLS else ListKind.CONTACTS


def _back(request, list_kind: str) -> str:
    """Where the form came from (a list URL on this site), else the plain list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(LIST_URLS[list_kind]) + "?view=all"


def _say_why(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _list_query(request) -> QueryDict:
    return QueryDict(request.POST.get("query", ""))


@login_required
@require_POST
def saved_view_create(request):
    """Save the list as it is shown (filters, columns, sort) under a name."""
    list_kind = _list_kind(request)
    query = _list_query(request)
    try:
        view = saved_views.create_saved_view(
            actor=request.user,
            list_kind=list_kind,
            name=request.POST.get("name", ""),
            query=query,
            columns=request.POST.get("columns", ""),
            sort=query.get("sort", ""),
            is_shared=request.POST.get("is_shared") == "on",
        )
        if request.POST.get("make_default") == "on":
            saved_views.set_default_view(actor=request.user, list_kind=list_kind, view=view)
    except ValidationError as exc:
        _say_why(request, exc)
        return redirect(_back(request, list_kind))
    messages.success(request, f"View “{view.name}” saved.")
    return redirect(view.get_absolute_url())


@login_required
@require_POST
def saved_view_update(request, pk):
    """Overwrite a view with the list as it is shown now, or rename / (un)share it."""
    view = get_object_or_404(SavedView.objects.visible_to(request.user), pk=pk)
    changes = {}
    if "query" in request.POST:
        query = _list_query(request)
        changes.update(
            query=query, columns=request.POST.get("columns", ""), sort=query.get("sort", "")
        )
    if "name" in request.POST:
        changes["name"] = request.POST["name"]
        changes["is_shared"] = request.POST.get("is_shared") == "on"
    try:
        saved_views.update_saved_view(actor=request.user, view=view, **changes)
    except ValidationError as exc:
        _say_why(request, exc)
        return redirect(_back(request, view.list_kind))
    messages.success(request, f"View “{view.name}” updated.")
    return redirect(view.get_absolute_url())


@login_required
@require_POST
def saved_view_delete(request, pk):
    view = get_object_or_404(SavedView.objects.visible_to(request.user), pk=pk)
    list_kind, name = view.list_kind, view.name
    saved_views.delete_saved_view(actor=request.user, view=view)
    messages.success(request, f"View “{name}” deleted.")
    return redirect(reverse(LIST_URLS[list_kind]) + "?view=all")


@login_required
@require_POST
def saved_view_default(request):
    """Make a view (or, with none given, the plain list) what the list opens with."""
    list_kind = _list_kind(request)
    view_id = request.POST.get("view", "")
    view = None
    if view_id:
        view = get_object_or_404(
            SavedView.objects.visible_to(request.user), pk=view_id if view_id.isdigit() else 0
        )
    try:
        saved_views.set_default_view(actor=request.user, list_kind=list_kind, view=view)
    except ValidationError as exc:
        _say_why(request, exc)
    else:
        if view is None:
            messages.success(request, "The list opens without a view now.")
        else:
            messages.success(request, f"The list opens with “{view.name}” now.")
    return redirect(_back(request, list_kind))


@login_required
@require_POST
def list_columns(request):
    """The column chooser: the checked columns, in the order shown, with one moved up when
    its ↑ button was pressed. Remembered for the user and applied to the list at once."""
    list_kind = _list_kind(request)
    order = saved_views.parse_column_keys(request.POST.getlist("order"))
    checked = set(request.POST.getlist("columns"))
    move = request.POST.get("move", "")
    if move in order:
        index = order.index(move)
        if index > 0:
            order[index - 1], order[index] = order[index], order[index - 1]
    chosen = [key for key in order if key in checked or key == "name"]
    preference = saved_views.set_list_columns(
        actor=request.user, list_kind=list_kind, columns=chosen
    )
    target = _back(request, list_kind)
    path, _, query = target.partition("?")
    params = QueryDict(query, mutable=True)
    params["columns"] = ",".join(preference.columns)
    for name in ("after", "before"):
        params.pop(name, None)
    return redirect(f"{path}?{params.urlencode()}")
