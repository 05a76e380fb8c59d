"""Deals: create, edit, move through stages (with undo), archive."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts.choices import LEAD_STAGES, ContactSource, LifecycleStage
from rapport.contacts.services import ensure_tags, set_lifecycle_stage
from rapport.core.events import emit
from rapport.customfields.choices import Entity
from rapport.customfields.services import check_unique, definitions_for
from rapport.customfields.validation import clean_values
from rapport.sales import events
from rapport.sales.choices import DealStatus, StageKind
from rapport.sales.models import Deal, DealStageChange, LostReason, Pipeline, Stage
from rapport.sales.services.deal_lines import SOLD_FIELDS, record_revenue, withdraw_revenue
from rapport.sales.services.validation import (
    actor_id,
    actor_or_none,
    clean_amount,
    clean_currency,
    clean_date,
    clean_moment,
    clean_names,
    clean_text,
    merge_errors,
)

# An accidental drop can be taken back this long after it happened.
UNDO_WINDOW = dt.timedelta(minutes=15)
EDITABLE = {
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "owner",
    "contact",
    "organization",
    "products",
    "source",
    "source_detail",
    "custom_fields",
    "tags",
    "description",
}


def _deal_state(deal: Deal) -> dict:
    state = snapshot(deal)
    state["tags"] = sorted(t.name for t in deal.tags.all()) if deal.pk else []
    return state


def _validate_links(
    *, actor, owner, contact, organization, errors: dict, current_owner_id=0
) -> None:
    # Who may be given a deal is the one rule of `access.owner_problem`; keeping the owner is fine.
    if owner is not None and owner.pk != current_owner_id:
        problem = access.owner_problem(actor, owner, Domain.SALES)
        if problem is not None:
            errors.setdefault("owner", []).append(problem)
    if contact is not None and contact.is_archived:
        errors.setdefault("contact", []).append("This contact is archived.")
    if organization is not None and organization.is_archived:
        errors.setdefault("organization", []).append("This organization is archived.")


def _primary_organization(contact):
    if contact is None:
        return None
    membership = contact.memberships.filter(is_primary=True).select_related("organization").first()
    return membership.organization if membership else None


@transaction.atomic
def create_deal(
    *,
    actor,
    name: str,
    pipeline: Pipeline,
    expected_close_date,
    stage: Stage | None = None,
    amount=0,
    currency: str | None = None,
    owner=None,
    contact=None,
    organization=None,
    products: list[str] | None = None,
    source: str = ContactSource.MANUAL,
    source_detail: str = "",
    custom_fields: dict | None = None,
    tags: list[str] | None = None,
    description: str = "",
    lost_reason: LostReason | None = None,
    at: dt.datetime | None = None,
) -> Deal:
    """Open a deal in `stage` (the pipeline's first open stage by default).

    The owner defaults to the actor; the organization defaults to the contact's primary one.
    `at` back-dates the deal's creation (imports, demo history). Records the first
    DealStageChange and sets off DealCreated.
    """
    access.require(actor, Action.CREATE, Deal)
    errors: dict[str, list[str]] = {}
    name = clean_text(name, field="name", errors=errors, limit=200, required=True)
    amount = clean_amount(amount, field="amount", errors=errors)
    currency = clean_currency(currency or pipeline.currency, field="currency", errors=errors)
    close_date = clean_date(expected_close_date, field="expected_close_date", errors=errors)
    products = clean_names(products, field="products", errors=errors)
    source_detail = clean_text(source_detail, field="source_detail", errors=errors, limit=200)
    description = clean_text(description, field="description", errors=errors, limit=20_000)
    tag_names = clean_names(tags, field="tags", errors=errors, limit=50)
    moment = clean_moment(at, field="at", errors=errors)
    if source not in ContactSource.values:
        errors.setdefault("source", []).append(f"Choose one of: {', '.join(ContactSource.values)}.")
    if pipeline.is_archived:
        errors.setdefault("pipeline", []).append("This pipeline is archived.")
    if stage is None:
        stage = pipeline.stages.filter(kind=StageKind.OPEN).order_by("position", "id").first()
    if stage is None or stage.pipeline_id != pipeline.pk:
        errors.setdefault("stage", []).append("Choose a stage of this pipeline.")
    owner = owner if owner is not None else actor_or_none(actor)
    if organization is None:
        organization = _primary_organization(contact)
    _validate_links(
        actor=actor, owner=owner, contact=contact, organization=organization, errors=errors
    )
    definitions = definitions_for(Entity.DEAL)
    try:
        cleaned_custom = clean_values(definitions, custom_fields)
        check_unique(queryset=Deal.objects.all(), definitions=definitions, values=cleaned_custom)
    except ValidationError as exc:
        merge_errors(errors, exc)
        cleaned_custom = {}
    if stage is not None and stage.kind == StageKind.LOST:
        _check_lost_reason(lost_reason, errors)
    if errors:
        raise ValidationError(errors)
    deal = Deal.objects.create(
        name=name,
        pipeline=pipeline,
        stage=stage,
        status=stage.kind,
        amount=amount,
        currency=currency,
        expected_close_date=close_date,
        owner=owner,
        contact=contact,
        organization=organization,
        products=products,
        source=source,
        source_detail=source_detail,
        custom_fields=cleaned_custom,
        description=description,
        stage_entered_at=moment,
        closed_at=moment if stage.kind != StageKind.OPEN else None,
        lost_reason=lost_reason if stage.kind == StageKind.LOST else None,
    )
    if at is not None:
        # created_at is set by the database; a back-dated deal was created when it says.
        Deal.objects.filter(pk=deal.pk).update(created_at=moment)
        deal.created_at = moment
    if tag_names:
        deal.tags.set(ensure_tags(tag_names))
    DealStageChange.objects.create(
        deal=deal,
        pipeline=pipeline,
        from_stage=None,
        to_stage=stage,
        changed_at=moment,
        actor=actor_or_none(actor),
        lost_reason=deal.lost_reason,
    )
    record_change(actor=actor, action=ChangeAction.CREATE, instance=deal, after=_deal_state(deal))
    emit(
        events.DealCreated(
            deal_id=deal.pk, pipeline_id=pipeline.pk, stage_id=stage.pk, actor_id=actor_id(actor)
        )
    )
    if stage.kind == StageKind.WON:
        _on_won(deal, actor)
    return deal


@transaction.atomic
def update_deal(*, actor, deal: Deal, **changes) -> Deal:
    """Edit a deal's facts. Stages move only through `move_deal`, so history stays whole.

    `custom_fields` merges into the existing values; lists given (products, tags) replace.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        message = {"stage": ["Move the deal to change its stage."]} if "stage" in unknown else {}
        raise ValidationError(message or {name: ["Unknown field."] for name in sorted(unknown)})
    access.require(actor, Action.CHANGE, deal)
    deal = Deal.objects.select_for_update().get(pk=deal.pk)
    before = _deal_state(deal)
    current_owner_id = deal.owner_id
    errors: dict[str, list[str]] = {}
    if "name" in changes:
        deal.name = clean_text(
            changes["name"], field="name", errors=errors, limit=200, required=True
        )
    if "amount" in changes:
        amount = clean_amount(changes["amount"], field="amount", errors=errors)
        if amount != deal.amount and "amount" not in errors and deal.lines.exists():
            errors.setdefault("amount", []).append(
                "The amount is the total of the deal's product lines; change the lines instead."
            )
        deal.amount = amount
    if "currency" in changes:
        currency = clean_currency(changes["currency"], field="currency", errors=errors)
        if currency != deal.currency and "currency" not in errors and deal.lines.exists():
            # The lines' prices are in the deal's currency: relabelling them would change
            # every price without saying so.
            errors.setdefault("currency", []).append(
                "The deal has product lines priced in its currency; remove them first."
            )
        deal.currency = currency
    if "expected_close_date" in changes:
        deal.expected_close_date = clean_date(
            changes["expected_close_date"], field="expected_close_date", errors=errors
        )
    if "products" in changes:
        deal.products = clean_names(changes["products"], field="products", errors=errors)
    if "source" in changes:
        if changes["source"] not in ContactSource.values:
            errors.setdefault("source", []).append(
                f"Choose one of: {', '.join(ContactSource.values)}."
            )
        deal.source = changes["source"]
    if "source_detail" in changes:
        deal.source_detail = clean_text(
            changes["source_detail"], field="source_detail", errors=errors, limit=200
        )
    if "description" in changes:
        deal.description = clean_text(
            changes["description"], field="description", errors=errors, limit=20_000
        )
    for link in ("owner", "contact", "organization"):
        if link in changes:
            setattr(deal, link, changes[link])
    _validate_links(
        actor=actor,
        current_owner_id=current_owner_id,
        owner=changes.get("owner"),
        contact=changes.get("contact"),
        organization=changes.get("organization"),
        errors=errors,
    )
    tag_names = (
        clean_names(changes["tags"], field="tags", errors=errors, limit=50)
        if "tags" in changes
        else None
    )
    if "custom_fields" in changes:
        definitions = definitions_for(Entity.DEAL)
        try:
            deal.custom_fields = clean_values(
                definitions,
                changes["custom_fields"] or {},
                existing=deal.custom_fields,
                partial=True,
            )
            check_unique(
                queryset=Deal.objects.all(),
                definitions=definitions,
                values=deal.custom_fields,
                exclude_pk=deal.pk,
            )
        except ValidationError as exc:
            merge_errors(errors, exc)
    if errors:
        raise ValidationError(errors)
    deal.save()
    if tag_names is not None:
        deal.tags.set(ensure_tags(tag_names))
    after = _deal_state(deal)
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=deal, before=before, after=after
    )
    changed = tuple(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))
    if changed:
        emit(events.DealUpdated(deal_id=deal.pk, actor_id=actor_id(actor), changed_fields=changed))
    # The snapshot names links by their ids ("contact_id"); the order repeats these facts.
    if deal.status == DealStatus.WON and SOLD_FIELDS & {k.removesuffix("_id") for k in changed}:
        record_revenue(deal, actor=actor)
    return deal


def _check_lost_reason(lost_reason, errors: dict) -> None:
    if lost_reason is None:
        if LostReason.objects.filter(is_active=True).exists():
            errors.setdefault("lost_reason", []).append("Choose why the deal was lost.")
    elif not lost_reason.is_active:
        errors.setdefault("lost_reason", []).append("This reason is no longer in use.")


def _on_won(deal: Deal, actor) -> None:
    # A won deal is revenue of its contact and organization (an order of kind "deal").
    record_revenue(deal, actor=actor)
    # A won deal makes its contact a customer, unless they are one (or more) already.
    contact = deal.contact
    if contact is not None and contact.lifecycle_stage in (
        *LEAD_STAGES,
        LifecycleStage.OPPORTUNITY,
        LifecycleStage.CHURNED,
    ):
        set_lifecycle_stage(
            actor=actor,
            contact=contact,
            stage=LifecycleStage.CUSTOMER,
            reason=f"won the deal “{deal.name}”"[:200],
        )


@transaction.atomic
def move_deal(
    *,
    actor,
    deal: Deal,
    stage: Stage,
    lost_reason: LostReason | None = None,
    lost_note: str = "",
    at: dt.datetime | None = None,
) -> DealStageChange | None:
    """Move a deal to another stage of its pipeline, recording the dated change.

    Into a lost stage it needs a lost reason (when any are defined); into the won stage it
    closes the deal and makes the contact a customer. Moving to the stage it is in does nothing
    and returns None. Sets off DealStageChanged.
    """
    access.require(actor, Action.CHANGE, deal)
    deal = (
        Deal.objects.select_for_update(of=("self",))
        .select_related("stage", "contact")
        .get(pk=deal.pk)
    )
    errors: dict[str, list[str]] = {}
    if stage.pipeline_id != deal.pipeline_id:
        errors.setdefault("stage_id", []).append("Choose a stage of this deal's pipeline.")
    lost_note = clean_text(lost_note, field="lost_note", errors=errors, limit=300)
    moment = clean_moment(at, field="at", errors=errors)
    if moment < deal.stage_entered_at:
        errors.setdefault("at", []).append("Must not be before the deal's last stage change.")
    if stage.kind == StageKind.LOST:
        _check_lost_reason(lost_reason, errors)
    if errors:
        raise ValidationError(errors)
    if stage.pk == deal.stage_id:
        return None
    before = _deal_state(deal)
    previous = deal.stage
    deal.stage = stage
    deal.status = stage.kind
    deal.stage_entered_at = moment
    deal.closed_at = moment if stage.kind != StageKind.OPEN else None
    deal.lost_reason = lost_reason if stage.kind == StageKind.LOST else None
    deal.lost_note = lost_note if stage.kind == StageKind.LOST else ""
    deal.save(
        update_fields=[
            "stage",
            "status",
            "stage_entered_at",
            "closed_at",
            "lost_reason",
            "lost_note",
            "updated_at",
        ]
    )
    change = DealStageChange.objects.create(
        deal=deal,
        pipeline_id=deal.pipeline_id,
        from_stage=previous,
        to_stage=stage,
        changed_at=moment,
        actor=actor_or_none(actor),
        lost_reason=deal.lost_reason,
        lost_note=deal.lost_note,
    )
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=deal,
        before=before,
        # A move never changes the tags: the after-state reuses them instead of reading them
        # again (a demo or an import moves thousands of deals).
        after={**snapshot(deal), "tags": before["tags"]},
        message=f"moved from {previous.name} to {stage.name}",
    )
    emit(
        events.DealStageChanged(
            deal_id=deal.pk,
            pipeline_id=deal.pipeline_id,
            from_stage_id=previous.pk,
            to_stage_id=stage.pk,
            status=deal.status,
            actor_id=actor_id(actor),
        )
    )
    if stage.kind == StageKind.WON:
        _on_won(deal, actor)
    elif previous.kind == StageKind.WON:
        reason = "was lost" if stage.kind == StageKind.LOST else "was reopened"
        withdraw_revenue(deal, actor=actor, reason=reason)
    return change


@transaction.atomic
def undo_stage_move(*, actor, change: DealStageChange) -> Deal:
    """Take back the deal's latest move, within 15 minutes, by the person who made it.

    The change row is deleted (the audit record keeps it) and the deal returns to the stage,
    time and lost reason it had. Sets off DealStageChanged with `is_undo`.
    """
    deal = Deal.objects.select_for_update().get(pk=change.deal_id)
    access.require(actor, Action.CHANGE, deal)
    latest = deal.stage_changes.order_by("-changed_at", "-id").first()
    errors = []
    if change.from_stage_id is None:
        errors.append("A deal's creation cannot be undone.")
    elif latest is None or latest.pk != change.pk:
        errors.append("Only the deal's latest move can be undone.")
    elif timezone.now() - change.recorded_at > UNDO_WINDOW:
        errors.append("This move is too old to undo; move the deal back instead.")
    if errors:
        raise ValidationError({"change": errors})
    if (
        change.actor_id is not None
        and change.actor_id != actor_id(actor)
        and not getattr(actor, "is_administrator", False)
    ):
        raise PermissionDenied("Only the person who moved the deal can undo the move.")
    previous_change = (
        deal.stage_changes.exclude(pk=change.pk).order_by("-changed_at", "-id").first()
    )
    before = _deal_state(deal)
    stage = change.from_stage
    deal.stage = stage
    deal.status = stage.kind
    deal.stage_entered_at = previous_change.changed_at if previous_change else deal.created_at
    deal.closed_at = deal.stage_entered_at if stage.kind != StageKind.OPEN else None
    deal.lost_reason = previous_change.lost_reason if stage.kind == StageKind.LOST else None
    deal.lost_note = previous_change.lost_note if stage.kind == StageKind.LOST else ""
    deal.save(
        update_fields=[
            "stage",
            "status",
            "stage_entered_at",
            "closed_at",
            "lost_reason",
            "lost_note",
            "updated_at",
        ]
    )
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=deal,
        before=before,
        after=_deal_state(deal),
        message=f"undid the move to {change.to_stage.name}",
    )
    to_stage_id = change.to_stage_id
    if stage.kind == StageKind.WON:
        record_revenue(deal, actor=actor)
    elif change.to_stage.kind == StageKind.WON:
        withdraw_revenue(deal, actor=actor, reason="had its win undone")
    change.delete()
    emit(
        events.DealStageChanged(
            deal_id=deal.pk,
            pipeline_id=deal.pipeline_id,
            from_stage_id=to_stage_id,
            to_stage_id=stage.pk,
            status=deal.status,
            actor_id=actor_id(actor),
            is_undo=True,
        )
    )
    return deal


@transaction.atomic
def archive_deal(*, actor, deal: Deal) -> Deal:
    """Hide a deal from the board and analytics without losing it."""
    access.require(actor, Action.DELETE, deal)
    if deal.is_archived:
        return deal
    Deal.objects.filter(pk=deal.pk).update(is_archived=True)
    deal.is_archived = True
    record_change(
        actor=actor,
        action=ChangeAction.ARCHIVE,
        instance=deal,
        before={"is_archived": False},
        after={"is_archived": True},
    )
    return deal


def deal_status_for(stage: Stage) -> str:
    return {StageKind.WON: DealStatus.WON, StageKind.LOST: DealStatus.LOST}.get(
        stage.kind, DealStatus.OPEN
    )
