"""Pages for contacts and organizations: lists, forms, the 360° pages. Thin: every read goes
through `visible_to(user)` (so a record outside the user's scope is a 404), every write through
a service, and a read-only role gets 403 on any POST."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from rapport.accounts import access
from rapport.accounts.access import Action, can_write
from rapport.contacts import saved_views, services
from rapport.contacts.choices import LifecycleStage, OrganizationSize
from rapport.contacts.filters import (
    CONTACT_ORDERINGS,
    DEFAULT_CONTACT_ORDERING,
    DEFAULT_ORGANIZATION_ORDERING,
    ORGANIZATION_ORDERINGS,
    filter_contacts,
    filter_organizations,
)
from rapport.contacts.forms import (
    ContactForm,
    ContactRow,
    LifecycleForm,
    MembershipForm,
    OrganizationForm,
    RelationshipForm,
    owner_choices,
)
from rapport.contacts.merges import survivor_id
from rapport.contacts.models import (
    Contact,
    ListKind,
    Membership,
    Organization,
    OrganizationRelationship,
    SavedView,
    Tag,
)
from rapport.contacts.panels import memberships_with_organizations
from rapport.contacts.tables import (
    CONTACT_COLUMNS,
    ORGANIZATION_COLUMNS,
    capped_count,
    contact_list_queryset,
    contact_rows,
    header_cells,
    organization_list_queryset,
    organization_rows,
    page_both_ways,
)
from rapport.core import registry
from rapport.core.htmx import (
    is_htmx,
    panel_entries,
    render_deferred_panel,
    render_page_or_fragment,
    render_panel,
)
from rapport.core.pagination import CursorError
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.services import definitions_for

LOOKUP_LIMIT = 20


def _merged_away(request, model, entity: str, pk: int):
    """For a record `pk` the user cannot see: a 302 to the record it was merged into, else 404.

    Only an id that no longer exists is followed: a record that exists but is out of the
    user's scope stays a plain 404, and so does a survivor out of scope.
    """
    if not model.objects.filter(pk=pk).exists():
        survivor = survivor_id(entity, pk)
        if survivor is not None:
            target = model.objects.visible_to(request.user).filter(pk=survivor).first()
            if target is not None:
                return redirect(target)
    raise Http404(f"No {entity} #{pk}.")


def require_writer(request) -> None:
    """Read-only roles may look but not change: refuse a form before showing it (403). The
    services make the decision on the record itself."""
    access.require_write(request.user)


def _filter_controls(entity: str, params) -> list[dict]:
    """Inputs for the custom-field filters, generated from the definitions."""
    controls = []
    for definition in definitions_for(entity):
        name = f"cf_{definition.key}"
        control = {"definition": definition, "name": name, "value": params.get(name, "")}
        if definition.field_type in {FieldType.CHOICE, FieldType.MULTI_CHOICE}:
            control["kind"] = "select"
            control["options"] = [str(choice) for choice in definition.choices]
        elif definition.field_type == FieldType.BOOLEAN:
            control["kind"] = "boolean"
        elif definition.field_type in {FieldType.NUMBER, FieldType.DECIMAL, FieldType.DATE}:
            control["kind"] = "range"
            control["input_type"] = "date" if definition.field_type == FieldType.DATE else "text"
            control["gte"] = params.get(f"{name}__gte", "")
            control["lte"] = params.get(f"{name}__lte", "")
        else:
            control["kind"] = "text"
        controls.append(control)
    return controls


def _active_custom_filters(params) -> bool:
    return any(name.startswith("cf_") and value for name, value in params.items())


def _list_context(request, *, queryset, orderings, default_ordering, columns) -> dict:
    """Shared by both lists: the ordering, the page (keyset) and any filter errors."""
    params = request.GET
    sort = params.get("sort") or default_ordering
    notices = []
    if sort not in orderings:
        notices.append("That sort order does not exist; sorted by name instead.")
        sort = default_ordering
    try:
        page = page_both_ways(
            queryset(sort), orderings[sort], after=params.get("after"), before=params.get("before")
        )
    except CursorError as exc:
        notices.append(str(exc))
        page = page_both_ways(queryset(sort), orderings[sort], after=None, before=None)
    return {
        "sort": sort,
        "page": page,
        "headers": header_cells(columns, sort),
        "notices": notices,
        "is_first_page": not params.get("after") and not params.get("before"),
    }


def _list_count(context: dict, filtered) -> tuple[int, bool]:
    """How many rows the list has (capped). A first page with no next page holds them all, so
    a narrow search (an email, a name) does not run its filter a second time to count."""
    page = context["page"]
    if context["is_first_page"] and page.next_cursor is None:
        return len(page.items), False
    return capped_count(filtered)


LIST_STATE_PARAMS = ("after", "before", "view", "columns")


def _list_tools(request, list_kind: str, state, all_columns) -> dict:
    """The column chooser, the saved views and the forms that save, change or delete them."""
    query = request.GET.copy()
    for name in LIST_STATE_PARAMS:
        query.pop(name, None)
    shown = [column.key for column in state.columns]
    view = state.view
    tools = {
        "list_kind": list_kind,
        "list_state": state,
        "saved_view": view,
        "default_view": state.default_view,
        # The list as shown, for "Save view" and "Update view" (filters and sort).
        "list_query": query.urlencode(),
        "shown_columns": ",".join(shown),
        # Carried by the filter form so a filter change keeps the columns of the view or URL.
        "carried_columns": ",".join(shown) if state.columns_from in ("url", "view") else "",
        "column_choices": [
            {"column": column, "shown": column.key in shown, "first": index == 0}
            for index, column in enumerate(
                [*state.columns, *[c for c in all_columns if c.key not in shown]]
            )
        ],
        "may_save_view": access.can(request.user, Action.CREATE, SavedView),
        "may_change_view": view is not None and access.can(request.user, Action.CHANGE, view),
    }
    # The views beside the list; a fragment swap updates them out of band, so the applied
    # view stops being marked once a filter changes.
    tools["saved_views"] = saved_views.views_for(request.user, list_kind)
    tools["is_fragment"] = is_htmx(request)
    return tools


# -- contacts -------------------------------------------------------------------------------
@login_required
@require_GET
def contact_list(request):
    """Contacts with live search, filters, sorting and keyset pages; HTMX gets only the results."""
    params = request.GET
    state = saved_views.list_state(request.user, ListKind.CONTACTS, params)
    if not params and state.default_view is not None and not is_htmx(request):
        return redirect(state.default_view.get_absolute_url())
    filter_errors = {}
    try:
        filtered = filter_contacts(Contact.objects.all(), params, request.user)
    except ValidationError as exc:
        filter_errors = exc.message_dict
        filtered = Contact.objects.none()
    shown = {column.key for column in state.columns}

    def queryset(sort):
        return contact_list_queryset(filtered.with_sort_keys(CONTACT_ORDERINGS[sort].fields), shown)

    context = _list_context(
        request,
        queryset=queryset,
        orderings=CONTACT_ORDERINGS,
        default_ordering=DEFAULT_CONTACT_ORDERING,
        columns=state.columns,
    )
    count, count_capped = _list_count(context, filtered)
    organization = None
    if params.get("organization", "").isdigit():
        organization = (
            Organization.objects.visible_to(request.user)
            .filter(pk=int(params["organization"]))
            .first()
        )
    archived = params.get("archived", "") == "true"
    context.update(
        _list_tools(request, ListKind.CONTACTS, state, CONTACT_COLUMNS),
        rows=contact_rows(context["page"].items, state.columns),
        count=count,
        count_capped=count_capped,
        filter_errors=filter_errors,
        params=params,
        archived=archived,
        is_filtered=any(
            params.get(name)
            for name in ("q", "owner", "lifecycle_stage", "tag", "organization", "source")
        )
        or _active_custom_filters(params),
        organization_filter=organization,
        stages=LifecycleStage.choices,
        owners=owner_choices(),
        tags=Tag.objects.only("name").order_by("name")[:500],
        custom_filters=_filter_controls(Entity.CONTACT, params),
        show_more_filters=_active_custom_filters(params),
        can_write=can_write(request.user),
    )
    return render_page_or_fragment(
        request, "contacts/contact_list.html", "contacts/_contact_results.html", context
    )


def _contact_form_page(request, form, contact=None, status=200):
    return render(
        request,
        "contacts/contact_form.html",
        {
            "form": form,
            "contact": contact,
            "warnings": form.warnings,
            # The <template> rows that "+ Add email / phone" clone; the script fills in a key.
            "blank_row": ContactRow(key="__key__"),
        },
        status=status,
    )


def _contact_check_warnings(form: ContactForm, exclude_pk=None) -> list[dict]:
    warnings = []
    data = form.check_data()
    for check in registry.contact_checks:
        warnings.extend(check.warnings(data, exclude_pk) or [])
    return warnings


def _save_consents(form: ContactForm, contact, actor) -> None:
    for change in form.consent_changes():
        services.set_consent(
            actor=actor, contact=contact, source="Recorded in the contact form", **change
        )


@login_required
def contact_create(request):
    """New contact. Likely duplicates (from `registry.contact_checks`) are shown first, with
    "save anyway"; nothing is written until the whole form is valid."""
    definitions = definitions_for(Entity.CONTACT)
    if request.method != "POST":
        require_writer(request)
        initial = {}
        organization_id = request.GET.get("organization", "")
        if organization_id.isdigit():
            organization = (
                Organization.objects.visible_to(request.user)
                .filter(pk=int(organization_id))
                .first()
            )
            if organization is not None:
                initial["organization_name"] = organization.name
        form = ContactForm(user=request.user, definitions=definitions, initial=initial)
        return _contact_form_page(request, form)
    require_writer(request)
    form = ContactForm(request.POST, user=request.user, definitions=definitions)
    if not form.is_valid():
        return _contact_form_page(request, form, status=422)
    if not form.cleaned_data.get("save_anyway"):
        form.warnings = _contact_check_warnings(form)
        if form.warnings:
            return _contact_form_page(request, form, status=200)
    fields = form.contact_fields()
    try:
        with transaction.atomic():
            contact = services.create_contact(
                actor=request.user,
                organization=form.organization,
                organization_role=form.cleaned_data.get("organization_role", ""),
                **fields,
            )
            _save_consents(form, contact, request.user)
    except ValidationError as exc:
        form.add_service_errors(exc)
        return _contact_form_page(request, form, status=422)
    messages.success(request, f"Contact “{contact}” created.")
    if not Contact.objects.visible_to(request.user).filter(pk=contact.pk).exists():
        messages.info(request, "You gave it an owner outside your access, so it is not listed.")
        return redirect("contacts:contact_list")
    return redirect(contact)


def _changed_owner_only(fields: dict, record) -> dict:
    """Leave the owner out unless it changed: a record owned by a since-deactivated user can
    still be edited (the service refuses deactivated users as new owners)."""
    owner = fields.get("owner")
    if (owner.pk if owner else None) == record.owner_id:
        fields = {key: value for key, value in fields.items() if key != "owner"}
    return fields


def _editable_contact(request, pk):
    return get_object_or_404(
        Contact.objects.visible_to(request.user).prefetch_related(
            "emails", "phones", "tags", "consents", "memberships__organization"
        ),
        pk=pk,
    )


def _sync_primary_membership(form: ContactForm, contact, actor) -> None:
    """The form's organization becomes the primary membership; clearing it removes that one."""
    current = next((m for m in contact.memberships.all() if m.is_primary), None)
    role = form.cleaned_data.get("organization_role", "")
    if form.organization is not None:
        if (
            current is None
            or current.organization_id != form.organization.pk
            or current.role != role
        ):
            services.add_membership(
                actor=actor,
                contact=contact,
                organization=form.organization,
                role=role,
                is_primary=True,
            )
    elif current is not None:
        services.remove_membership(actor=actor, contact=contact, organization=current.organization)


@login_required
def contact_edit(request, pk):
    contact = _editable_contact(request, pk)
    require_writer(request)
    definitions = definitions_for(Entity.CONTACT)
    if request.method != "POST":
        form = ContactForm(user=request.user, definitions=definitions, contact=contact)
        return _contact_form_page(request, form, contact)
    form = ContactForm(request.POST, user=request.user, definitions=definitions, contact=contact)
    if not form.is_valid():
        return _contact_form_page(request, form, contact, status=422)
    loaded = contact
    try:
        with transaction.atomic():
            contact = services.update_contact(
                actor=request.user,
                contact=contact,
                **_changed_owner_only(form.contact_fields(), contact),
            )
            _sync_primary_membership(form, loaded, request.user)
            _save_consents(form, contact, request.user)
    except ValidationError as exc:
        form.add_service_errors(exc)
        return _contact_form_page(request, form, contact, status=422)
    messages.success(request, f"Contact “{contact}” saved.")
    if not Contact.objects.visible_to(request.user).filter(pk=contact.pk).exists():
        messages.info(request, "It now belongs to an owner outside your access.")
        return redirect("contacts:contact_list")
    return redirect(contact)


@login_required
@require_GET
def contact_detail(request, pk):
    """The 360° page: a header, then the registered panels in a main and a side column. The
    link of a contact merged into another leads to the one it was merged into."""
    contact = (
        Contact.objects.visible_to(request.user)
        .select_related("owner")
        # The header's primary organization and the organizations panel share one read.
        .prefetch_related("tags", memberships_with_organizations())
        .filter(pk=pk)
        .first()
    )
    if contact is None:
        return _merged_away(request, Contact, "contact", pk)
    primary = next((m for m in contact.memberships.all() if m.is_primary), None)
    entries = panel_entries("contact", request, contact, deferred=_side_panels_later("contact", pk))
    return render(
        request,
        "contacts/contact_detail.html",
        {
            "object": contact,
            "contact": contact,
            "primary_membership": primary,
            "main_panels": [e for e in entries if e["panel"].column == "main"],
            "side_panels": [e for e in entries if e["panel"].column != "main"],
            **_page_extra(request, contact),
        },
    )


@login_required
@require_POST
def contact_archive(request, pk):
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    services.archive_contact(actor=request.user, contact=contact)
    messages.success(request, f"“{contact}” archived. It stays searchable under Archived.")
    return redirect(contact)


@login_required
@require_POST
def contact_restore(request, pk):
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    services.restore_contact(actor=request.user, contact=contact)
    messages.success(request, f"“{contact}” restored.")
    return redirect(contact)


# The side column is many small panels that each read widely: it loads right after the page,
# so the page answers with its header, details and the main column at once.
EAGER_SIDE_PANELS = {"details"}


def _side_panels_later(entity: str, pk: int):
    def deferred_url(panel) -> str | None:
        if panel.column == "main" or panel.key in EAGER_SIDE_PANELS:
            return None
        return reverse(f"contacts:{entity}_panel", args=[pk, panel.key])

    return deferred_url


@login_required
@require_GET
def contact_panel(request, pk, key):
    """One side panel of the 360° page, loaded after the page."""
    contact = get_object_or_404(
        Contact.objects.visible_to(request.user)
        .select_related("owner")
        .prefetch_related("tags", memberships_with_organizations()),
        pk=pk,
    )
    return render_deferred_panel(
        request, "contact", key, contact, extra=_page_extra(request, contact)
    )


@login_required
@require_GET
def organization_panel(request, pk, key):
    organization = get_object_or_404(
        Organization.objects.visible_to(request.user).select_related("owner"), pk=pk
    )
    return render_deferred_panel(
        request, "organization", key, organization, extra=_page_extra(request, organization)
    )


def _page_extra(request, obj) -> dict:
    """What the 360° page's own context gives its panels: the one place that decides whether
    the page offers changes (the page, its deferred panels and every panel swapped after a
    change ask here, so none of them offers a form the others hide)."""
    return {
        obj._meta.model_name: obj,
        "can_edit": access.can(request.user, Action.CHANGE, obj) and not obj.is_archived,
        "can_write": can_write(request.user),
    }


def _panel_or_redirect(request, entity, key, obj, status=200):
    if is_htmx(request):
        return render_panel(
            request, entity, key, obj, extra=_page_extra(request, obj), status=status
        )
    return redirect(obj)


@login_required
@require_POST
def contact_lifecycle(request, pk):
    """Change the stage inline from the 360° page; the history gets a dated entry."""
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    form = LifecycleForm(request.POST)
    if form.is_valid():
        try:
            contact = services.set_lifecycle_stage(
                actor=request.user,
                contact=contact,
                stage=form.cleaned_data["stage"],
                reason=form.cleaned_data.get("reason") or "changed on the contact page",
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
    else:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    if is_htmx(request):
        response = _panel_or_redirect(request, "contact", "lifecycle", contact)
        # The header badge shows the stage too: swap it out of band.
        badge = render(request, "contacts/_stage_badge.html", {"contact": contact, "oob": True})
        response.content += badge.content
        return response
    return redirect(contact)


@login_required
@require_POST
def contact_membership_add(request, pk):
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    form = MembershipForm(request.POST, user=request.user, auto_id="id_membership_%s")
    status = 200
    if form.is_valid() and form.organization is not None:
        try:
            services.add_membership(
                actor=request.user,
                contact=contact,
                organization=form.organization,
                role=form.cleaned_data.get("role", ""),
                is_primary=form.cleaned_data.get("is_primary", False),
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("role", message)
    if form.errors:
        status = 422
        if not is_htmx(request):
            for field_errors in form.errors.values():
                for message in field_errors:
                    messages.error(request, message)
            return redirect(contact)
        return render_panel(
            request,
            "contact",
            "organizations",
            contact,
            overrides={"form": form},
            extra=_page_extra(request, contact),
            status=status,
        )
    return _panel_or_redirect(request, "contact", "organizations", contact)


@login_required
@require_POST
def contact_membership_remove(request, pk, organization_pk):
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    membership = get_object_or_404(Membership, contact=contact, organization_id=organization_pk)
    services.remove_membership(
        actor=request.user, contact=contact, organization=membership.organization
    )
    return _panel_or_redirect(request, "contact", "organizations", contact)


# -- organizations --------------------------------------------------------------------------
@login_required
@require_GET
def organization_list(request):
    params = request.GET
    state = saved_views.list_state(request.user, ListKind.ORGANIZATIONS, params)
    if not params and state.default_view is not None and not is_htmx(request):
        return redirect(state.default_view.get_absolute_url())
    filter_errors = {}
    try:
        filtered = filter_organizations(Organization.objects.all(), params, request.user)
    except ValidationError as exc:
        filter_errors = exc.message_dict
        filtered = Organization.objects.none()
    shown = {column.key for column in state.columns}

    def queryset(sort):
        return organization_list_queryset(filtered, shown)

    context = _list_context(
        request,
        queryset=queryset,
        orderings=ORGANIZATION_ORDERINGS,
        default_ordering=DEFAULT_ORGANIZATION_ORDERING,
        columns=state.columns,
    )
    items = context["page"].items
    member_counts = {}
    if "members" in shown:
        member_counts = dict(
            Membership.objects.filter(organization__in=[org.pk for org in items])
            .order_by()
            .values_list("organization")
            .annotate(n=Count("id"))
            .values_list("organization", "n")
        )
    count, count_capped = _list_count(context, filtered)
    context.update(
        _list_tools(request, ListKind.ORGANIZATIONS, state, ORGANIZATION_COLUMNS),
        rows=organization_rows(items, member_counts, state.columns),
        count=count,
        count_capped=count_capped,
        filter_errors=filter_errors,
        params=params,
        archived=params.get("archived", "") == "true",
        is_filtered=any(params.get(name) for name in ("q", "owner", "tag", "industry", "size"))
        or _active_custom_filters(params),
        owners=owner_choices(),
        tags=Tag.objects.only("name").order_by("name")[:500],
        sizes=OrganizationSize.choices,
        custom_filters=_filter_controls(Entity.ORGANIZATION, params),
        show_more_filters=_active_custom_filters(params) or bool(params.get("industry")),
        can_write=can_write(request.user),
    )
    return render_page_or_fragment(
        request,
        "contacts/organization_list.html",
        "contacts/_organization_results.html",
        context,
    )


def _organization_form_page(request, form, organization=None, status=200):
    return render(
        request,
        "contacts/organization_form.html",
        {"form": form, "organization": organization},
        status=status,
    )


@login_required
def organization_create(request):
    require_writer(request)
    definitions = definitions_for(Entity.ORGANIZATION)
    if request.method != "POST":
        initial = {"name": request.GET.get("name", "")[:200]}
        form = OrganizationForm(user=request.user, definitions=definitions, initial=initial)
        return _organization_form_page(request, form)
    form = OrganizationForm(request.POST, user=request.user, definitions=definitions)
    if not form.is_valid():
        return _organization_form_page(request, form, status=422)
    try:
        organization = services.create_organization(
            actor=request.user, **form.organization_fields()
        )
    except ValidationError as exc:
        form.add_service_errors(exc)
        return _organization_form_page(request, form, status=422)
    messages.success(request, f"Organization “{organization}” created.")
    if not Organization.objects.visible_to(request.user).filter(pk=organization.pk).exists():
        return redirect("contacts:organization_list")
    return redirect(organization)


@login_required
def organization_edit(request, pk):
    organization = get_object_or_404(
        Organization.objects.visible_to(request.user).prefetch_related("tags"), pk=pk
    )
    require_writer(request)
    definitions = definitions_for(Entity.ORGANIZATION)
    if request.method != "POST":
        form = OrganizationForm(
            user=request.user, definitions=definitions, organization=organization
        )
        return _organization_form_page(request, form, organization)
    form = OrganizationForm(
        request.POST, user=request.user, definitions=definitions, organization=organization
    )
    if not form.is_valid():
        return _organization_form_page(request, form, organization, status=422)
    try:
        organization = services.update_organization(
            actor=request.user,
            organization=organization,
            **_changed_owner_only(form.organization_fields(), organization),
        )
    except ValidationError as exc:
        form.add_service_errors(exc)
        return _organization_form_page(request, form, organization, status=422)
    messages.success(request, f"Organization “{organization}” saved.")
    if not Organization.objects.visible_to(request.user).filter(pk=organization.pk).exists():
        return redirect("contacts:organization_list")
    return redirect(organization)


@login_required
@require_GET
def organization_detail(request, pk):
    organization = (
        Organization.objects.visible_to(request.user)
        .select_related("owner")
        .prefetch_related("tags")
        .filter(pk=pk)
        .first()
    )
    if organization is None:
        return _merged_away(request, Organization, "organization", pk)
    entries = panel_entries(
        "organization", request, organization, deferred=_side_panels_later("organization", pk)
    )
    return render(
        request,
        "contacts/organization_detail.html",
        {
            "object": organization,
            "organization": organization,
            "main_panels": [e for e in entries if e["panel"].column == "main"],
            "side_panels": [e for e in entries if e["panel"].column != "main"],
            **_page_extra(request, organization),
        },
    )


@login_required
@require_POST
def organization_archive(request, pk):
    organization = get_object_or_404(Organization.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    services.archive_organization(actor=request.user, organization=organization)
    messages.success(request, f"“{organization}” archived.")
    return redirect(organization)


@login_required
@require_POST
def organization_restore(request, pk):
    organization = get_object_or_404(Organization.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    services.restore_organization(actor=request.user, organization=organization)
    messages.success(request, f"“{organization}” restored.")
    return redirect(organization)


@login_required
@require_POST
def organization_relationship_add(request, pk):
    organization = get_object_or_404(Organization.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    form = RelationshipForm(
        request.POST, user=request.user, organization=organization, auto_id="id_relationship_%s"
    )
    if form.is_valid() and form.other is not None:
        try:
            services.add_relationship(
                actor=request.user,
                from_organization=organization,
                to_organization=form.other,
                kind=form.cleaned_data["kind"],
                note=form.cleaned_data.get("note", ""),
            )
        except ValidationError as exc:
            for key, items in exc.message_dict.items():
                target = {"to_organization": "other_name"}.get(key, key)
                for message in items:
                    form.add_error(target if target in form.fields else None, message)
    if form.errors:
        if not is_htmx(request):
            for field_errors in form.errors.values():
                for message in field_errors:
                    messages.error(request, message)
            return redirect(organization)
        return render_panel(
            request,
            "organization",
            "relationships",
            organization,
            overrides={"form": form},
            extra=_page_extra(request, organization),
            status=422,
        )
    return _panel_or_redirect(request, "organization", "relationships", organization)


@login_required
@require_POST
def organization_relationship_remove(request, pk, relationship_pk):
    organization = get_object_or_404(Organization.objects.visible_to(request.user), pk=pk)
    require_writer(request)
    relationship = get_object_or_404(
        OrganizationRelationship.objects.filter(
            Q(from_organization=organization) | Q(to_organization=organization)
        ),
        pk=relationship_pk,
    )
    services.remove_relationship(actor=request.user, relationship=relationship)
    return _panel_or_redirect(request, "organization", "relationships", organization)


@login_required
@require_GET
def organization_lookup(request):
    """<option>s for the organization inputs' datalist: visible, active, name contains."""
    text = ""
    for name in ("q", "organization_name", "other_name"):
        text = (request.GET.get(name) or "").strip()
        if text:
            break
    organizations = []
    if text:
        organizations = list(
            Organization.objects.visible_to(request.user)
            .active()
            .search(text[:100])
            .order_by("name", "pk")[:LOOKUP_LIMIT]
        )
    response = render(
        request, "contacts/_organization_options.html", {"organizations": organizations}
    )
    response["Cache-Control"] = "private, no-store"
    return response
