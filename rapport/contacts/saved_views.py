"""Saved views of the contact and organization lists, and each user's list preferences.

A saved view is a named set of filters, columns and sort, personal or shared with everyone.
Sharing shares the recipe, never records: whoever opens a shared view still sees only the
records of their own scope, because the list always starts from `visible_to(user)`. Only the
view's owner or an administrator may change or delete it (`SavedView` is registered as
personal with `accounts.access`). Each user may pick a default view per list (opened when the
list is opened bare) and the columns shown when no view is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts.filters import (
    CONTACT_FILTERS,
    CONTACT_ORDERINGS,
    ORGANIZATION_FILTERS,
    ORGANIZATION_ORDERINGS,
    filter_contacts,
    filter_organizations,
)
from rapport.contacts.models import (
    Contact,
    ListKind,
    ListPreference,
    Organization,
    SavedView,
)
from rapport.contacts.tables import (
    CONTACT_COLUMNS,
    ORGANIZATION_COLUMNS,
    Column,
    chosen_columns,
)

NAME_LENGTH = 80
SAVED_VIEW_FIELDS = ("name", "list_kind", "is_shared", "filters", "columns", "sort")


@dataclass(frozen=True)
class ListSpec:
    kind: str
    model: type
    columns: list[Column]
    filter_names: tuple[str, ...]
    orderings: Mapping
    apply_filters: object  # filter_contacts / filter_organizations


LISTS = {
    ListKind.CONTACTS: ListSpec(
        ListKind.CONTACTS,
        Contact,
        CONTACT_COLUMNS,
        CONTACT_FILTERS,
        CONTACT_ORDERINGS,
        filter_contacts,
    ),
    ListKind.ORGANIZATIONS: ListSpec(
        ListKind.ORGANIZATIONS,
        Organization,
        ORGANIZATION_COLUMNS,
        ORGANIZATION_FILTERS,
        ORGANIZATION_ORDERINGS,
        filter_organizations,
    ),
}


def spec_for(list_kind: str) -> ListSpec:
    try:
        return LISTS[list_kind]
    except KeyError:
        raise ValidationError(
            {"list_kind": ["Choose the contacts or the organizations list."]}
        ) from None


def parse_column_keys(value) -> list[str]:
    """Column keys from "name,phone,…" or a list of them."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [key.strip() for key in value if key and key.strip()]


def _filters_from(spec: ListSpec, query, actor) -> dict[str, list[str]]:
    """The list filters in `query` (a query string or a mapping), checked as the list checks
    them. Paging, sort, view and columns are not filters and are left out."""
    params = QueryDict(query) if isinstance(query, str) else query
    filters: dict[str, list[str]] = {}
    for name in params:
        if name in spec.filter_names or name.startswith("cf_"):
            values = params.getlist(name) if hasattr(params, "getlist") else _as_list(params[name])
            values = [str(value).strip() for value in values if str(value).strip()]
            if values:
                filters[name] = values
    # Raises ValidationError keyed by the parameter, as the list would show it; lazy, no query.
    spec.apply_filters(spec.model.objects.none(), _querydict(filters), actor)
    return filters


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _querydict(filters: Mapping[str, list[str]]) -> QueryDict:
    params = QueryDict(mutable=True)
    for name, values in filters.items():
        params.setlist(name, list(values))
    return params


def _clean(view: SavedView, spec: ListSpec, errors: dict) -> None:
    view.name = (view.name or "").strip()
    if not view.name:
        errors.setdefault("name", []).append("Give the view a name.")
    elif len(view.name) > NAME_LENGTH:
        errors.setdefault("name", []).append(f"Use at most {NAME_LENGTH} characters.")
    if view.sort and view.sort not in spec.orderings:
        errors.setdefault("sort", []).append("That sort order does not exist.")
    view.columns = [column.key for column in chosen_columns(spec.columns, view.columns)]


# An argument of `update_saved_view` not given.
_UNCHANGED = object()


def _check_and_save(view, spec: ListSpec, *, actor, query, action: str, before=None) -> None:
    """Read the filters from `query` (unless `_UNCHANGED`), check the view, save it and leave
    its audit record; raises ValidationError with every problem."""
    errors: dict[str, list[str]] = {}
    if query is not _UNCHANGED:
        try:
            view.filters = _filters_from(spec, query, actor)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    _clean(view, spec, errors)
    if errors:
        raise ValidationError(errors)
    _save(view)
    record_change(
        actor=actor,
        action=action,
        instance=view,
        before=before,
        after=snapshot(view, SAVED_VIEW_FIELDS),
    )


def _save(view: SavedView) -> None:
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError as exc:
        raise ValidationError({"name": ["You already have a view with this name."]}) from exc


@transaction.atomic
def create_saved_view(
    *,
    actor,
    list_kind: str,
    name: str,
    query="",
    columns=None,
    sort: str = "",
    is_shared: bool = False,
) -> SavedView:
    """Save the list's current filters (`query`: its query string), columns and sort under
    `name`, for the actor alone or (`is_shared`) for everyone."""
    spec = spec_for(list_kind)
    view = SavedView(
        list_kind=spec.kind,
        name=name,
        owner=actor,
        is_shared=bool(is_shared),
        columns=parse_column_keys(columns),
        sort=(sort or "").strip(),
    )
    access.require(actor, Action.CREATE, view)
    _check_and_save(view, spec, actor=actor, query=query, action=ChangeAction.CREATE)
    return view


@transaction.atomic
def update_saved_view(
    *,
    actor,
    view: SavedView,
    name=_UNCHANGED,
    query=_UNCHANGED,
    columns=_UNCHANGED,
    sort=_UNCHANGED,
    is_shared=_UNCHANGED,
) -> SavedView:
    """Change a view's name, sharing, filters, columns or sort (only what is given)."""
    access.require(actor, Action.CHANGE, view)
    spec = spec_for(view.list_kind)
    before = snapshot(view, SAVED_VIEW_FIELDS)
    if name is not _UNCHANGED:
        view.name = name
    if is_shared is not _UNCHANGED:
        view.is_shared = bool(is_shared)
    if columns is not _UNCHANGED:
        view.columns = parse_column_keys(columns)
    if sort is not _UNCHANGED:
        view.sort = (sort or "").strip()
    _check_and_save(view, spec, actor=actor, query=query, action=ChangeAction.UPDATE, before=before)
    return view


@transaction.atomic
def delete_saved_view(*, actor, view: SavedView) -> None:
    """Delete a view; whoever had it as their default opens the plain list again."""
    access.require(actor, Action.DELETE, view)
    before = snapshot(view, SAVED_VIEW_FIELDS)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=view, before=before)
    view.delete()


def _preference(user, list_kind: str) -> ListPreference:
    preference, _ = ListPreference.objects.get_or_create(user=user, list_kind=list_kind)
    return preference


@transaction.atomic
def set_default_view(*, actor, list_kind: str, view: SavedView | None) -> ListPreference:
    """The view `actor` gets on opening the list bare (None: the plain list). A user's own
    preference: any signed-in user may set it, to a view they may see."""
    spec = spec_for(list_kind)
    if not access.is_signed_in(actor):
        access.require(actor, Action.VIEW)
    if view is not None and (
        view.list_kind != spec.kind
        or not SavedView.objects.visible_to(actor).filter(pk=view.pk).exists()
    ):
        raise ValidationError({"view": ["Choose one of your views or a shared one."]})
    preference = _preference(actor, spec.kind)
    preference.default_view = view
    preference.save(update_fields=["default_view"])
    return preference


@transaction.atomic
def set_list_columns(*, actor, list_kind: str, columns) -> ListPreference:
    """The columns `actor` sees on the list when no view says otherwise (their own choice)."""
    spec = spec_for(list_kind)
    if not access.is_signed_in(actor):
        access.require(actor, Action.VIEW)
    preference = _preference(actor, spec.kind)
    preference.columns = [
        column.key for column in chosen_columns(spec.columns, parse_column_keys(columns))
    ]
    preference.save(update_fields=["columns"])
    return preference


# --- reads -----------------------------------------------------------------------------------


@dataclass
class ListState:
    """What a list shows besides its rows: the columns and where they came from, the view
    applied (if any), and the user's default view."""

    columns: list[Column]
    columns_from: str  # "url", "view", "preference" or "default"
    view: SavedView | None
    default_view: SavedView | None


def list_state(user, list_kind: str, params) -> ListState:
    """Columns: the URL's `columns`, else the applied view's, else the user's, else the
    defaults. One small query for the preference and, with `view=<id>`, one for the view."""
    spec = spec_for(list_kind)
    preference = (
        ListPreference.objects.filter(user=user, list_kind=spec.kind)
        .select_related("default_view")
        .first()
    )
    default_view = preference.default_view if preference else None
    if default_view is not None and not (
        default_view.owner_id == user.pk or default_view.is_shared
    ):
        default_view = None  # unshared since it was chosen
    view = None
    view_id = params.get("view", "")
    if view_id.isdigit() and len(view_id) < 19:
        if default_view is not None and default_view.pk == int(view_id):
            view = default_view
        else:
            view = (
                SavedView.objects.visible_to(user)
                .filter(pk=int(view_id), list_kind=spec.kind)
                .first()
            )
    if params.get("columns"):
        columns, source = chosen_columns(spec.columns, parse_column_keys(params["columns"])), "url"
    elif view is not None and view.columns:
        columns, source = chosen_columns(spec.columns, view.columns), "view"
    elif preference is not None and preference.columns:
        columns, source = chosen_columns(spec.columns, preference.columns), "preference"
    else:
        columns, source = chosen_columns(spec.columns, None), "default"
    return ListState(columns=columns, columns_from=source, view=view, default_view=default_view)


def views_for(user, list_kind: str) -> list[SavedView]:
    """The user's own views, then the shared ones of others, by name."""
    views = list(
        SavedView.objects.visible_to(user)
        .filter(list_kind=list_kind)
        .select_related("owner")
        .order_by("name", "id")
    )
    return sorted(views, key=lambda view: view.owner_id != user.pk)
