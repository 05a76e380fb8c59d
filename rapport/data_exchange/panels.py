"""Blocks this app adds to the 360° pages: the record's suspected duplicates, and what was
merged into it (with the vCard download on contacts)."""

from __future__ import annotations

from django.db.models import Q

from rapport.data_exchange.choices import DuplicateStatus, Entity
from rapport.data_exchange.models import MergeRecord
from rapport.data_exchange.querysets import visible_pairs


def _panel(request, record, entity: str) -> dict | None:
    pairs = visible_pairs(entity, request.user).filter(status=DuplicateStatus.PENDING)
    if entity == Entity.CONTACT:
        pairs = pairs.filter(Q(contact_a=record) | Q(contact_b=record))
        merges = MergeRecord.objects.filter(survivor_contact=record)
    else:
        pairs = pairs.filter(Q(organization_a=record) | Q(organization_b=record))
        merges = MergeRecord.objects.filter(survivor_organization=record)
    rows = []
    for pair in pairs[:5]:
        if entity == Entity.CONTACT:
            other = pair.contact_b if pair.contact_a_id == record.pk else pair.contact_a
        else:
            other = (
                pair.organization_b if pair.organization_a_id == record.pk else pair.organization_a
            )
        rows.append({"pair": pair, "other": other})
    merged = list(merges.select_related("actor")[:5])
    return {"entity": entity, "rows": rows, "merged": merged, "record": record}


def contact_identity(request, contact):
    return _panel(request, contact, Entity.CONTACT)


def organization_identity(request, organization):
    return _panel(request, organization, Entity.ORGANIZATION)
