"""The analytics refresh: load the order facts, fit the models, score every customer, store.

`request_refresh` queues one (on demand), `schedule_nightly_refresh` keeps the next nightly one
queued, and the task calls `run_refresh`, which records its progress on the RefreshRun as it
goes so the page can show it. A run is idempotent: running the same run twice does nothing the
second time, and a new run replaces the current analytics as a whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.db import transaction
from django.utils import timezone

from rapport.analytics import queries, storage
from rapport.analytics.choices import ACTIVE_RUN_STATUSES, RunStatus, RunTrigger
from rapport.analytics.models import AnalyticsConfiguration, ModelFit, RefreshRun
from rapport.analytics.scoring import score_customers
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change
from rapport.commerce.services import business_currency
from rapport.core import display
from rapport.core.schedules import next_daily_time

logger = logging.getLogger(__name__)

# A run that has been "running" this long without finishing died with its worker.
STALE_RUN_AFTER = dt.timedelta(hours=3)


def today() -> dt.date:
    return timezone.localdate()


def _progress(run: RefreshRun, percent: int, stage: str) -> None:
    # Outside the store transaction: the page polling the run sees each stage as it starts.
    RefreshRun.objects.filter(pk=run.pk).update(progress=percent, stage=stage)
    run.progress, run.stage = percent, stage


def _enqueue(run: RefreshRun, *, run_after: dt.datetime | None = None) -> None:
    from rapport.analytics.tasks import refresh_customer_analytics

    task = refresh_customer_analytics
    if run_after is not None:
        task = task.using(run_after=run_after)
    result = task.enqueue(run_id=run.pk)
    RefreshRun.objects.filter(pk=run.pk, task_id="").update(task_id=str(result.id)[:64])


def request_refresh(*, actor, as_of: dt.date | None = None) -> RefreshRun:
    """Queue a refresh now, unless one is already queued or running (then return that one).

    The task starts after the current transaction commits. Writes a ChangeRecord.
    """
    with transaction.atomic():
        _expire_stale_runs()
        active = (
            RefreshRun.objects.select_for_update()
            .filter(status__in=ACTIVE_RUN_STATUSES)
            .order_by("created_at")
            .first()
        )
        if active is not None:
            return active
        run = RefreshRun.objects.create(
            status=RunStatus.QUEUED,
            trigger=RunTrigger.ON_DEMAND,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            as_of=as_of,
        )
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            instance=run,
            after={"trigger": run.trigger, "as_of": as_of},
            message="Analytics refresh requested",
        )
        transaction.on_commit(lambda: _enqueue(run))
    return run


def refresh_now(*, actor, as_of: dt.date | None = None) -> RefreshRun:
    """Run a refresh in this process and return it finished (the demo loader and commands;
    the web asks for one with `request_refresh`, which a worker runs)."""
    with transaction.atomic():
        run = RefreshRun.objects.create(
            status=RunStatus.QUEUED,
            trigger=RunTrigger.ON_DEMAND,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            as_of=as_of,
        )
        record_change(
            actor=actor,
            action=ChangeAction.CREATE,
            instance=run,
            after={"trigger": run.trigger, "as_of": as_of},
            message="Analytics refresh run in-process",
        )
    return run_refresh(run_id=run.pk)


def schedule_nightly_refresh(*, now: dt.datetime | None = None) -> RefreshRun | None:
    """Make sure the next nightly refresh is queued for the configured hour (idempotent).

    Returns the scheduled run, or None when the task backend cannot run tasks later (the
    immediate backend of the tests); the worker's scheduler then has nothing to wait for.
    """
    from django_tasks import default_task_backend

    if not default_task_backend.supports_defer:
        return None
    now = now or timezone.now()
    with transaction.atomic():
        existing = (
            RefreshRun.objects.select_for_update()
            .filter(status=RunStatus.SCHEDULED, trigger=RunTrigger.NIGHTLY, scheduled_for__gt=now)
            .first()
        )
        if existing is not None:
            return existing
        when = next_daily_time(now, AnalyticsConfiguration.current().nightly_hour)
        run = RefreshRun.objects.create(
            status=RunStatus.SCHEDULED, trigger=RunTrigger.NIGHTLY, scheduled_for=when
        )
        transaction.on_commit(lambda: _enqueue(run, run_after=when))
    return run


def _expire_stale_runs() -> None:
    cutoff = timezone.now() - STALE_RUN_AFTER
    RefreshRun.objects.filter(status=RunStatus.RUNNING, started_at__lt=cutoff).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        message="The worker stopped before the refresh finished.",
    )


def _claim(run_id: int) -> RefreshRun | None:
    """Move a queued or scheduled run to running; None if another worker already has it."""
    now = timezone.now()
    claimed = RefreshRun.objects.filter(
        pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.SCHEDULED]
    ).update(status=RunStatus.RUNNING, started_at=now, progress=1, stage="load")
    if not claimed:
        return None
    return RefreshRun.objects.get(pk=run_id)


def _finish(run: RefreshRun, status: str, message: str = "", **fields) -> RefreshRun:
    run.status = status
    run.message = message
    run.progress = 100
    run.stage = ""
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    return run


def run_refresh(*, run_id: int) -> RefreshRun:
    """Compute and store every customer's analytics for one run (what the task calls).

    Stages and their progress: load 5 %, fit and score 35 %, store 75 %. Sets the run to
    succeeded (with a message naming any model the data could not support), insufficient_data
    (no revenue orders at all: the current analytics are cleared) or failed (the error, and
    the previous analytics stay in place). A nightly run schedules the next one.
    """
    run = _claim(run_id)
    if run is None:
        return RefreshRun.objects.get(pk=run_id)
    try:
        return _run(run)
    except Exception as exc:
        logger.exception("analytics refresh %s failed", run.pk)
        _finish(run, RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        if run.trigger == RunTrigger.NIGHTLY:
            schedule_nightly_refresh()


def _run(run: RefreshRun) -> RefreshRun:
    configuration = AnalyticsConfiguration.current()
    settings = configuration.as_dict()
    as_of = run.as_of or today()
    currency = business_currency()
    RefreshRun.objects.filter(pk=run.pk).update(as_of=as_of, currency=currency, settings=settings)
    run.as_of, run.currency, run.settings = as_of, currency, settings
    timings: dict[str, float] = {}

    _progress(run, 5, "load")
    started = time.perf_counter()
    facts = queries.load_order_facts(currency=currency, as_of=as_of)
    excluded = queries.excluded_order_counts(as_of=as_of)
    timings["load"] = time.perf_counter() - started
    gaps = missing_rates_note(facts.missing)
    if facts.n_customers == 0:
        storage.clear_scores()
        return _finish(
            run,
            RunStatus.INSUFFICIENT_DATA,
            f"No paid or shipped orders in {currency} with a contact up to {as_of}, nor any "
            f"that could be converted to it; nothing to analyse yet. {gaps}".strip(),
            excluded=excluded,
            timings=timings,
        )

    _progress(run, 35, "score")
    result = score_customers(
        facts.customer_index,
        facts.day,
        facts.orders,
        facts.amount,
        n_customers=facts.n_customers,
        as_of_day=facts.as_of_day,
        settings=settings,
    )
    timings["fit"] = result.timings["fit"]
    timings["score"] = (
        result.timings["summarize"] + result.timings["score"] + result.timings["portfolio"]
    )

    _progress(run, 75, "store")
    started = time.perf_counter()
    with transaction.atomic():
        stored = storage.store_scores(
            run_id=run.pk, as_of=as_of, contact_ids=facts.contact_ids, scores=result.scores
        )
        ModelFit.objects.bulk_create(
            [
                ModelFit(
                    run=run,
                    model=fit.model,
                    status=fit.status,
                    reason=fit.reason,
                    parameters=fit.parameters,
                    log_likelihood=fit.log_likelihood,
                    n_customers=fit.n_customers,
                    seconds=fit.seconds,
                    diagnostics=fit.diagnostics,
                )
                for fit in result.fits
            ]
        )
        storage.prune_snapshots(
            today=as_of, keep_daily_days=configuration.keep_daily_snapshots_days
        )
        timings["store"] = time.perf_counter() - started
        run = _finish(
            run,
            RunStatus.SUCCEEDED,
            " ".join([*result.messages, gaps]).strip(),
            n_customers=stored,
            n_orders=facts.n_orders,
            excluded=excluded,
            tier_basis=result.tier_basis,
            timings={key: round(value, 3) for key, value in timings.items()},
            portfolio=result.portfolio,
        )
    return run


def missing_rates_note(missing) -> str:
    """The run's note on orders left out for want of an exchange rate ("" when none were)."""
    if not missing:
        return ""
    parts = [f"{gap.text} ({display.left_out_text(gap, 'order')})" for gap in missing]
    return (
        f"Left out for want of an exchange rate: {'; '.join(parts)}. "
        "Add the rates and refresh again to count them."
    )


def latest_run() -> RefreshRun | None:
    """The newest finished run with stored analytics (what the pages show)."""
    return (
        RefreshRun.objects.filter(status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def latest_attempt() -> RefreshRun | None:
    """The newest run that is not merely scheduled (may be running, failed, ...)."""
    return (
        RefreshRun.objects.exclude(status=RunStatus.SCHEDULED)
        .order_by("-created_at", "-id")
        .first()
    )
