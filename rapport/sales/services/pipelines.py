"""Pipelines, stages and lost reasons: the shape deals move through."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.sales.choices import StageKind
from rapport.sales.models import Deal, LostReason, Pipeline, Stage
from rapport.sales.services.validation import clean_currency, clean_text

DEFAULT_STAGES = [
    {"name": "Qualification", "probability": 10},
    {"name": "Needs analysis", "probability": 25},
    {"name": "Proposal", "probability": 50},
    {"name": "Negotiation", "probability": 75},
    {"name": "Won", "kind": StageKind.WON, "probability": 100},
    {"name": "Lost", "kind": StageKind.LOST, "probability": 0},
]
PIPELINE_FIELDS = {"name", "description", "currency", "position", "is_default", "is_archived"}
STAGE_FIELDS = {"name", "probability", "position", "stall_days"}


def _clean_stage_values(data: dict, errors: dict, prefix: str = "") -> dict:
    cleaned = {}
    if "name" in data:
        cleaned["name"] = clean_text(
            data["name"], field=f"{prefix}name", errors=errors, limit=80, required=True
        )
    if "kind" in data:
        if data["kind"] not in StageKind.values:
            errors.setdefault(f"{prefix}kind", []).append(
                f"Choose one of: {', '.join(StageKind.values)}."
            )
        cleaned["kind"] = data["kind"]
    if "probability" in data:
        value = data["probability"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            errors.setdefault(f"{prefix}probability", []).append(
                "Give a whole percentage from 0 to 100."
            )
        cleaned["probability"] = value
    if "position" in data:
        value = data["position"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            errors.setdefault(f"{prefix}position", []).append("Give a whole number from 0.")
        cleaned["position"] = value
    if "stall_days" in data:
        value = data["stall_days"]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650
        ):
            errors.setdefault(f"{prefix}stall_days", []).append(
                "Give whole days from 1 to 3650, or leave empty."
            )
        cleaned["stall_days"] = value
    kind = cleaned.get("kind")
    if kind == StageKind.WON:
        cleaned["probability"] = 100
    elif kind == StageKind.LOST:
        cleaned["probability"] = 0
    return cleaned


@transaction.atomic
def create_pipeline(
    *,
    actor,
    name: str,
    currency: str = "EUR",
    description: str = "",
    stages: list[dict] | None = None,
    is_default: bool = False,
    position: int = 100,
) -> Pipeline:
    """Create a pipeline with its stages (a standard six when none are given).

    The stages must include exactly one won and one lost stage. The first pipeline, or one
    marked default, becomes the default.
    """
    access.require_admin(actor)
    errors: dict[str, list[str]] = {}
    name = clean_text(name, field="name", errors=errors, limit=100, required=True)
    currency = clean_currency(currency, field="currency", errors=errors)
    description = clean_text(description, field="description", errors=errors, limit=300)
    if name and Pipeline.objects.filter(name__iexact=name).exists():
        errors.setdefault("name", []).append("A pipeline with this name already exists.")
    specs = stages if stages is not None else DEFAULT_STAGES
    if not isinstance(specs, list) or not specs:
        errors.setdefault("stages", []).append("Give at least the stages of the pipeline.")
        specs = []
    cleaned_stages = []
    seen = set()
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            errors.setdefault(f"stages[{index}]", []).append("Must be an object.")
            continue
        values = _clean_stage_values(
            {"kind": StageKind.OPEN, **spec}, errors, prefix=f"stages[{index}]."
        )
        if values.get("name", "").casefold() in seen:
            errors.setdefault(f"stages[{index}].name", []).append("Stage names must differ.")
        seen.add(values.get("name", "").casefold())
        cleaned_stages.append(values)
    kinds = [s.get("kind") for s in cleaned_stages]
    if specs and (kinds.count(StageKind.WON) != 1 or kinds.count(StageKind.LOST) != 1):
        errors.setdefault("stages", []).append("Include exactly one won and one lost stage.")
    if specs and StageKind.OPEN not in kinds:
        errors.setdefault("stages", []).append("Include at least one open stage.")
    if errors:
        raise ValidationError(errors)
    make_default = is_default or not Pipeline.objects.filter(is_default=True).exists()
    if make_default:
        Pipeline.objects.filter(is_default=True).update(is_default=False)
    pipeline = Pipeline.objects.create(
        name=name,
        currency=currency,
        description=description,
        is_default=make_default,
        position=position,
    )
    for index, values in enumerate(cleaned_stages):
        values.setdefault("position", (index + 1) * 10)
        Stage.objects.create(pipeline=pipeline, **values)
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=pipeline,
        after={**snapshot(pipeline), "stages": [s["name"] for s in cleaned_stages]},
    )
    return pipeline


@transaction.atomic
def update_pipeline(*, actor, pipeline: Pipeline, **changes) -> Pipeline:
    """Rename, re-currency, reorder, archive or make default. The default is always one."""
    access.require_admin(actor)
    unknown = set(changes) - PIPELINE_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    before = snapshot(pipeline)
    errors: dict[str, list[str]] = {}
    if "name" in changes:
        pipeline.name = clean_text(
            changes["name"], field="name", errors=errors, limit=100, required=True
        )
        if Pipeline.objects.filter(name__iexact=pipeline.name).exclude(pk=pipeline.pk).exists():
            errors.setdefault("name", []).append("A pipeline with this name already exists.")
    if "description" in changes:
        pipeline.description = clean_text(
            changes["description"], field="description", errors=errors, limit=300
        )
    if "currency" in changes:
        pipeline.currency = clean_currency(changes["currency"], field="currency", errors=errors)
    if "position" in changes:
        value = changes["position"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.setdefault("position", []).append("Give a whole number from 0.")
        pipeline.position = value
    for flag in ("is_default", "is_archived"):
        if flag in changes:
            if not isinstance(changes[flag], bool):
                errors.setdefault(flag, []).append("Give true or false.")
            setattr(pipeline, flag, changes[flag])
    if pipeline.is_default and pipeline.is_archived:
        errors.setdefault("is_archived", []).append("The default pipeline cannot be archived.")
    if before["is_default"] and changes.get("is_default") is False:
        errors.setdefault("is_default", []).append("Make another pipeline the default instead.")
    if errors:
        raise ValidationError(errors)
    if pipeline.is_default and not before["is_default"]:
        Pipeline.objects.exclude(pk=pipeline.pk).filter(is_default=True).update(is_default=False)
    pipeline.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=pipeline,
        before=before,
        after=snapshot(pipeline),
    )
    return pipeline


@transaction.atomic
def add_stage(
    *,
    actor,
    pipeline: Pipeline,
    name: str,
    probability: int = 10,
    kind: str = StageKind.OPEN,
    position: int | None = None,
    stall_days: int | None = None,
) -> Stage:
    """Add an open stage (a pipeline has exactly one won and one lost stage already)."""
    access.require_admin(actor)
    errors: dict[str, list[str]] = {}
    values = _clean_stage_values(
        {
            "name": name,
            "probability": probability,
            "kind": kind,
            "stall_days": stall_days,
            **({"position": position} if position is not None else {}),
        },
        errors,
    )
    if kind != StageKind.OPEN and "kind" not in errors:
        errors.setdefault("kind", []).append("A pipeline has one won and one lost stage already.")
    if pipeline.stages.filter(name__iexact=values.get("name", "")).exists():
        errors.setdefault("name", []).append("This pipeline already has a stage with this name.")
    if errors:
        raise ValidationError(errors)
    if "position" not in values:
        # New open stages go just before the closing stages.
        last_open = pipeline.stages.filter(kind=StageKind.OPEN).aggregate(m=Max("position"))["m"]
        values["position"] = (last_open or 0) + 5
    stage = Stage.objects.create(pipeline=pipeline, **values)
    record_change(actor=actor, action=ChangeAction.CREATE, instance=stage, after=snapshot(stage))
    return stage


@transaction.atomic
def update_stage(*, actor, stage: Stage, **changes) -> Stage:
    """Rename a stage or change its probability, position or stall limit (not its kind)."""
    access.require_admin(actor)
    unknown = set(changes) - STAGE_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    stage = Stage.objects.select_for_update().get(pk=stage.pk)
    before = snapshot(stage)
    errors: dict[str, list[str]] = {}
    values = _clean_stage_values(changes, errors)
    if stage.kind != StageKind.OPEN and "probability" in values:
        # Closed stages always weigh 100 % (won) or 0 % (lost).
        values["probability"] = stage.weight
    if (
        "name" in values
        and stage.pipeline.stages.filter(name__iexact=values["name"]).exclude(pk=stage.pk).exists()
    ):
        errors.setdefault("name", []).append("This pipeline already has a stage with this name.")
    if errors:
        raise ValidationError(errors)
    for key, value in values.items():
        setattr(stage, key, value)
    stage.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=stage,
        before=before,
        after=snapshot(stage),
    )
    return stage


@transaction.atomic
def remove_stage(*, actor, stage: Stage) -> None:
    """Remove an open stage that holds no deals and has no history (closing stages stay)."""
    access.require_admin(actor)
    if stage.kind != StageKind.OPEN:
        raise ValidationError({"stage": ["The won and lost stages cannot be removed."]})
    if Deal.objects.filter(stage=stage).exists():
        raise ValidationError({"stage": ["Move the deals in this stage elsewhere first."]})
    if stage.pipeline.stages.filter(kind=StageKind.OPEN).count() <= 1:
        raise ValidationError({"stage": ["A pipeline needs at least one open stage."]})
    from rapport.sales.models import DealStageChange

    if DealStageChange.objects.filter(to_stage=stage).exists():
        raise ValidationError(
            {"stage": ["Deals have passed through this stage; rename it instead of removing it."]}
        )
    record_change(actor=actor, action=ChangeAction.DELETE, instance=stage, before=snapshot(stage))
    stage.delete()


@transaction.atomic
def create_lost_reason(*, actor, name: str, position: int = 100) -> LostReason:
    access.require_admin(actor)
    errors: dict[str, list[str]] = {}
    name = clean_text(name, field="name", errors=errors, limit=100, required=True)
    if name and LostReason.objects.filter(name__iexact=name).exists():
        errors.setdefault("name", []).append("This reason exists already.")
    if errors:
        raise ValidationError(errors)
    reason = LostReason.objects.create(name=name, position=position)
    record_change(actor=actor, action=ChangeAction.CREATE, instance=reason, after=snapshot(reason))
    return reason


@transaction.atomic
def update_lost_reason(*, actor, reason: LostReason, **changes) -> LostReason:
    access.require_admin(actor)
    unknown = set(changes) - {"name", "position", "is_active"}
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    before = snapshot(reason)
    errors: dict[str, list[str]] = {}
    if "name" in changes:
        reason.name = clean_text(
            changes["name"], field="name", errors=errors, limit=100, required=True
        )
        if LostReason.objects.filter(name__iexact=reason.name).exclude(pk=reason.pk).exists():
            errors.setdefault("name", []).append("This reason exists already.")
    if "position" in changes:
        reason.position = changes["position"]
    if "is_active" in changes:
        reason.is_active = bool(changes["is_active"])
    if errors:
        raise ValidationError(errors)
    reason.save()
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=reason,
        before=before,
        after=snapshot(reason),
    )
    return reason


def default_pipeline() -> Pipeline | None:
    return Pipeline.objects.active().filter(is_default=True).first() or (
        Pipeline.objects.active().first()
    )
