"""The sales-wide settings row."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.sales.models import SalesSettings

LIMITS = {
    "conversion_window_days": (7, 730),
    "min_labelled_leads": (50, 1_000_000),
    "min_per_class": (5, 100_000),
    "rescore_every_minutes": (5, 10_080),
    "retrain_every_days": (1, 365),
}


def get_sales_settings() -> SalesSettings:
    """The one settings row, created with defaults on first use."""
    row, _created = SalesSettings.objects.get_or_create(pk=1)
    return row


@transaction.atomic
def update_sales_settings(*, actor, **changes) -> SalesSettings:
    """Change the fallback owner, the conversion window or the scoring schedule."""
    access.require_admin(actor)
    unknown = set(changes) - {"fallback_owner", *LIMITS}
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    get_sales_settings()
    row = SalesSettings.objects.select_for_update().get(pk=1)
    before = snapshot(row)
    errors: dict[str, list[str]] = {}
    for name, (low, high) in LIMITS.items():
        if name not in changes:
            continue
        value = changes[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.setdefault(name, []).append(f"Give a whole number from {low} to {high}.")
            continue
        setattr(row, name, value)
    if "fallback_owner" in changes:
        owner = changes["fallback_owner"]
        # The fallback owner receives leads nobody else takes: the one rule for owners holds.
        problem = access.owner_problem(actor, owner, "contacts")
        if problem is not None:
            errors.setdefault("fallback_owner", []).append(problem)
        row.fallback_owner = owner
    if errors:
        raise ValidationError(errors)
    row.save()
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=row, before=before, after=snapshot(row)
    )
    return row
