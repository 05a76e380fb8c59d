"""Every write of the analytics app besides the refresh itself: segments, static lists and the
configuration. Views, API and later features (campaigns, automation) call these."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.analytics import segments
from rapport.analytics.choices import SegmentKind
from rapport.analytics.events import SegmentEntered, SegmentLeft
from rapport.analytics.models import AnalyticsConfiguration, Segment, SegmentMember
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts.models import Contact
from rapport.core import events
from rapport.core.conditions import ConditionError

SEGMENT_FIELDS = ["name", "description", "kind", "conditions"]
MAX_LIST_CHANGE = 10_000


def _clean_segment(segment: Segment, errors: dict) -> None:
    segment.name = (segment.name or "").strip() if isinstance(segment.name, str) else ""
    if not segment.name:
        errors.setdefault("name", []).append("Give the segment a name.")
    elif len(segment.name) > 120:
        errors.setdefault("name", []).append("Use at most 120 characters.")
    elif "\x00" in segment.name:
        errors.setdefault("name", []).append("Contains a null character.")
    if not isinstance(segment.description, str):
        errors.setdefault("description", []).append("Must be text.")
    else:
        segment.description = segment.description.strip()
        if len(segment.description) > 500:
            errors.setdefault("description", []).append("Use at most 500 characters.")
    if segment.kind not in SegmentKind.values:
        errors.setdefault("kind", []).append(f"Choose one of: {', '.join(SegmentKind.values)}.")
    if segment.kind == SegmentKind.DYNAMIC:
        if not segment.conditions:
            segment.conditions = {"all": []}
        try:
            segments.check_conditions(segment.conditions)
        except ConditionError as exc:
            path = exc.path.removeprefix("$").lstrip(".")
            errors.setdefault(f"conditions.{path}" if path else "conditions", []).append(
                exc.message
            )
    elif segment.conditions:
        errors.setdefault("conditions", []).append("A static list has members, not conditions.")
    if segment.name and "name" not in errors:
        clash = Segment.objects.filter(name__iexact=segment.name, is_archived=False)
        if segment.pk:
            clash = clash.exclude(pk=segment.pk)
        if clash.exists():
            errors.setdefault("name", []).append("Another segment already has this name.")


@transaction.atomic
def create_segment(
    *, actor, name: str, kind: str = SegmentKind.DYNAMIC, conditions=None, description: str = ""
) -> Segment:
    """Save a dynamic segment (conditions) or an empty static list. Names are unique among
    active segments, ignoring case."""
    access.require(actor, Action.CREATE, Segment)
    segment = Segment(
        name=name,
        description=description or "",
        kind=kind,
        conditions=conditions or {},
        created_by=actor,
    )
    errors: dict[str, list[str]] = {}
    _clean_segment(segment, errors)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError as exc:
        raise ValidationError({"name": ["Another segment already has this name."]}) from exc
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=segment,
        after=snapshot(segment, SEGMENT_FIELDS),
    )
    return segment


@transaction.atomic
def update_segment(*, actor, segment: Segment, **changes) -> Segment:
    """Rename, describe or change the conditions of a segment (its kind stays)."""
    unknown = set(changes) - {"name", "description", "conditions"}
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    access.require(actor, Action.CHANGE, segment)
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    before = snapshot(segment, SEGMENT_FIELDS)
    for name, value in changes.items():
        setattr(segment, name, value if value is not None else ("" if name != "conditions" else {}))
    errors: dict[str, list[str]] = {}
    _clean_segment(segment, errors)
    if errors:
        raise ValidationError(errors)
    segment.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=segment,
        before=before,
        after=snapshot(segment, SEGMENT_FIELDS),
    )
    return segment


@transaction.atomic
def archive_segment(*, actor, segment: Segment) -> Segment:
    """Retire a segment: it leaves the lists and frees its name; the audit keeps it."""
    access.require(actor, Action.CHANGE, segment)
    segment.is_archived = True
    segment.save(update_fields=["is_archived", "updated_at"])
    record_change(actor=actor, action=ChangeAction.ARCHIVE, instance=segment)
    return segment


def _visible_contacts(actor, contact_ids) -> list[int]:
    ids = []
    for value in contact_ids:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError({"contact_ids": ["Give contact ids (whole numbers)."]})
        ids.append(value)
    if len(ids) > MAX_LIST_CHANGE:
        raise ValidationError({"contact_ids": [f"At most {MAX_LIST_CHANGE} contacts at a time."]})
    visible = set(Contact.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in visible]
    if missing:
        raise ValidationError(
            {"contact_ids": [f"No such contact, or outside your access: {missing[:10]}."]}
        )
    return sorted(visible)


def _require_static(segment: Segment) -> None:
    if segment.kind != SegmentKind.STATIC:
        raise ValidationError({"segment": ["Only static lists have members added by hand."]})


@transaction.atomic
def add_to_list(*, actor, segment: Segment, contact_ids) -> int:
    """Put contacts (that the actor may see) on a static list; already-listed ones are kept
    once. Returns how many were added."""
    # Only the list's owner (or an administrator) changes who is on it.
    access.require(actor, Action.CHANGE, segment)
    _require_static(segment)
    ids = _visible_contacts(actor, contact_ids)
    existing = set(
        SegmentMember.objects.filter(segment=segment, contact_id__in=ids).values_list(
            "contact_id", flat=True
        )
    )
    new = [pk for pk in ids if pk not in existing]
    SegmentMember.objects.bulk_create(
        [SegmentMember(segment=segment, contact_id=pk, added_by=actor) for pk in new],
        ignore_conflicts=True,
        batch_size=1000,
    )
    if new:
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=segment,
            after={"added": new[:100], "added_count": len(new)},
            message=f"{len(new)} contacts added to the list",
        )
        events.emit_many(SegmentEntered(segment.pk, pk) for pk in new)
    return len(new)


@transaction.atomic
def remove_from_list(*, actor, segment: Segment, contact_ids) -> int:
    """Take contacts off a static list. Returns how many were removed."""
    # Only the list's owner (or an administrator) changes who is on it.
    access.require(actor, Action.CHANGE, segment)
    _require_static(segment)
    ids = _visible_contacts(actor, contact_ids)
    on_list = SegmentMember.objects.filter(segment=segment, contact_id__in=ids)
    gone = list(on_list.values_list("contact_id", flat=True))
    removed, _ = on_list.delete()
    if removed:
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=segment,
            before={"removed": ids[:100], "removed_count": removed},
            message=f"{removed} contacts removed from the list",
        )
        events.emit_many(SegmentLeft(segment.pk, pk) for pk in gone)
    return removed


@transaction.atomic
def save_members_as_list(*, actor, segment: Segment, name: str) -> Segment:
    """Freeze who is in a segment right now (as far as the actor sees) into a new static list."""
    target = create_segment(
        actor=actor,
        name=name,
        kind=SegmentKind.STATIC,
        description=f"Members of “{segment.name}” when saved"[:500],
    )
    member_ids = segments.members(segment, actor).values_list("pk", flat=True)
    SegmentMember.objects.bulk_create(
        [
            SegmentMember(segment=target, contact_id=pk, added_by=actor)
            for pk in member_ids.iterator()
        ],
        batch_size=2000,
    )
    return target


def move_list_memberships(*, loser, survivor, actor) -> int:
    """Merge relation: the surviving contact takes the loser's place on every static list."""
    moved = 0
    for membership in SegmentMember.objects.filter(contact=loser):
        if SegmentMember.objects.filter(segment=membership.segment, contact=survivor).exists():
            membership.delete()
        else:
            membership.contact = survivor
            membership.save(update_fields=["contact"])
            moved += 1
    # The loser's customer value belongs to an identity that no longer exists; the next
    # refresh computes the survivor's from the merged orders.
    from rapport.analytics.models import CustomerAnalytics

    CustomerAnalytics.objects.filter(contact=loser).delete()
    return moved


CONFIGURATION_FIELDS = [
    "rfm_window_days",
    "expected_purchases_days",
    "clv_horizon_months",
    "monthly_discount_rate",
    "platinum_share",
    "gold_share",
    "silver_share",
    "p_alive_threshold",
    "overdue_factor",
    "holdout_days",
    "keep_daily_snapshots_days",
    "nightly_hour",
    "reference_parameters",
]


@transaction.atomic
def update_configuration(*, actor, **changes) -> AnalyticsConfiguration:
    """Change the refresh settings (administrators only); they apply from the next refresh."""
    access.require_admin(actor)
    unknown = set(changes) - set(CONFIGURATION_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    configuration = AnalyticsConfiguration.current()
    before = snapshot(configuration, CONFIGURATION_FIELDS)
    for name, value in changes.items():
        setattr(configuration, name, value)
    try:
        configuration.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    errors = {}
    if not (configuration.platinum_share <= configuration.gold_share <= configuration.silver_share):
        errors["silver_share"] = [
            "Tier shares must grow: platinum ≤ gold ≤ silver (each is a cumulative top share)."
        ]
    if not isinstance(configuration.reference_parameters, dict):
        errors["reference_parameters"] = ["Must be an object."]
    if errors:
        raise ValidationError(errors)
    configuration.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=configuration,
        before=before,
        after=snapshot(configuration, CONFIGURATION_FIELDS),
    )
    return configuration
