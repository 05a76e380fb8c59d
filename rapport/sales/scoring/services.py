"""Writing scores, their history, scoring rules and trained models."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from rapport.accounts import access
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts.choices import LEAD_STAGES
from rapport.core.conditions import ConditionError
from rapport.core.conditions import validate as validate_condition
from rapport.core.database import commit_asynchronously
from rapport.core.events import emit
from rapport.sales import events
from rapport.sales.choices import DecayAnchor, ModelStatus, ScoreBasis
from rapport.sales.models import LeadScore, LeadScoreHistory, LeadScoringModel, ScoringRule
from rapport.sales.scoring import model as learned
from rapport.sales.scoring.facts import current_lead_ids, lead_field_set, load_facts
from rapport.sales.scoring.features import (
    LeadFacts,
    Vocabulary,
    build_matrix,
    feature_names,
    learn_vocabulary,
    reason_label,
)
from rapport.sales.scoring.rules import RuleSpec, evaluate
from rapport.sales.services.settings import get_sales_settings
from rapport.sales.services.validation import actor_or_none, clean_text

logger = logging.getLogger(__name__)
TOP_REASONS = 5
RULE_FIELDS = {
    "name",
    "condition",
    "points",
    "half_life_days",
    "decay_anchor",
    "position",
    "is_active",
}


# -- rules -------------------------------------------------------------------------------------


def _clean_rule(values: dict, errors: dict) -> dict:
    cleaned = {}
    if "name" in values:
        cleaned["name"] = clean_text(
            values["name"], field="name", errors=errors, limit=100, required=True
        )
    if "condition" in values:
        if values["condition"] in ({}, None):
            values["condition"] = {"all": []}  # no condition: every lead matches
        try:
            validate_condition(values["condition"], lead_field_set())
        except ConditionError as exc:
            errors.setdefault("condition", []).append(exc.in_words)
        cleaned["condition"] = values["condition"]
    if "points" in values:
        points = values["points"]
        if isinstance(points, bool) or not isinstance(points, int) or not -1000 <= points <= 1000:
            errors.setdefault("points", []).append("Give whole points from -1000 to 1000.")
        cleaned["points"] = points
    if "half_life_days" in values:
        half_life = values["half_life_days"]
        if half_life is not None and (
            isinstance(half_life, bool)
            or not isinstance(half_life, int)
            or not 1 <= half_life <= 3650
        ):
            errors.setdefault("half_life_days", []).append(
                "Give whole days from 1 to 3650, or leave empty for no decay."
            )
        cleaned["half_life_days"] = half_life
    if "decay_anchor" in values:
        if values["decay_anchor"] not in DecayAnchor.values:
            errors.setdefault("decay_anchor", []).append(
                f"Choose one of: {', '.join(DecayAnchor.values)}."
            )
        cleaned["decay_anchor"] = values["decay_anchor"]
    if "position" in values:
        position = values["position"]
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            errors.setdefault("position", []).append("Give a whole number from 0.")
        cleaned["position"] = position
    if "is_active" in values:
        cleaned["is_active"] = bool(values["is_active"])
    return cleaned


def _check_decay(rule: ScoringRule, errors: dict) -> None:
    if rule.half_life_days and rule.decay_anchor == DecayAnchor.NONE:
        errors.setdefault("decay_anchor", []).append("Choose what the points fade from.")
    if rule.decay_anchor != DecayAnchor.NONE and not rule.half_life_days:
        errors.setdefault("half_life_days", []).append("Give a half-life for the decay.")


@transaction.atomic
def create_scoring_rule(
    *,
    actor,
    name: str,
    condition: dict,
    points: int,
    half_life_days: int | None = None,
    decay_anchor: str = DecayAnchor.NONE,
    position: int = 100,
    is_active: bool = True,
) -> ScoringRule:
    """Add a points rule. Takes effect at the next scoring run (scheduled, or started by hand)."""
    access.require_admin(actor)
    errors: dict[str, list[str]] = {}
    values = _clean_rule(
        {
            "name": name,
            "condition": condition,
            "points": points,
            "half_life_days": half_life_days,
            "decay_anchor": decay_anchor,
            "position": position,
            "is_active": is_active,
        },
        errors,
    )
    rule = ScoringRule(**values)
    _check_decay(rule, errors)
    if errors:
        raise ValidationError(errors)
    rule.save()
    record_change(actor=actor, action=ChangeAction.CREATE, instance=rule, after=snapshot(rule))
    return rule


@transaction.atomic
def update_scoring_rule(*, actor, rule: ScoringRule, **changes) -> ScoringRule:
    access.require_admin(actor)
    unknown = set(changes) - RULE_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    rule = ScoringRule.objects.select_for_update().get(pk=rule.pk)
    before = snapshot(rule)
    errors: dict[str, list[str]] = {}
    for key, value in _clean_rule(changes, errors).items():
        setattr(rule, key, value)
    _check_decay(rule, errors)
    if errors:
        raise ValidationError(errors)
    rule.save()
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=rule, before=before, after=snapshot(rule)
    )
    return rule


@transaction.atomic
def delete_scoring_rule(*, actor, rule: ScoringRule) -> None:
    access.require_admin(actor)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=rule, before=snapshot(rule))
    rule.delete()


def active_rules() -> list[RuleSpec]:
    return [
        RuleSpec(
            id=rule.pk,
            name=rule.name,
            condition=rule.condition,
            points=rule.points,
            half_life_days=rule.half_life_days,
            decay_anchor=rule.decay_anchor,
        )
        for rule in ScoringRule.objects.filter(is_active=True)
    ]


# -- the learned model -------------------------------------------------------------------------


@dataclass
class Predictor:
    row: LeadScoringModel
    model: learned.CalibratedLogit
    vocabulary: Vocabulary


def active_model() -> LeadScoringModel | None:
    return (
        LeadScoringModel.objects.filter(is_active=True, status=ModelStatus.READY)
        .order_by("-created_at", "-id")
        .first()
    )


def latest_model() -> LeadScoringModel | None:
    return LeadScoringModel.objects.order_by("-created_at", "-id").first()


def load_predictor(row: LeadScoringModel | None) -> Predictor | None:
    if row is None or row.status != ModelStatus.READY:
        return None
    return Predictor(
        row=row,
        model=learned.CalibratedLogit.from_json(row.parameters["model"]),
        vocabulary=Vocabulary.from_json(row.parameters["vocabulary"]),
    )


def train_lead_model(
    *, actor=None, trigger: str = "schedule", now=None, seed: int = 0
) -> LeadScoringModel:
    """Train the learned score on leads with a known outcome and keep the run.

    With too little history the run is kept with status "insufficient" and the reason; the
    previous ready model (if any) stays in use. A ready run becomes the active model. Never
    raises on bad data: a failure is a kept run with status "failed". Sets off LeadModelTrained.
    """
    from rapport.sales.scoring.facts import load_training_history

    sales_settings = get_sales_settings()
    window = sales_settings.conversion_window_days
    started = time.perf_counter()
    base = {
        "window_days": window,
        "trigger": trigger[:20],
        "actor": actor_or_none(actor),
        "algorithm": learned.ALGORITHM,
    }
    try:
        leads, labels = load_training_history(window_days=window, now=now)
        counts = {
            "n_labelled": int(labels.size),
            "n_positive": int(labels.sum()),
            "n_negative": int(labels.size - labels.sum()),
        }
        reason = learned.too_little_history(
            labels,
            min_labelled=sales_settings.min_labelled_leads,
            min_per_class=sales_settings.min_per_class,
        )
        if reason:
            return _keep_run(
                status=ModelStatus.INSUFFICIENT, message=reason, started=started, **base, **counts
            )
        vocabulary = learn_vocabulary(leads)
        matrix = build_matrix(leads, vocabulary)
        report = learned.train(matrix, labels, feature_names(vocabulary), seed=seed)
    except Exception as exc:
        logger.exception("training the lead model failed")
        return _keep_run(
            status=ModelStatus.FAILED,
            message=f"Training failed: {exc}"[:500],
            started=started,
            **base,
        )
    return _keep_run(
        status=ModelStatus.READY,
        message="",
        started=started,
        n_labelled=int(labels.size),
        n_positive=report.n_positive,
        n_negative=report.n_negative,
        n_train=report.n_train,
        n_test=report.n_test,
        roc_auc=report.roc_auc,
        brier_score=report.brier_score,
        base_rate=report.base_rate,
        calibration=report.calibration,
        parameters={
            "vocabulary": vocabulary.to_json(),
            "model": report.model.to_json(),
            "left_out": report.left_out,
        },
        **base,
    )


@transaction.atomic
def _keep_run(*, status: str, message: str, started: float, actor=None, **fields):
    row = LeadScoringModel(status=status, message=message, actor=actor, **fields)
    row.duration_seconds = round(time.perf_counter() - started, 3)
    if status == ModelStatus.READY:
        LeadScoringModel.objects.filter(is_active=True).update(is_active=False)
        row.is_active = True
    row.save()
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=row,
        after=snapshot(row, ["status", "n_labelled", "n_positive", "roc_auc", "message"]),
    )
    emit(events.LeadModelTrained(model_id=row.pk, status=row.status, roc_auc=row.roc_auc))
    return row


# -- scores ------------------------------------------------------------------------------------


@dataclass
class ComputedScore:
    contact_id: int
    score: int
    basis: str
    rule_points: float
    probability: float | None
    reasons: dict


def compute_scores(
    leads: Sequence[LeadFacts], rules: Sequence[RuleSpec], predictor: Predictor | None, fields=None
) -> list[ComputedScore]:
    """Both layers for each lead: rule points with their hits, and the model's view.

    The model's reasons keep the invariant intercept + Σ reasons + other = logit, so what the
    lead page shows adds up to the score's (uncalibrated) logit.
    """
    fields = fields or lead_field_set()
    probabilities = None
    if predictor is not None and leads:
        # The model's side for the whole batch at once, as plain Python numbers.
        matrix = build_matrix(leads, predictor.vocabulary)
        contributions = predictor.model.contributions(matrix)
        probabilities = predictor.model.predict_proba(matrix).tolist()
        logits = predictor.model.logit(matrix).tolist()
        term_sums = contributions.sum(axis=1).tolist()
        tops = learned.top_reasons_of_rows(predictor.model, contributions, count=TOP_REASONS)
        intercept = round(predictor.model.intercept, 6)
        columns = {name: i for i, name in enumerate(feature_names(predictor.vocabulary))}
    results = []
    for index, lead in enumerate(leads):
        points, hits = evaluate(rules, lead, fields)
        reasons: dict = {
            "rules": [
                {
                    "rule_id": hit.rule_id,
                    "name": hit.name,
                    "points": hit.points,
                    "decayed": hit.decayed,
                    "age_days": hit.age_days,
                }
                for hit in hits
            ]
        }
        probability = None
        if probabilities is not None:
            probability = probabilities[index]
            top = tops[index]
            shown = sum(value for _, value in top)
            reasons["model"] = [
                {
                    "feature": name,
                    "label": reason_label(name, matrix[index, columns[name]], lead=lead),
                    "contribution": round(value, 6),
                }
                for name, value in top
            ]
            reasons["model_other"] = round(term_sums[index] - shown, 6)
            reasons["model_intercept"] = intercept
            reasons["model_logit"] = round(logits[index], 6)
        if probability is not None:
            score, basis = round(probability * 100), ScoreBasis.MODEL
        else:
            score, basis = round(points), ScoreBasis.RULES
        results.append(
            ComputedScore(
                contact_id=lead.contact_id,
                score=score,
                basis=basis,
                rule_points=points,
                probability=probability,
                reasons=reasons,
            )
        )
    return results


@dataclass
class ScoringRun:
    scored: int
    changed: int
    seconds: float
    basis: str


def score_leads(
    *, contact_ids: Sequence[int] | None = None, actor=None, batch_size: int = 2000
) -> ScoringRun:
    """Score the given contacts (all current leads when None) and store what changed.

    Each batch is one transaction: LeadScore rows are upserted, a LeadScoreHistory row is added
    for every lead whose score or basis changed, and LeadScoreChanged goes out for each of those.
    One ChangeRecord per run (not per lead): the history table is the per-lead record.
    """
    started = time.perf_counter()
    ids = list(contact_ids) if contact_ids is not None else current_lead_ids()
    rules = active_rules()
    predictor = load_predictor(active_model())
    fields = lead_field_set()
    changed = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        facts = load_facts(chunk)
        computed = compute_scores([facts[i] for i in chunk if i in facts], rules, predictor, fields)
        changed += _store_scores(computed, predictor)
    seconds = time.perf_counter() - started
    basis = ScoreBasis.MODEL if predictor else ScoreBasis.RULES
    if contact_ids is None or len(ids) > 1:
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            entity="sales.leadscore",
            object_id="*",
            object_repr=f"{len(ids)} leads scored",
            after={"scored": len(ids), "changed": changed, "basis": basis},
            message=f"scored {len(ids)} leads by {basis}; {changed} changed",
        )
    return ScoringRun(scored=len(ids), changed=changed, seconds=seconds, basis=basis)


# (column, PostgreSQL array element type) of a score's history row; the score's own row also
# has its reasons.
_HISTORY_COLUMNS = [
    ("contact_id", "bigint"),
    ("score", "integer"),
    ("basis", "text"),
    ("rule_points", "float8"),
    ("model_probability", "float8"),
    ("model_id", "bigint"),
    ("computed_at", "timestamptz"),
]
_SCORE_COLUMNS = [*_HISTORY_COLUMNS, ("reasons", "jsonb")]
_SCORE_CONFLICT = "ON CONFLICT (contact_id) DO UPDATE SET " + ", ".join(
    f"{name} = excluded.{name}" for name, _ in _SCORE_COLUMNS[1:]
)


def _insert_rows(table: str, columns: list[tuple[str, str]], values: list[list], suffix=""):
    """Insert a batch given column by column (`values[i]` holds column i), in one statement.

    PostgreSQL: INSERT … SELECT FROM UNNEST(…) with every column sent as a binary array. Not
    `bulk_create`: Django's own UNNEST path sends JSON as a text-format jsonb[] literal, and
    escaping every quote in it cost more than all of scoring itself (it ran about twice as
    slow as a statement per row). SQLite: one prepared statement stepped over the batch by
    `executemany`; SQLite runs in the process, so there are no round trips to save, and this
    was 2.5× faster than the multi-row VALUES of `bulk_create`.
    """
    names = ", ".join(name for name, _ in columns)
    if connection.vendor != "postgresql":
        marks = ", ".join(["%s"] * len(columns))
        # Only the models' own table and column names go into the text; values are parameters.
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) {suffix}"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.executemany(sql, list(zip(*values, strict=True)))
        return
    import psycopg

    # JSON travels as text and is cast once on the server.
    arrays = ", ".join("%b::text[]" if kind == "jsonb" else f"%b::{kind}[]" for _, kind in columns)
    picked = ", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in columns)
    sql = (
        f"INSERT INTO {table} ({names}) SELECT {picked} "  # noqa: S608
        f"FROM UNNEST({arrays}) AS batch({names}) {suffix}"
    )
    connection.ensure_connection()
    # Django's own cursors bind on the client, which has no binary format; a server-binding
    # cursor on the same connection (so the same transaction), wrapped by Django's own step
    # for its cursors so query logging, execute wrappers and error translation still apply.
    with connection._prepare_cursor(psycopg.Cursor(connection.connection)) as cursor:
        cursor.execute(sql, values)


def _history_values(items: list[ComputedScore], model_id: int | None, now) -> list[list]:
    """The `_HISTORY_COLUMNS` of a batch of scores, column by column."""
    size = len(items)
    return [
        [item.contact_id for item in items],
        [item.score for item in items],
        [item.basis for item in items],
        [float(item.rule_points) for item in items],
        [item.probability for item in items],
        [model_id] * size,
        [now] * size,
    ]


@transaction.atomic
def _store_scores(computed: list[ComputedScore], predictor: Predictor | None) -> int:
    if not computed:
        return 0
    # Scores can always be computed again (every run rewrites them).
    commit_asynchronously()
    now = timezone.now()
    model_id = predictor.row.pk if predictor else None
    ids = [c.contact_id for c in computed]
    low, high = min(ids), max(ids)
    existing = (
        LeadScore.objects.filter(contact_id__gte=low, contact_id__lte=high)
        if high - low < 2 * len(ids)
        else LeadScore.objects.filter(contact_id__in=ids)
    )
    previous = {row[0]: row[1:] for row in existing.values_list("contact_id", "score", "basis")}
    # One statement inserts the new scores and overwrites the old ones.
    reasons = [json.dumps(item.reasons, separators=(",", ":")) for item in computed]
    _insert_rows(
        LeadScore._meta.db_table,
        _SCORE_COLUMNS,
        [*_history_values(computed, model_id, now), reasons],
        _SCORE_CONFLICT,
    )
    changed = []
    for item in computed:
        before = previous.get(item.contact_id)
        if before is not None and before == (item.score, item.basis):
            continue
        changed.append(item)
        emit(
            events.LeadScoreChanged(
                contact_id=item.contact_id,
                score=item.score,
                previous_score=before[0] if before else None,
                basis=item.basis,
            )
        )
    if changed:
        _insert_rows(
            LeadScoreHistory._meta.db_table,
            _HISTORY_COLUMNS,
            _history_values(changed, model_id, now),
        )
    return len(changed)


def score_lead(*, contact, actor=None) -> LeadScore:
    """Score one contact now and return its stored score."""
    score_leads(contact_ids=[contact.pk], actor=actor)
    return LeadScore.objects.get(contact_id=contact.pk)


def explanation(score: LeadScore) -> dict:
    """What a lead page shows: both layers, the rules that fired, the model's signed reasons."""
    reasons = score.reasons or {}
    model_reasons = reasons.get("model", [])
    strongest = max((abs(r["contribution"]) for r in model_reasons), default=0.0) or 1.0
    return {
        "score": score.score,
        "basis": score.basis,
        "rule_points": score.rule_points,
        "probability": score.model_probability,
        "rules": reasons.get("rules", []),
        "model": [
            # Widths in steps of 5 %: bars are CSS classes, never inline styles (CSP).
            {**r, "width": 5 * round(20 * abs(r["contribution"]) / strongest)}
            for r in model_reasons
        ],
        "model_other": reasons.get("model_other"),
        "model_intercept": reasons.get("model_intercept"),
        "model_logit": reasons.get("model_logit"),
        "computed_at": score.computed_at,
        "model_id": score.model_id,
    }


def score_spread(*, actor) -> dict:
    """How the learned model's scores of the current leads spread (for the model's page).

    Only scores the model gave: rule points are not probabilities. One grouped query, however
    many leads there are.
    """
    from django.db.models import Count

    access.require_admin(actor)
    counts = dict(
        LeadScore.objects.filter(
            basis=ScoreBasis.MODEL,
            contact__lifecycle_stage__in=LEAD_STAGES,
            contact__is_archived=False,
        )
        .order_by()
        .values_list("score")
        .annotate(n=Count("contact_id"))
        .values_list("score", "n")
    )
    spread = learned.score_distribution(counts)
    tallest = max((row["count"] for row in spread["bins"]), default=0) or 1
    for row in spread["bins"]:
        # Widths in steps of 5 %: bars are CSS classes, never inline styles (CSP).
        row["width"] = 5 * round(20 * row["count"] / tallest)
    return spread


def rule_matches_now(condition: dict, *, limit: int = 5000) -> tuple[int, int]:
    """(matching, examined): how many current leads a condition picks out (for the editors)."""
    from rapport.core.conditions import matches

    ids = current_lead_ids()[:limit]
    fields = lead_field_set()
    facts = load_facts(ids)
    hits = sum(1 for lead in facts.values() if matches(condition, lead, fields))
    return hits, len(ids)
