"""Suggestions for the type-ahead record pickers: visible, active records matching a few letters.

Every picker of a contact or organization in any form reads these, so a picker offers exactly
what the user may see (`visible_to`) and nothing is ever chosen by typing an id.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse

from rapport.contacts.models import Contact, Organization

SUGGESTIONS = 8
LONGEST_QUERY = 100


def _query(request) -> str:
    return (request.GET.get("q") or "").strip()[:LONGEST_QUERY]


def _answer(records) -> JsonResponse:
    response = JsonResponse(records, safe=False)
    response["Cache-Control"] = "private, no-store"
    return response


def contact_label(contact: Contact) -> str:
    return str(contact)


def organization_label(organization: Organization) -> str:
    return organization.name


@login_required
def contact_suggestions(request):
    text = _query(request)
    if len(text) < 2:
        return _answer([])
    contacts = (
        Contact.objects.visible_to(request.user)
        .active()
        .search(text)
        .order_by("last_name", "first_name", "pk")[:SUGGESTIONS]
    )
    return _answer(
        [{"id": c.pk, "label": contact_label(c), "detail": c.primary_email} for c in contacts]
    )


@login_required
def organization_suggestions(request):
    text = _query(request)
    if len(text) < 2:
        return _answer([])
    organizations = (
        Organization.objects.visible_to(request.user)
        .active()
        .search(text)
        .order_by("name", "pk")[:SUGGESTIONS]
    )
    return _answer(
        [{"id": o.pk, "label": organization_label(o), "detail": o.domain} for o in organizations]
    )


def label_of(model, user):
    """`pk → label` for a picker's already chosen record, within what `user` may see."""

    def label(pk: int) -> str:
        record = model.objects.visible_to(user).filter(pk=pk).first()
        if record is None:
            return ""
        return contact_label(record) if model is Contact else organization_label(record)

    return label
