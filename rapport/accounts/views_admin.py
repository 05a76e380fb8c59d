"""Administration in the web UI: users, teams and roles. Administrators only.

Every page answers an anonymous visitor with the sign-in page and a signed-in non-administrator
with 403. Writes go through `accounts.services`; their errors are shown beside the fields.
"""

import datetime as dt
import functools

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from rapport.accounts.access import can_administer
from rapport.accounts.forms import RoleForm, TeamForm, UserFilterForm, UserForm, add_service_errors
from rapport.accounts.models import ApiToken, Role, Team, User
from rapport.accounts.services import (
    create_role,
    create_team,
    create_user,
    revoke_api_token,
    update_role,
    update_team,
    update_user,
)
from rapport.accounts.views import render_for_user
from rapport.core.htmx import render_page_or_fragment

INVALID = 422
USERS_PER_PAGE = 50


def administrator_required(view):
    """Anonymous → the sign-in page; signed in without the administrator flag → 403."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_administer(request.user):
            raise PermissionDenied("Only administrators may open this page.")
        return view(request, *args, **kwargs)

    return wrapper


def audit_url(entity: str, object_id) -> str:
    """The audit log filtered to one record."""
    return f"{reverse('audit:change_list')}?entity={entity}&object_id={object_id}"


@administrator_required
def admin_home(request):
    """Links to every administration page, each with the figure an administrator checks first."""
    # Looked up by label: the administration home links sibling platform apps without
    # importing them.
    change_records = apps.get_model("audit", "ChangeRecord").objects
    definitions = apps.get_model("customfields", "CustomFieldDefinition").objects
    users = User.objects.aggregate(
        active=Count("pk", filter=Q(is_active=True)),
        inactive=Count("pk", filter=Q(is_active=False)),
    )
    fields = dict(
        definitions.filter(is_active=True)
        .values_list("entity")
        .annotate(n=Count("pk"))
        .values_list("entity", "n")
    )
    since = timezone.now() - dt.timedelta(days=1)
    context = {
        "users": users,
        "team_count": Team.objects.count(),
        "role_count": Role.objects.count(),
        "field_count": sum(fields.values()),
        "fields_by_entity": fields,
        "changes_today": change_records.filter(occurred_at__gte=since).count(),
    }
    return render(request, "accounts/admin/home.html", context)


# Users -----------------------------------------------------------------------------------


@administrator_required
def user_list(request):
    """Users, searchable by name, username or email and filtered by team, role and status."""
    form = UserFilterForm(request.GET or None)
    users = User.objects.select_related("role").prefetch_related("teams")
    status = "active"
    if form.is_valid():
        data = form.cleaned_data
        status = data["status"] or "active"
        if data["q"]:
            for word in data["q"].split()[:5]:
                users = users.filter(
                    Q(username__icontains=word)
                    | Q(first_name__icontains=word)
                    | Q(last_name__icontains=word)
                    | Q(email__icontains=word)
                )
        if data["team"]:
            users = users.filter(teams=data["team"])
        if data["role"]:
            users = users.filter(role=data["role"])
    if status == "active":
        users = users.filter(is_active=True)
    elif status == "inactive":
        users = users.filter(is_active=False)
    users = users.order_by("first_name", "last_name", "username", "pk")
    page = Paginator(users, USERS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render_page_or_fragment(
        request, "accounts/admin/user_list.html", "accounts/admin/_user_rows.html", context
    )


@administrator_required
def user_create(request):
    form = UserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = create_user(
                actor=request.user,
                username=data["username"],
                password=data["password"] or None,
                role=data["role"],
                teams=list(data["teams"]),
                **form.profile_fields(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{user} can now be given work.")
            return redirect("accounts:user_edit", pk=user.pk)
    status = INVALID if form.is_bound else 200
    return render(
        request, "accounts/admin/user_form.html", {"form": form, "subject": None}, status=status
    )


@administrator_required
def user_edit(request, pk: int):
    """Edit a user; the page also lists their API tokens (revocable) and links their history."""
    subject = get_object_or_404(User.objects.select_related("role"), pk=pk)
    form = UserForm(request.POST or None, instance=subject)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            update_user(
                actor=request.user,
                user=subject,
                role=data["role"],
                teams=list(data["teams"]),
                password=data["password"] or None,
                **form.profile_fields(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            subject.refresh_from_db()
        else:
            messages.success(request, f"{subject} is saved.")
            return redirect("accounts:user_edit", pk=subject.pk)
    context = {
        "form": form,
        "subject": subject,
        "tokens": ApiToken.objects.filter(user=subject),
        "history_url": audit_url("accounts.user", subject.pk),
    }
    status = INVALID if form.is_bound else 200
    return render_for_user(request, "accounts/admin/user_form.html", context, status=status)


@administrator_required
@require_POST
def user_set_active(request, pk: int):
    """Deactivate or reactivate a user. Users are never deleted: their history stays theirs."""
    subject = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        update_user(actor=request.user, user=subject, is_active=active)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if active:
            messages.success(request, f"{subject} can sign in again.")
        else:
            messages.success(request, f"{subject} is deactivated; their records keep their name.")
    return redirect("accounts:user_edit", pk=subject.pk)


@administrator_required
@require_POST
def user_token_revoke(request, pk: int, token_pk: int):
    token = get_object_or_404(ApiToken, pk=token_pk, user_id=pk)
    revoke_api_token(actor=request.user, token=token)
    messages.success(request, f"The token “{token.name}” no longer works.")
    return redirect("accounts:user_edit", pk=pk)


# Teams -----------------------------------------------------------------------------------


@administrator_required
def team_list(request):
    teams = Team.objects.annotate(
        member_count=Count("members", filter=Q(members__is_active=True))
    ).order_by("name")
    return render(request, "accounts/admin/team_list.html", {"teams": teams})


@administrator_required
def team_create(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            team = create_team(
                actor=request.user,
                name=data["name"],
                kind=data["kind"],
                description=data["description"],
                members=list(data["members"]),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Team “{team}” is created.")
            return redirect("accounts:team_list")
    status = INVALID if form.is_bound else 200
    return render(
        request, "accounts/admin/team_form.html", {"form": form, "team": None}, status=status
    )


@administrator_required
def team_edit(request, pk: int):
    team = get_object_or_404(Team, pk=pk)
    form = TeamForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            update_team(
                actor=request.user,
                team=team,
                name=data["name"],
                kind=data["kind"],
                description=data["description"],
                members=list(data["members"]),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            team.refresh_from_db()
        else:
            messages.success(request, f"Team “{team}” is saved.")
            return redirect("accounts:team_list")
    context = {"form": form, "team": team, "history_url": audit_url("accounts.team", team.pk)}
    status = INVALID if form.is_bound else 200
    return render(request, "accounts/admin/team_form.html", context, status=status)


# Roles -----------------------------------------------------------------------------------


@administrator_required
def role_list(request):
    roles = Role.objects.annotate(
        user_count=Count("users", filter=Q(users__is_active=True))
    ).order_by("name")
    return render(request, "accounts/admin/role_list.html", {"roles": roles})


@administrator_required
def role_create(request):
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            role = create_role(
                actor=request.user,
                name=data["name"],
                description=data["description"],
                is_admin=data["is_admin"],
                is_read_only=data["is_read_only"],
                requires_two_factor=data["requires_two_factor"],
                scopes=form.scopes(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc, aliases=RoleForm.error_aliases())
        else:
            messages.success(request, f"Role “{role}” is created.")
            return redirect("accounts:role_list")
    status = INVALID if form.is_bound else 200
    return render(
        request, "accounts/admin/role_form.html", {"form": form, "role": None}, status=status
    )


@administrator_required
def role_edit(request, pk: int):
    role = get_object_or_404(Role, pk=pk)
    form = RoleForm(request.POST or None, instance=role)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            update_role(
                actor=request.user,
                role=role,
                name=data["name"],
                description=data["description"],
                is_admin=data["is_admin"],
                is_read_only=data["is_read_only"],
                requires_two_factor=data["requires_two_factor"],
                scopes=form.scopes(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc, aliases=RoleForm.error_aliases())
            role.refresh_from_db()
        else:
            messages.success(request, f"Role “{role}” is saved.")
            return redirect("accounts:role_list")
    context = {
        "form": form,
        "role": role,
        "holders": role.users.filter(is_active=True).order_by("first_name", "last_name"),
        "history_url": audit_url("accounts.role", role.pk),
    }
    status = INVALID if form.is_bound else 200
    return render(request, "accounts/admin/role_form.html", context, status=status)
