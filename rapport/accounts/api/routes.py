"""Who is who: the caller (`/me`), users and teams (read only here; administrators manage them
in the web UI), and the caller's own API tokens."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Path, Query, Router, Status

from rapport.accounts import services
from rapport.accounts.api.schemas import (
    ApiTokenCreated,
    ApiTokenIn,
    ApiTokenList,
    MeOut,
    TeamList,
    TeamOut,
    UserOut,
    UserPage,
    UserParams,
)
from rapport.accounts.models import ApiToken, Team, User
from rapport.core.api_types import MAX_ID
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate

router = Router()


def user_queryset():
    return User.objects.select_related("role").prefetch_related("teams")


@router.get("/me", response=MeOut, tags=["users"])
def me(request):
    """The signed-in user, with the role and the scope it gives in each domain."""
    return user_queryset().get(pk=request.user.pk)


@router.get("/users/", response=UserPage, tags=["users"])
def list_users(request, params: Query[UserParams]):
    """Everyone who can own records, by name: owners and assignees are picked from here."""
    check_query_params(request.GET, UserParams.model_fields)
    users = user_queryset()
    if params.team:
        users = users.filter(teams__id=params.team)
    if params.is_active is not None:
        users = users.filter(is_active=params.is_active)
    for word in (params.q or "").split()[:5]:
        users = users.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(username__icontains=word)
            | Q(email__icontains=word)
        )
    page = keyset_page(
        users,
        order_fields=("first_name", "last_name", "username"),
        cursor=params.cursor,
        limit=params.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/users/{user_id}", response=UserOut, tags=["users"])
def get_user(request, user_id: int = Path(..., ge=1, le=MAX_ID)):
    return get_object_or_404(user_queryset(), pk=user_id)


@router.get("/teams/", response=TeamList, tags=["users"])
def list_teams(request):
    return {"items": list(Team.objects.prefetch_related("members").order_by("name", "id"))}


@router.get("/teams/{team_id}", response=TeamOut, tags=["users"])
def get_team(request, team_id: int = Path(..., ge=1, le=MAX_ID)):
    return get_object_or_404(Team.objects.prefetch_related("members"), pk=team_id)


@router.get("/tokens/", response=ApiTokenList, tags=["api tokens"])
def list_tokens(request):
    """Your API tokens, newest first. Secrets are never shown again; `key_prefix` tells
    them apart."""
    return {"items": list(ApiToken.objects.filter(user=request.user).order_by("-created_at"))}


@router.post("/tokens/", response={201: ApiTokenCreated}, tags=["api tokens"])
def create_token(request, payload: ApiTokenIn, response: HttpResponse):
    """A new personal token. Copy `secret` now: it is shown once. Read-only roles may make
    tokens too (reading through the API needs one)."""
    if payload.expires_at is not None and timezone.is_naive(payload.expires_at):
        raise ValidationError({"body.expires_at": ["Give a time zone, e.g. 2030-01-01T00:00Z."]})
    try:
        token, secret = services.create_api_token(
            actor=request.user,
            user=request.user,
            name=payload.name,
            expires_at=payload.expires_at,
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    # Nothing on the way (caches, the idempotency record) may keep the secret.
    response["Cache-Control"] = "no-store"
    token.secret = secret
    return Status(201, token)


@router.delete("/tokens/{token_id}", response={204: None}, tags=["api tokens"])
def revoke_token(request, token_id: int = Path(..., ge=1, le=MAX_ID)):
    """Stop one of your tokens working, at once. Someone else's token is a 404."""
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    services.revoke_api_token(actor=request.user, token=token)
    return Status(204, None)
