"""Contacts, organizations and tags over JSON. Thin: translate, call the services, answer.

Reads go through `visible_to(user)`, so a record outside the caller's scope is a 404; writes
check the role first (a read-only role gets 403 whatever it asks for).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router, Status

from rapport.accounts.api.auth import require_write
from rapport.accounts.models import User
from rapport.contacts import services
from rapport.contacts.api.schemas import (
    PREFETCHED,
    ChannelName,
    ConsentIn,
    ConsentOut,
    ContactDetailOut,
    ContactFilterParams,
    ContactIn,
    ContactPage,
    ContactPatch,
    CursorParams,
    LifecycleStageIn,
    MemberPage,
    MembershipIn,
    MembershipOut,
    OrganizationFilterParams,
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationPatch,
    PageParams,
    RelationshipIn,
    RelationshipList,
    RelationshipOut,
    TagIn,
    TagOut,
    TagPage,
    TagParams,
)
from rapport.contacts.filters import (
    CONTACT_FILTERS,
    CONTACT_ORDERINGS,
    DEFAULT_CONTACT_ORDERING,
    DEFAULT_ORGANIZATION_ORDERING,
    ORGANIZATION_FILTERS,
    ORGANIZATION_ORDERINGS,
    Ordering,
    filter_contacts,
    filter_organizations,
    resolve_ordering,
)
from rapport.contacts.models import (
    Contact,
    Membership,
    Organization,
    OrganizationRelationship,
    Tag,
)
from rapport.core.api_types import MAX_ID
from rapport.core.pagination import keyset_page
from rapport.core.problems import check_query_params, relocate

router = Router()

PAGE_PARAMS = ("cursor", "limit", "ordering")
BODY_NAMES = {"owner": "owner_id", "organization": "organization_id"}

CONTACT_LIST_HELP = (
    "Visible contacts, one page at a time (keyset: pass `next_cursor` back as `cursor`). "
    "Filters: `q` (name, email, phone, organization), `owner` (user id, `me` or `none`), "
    "`lifecycle_stage` (repeat or comma-separate for several), `tag`, `organization` (id), "
    "`source`, `country`, `archived` (`false` by default, `true`, `all`), `created_after` / "
    "`created_before` (YYYY-MM-DD, both days included, or an ISO date-time), and any active "
    "custom field as `cf_<key>` (exact for choice, boolean, number, decimal and date; "
    "contains for text; has-this-choice for multi-choice) or `cf_<key>__gte` / `cf_<key>__lte` "
    "for number, decimal and date fields. Orderings: `name`, `-name`, `created_at`, "
    "`-created_at`, `lifecycle` / `-lifecycle` (funnel order, then name) and `last_touched` / "
    "`-last_touched` (never touched first when ascending)."
)
ORGANIZATION_LIST_HELP = (
    "Visible organizations, one page at a time. Filters: `q`, `owner`, `tag`, `industry` "
    "(contains), `size`, `country`, `archived`, `created_after` / `created_before` and "
    "`cf_<key>` as for contacts. Orderings: `name`, `-name`, `created_at`, `-created_at`."
)


def contact_queryset():
    """Contacts with everything ContactOut shows, fetched in a fixed number of queries.

    Each related list lands in a plain attribute (`to_attr`, read by the schema's resolvers):
    prefetching into the managers instead builds a queryset per contact and relation, which
    costs more than the rows themselves on a page of fifty.
    """
    return Contact.objects.select_related("owner").prefetch_related(
        Prefetch("emails", to_attr=PREFETCHED["emails"]),
        Prefetch("phones", to_attr=PREFETCHED["phones"]),
        Prefetch("tags", queryset=Tag.objects.only("name"), to_attr=PREFETCHED["tags"]),
        Prefetch("external_ids", to_attr=PREFETCHED["external_ids"]),
        Prefetch(
            "memberships",
            queryset=Membership.objects.select_related("organization").only(
                "contact_id", "organization_id", "role", "is_primary", "organization__name"
            ),
            to_attr=PREFETCHED["memberships"],
        ),
    )


def contact_detail_queryset():
    return contact_queryset().prefetch_related("consents", "lifecycle_changes")


def organization_queryset():
    return Organization.objects.select_related("owner").prefetch_related("tags")


def _visible_contact(request, contact_id: int, queryset=None) -> Contact:
    queryset = Contact.objects.all() if queryset is None else queryset
    return get_object_or_404(queryset.visible_to(request.user), pk=contact_id)


def _visible_organization(request, organization_id: int, queryset=None) -> Organization:
    queryset = Organization.objects.all() if queryset is None else queryset
    return get_object_or_404(queryset.visible_to(request.user), pk=organization_id)


def _user_for(field: str, user_id: int | None):
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ValidationError({f"body.{field}": ["No such user."]})
    return user


def _organization_for(request, field: str, organization_id: int | None):
    if organization_id is None:
        return None
    organization = Organization.objects.visible_to(request.user).filter(pk=organization_id).first()
    if organization is None:
        raise ValidationError({f"body.{field}": ["No such organization."]})
    return organization


def _page(queryset, ordering: Ordering, cursor: str | None, limit: int) -> dict:
    page = keyset_page(
        queryset,
        order_fields=ordering.fields,
        descending=ordering.descending,
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


def _ordering(name: str | None, orderings, default: str) -> Ordering:
    try:
        return resolve_ordering(name, orderings, default)[1]
    except ValidationError as exc:
        raise relocate(exc, "query") from None


def _lists_cleared(changes: dict, names=("emails", "phones", "tags", "external_ids")) -> dict:
    # In a patch, a list sent as null empties it, the same as an empty list.
    for name in names:
        if name in changes and changes[name] is None:
            changes[name] = []
    return changes


# Contacts ----------------------------------------------------------------------------------


@router.get("/contacts/", response=ContactPage, tags=["contacts"], description=CONTACT_LIST_HELP)
def list_contacts(
    request,
    page: Query[PageParams],
    filters: Query[ContactFilterParams],
):
    check_query_params(request.GET, (*PAGE_PARAMS, *CONTACT_FILTERS), prefixes=("cf_",))
    chosen = _ordering(page.ordering, CONTACT_ORDERINGS, DEFAULT_CONTACT_ORDERING)
    try:
        queryset = filter_contacts(contact_queryset(), request.GET, request.user)
    except ValidationError as exc:
        raise relocate(exc, "query") from None
    return _page(queryset.with_sort_keys(chosen.fields), chosen, page.cursor, page.limit)


@router.post("/contacts/", response={201: ContactDetailOut}, tags=["contacts"])
def create_contact(request, payload: ContactIn):
    """Create a contact; send `Idempotency-Key` to make a retry safe."""
    require_write(request.user)
    data = payload.model_dump()
    owner_id = data.pop("owner_id")
    if "owner_id" in payload.model_fields_set:
        owner = _user_for("owner_id", owner_id)
    else:
        owner = request.user
    organization = _organization_for(request, "organization_id", data.pop("organization_id"))
    try:
        contact = services.create_contact(
            actor=request.user, owner=owner, organization=organization, **data
        )
    except ValidationError as exc:
        raise relocate(exc, "body", BODY_NAMES) from None
    return Status(201, contact_detail_queryset().get(pk=contact.pk))


@router.get("/contacts/{contact_id}", response=ContactDetailOut, tags=["contacts"])
def get_contact(request, contact_id: int = Path(..., ge=1, le=MAX_ID)):
    return _visible_contact(request, contact_id, contact_detail_queryset())


@router.patch("/contacts/{contact_id}", response=ContactDetailOut, tags=["contacts"])
def update_contact(request, payload: ContactPatch, contact_id: int = Path(..., ge=1, le=MAX_ID)):
    """Change only the fields sent."""
    require_write(request.user)
    contact = _visible_contact(request, contact_id)
    changes = _lists_cleared(payload.model_dump(exclude_unset=True))
    if "owner_id" in changes:
        changes["owner"] = _user_for("owner_id", changes.pop("owner_id"))
    try:
        services.update_contact(actor=request.user, contact=contact, **changes)
    except ValidationError as exc:
        raise relocate(exc, "body", BODY_NAMES) from None
    return contact_detail_queryset().get(pk=contact.pk)


@router.post("/contacts/{contact_id}/archive", response=ContactDetailOut, tags=["contacts"])
def archive_contact(request, contact_id: int = Path(..., ge=1, le=MAX_ID)):
    require_write(request.user)
    contact = _visible_contact(request, contact_id)
    services.archive_contact(actor=request.user, contact=contact)
    return contact_detail_queryset().get(pk=contact.pk)


@router.post("/contacts/{contact_id}/restore", response=ContactDetailOut, tags=["contacts"])
def restore_contact(request, contact_id: int = Path(..., ge=1, le=MAX_ID)):
    require_write(request.user)
    contact = _visible_contact(request, contact_id)
    services.restore_contact(actor=request.user, contact=contact)
    return contact_detail_queryset().get(pk=contact.pk)


@router.post("/contacts/{contact_id}/lifecycle-stage", response=ContactDetailOut, tags=["contacts"])
def set_lifecycle_stage(
    request, payload: LifecycleStageIn, contact_id: int = Path(..., ge=1, le=MAX_ID)
):
    """Move the contact to another lifecycle stage; the move is kept in its dated history."""
    require_write(request.user)
    contact = _visible_contact(request, contact_id)
    try:
        services.set_lifecycle_stage(
            actor=request.user, contact=contact, stage=payload.stage, reason=payload.reason
        )
    except ValidationError as exc:
        raise relocate(exc, "body", {"lifecycle_stage": "stage"}) from None
    return contact_detail_queryset().get(pk=contact.pk)


@router.put("/contacts/{contact_id}/consents/{channel}", response=ConsentOut, tags=["contacts"])
def set_consent(
    request,
    payload: ConsentIn,
    channel: ChannelName,
    contact_id: int = Path(..., ge=1, le=MAX_ID),
):
    """Record the contact's current consent on one channel, with its lawful basis."""
    require_write(request.user)
    contact = _visible_contact(request, contact_id)
    try:
        return services.set_consent(
            actor=request.user,
            contact=contact,
            channel=channel,
            status=payload.status,
            lawful_basis=payload.lawful_basis,
            source=payload.source,
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None


@router.post("/contacts/{contact_id}/memberships", response={201: MembershipOut}, tags=["contacts"])
def add_membership(request, payload: MembershipIn, contact_id: int = Path(..., ge=1, le=MAX_ID)):
    """Link the contact to an organization, or change its role there."""
    require_write(request.user)
    contact = _visible_contact(request, contact_id)
    organization = _organization_for(request, "organization_id", payload.organization_id)
    try:
        membership = services.add_membership(
            actor=request.user,
            contact=contact,
            organization=organization,
            role=payload.role,
            is_primary=payload.is_primary,
        )
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(201, Membership.objects.select_related("organization").get(pk=membership.pk))


@router.delete(
    "/contacts/{contact_id}/memberships/{organization_id}",
    response={204: None},
    tags=["contacts"],
)
def remove_membership(
    request,
    contact_id: int = Path(..., ge=1, le=MAX_ID),
    organization_id: int = Path(..., ge=1, le=MAX_ID),
):
    require_write(request.user)
    contact = _visible_contact(request, contact_id)
    organization = _visible_organization(request, organization_id)
    get_object_or_404(Membership, contact=contact, organization=organization)
    services.remove_membership(actor=request.user, contact=contact, organization=organization)
    return Status(204, None)


# Organizations -----------------------------------------------------------------------------


@router.get(
    "/organizations/",
    response=OrganizationPage,
    tags=["organizations"],
    description=ORGANIZATION_LIST_HELP,
)
def list_organizations(
    request,
    page: Query[PageParams],
    filters: Query[OrganizationFilterParams],
):
    check_query_params(request.GET, (*PAGE_PARAMS, *ORGANIZATION_FILTERS), prefixes=("cf_",))
    chosen = _ordering(page.ordering, ORGANIZATION_ORDERINGS, DEFAULT_ORGANIZATION_ORDERING)
    try:
        queryset = filter_organizations(organization_queryset(), request.GET, request.user)
    except ValidationError as exc:
        raise relocate(exc, "query") from None
    return _page(queryset, chosen, page.cursor, page.limit)


@router.post("/organizations/", response={201: OrganizationOut}, tags=["organizations"])
def create_organization(request, payload: OrganizationIn):
    require_write(request.user)
    data = payload.model_dump()
    owner_id = data.pop("owner_id")
    if "owner_id" in payload.model_fields_set:
        owner = _user_for("owner_id", owner_id)
    else:
        owner = request.user
    try:
        organization = services.create_organization(actor=request.user, owner=owner, **data)
    except ValidationError as exc:
        raise relocate(exc, "body", BODY_NAMES) from None
    return Status(201, organization_queryset().get(pk=organization.pk))


@router.get("/organizations/{organization_id}", response=OrganizationOut, tags=["organizations"])
def get_organization(request, organization_id: int = Path(..., ge=1, le=MAX_ID)):
    return _visible_organization(request, organization_id, organization_queryset())


@router.patch("/organizations/{organization_id}", response=OrganizationOut, tags=["organizations"])
def update_organization(
    request, payload: OrganizationPatch, organization_id: int = Path(..., ge=1, le=MAX_ID)
):
    require_write(request.user)
    organization = _visible_organization(request, organization_id)
    changes = _lists_cleared(payload.model_dump(exclude_unset=True), names=("tags",))
    if "name" in changes and changes["name"] is None:
        raise ValidationError({"body.name": ["An organization needs a name."]})
    if "owner_id" in changes:
        changes["owner"] = _user_for("owner_id", changes.pop("owner_id"))
    try:
        services.update_organization(actor=request.user, organization=organization, **changes)
    except ValidationError as exc:
        raise relocate(exc, "body", BODY_NAMES) from None
    return organization_queryset().get(pk=organization.pk)


@router.post(
    "/organizations/{organization_id}/archive", response=OrganizationOut, tags=["organizations"]
)
def archive_organization(request, organization_id: int = Path(..., ge=1, le=MAX_ID)):
    require_write(request.user)
    organization = _visible_organization(request, organization_id)
    services.archive_organization(actor=request.user, organization=organization)
    return organization_queryset().get(pk=organization.pk)


@router.post(
    "/organizations/{organization_id}/restore", response=OrganizationOut, tags=["organizations"]
)
def restore_organization(request, organization_id: int = Path(..., ge=1, le=MAX_ID)):
    require_write(request.user)
    organization = _visible_organization(request, organization_id)
    services.restore_organization(actor=request.user, organization=organization)
    return organization_queryset().get(pk=organization.pk)


@router.get("/organizations/{organization_id}/members", response=MemberPage, tags=["organizations"])
def list_members(
    request, page: Query[CursorParams], organization_id: int = Path(..., ge=1, le=MAX_ID)
):
    """The organization's contacts you may see, by name, with their role there."""
    organization = _visible_organization(request, organization_id)
    visible = Contact.objects.visible_to(request.user).filter(is_archived=False)
    memberships = Membership.objects.filter(
        organization=organization, contact__in=visible.values("pk")
    ).select_related("contact")
    ordering = Ordering(("contact__last_name", "contact__first_name"), False)
    return _page(memberships, ordering, page.cursor, page.limit)


@router.get(
    "/organizations/{organization_id}/relationships",
    response=RelationshipList,
    tags=["organizations"],
)
def list_relationships(request, organization_id: int = Path(..., ge=1, le=MAX_ID)):
    """Ties from and to this organization, where you may see the other side too."""
    organization = _visible_organization(request, organization_id)
    visible = Organization.objects.visible_to(request.user).values("pk")
    relationships = (
        OrganizationRelationship.objects.filter(
            Q(from_organization=organization, to_organization__in=visible)
            | Q(to_organization=organization, from_organization__in=visible)
        )
        .select_related("from_organization", "to_organization")
        .order_by("kind", "id")
    )
    return {"items": list(relationships)}


@router.post(
    "/organizations/{organization_id}/relationships",
    response={201: RelationshipOut},
    tags=["organizations"],
)
def add_relationship(
    request, payload: RelationshipIn, organization_id: int = Path(..., ge=1, le=MAX_ID)
):
    """Tie this organization to another: it is the <kind> of `to_organization_id`."""
    require_write(request.user)
    organization = _visible_organization(request, organization_id)
    other = _organization_for(request, "to_organization_id", payload.to_organization_id)
    try:
        relationship = services.add_relationship(
            actor=request.user,
            from_organization=organization,
            to_organization=other,
            kind=payload.kind,
            note=payload.note,
        )
    except ValidationError as exc:
        raise relocate(exc, "body", {"to_organization": "to_organization_id"}) from None
    return Status(
        201,
        OrganizationRelationship.objects.select_related("from_organization", "to_organization").get(
            pk=relationship.pk
        ),
    )


@router.delete(
    "/organizations/{organization_id}/relationships/{relationship_id}",
    response={204: None},
    tags=["organizations"],
)
def remove_relationship(
    request,
    organization_id: int = Path(..., ge=1, le=MAX_ID),
    relationship_id: int = Path(..., ge=1, le=MAX_ID),
):
    require_write(request.user)
    organization = _visible_organization(request, organization_id)
    relationship = get_object_or_404(
        OrganizationRelationship.objects.filter(
            Q(from_organization=organization) | Q(to_organization=organization)
        ),
        pk=relationship_id,
    )
    services.remove_relationship(actor=request.user, relationship=relationship)
    return Status(204, None)


# Tags --------------------------------------------------------------------------------------


@router.get("/tags/", response=TagPage, tags=["tags"])
def list_tags(request, page: Query[TagParams]):
    """Every tag, by name; `q` keeps those whose name contains it."""
    tags = Tag.objects.all()
    if page.q:
        tags = tags.filter(name__icontains=page.q)
    return _page(tags, Ordering(("name",), False), page.cursor, page.limit)


@router.post("/tags/", response={201: TagOut}, tags=["tags"])
def create_tag(request, payload: TagIn):
    require_write(request.user)
    try:
        tag = services.create_tag(actor=request.user, name=payload.name, color=payload.color)
    except ValidationError as exc:
        raise relocate(exc, "body") from None
    return Status(201, tag)
