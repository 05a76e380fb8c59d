"""Measuring the catalogue and keeping the values: the daily snapshot, the backfill, the reads.

What is measured each day: every measurable KPI over everyone; the KPIs of stages measured on a
population (the Value Chain's strategically significant customers) over that population; and
every KPI an active objective follows, for the objective's population or segment. The backfill
fills past days for the KPIs whose data carries dates (History.DATED and SNAPSHOTS), without
replacing a value measured on the day itself.

The scorecards, the API and the objectives read the stored values, so a page never waits for
a KPI to be computed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from rapport.core import display
from rapport.frameworks.catalog import MODELS
from rapport.frameworks.choices import RunStatus, SnapshotSource
from rapport.frameworks.kpis import KPIS, EvaluationContext, History, Measurement, evaluate
from rapport.frameworks.kpis.base import Kpi, NotMeasurable, Population
from rapport.frameworks.models import KpiSnapshot, Objective, SnapshotRun

logger = logging.getLogger(__name__)

BACKFILL_DAYS = 365
BACKFILL_EVERY_DAYS = 7


@dataclass(frozen=True)
class Series:
    """Whose values of which KPI: a KPI over everyone, a population, or a segment."""

    kpi: str
    population: str = Population.EVERYONE
    segment_id: int | None = None


def effective_population(kpi: Kpi, population: str) -> str:
    """A stage's population applies to the KPIs that can be measured per population (and are
    not about the significant customers already)."""
    if not kpi.segmentable or kpi.about_significant:
        return Population.EVERYONE
    return population


def catalogue_series() -> list[Series]:
    """Every measurable KPI over everyone, plus each stage KPI over its stage's population."""
    series = {Series(kpi.key) for kpi in KPIS.values() if kpi.is_measurable}
    for model in MODELS.values():
        for stage in model.stages:
            if not stage.population:
                continue
            for stage_kpi in stage.kpis:
                kpi = KPIS[stage_kpi.kpi]
                if kpi.is_measurable:
                    series.add(Series(kpi.key, effective_population(kpi, stage.population)))
    return sorted(series, key=lambda s: (s.population, s.kpi))


def objective_series() -> list[Series]:
    rows = (
        Objective.objects.filter(status="active")
        .values_list("kpi", "population", "segment_id")
        .distinct()
    )
    return [Series(kpi, population or "", segment_id) for kpi, population, segment_id in rows]


def series_to_measure() -> list[Series]:
    seen = {}
    for series in [*catalogue_series(), *objective_series()]:
        if series.kpi in KPIS and KPIS[series.kpi].is_measurable:
            seen[series] = None
    return list(seen)


def _segments(series: list[Series]) -> dict[int, object]:
    from rapport.analytics.models import Segment

    ids = {s.segment_id for s in series if s.segment_id is not None}
    return Segment.objects.in_bulk(ids) if ids else {}


def context_for(
    series: Series, day: dt.date, *, shared: dict, segments: dict, today: dt.date
) -> EvaluationContext:
    return EvaluationContext(
        as_of=day,
        population=series.population,
        segment=segments.get(series.segment_id) if series.segment_id else None,
        today=today,
        shared=shared,
    )


def measure(kpi: Kpi, ctx: EvaluationContext) -> tuple[Measurement | NotMeasurable, float]:
    started = time.perf_counter()
    result = evaluate(kpi, ctx)
    return result, time.perf_counter() - started


def store(
    series: Series, day: dt.date, result, *, source: str, seconds: float = 0.0
) -> KpiSnapshot:
    """Keep one value (or the reason there is none); the same series and day is replaced."""
    values = {
        "value": getattr(result, "value", None),
        "numerator": getattr(result, "numerator", None),
        "denominator": getattr(result, "denominator", None),
        "reason": (getattr(result, "reason", "") or "")[:500],
        "source": source,
        "seconds": round(seconds, 4),
    }
    lookup = {
        "kpi": series.kpi,
        "population": series.population,
        "segment_id": series.segment_id,
        "day": day,
    }
    try:
        with transaction.atomic():
            snapshot, _ = KpiSnapshot.objects.update_or_create(**lookup, defaults=values)
    except IntegrityError:
        # Another run stored the same day between our read and our insert: update theirs.
        KpiSnapshot.objects.filter(**lookup).update(**values)
        snapshot = KpiSnapshot.objects.get(**lookup)
    return snapshot


# Memory a sort or hash of the measuring session may use before spilling to disk. The KPIs
# group a million customers' orders and hash sets of a million contact ids; at PostgreSQL's
# default (4 MB) those spill to disk, or are looked up again for every contact.
MEASURING_WORK_MEM = "64MB"


@contextlib.contextmanager
def measuring_session():
    """Session settings while the KPIs are measured (PostgreSQL only): JIT off — it compiles
    each aggregate here for about a second, longer than most of them take to run — and a
    larger work_mem, so the per-customer groupings and id sets stay in memory."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute("SELECT set_config('work_mem', %s, false)", [MEASURING_WORK_MEM])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")
            cursor.execute("RESET work_mem")


def store_day(day: dt.date, results: list, *, source: str) -> None:
    """Keep a day's values of many series at once, replacing what that day held for them."""
    rows = [
        KpiSnapshot(
            kpi=item.kpi,
            population=item.population,
            segment_id=item.segment_id,
            day=day,
            value=getattr(result, "value", None),
            numerator=getattr(result, "numerator", None),
            denominator=getattr(result, "denominator", None),
            reason=(getattr(result, "reason", "") or "")[:500],
            source=source,
            seconds=round(seconds, 4),
        )
        for item, result, seconds in results
    ]
    with transaction.atomic():
        for start in range(0, len(results), 50):
            q = Q(pk__in=[])
            for item, _result, _seconds in results[start : start + 50]:
                q |= _series_q(item)
            KpiSnapshot.objects.filter(q, day=day).delete()
        KpiSnapshot.objects.bulk_create(rows, batch_size=500)


def _start_run(day: dt.date, source: str) -> SnapshotRun:
    return SnapshotRun.objects.create(day=day, source=source)


def _finish_run(run: SnapshotRun, started: float, **fields) -> SnapshotRun:
    run.status = fields.pop("status", RunStatus.SUCCEEDED)
    run.finished_at = timezone.now()
    run.seconds = round(time.perf_counter() - started, 3)
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    return run


def take_snapshot(
    *, day: dt.date | None = None, source: str = SnapshotSource.DAILY, shared: dict | None = None
) -> SnapshotRun:
    """Measure every series for `day` (today by default) and store the values.

    Safe to run twice: the second run replaces the day's values. A KPI whose formula fails is
    logged and named on the run; the others are still measured and stored.
    """
    today = timezone.localdate()
    day = day or today
    shared = {} if shared is None else shared
    started = time.perf_counter()
    run = _start_run(day, source)
    series = series_to_measure()
    segments = _segments(series)
    measured = not_measurable = 0
    failed: dict[str, str] = {}
    results = []
    with measuring_session():
        for item in series:
            kpi = KPIS[item.kpi]
            if item.segment_id is not None and item.segment_id not in segments:
                continue
            ctx = context_for(item, day, shared=shared, segments=segments, today=today)
            try:
                result, seconds = measure(kpi, ctx)
            except Exception as exc:
                logger.exception("KPI %s (%s) failed", item.kpi, item)
                failed[label(item)] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            results.append((item, result, seconds))
            if isinstance(result, Measurement):
                measured += 1
            else:
                not_measurable += 1
        store_day(day, results, source=source)
        funnel = _journey_funnel(day, today)
    return _finish_run(
        run,
        started,
        measured=measured,
        not_measurable=not_measurable,
        failed=failed,
        funnel=funnel,
        status=RunStatus.SUCCEEDED if not failed else RunStatus.FAILED,
        message=f"{len(failed)} KPI(s) failed; see the log." if failed else "",
    )


def label(series: Series) -> str:
    """How a series is named in a run's failures and gaps."""
    parts = [series.kpi]
    if series.population:
        parts.append(series.population)
    if series.segment_id:
        parts.append(f"segment {series.segment_id}")
    return " / ".join(parts)


def _journey_funnel(day: dt.date, today: dt.date) -> list[dict]:
    """The IDIC funnel over active contacts, for the day's run (today only: steps are current)."""
    if day < today:
        return []
    from rapport.contacts.models import Contact
    from rapport.frameworks.journey import funnel

    try:
        return funnel(Contact.objects.filter(is_archived=False))
    except Exception:
        logger.exception("IDIC funnel failed")
        return []


def backfill(
    *,
    days: int = BACKFILL_DAYS,
    every: int = BACKFILL_EVERY_DAYS,
    until: dt.date | None = None,
    shared: dict | None = None,
) -> SnapshotRun:
    """Fill past days (every `every` days back to `days` ago) from the dated history.

    Only KPIs that can be read for a past day take part, and a day that already has a value of a
    series keeps it. Safe to run again: it only adds what is missing.
    """
    today = timezone.localdate()
    until = until or today - dt.timedelta(days=1)
    shared = {} if shared is None else shared
    started = time.perf_counter()
    run = _start_run(until, SnapshotSource.BACKFILL)
    series = [s for s in series_to_measure() if KPIS[s.kpi].history != History.CURRENT]
    segments = _segments(series)
    first = today - dt.timedelta(days=days)
    wanted_days = []
    cursor = until
    while cursor >= first:
        wanted_days.append(cursor)
        cursor -= dt.timedelta(days=every)
    existing = _existing(series, wanted_days)
    not_measurable = 0
    failed: dict[str, str] = {}
    gaps: dict[str, str] = {}
    rows = []
    with measuring_session():
        for day in wanted_days:
            for item in series:
                if (item, day) in existing:
                    continue
                if item.segment_id is not None and item.segment_id not in segments:
                    continue
                ctx = context_for(item, day, shared=shared, segments=segments, today=today)
                try:
                    result, seconds = measure(KPIS[item.kpi], ctx)
                except Exception as exc:
                    logger.exception("KPI %s failed for %s", item.kpi, day)
                    failed[label(item)] = f"{type(exc).__name__}: {exc}"[:300]
                    continue
                if not isinstance(result, Measurement):
                    not_measurable += 1
                    # A past day without data stays a gap in the trend; the newest day's reason
                    # (days run newest first) says why.
                    gaps.setdefault(
                        label(item), f"{display.day_text(day, 'dated')}: {result.reason}"[:300]
                    )
                    continue
                rows.append(
                    KpiSnapshot(
                        kpi=item.kpi,
                        population=item.population,
                        segment_id=item.segment_id,
                        day=day,
                        value=result.value,
                        numerator=result.numerator,
                        denominator=result.denominator,
                        source=SnapshotSource.BACKFILL,
                        seconds=round(seconds, 4),
                    )
                )
    measured = len(rows)
    with transaction.atomic():
        KpiSnapshot.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return _finish_run(
        run,
        started,
        measured=measured,
        not_measurable=not_measurable,
        failed=failed,
        gaps=gaps,
        status=RunStatus.SUCCEEDED if not failed else RunStatus.FAILED,
        message=f"{len(wanted_days)} days from {wanted_days[-1] if wanted_days else until} "
        f"to {until}.",
    )


def _existing(series: list[Series], days: list[dt.date]) -> set:
    if not days:
        return set()
    rows = KpiSnapshot.objects.filter(
        kpi__in={s.kpi for s in series}, day__gte=min(days), day__lte=max(days)
    ).values_list("kpi", "population", "segment_id", "day")
    return {(Series(kpi, population, segment_id), day) for kpi, population, segment_id, day in rows}


# --------------------------------------------------------------------------- reads


def _series_q(series: Series) -> Q:
    return Q(kpi=series.kpi, population=series.population, segment_id=series.segment_id)


LATEST_WITHIN_DAYS = 400


def latest(series_list: list[Series]) -> dict[Series, KpiSnapshot]:
    """The newest stored value of each series within the last 400 days (one query per 50
    series); an older value is too stale to show as the current one."""
    since = timezone.localdate() - dt.timedelta(days=LATEST_WITHIN_DAYS)
    result: dict[Series, KpiSnapshot] = {}
    wanted = list(dict.fromkeys(series_list))
    for start in range(0, len(wanted), 50):
        chunk = wanted[start : start + 50]
        q = Q(pk__in=[])
        for series in chunk:
            q |= _series_q(series)
        rows = KpiSnapshot.objects.filter(q, day__gte=since).order_by(
            "kpi", "population", "segment_id", "-day"
        )
        for row in rows:
            key = Series(row.kpi, row.population, row.segment_id)
            if key not in result:
                result[key] = row
    return result


def trends(series_list: list[Series], since: dt.date) -> dict[Series, list[KpiSnapshot]]:
    """Each series' stored rows since `since`, oldest first (for trends), one query."""
    wanted = list(dict.fromkeys(series_list))
    result: dict[Series, list[KpiSnapshot]] = defaultdict(list)
    if not wanted:
        return result
    q = Q(pk__in=[])
    for series in wanted:
        q |= _series_q(series)
    rows = KpiSnapshot.objects.filter(q, day__gte=since).order_by("day")
    for row in rows:
        result[Series(row.kpi, row.population, row.segment_id)].append(row)
    return result


def history(series: Series, *, since: dt.date | None = None) -> list[KpiSnapshot]:
    rows = KpiSnapshot.objects.filter(_series_q(series))
    if since is not None:
        rows = rows.filter(day__gte=since)
    return list(rows.order_by("day"))


def measure_live(series: Series, *, segment=None) -> tuple[Measurement | NotMeasurable, float]:
    """Measure one series now, without storing it (the caller keeps it if it wants)."""
    today = timezone.localdate()
    ctx = EvaluationContext(as_of=today, population=series.population, segment=segment, today=today)
    return measure(KPIS[series.kpi], ctx)


def backfill_gaps() -> dict[str, str]:
    """Why the latest backfill could not measure past days of a series ({label: reason})."""
    run = (
        SnapshotRun.objects.filter(source=SnapshotSource.BACKFILL)
        .exclude(status=RunStatus.RUNNING)
        .order_by("-finished_at", "-id")
        .only("gaps")
        .first()
    )
    return dict(run.gaps or {}) if run is not None else {}


def latest_run() -> SnapshotRun | None:
    return (
        SnapshotRun.objects.exclude(source=SnapshotSource.BACKFILL)
        .exclude(status=RunStatus.RUNNING)
        .order_by("-day", "-finished_at", "-id")
        .first()
    )
