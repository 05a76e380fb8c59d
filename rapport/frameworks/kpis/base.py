"""What a KPI is, what measuring one returns, and the context a formula is evaluated in.

A formula is a function of an `EvaluationContext` (the day it is measured as of, and whose
figures: everyone, the strategically significant customers, or a segment). It returns a
`Measurement` or `NotMeasurable`; helpers deep inside a formula may raise `Unmeasurable` instead,
which `evaluate` turns into `NotMeasurable`. Formulas aggregate in the database (or on arrays the
database grouped), never loop over contacts in Python.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone


class Unit:
    PERCENT = "percent"  # 0–100
    HOURS = "hours"
    DAYS = "days"
    CURRENCY = "currency"
    RATIO = "ratio"
    COUNT = "count"


UNIT_LABELS = {
    Unit.PERCENT: "%",
    Unit.HOURS: "h",
    Unit.DAYS: "days",
    Unit.CURRENCY: "",
    Unit.RATIO: "×",
    Unit.COUNT: "",
}


class Direction:
    HIGHER = "higher"
    LOWER = "lower"
    # Neither is better in itself (how concentrated revenue is): shown for information, and an
    # objective on it takes its direction from its own target.
    NEUTRAL = "neutral"


class History:
    """How far back a KPI can be measured, which decides what a backfill can fill in."""

    DATED = "dated"  # from dated records (orders, interactions, stage changes): any past day
    SNAPSHOTS = "snapshots"  # from another app's stored daily figures, on the days they exist
    CURRENT = "current"  # only today; the trend grows from the daily snapshots


class Population:
    EVERYONE = ""
    SIGNIFICANT = "significant"


POPULATION_LABELS = {
    Population.EVERYONE: "All customers",
    Population.SIGNIFICANT: "Strategically significant customers",
}
# The analytics value tiers whose customers the Value Chain calls strategically significant.
SIGNIFICANT_TIERS = ("platinum", "gold")


@dataclass(frozen=True)
class Measurement:
    """A KPI's value in its unit; for a share, the counts it was computed from."""

    value: float
    numerator: float | None = None
    denominator: float | None = None


@dataclass(frozen=True)
class NotMeasurable:
    """No value, and why: the data is missing, or Rapport does not hold that kind of data yet
    (then `capability` names what will feed it)."""

    reason: str
    capability: str = ""


# How a reason begins when the KPI's input is computed by another job that has not run
# (duplicate detection, the analytics refresh): the UI shows such a reason as it is, where
# others read "Not measurable: …". A past day's says "Not computed: … had not run by then".
NOT_COMPUTED = "Not computed yet: "


def missing_value_text(reason: str) -> str:
    """What the UI shows in place of a KPI's value."""
    if reason.startswith(("Not computed", "Not measured")):
        return reason
    return f"Not measurable: {reason}"


class Unmeasurable(Exception):
    """Raised inside a formula when the figure cannot be computed; becomes NotMeasurable."""

    def __init__(self, reason: str, capability: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.capability = capability


def site_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE or "UTC")


@dataclass
class EvaluationContext:
    """The day a KPI is measured as of and whose figures it measures.

    `shared` holds what several formulas read (the order facts, the significant customers) so a
    snapshot loads each once; a backfill passes the same dict to every day it measures.
    """

    as_of: dt.date
    population: str = Population.EVERYONE
    segment: object | None = None  # an analytics Segment
    today: dt.date = field(default_factory=timezone.localdate)
    shared: dict = field(default_factory=dict)

    @property
    def is_today(self) -> bool:
        return self.as_of >= self.today

    @property
    def end(self) -> dt.datetime:
        """The first instant after `as_of` in the site's time zone: "as of" means up to here."""
        return dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time(), tzinfo=site_zone())

    @property
    def moment(self) -> dt.datetime:
        """`end`, but never in the future: measuring today means measuring now."""
        return min(self.end, timezone.now())

    def since(self, days: int) -> dt.datetime:
        return self.end - dt.timedelta(days=days)

    def with_day(self, day: dt.date) -> EvaluationContext:
        return EvaluationContext(
            as_of=day,
            population=self.population,
            segment=self.segment,
            today=self.today,
            shared=self.shared,
        )

    @property
    def is_filtered(self) -> bool:
        return self.population != Population.EVERYONE or self.segment is not None

    def describe(self) -> str:
        if self.segment is not None:
            return f"segment “{self.segment}”"
        return POPULATION_LABELS.get(self.population, self.population).lower()

    # -- whose figures ---------------------------------------------------------------------

    def contact_q(self, path: str = "pk") -> Q:
        """The filter keeping only contacts of this context's population and segment, on the
        contact reached through `path` ("pk" on Contact, "contact" or "contact_id" elsewhere)."""
        from rapport.frameworks.kpis import populations

        q = Q()
        if self.population == Population.SIGNIFICANT:
            q &= Q(**{f"{path}__in": populations.significant_contact_ids(self)})
        elif self.population != Population.EVERYONE:
            raise Unmeasurable(f"Unknown population {self.population!r}.")
        if self.segment is not None:
            q &= Q(**{f"{path}__in": populations.segment_contact_ids(self)})
        return q

    def contacts(self) -> QuerySet:
        """Active contacts that existed at the end of the day, of this population/segment."""
        from rapport.contacts.models import Contact

        return Contact.objects.filter(is_archived=False, created_at__lt=self.end).filter(
            self.contact_q()
        )


@dataclass(frozen=True)
class RecordsBehind:
    """The records a KPI counts against (what someone improving it works through).

    `kind` names the model ("contacts", "organizations", "deals", "tasks", "interactions"); the
    records page shows `queryset` through that model's `visible_to(user)`.
    """

    kind: str
    label: str
    queryset: QuerySet


@dataclass(frozen=True)
class SeeAlso:
    """A page of another app with the records behind a KPI (resolved safely: hidden when the
    URL does not exist); `query` is appended as its query string."""

    label: str
    url_name: str
    query: str = ""


@dataclass(frozen=True)
class Kpi:
    """One KPI of the catalogue.

    `formula(ctx)` computes it (None for a KPI Rapport has no data for yet: then `capability`
    says what will feed it and `not_measurable_reason` why). `records(ctx)` gives the records
    behind its value. `segmentable` KPIs can be measured for a population or segment; others
    always measure the whole database.
    """

    key: str
    name: str
    definition: str
    unit: str
    direction: str
    area: str
    formula: Callable[[EvaluationContext], Measurement | NotMeasurable] | None = None
    history: str = History.CURRENT
    segmentable: bool = True
    # Measured over the strategically significant customers whatever the population asked for:
    # measuring it again "for the significant customers" would give the same figure.
    about_significant: bool = False
    records: Callable[[EvaluationContext], RecordsBehind] | None = None
    see_also: tuple[SeeAlso, ...] = ()
    capability: str = ""
    not_measurable_reason: str = ""

    @property
    def is_measurable(self) -> bool:
        return self.formula is not None

    @property
    def unit_label(self) -> str:
        return UNIT_LABELS.get(self.unit, "")

    @property
    def higher_is_better(self) -> bool:
        return self.direction == Direction.HIGHER


def share(numerator: float, denominator: float, *, empty_reason: str) -> Measurement:
    """numerator / denominator as a percentage, or Unmeasurable when there is nothing to count."""
    if not denominator:
        raise Unmeasurable(empty_reason)
    return Measurement(
        value=100.0 * numerator / denominator, numerator=numerator, denominator=denominator
    )


def share_of(counts: dict, empty_reason: str) -> Measurement:
    """The share of {"total": …, "hits": …} (as `count_meeting` gives them) that are hits."""
    return share(counts["hits"], counts["total"], empty_reason=empty_reason)


def count_meeting(queryset: QuerySet, condition: Q) -> dict[str, int]:
    """{"total": the rows of `queryset`, "hits": those meeting `condition`}, as two counts
    rather than one with a FILTER: for a condition that reads another table, as a filter of the
    query that table is joined once (a semi-join), inside an aggregate's FILTER it is looked up
    again for every row."""
    return {"total": queryset.count(), "hits": queryset.filter(condition).count()}


def mean(total: float | None, count: int, *, empty_reason: str) -> Measurement:
    if not count:
        raise Unmeasurable(empty_reason)
    return Measurement(
        value=float(total or 0) / count, numerator=float(total or 0), denominator=count
    )


def evaluate(kpi: Kpi, ctx: EvaluationContext) -> Measurement | NotMeasurable:
    """Measure `kpi` in `ctx`; a KPI that cannot be measured says why instead."""
    if kpi.formula is None:
        return NotMeasurable(kpi.not_measurable_reason, kpi.capability)
    if ctx.is_filtered and not kpi.segmentable:
        return NotMeasurable(f"{kpi.name} is measured over the whole database only.")
    try:
        result = kpi.formula(ctx)
    except Unmeasurable as exc:
        return NotMeasurable(exc.reason, exc.capability)
    return result
