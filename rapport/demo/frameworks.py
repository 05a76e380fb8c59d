"""The demo's CRM models: a history of customer analytics at past month-ends (so value and
churn-risk KPIs have a trend), a year of KPI values backfilled from the dated history, today's
snapshot, a model chosen through the recommendation, an objective on every model, and maturity
assessments answered by the staff."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

from rapport.data_exchange import detection
from rapport.data_exchange.choices import DetectionTrigger
from rapport.demo.context import DemoContext
from rapport.frameworks import facts, recommendation, services, snapshots, tasks
from rapport.frameworks.catalog import MODELS

ANALYTICS_MONTHS = 6
BACKFILL_DAYS = 365
BACKFILL_EVERY = 7
# How long the demo's assessments stayed open for answers before they were completed.
ASSESSMENT_OPEN_DAYS = 14

# Per model, objectives to try in order (stage, KPI, target kind, amount): the first the data
# supports is set — the seeds' step 3 ("increase retention by X %", "decrease churn by X %",
# "increase high-value customers' spend by X").
OBJECTIVES = {
    "idic": [
        ("interact", "active_customers_touched_90d", "change", 10),
        ("identify", "consent_coverage", "change", 10),
        ("identify", "profile_completeness", "change", 5),
    ],
    "value_chain": [
        ("managing_relationship", "retention_rate_12m", "change", 5),
        ("portfolio_analysis", "top_tier_clv", "percent", 10),
        ("managing_relationship", "at_risk_value_share", "change", -3),
        ("customer_intimacy", "profile_completeness", "change", 5),
        ("portfolio_analysis", "value_tier_coverage", "change", 2),
    ],
    "payne_frow": [
        ("performance_assessment", "churn_rate_12m", "change", -3),
        ("value_creation", "repeat_purchase_rate", "change", 5),
        ("information_management", "profile_completeness", "change", 5),
    ],
    "qci": [
        ("customer_management", "win_rate", "change", 5),
        ("process_management", "overdue_task_share", "change", -5),
        ("information_technology", "profile_completeness", "change", 5),
    ],
    "gartner": [
        ("metrics", "average_clv", "percent", 10),
        ("customer_experience", "active_customers_touched_90d", "change", 5),
        ("information", "profile_completeness", "change", 5),
    ],
}

# How mature the demo business rates itself per stage (1–5) before and after half a year of
# working with the model: the gaps close where it worked on them.
MATURITY = {
    "gartner": {
        "before": {"vision": 2, "strategy": 2, "collaboration": 2, "technology": 3},
        "after": {"vision": 3, "strategy": 4, "collaboration": 2, "technology": 4},
    },
    "value_chain": {
        "after": {
            "leadership_culture": 3,
            "procurement": 2,
            "human_resources": 4,
            "data_it": 3,
        }
    },
}


def _month_ends(today: dt.date, months: int) -> list[dt.date]:
    ends = []
    first = today.replace(day=1)
    for _ in range(months):
        end = first - dt.timedelta(days=1)
        ends.append(end)
        first = end.replace(day=1)
    return sorted(ends)


def _analytics_history(ctx: DemoContext) -> None:
    """Refresh the customer analytics as of past month-ends, then today again, so the
    analytics snapshots hold a value and churn history the KPI backfill can read."""
    from rapport.analytics import refresh

    today = timezone.localdate()
    done = 0
    for day in _month_ends(today, ANALYTICS_MONTHS):
        try:
            run = refresh.refresh_now(actor=ctx.admin, as_of=day)
        except Exception as exc:
            # A past month the analytics cannot score leaves a gap in the value trends (the
            # refresh records the failed run); the other months still count.
            ctx.say(f"  [yellow]analytics as of {day} failed: {exc}[/yellow]")
            continue
        done += run.status == "succeeded"
    final = refresh.refresh_now(actor=ctx.admin)
    ctx.say(
        f"  customer analytics as of {done} past month-ends; today's: {final.get_status_display()}"
    )


def _choose(ctx: DemoContext):
    departments = ("sales", "marketing", "service")
    answers = recommendation.Answers(
        team_size="11-50" if len(ctx.users) > 10 else "1-10",
        product_complexity="moderate",
        channels=("email", "phone", "in_person", "web", "shop"),
        departments=departments,
        goals=("retention", "key_accounts"),
    )
    data = facts.read_facts()
    result = recommendation.recommend(answers, data)
    choice = services.choose_model(
        actor=ctx.admin,
        model_key=result.recommended,
        answers={
            "team_size": answers.team_size,
            "product_complexity": answers.product_complexity,
            "channels": list(answers.channels),
            "departments": list(answers.departments),
            "goals": list(answers.goals),
        },
        facts=facts.as_dict(data),
        recommended_key=result.recommended,
        scores=result.scores,
    )
    ctx.say(
        f"  recommended and chosen: {MODELS[choice.model_key].name} "
        f"(runner-up {MODELS[result.runner_up].name}; top 20 % bring "
        f"{(data.top20_share or 0):.0%} of revenue)"
    )


def _objectives(ctx: DemoContext) -> None:
    # The demo's manager has a read-only role, and an objective goes only to someone who can
    # work it (`access.owner_problem`): the administrator sets and follows them.
    owner = ctx.admin
    deadline = timezone.localdate() + dt.timedelta(days=365)
    for model_key, candidates in OBJECTIVES.items():
        refusals = []
        for stage_key, kpi, kind, amount in candidates:
            try:
                made = services.create_objective(
                    actor=ctx.admin,
                    model_key=model_key,
                    stage_key=stage_key,
                    kpi=kpi,
                    target_kind=kind,
                    target_input=amount,
                    deadline=deadline,
                    owner=owner,
                )
            except ValidationError as exc:
                # The demo data cannot measure it, or the target is out of reach: next one.
                refusals.append(f"{kpi}: {'; '.join(exc.messages)}")
                continue
            ctx.say(f"  objective on {MODELS[model_key].name}: {made.title}")
            break
        else:
            ctx.say(
                f"  [yellow]no objective could be set on {MODELS[model_key].name}: "
                f"{' | '.join(refusals)}[/yellow]"
            )
    counts = services.check_objectives()
    ctx.say(f"  objectives checked: {counts['checked']}, off-track alerts: {counts['alerted']}")


def _respondents(ctx: DemoContext) -> list:
    people = [user for user in ctx.users if not user.is_read_only]
    return (people or [ctx.admin])[:5]


def _assess(
    ctx: DemoContext, model_key: str, levels: dict, *, completed_at: dt.datetime, title: str
):
    """Open an assessment, have the staff answer it over the following days and complete it at
    `completed_at`: opened, answered and completed in that order."""
    model = MODELS[model_key]
    opened_at = completed_at - dt.timedelta(days=ASSESSMENT_OPEN_DAYS)
    assessment = services.create_assessment(
        actor=ctx.admin, model_key=model_key, title=title, at=opened_at
    )
    for person in _respondents(ctx):
        answered_at = opened_at + dt.timedelta(
            hours=ctx.rng.randint(1, ASSESSMENT_OPEN_DAYS * 24 - 1)
        )
        answers = {}
        for stage, question in model.questions:
            base = levels.get(stage.key, 3)
            answers[f"{stage.key}.{question.key}"] = max(
                1, min(5, base + ctx.rng.choice((-1, 0, 0, 1)))
            )
        services.answer_assessment(
            actor=person, assessment=assessment, answers=answers, at=answered_at
        )
    services.complete_assessment(actor=ctx.admin, assessment=assessment, at=completed_at)
    return assessment


def _assessments(ctx: DemoContext) -> None:
    now = timezone.now()
    levels = MATURITY["gartner"]
    _assess(
        ctx,
        "gartner",
        levels["before"],
        completed_at=now - dt.timedelta(days=182),
        title="Gartner maturity, half a year ago",
    )
    latest = _assess(
        ctx, "gartner", levels["after"], completed_at=now, title="Gartner maturity, this month"
    )
    _assess(
        ctx,
        "value_chain",
        MATURITY["value_chain"]["after"],
        completed_at=now,
        title="Value Chain support conditions",
    )
    ctx.say(
        f"  maturity assessments completed by {latest.responses.values('respondent').distinct().count()} people"
    )


def build(ctx: DemoContext) -> None:
    # The suspected-duplicate KPIs read the pairs detection finds: detect before measuring.
    scans = detection.run_all(trigger=DetectionTrigger.DEMO)
    ctx.say(f"  duplicate detection: {sum(scan.suspected for scan in scans)} suspected pairs")
    _analytics_history(ctx)
    run = snapshots.backfill(days=BACKFILL_DAYS, every=BACKFILL_EVERY)
    ctx.say(
        f"  KPI history: {run.measured} values over {BACKFILL_DAYS} days in {run.seconds:.1f} s"
    )
    today = snapshots.take_snapshot()
    ctx.say(
        f"  today's KPIs: {today.measured} measured, {today.not_measurable} not measurable, "
        f"{len(today.failed)} failed ({today.seconds:.1f} s)"
    )
    _choose(ctx)
    _objectives(ctx)
    _assessments(ctx)
    tasks.schedule_next()
