"""Every write of the reports app, and running a report. Views, API and CLI call these.

Saving checks the whole definition against the source's fields (a `ValidationError` keyed by
field, naming what is wrong in words) before anything is written. Running reads only the
records the *runner* may see, whoever saved or shared the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, DateField, Max, Min, Q, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.models import Role, Team
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.core.conditions import ConditionError
from rapport.core.currency import MissingRate
from rapport.core.exchange import load_rate_book
from rapport.reports import grouping
from rapport.reports.choices import ONE_GROUPING_CHARTS, Chart, Measure, Period, Source
from rapport.reports.models import Report
from rapport.reports.sources import GroupField, RecordSource, not_set_q, source_for

REPORT_FIELDS = [
    "name",
    "description",
    "source",
    "conditions",
    "group_by",
    "group_period",
    "then_by",
    "then_period",
    "measure",
    "measure_field",
    "chart",
]
EDITABLE = {*REPORT_FIELDS, "shared_teams", "shared_roles"} - {"source"}


# --------------------------------------------------------------------------- checking


def _conditions_error(exc: ConditionError, errors: dict) -> None:
    path = exc.path.removeprefix("$").lstrip(".")
    errors.setdefault(f"conditions.{path}" if path else "conditions", []).append(exc.message)


def _clean(report: Report, errors: dict) -> None:
    """Check a report's definition; each problem goes under the field it is about."""
    for name, limit in (("name", 120), ("description", 500)):
        value = getattr(report, name)
        if not isinstance(value, str):
            errors.setdefault(name, []).append("Must be text.")
            continue
        value = value.strip()
        setattr(report, name, value)
        if "\x00" in value:
            errors.setdefault(name, []).append("Contains a null character.")
        elif len(value) > limit:
            errors.setdefault(name, []).append(f"Use at most {limit} characters.")
    if not report.name and "name" not in errors:
        errors.setdefault("name", []).append("Give the report a name.")
    if report.source not in Source.values:
        errors.setdefault("source", []).append(
            f"Choose one of: {', '.join(label for _v, label in Source.choices)}."
        )
        return
    source = source_for(report.source)
    if not report.conditions:
        report.conditions = {"all": []}
    try:
        source.check(report.conditions, source.condition_fields())
    except ConditionError as exc:
        _conditions_error(exc, errors)
    groups = source.group_fields()
    _clean_grouping(report, "group_by", "group_period", groups, errors, required=True)
    _clean_grouping(report, "then_by", "then_period", groups, errors, required=False)
    if report.then_by and report.then_by == report.group_by and "then_by" not in errors:
        errors.setdefault("then_by", []).append("Group by a different field the second time.")
    if report.chart not in Chart.values:
        errors.setdefault("chart", []).append(
            f"Choose one of: {', '.join(label for _v, label in Chart.choices)}."
        )
    elif report.then_by and report.chart in ONE_GROUPING_CHARTS:
        errors.setdefault("chart", []).append(
            f"A {Chart(report.chart).label.lower()} chart shows one grouping: remove the second "
            "grouping or choose a bar, line, area chart or a table."
        )
    _clean_measure(report, source, errors)


def _clean_grouping(report, name, period_name, groups, errors, *, required) -> None:
    key = getattr(report, name) or ""
    period = getattr(report, period_name) or ""
    if not key:
        if required:
            errors.setdefault(name, []).append("Choose a field to group by.")
        setattr(report, period_name, "")
        return
    spec = groups.get(key)
    if spec is None:
        errors.setdefault(name, []).append(f"Unknown field “{key}”: it cannot be grouped by.")
        return
    if spec.kind == "date":
        if not period:
            setattr(report, period_name, Period.MONTH)
        elif period not in Period.values:
            errors.setdefault(period_name, []).append(
                f"Choose one of: {', '.join(label for _v, label in Period.choices)}."
            )
    elif period:
        errors.setdefault(period_name, []).append(f"{spec.label} is not a date: it has no periods.")


def _clean_measure(report, source: RecordSource, errors) -> None:
    if report.measure not in Measure.values:
        errors.setdefault("measure", []).append(
            f"Choose one of: {', '.join(label for _v, label in Measure.choices)}."
        )
        return
    if report.measure == Measure.COUNT:
        report.measure_field = ""
        return
    if not report.measure_field:
        errors.setdefault("measure_field", []).append(
            f"Choose the number to take the {Measure(report.measure).label.lower()} of."
        )
        return
    if report.measure_field not in source.measure_fields():
        spec = source.condition_fields().get(report.measure_field)
        if spec is None:
            message = f"Unknown field “{report.measure_field}”."
        else:
            message = f"{spec.label} is not a number: it cannot be summed or averaged."
        errors.setdefault("measure_field", []).append(message)


def _clean_sharing(actor, teams, roles, errors) -> tuple[list[Team], list[Role]]:
    found_teams = list(Team.objects.filter(pk__in=list(teams or [])))
    if len(found_teams) != len(set(teams or [])):
        errors.setdefault("shared_teams", []).append("No such team.")
    found_roles = list(Role.objects.filter(pk__in=list(roles or [])))
    if len(found_roles) != len(set(roles or [])):
        errors.setdefault("shared_roles", []).append("No such role.")
    return found_teams, found_roles


def _ids(values) -> list[int]:
    ids = []
    for value in values or []:
        item = getattr(value, "pk", value)
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValidationError({"shared_teams": ["Give ids (whole numbers)."]})
        ids.append(item)
    return ids


# --------------------------------------------------------------------------- writes


@transaction.atomic
def create_report(
    *,
    actor,
    name: str,
    source: str,
    group_by: str,
    description: str = "",
    conditions: dict | None = None,
    group_period: str = "",
    then_by: str = "",
    then_period: str = "",
    measure: str = Measure.COUNT,
    measure_field: str = "",
    chart: str = Chart.BAR,
    shared_teams=(),
    shared_roles=(),
) -> Report:
    """Save a report owned by `actor`, shared with the teams and roles given."""
    access.require(actor, Action.CREATE, Report)
    report = Report(
        name=name,
        description=description or "",
        source=source,
        conditions=conditions or {},
        group_by=group_by or "",
        group_period=group_period or "",
        then_by=then_by or "",
        then_period=then_period or "",
        measure=measure,
        measure_field=measure_field or "",
        chart=chart,
        owner=actor,
    )
    errors: dict[str, list[str]] = {}
    _clean(report, errors)
    teams, roles = _clean_sharing(actor, _ids(shared_teams), _ids(shared_roles), errors)
    if errors:
        raise ValidationError(errors)
    report.save()
    report.shared_teams.set(teams)
    report.shared_roles.set(roles)
    record_change(
        actor=actor,
        action=ChangeAction.CREATE,
        instance=report,
        after=_state(report),
    )
    return report


def _state(report: Report) -> dict:
    return {
        **snapshot(report, REPORT_FIELDS),
        "shared_teams": sorted(report.shared_teams.values_list("pk", flat=True)),
        "shared_roles": sorted(report.shared_roles.values_list("pk", flat=True)),
    }


@transaction.atomic
def update_report(*, actor, report: Report, **changes) -> Report:
    """Change a report's definition or whom it is shared with (its source stays)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationError(
            {name: ["This cannot be changed." if name == "source" else "Unknown field."]
             for name in sorted(unknown)}
        )  # fmt: skip
    access.require(actor, Action.CHANGE, report)
    report = Report.objects.select_for_update().get(pk=report.pk)
    before = _state(report)
    teams = changes.pop("shared_teams", None)
    roles = changes.pop("shared_roles", None)
    for name, value in changes.items():
        setattr(report, name, value if value is not None else ({} if name == "conditions" else ""))
    errors: dict[str, list[str]] = {}
    _clean(report, errors)
    found_teams, found_roles = _clean_sharing(actor, _ids(teams), _ids(roles), errors)
    if errors:
        raise ValidationError(errors)
    report.save()
    if teams is not None:
        report.shared_teams.set(found_teams)
    if roles is not None:
        report.shared_roles.set(found_roles)
    record_change(
        actor=actor,
        action=ChangeAction.UPDATE,
        instance=report,
        before=before,
        after=_state(report),
    )
    return report


@transaction.atomic
def delete_report(*, actor, report: Report) -> None:
    """Delete a saved report; the records it counted are untouched."""
    access.require(actor, Action.DELETE, report)
    before = _state(report)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=report, before=before)
    report.delete()


# --------------------------------------------------------------------------- running


@dataclass
class Result:
    """A report run by one user: the table of figures and what it could not convert."""

    report: Report
    table: grouping.Table
    measure_label: str
    currency: str = ""  # the company currency, when the measure is money
    missing: list[MissingRate] = field(default_factory=list)

    @property
    def axes(self):
        return self.table.axes

    def value(self, row, column=None):
        return self.table.cell(row, column).measure(self.report.measure)

    def row_total(self, row):
        return self.table.row_totals.get(row, grouping.Cell()).measure(self.report.measure)

    @property
    def total(self):
        return self.table.total.measure(self.report.measure)


def measure_label(report: Report, source: RecordSource) -> str:
    if report.measure == Measure.COUNT:
        return f"Number of {source.plural}"
    spec = source.measure_fields().get(report.measure_field)
    name = spec.label if spec else report.measure_field
    return f"{Measure(report.measure).label} of {name}"


def _axis(spec: GroupField, period: str) -> grouping.Axis:
    choices = spec.choices() if spec.choices else []
    return grouping.Axis(
        label=spec.label if not period else f"{spec.label} ({Period(period).label.lower()})",
        period=period if spec.kind == "date" else "",
        labels={str(value): label for value, label in choices},
        order=[value for value, _label in choices],
        kind=spec.kind,
    )


def groupings(report: Report) -> list[tuple[str, GroupField, str]]:
    """(annotation name, field, period) of each grouping in use."""
    specs = source_for(report.source).group_fields()
    result = []
    for index, (key, period) in enumerate(
        ((report.group_by, report.group_period), (report.then_by, report.then_period))
    ):
        if key:
            if key not in specs:
                raise ValidationError({("group_by", "then_by")[index]: [f"Unknown field “{key}”."]})
            result.append((f"report_g{index}", specs[key], period))
    return result


def _truncatable(spec: GroupField) -> bool:
    """A date field the database can put into periods (custom dates are ISO text)."""
    return spec.kind == "date" and not spec.name.startswith("custom.")


def run_report(report: Report, user, *, now=None) -> Result:
    """The report's figures over the records `user` may see (a handful of queries: one
    GROUP BY, and for money the rates that its rows need)."""
    access.require(user, Action.VIEW, report)
    now = now or timezone.now()
    source = source_for(report.source)
    queryset = source.matching(report.conditions or {"all": []}, user, now=now)
    groups = groupings(report)
    annotations = {name: spec.expression(now) for name, spec, _period in groups}
    names = [name for name, _spec, _period in groups]
    measure = source.measure_fields().get(report.measure_field)
    if report.measure != Measure.COUNT and measure is None:
        raise ValidationError({"measure_field": [f"Unknown field “{report.measure_field}”."]})
    aggregates = {"records": Count("pk")}
    money = measure is not None and measure.is_money
    if measure is not None:
        annotations["report_measure"] = measure.expression(now)
        # Only what the measure reads: over ten million rows each aggregate costs.
        aggregates.update(values=Count("report_measure"), total=Sum("report_measure"))
        if report.measure == Measure.MIN:
            aggregates["low"] = Min("report_measure")
        if report.measure == Measure.MAX:
            aggregates["high"] = Max("report_measure")
    day_name = ""
    if money:
        annotations["report_currency"] = measure.currency(now)
        names.append("report_currency")
        day = measure.day(now)
        # Grouped by the day the money converts at already: that column serves both.
        day_name = next((name for name in names[: len(groups)] if annotations[name] == day), "")
        if not day_name:
            day_name = "report_day"
            annotations[day_name] = day
            names.append(day_name)
    for name, spec, period in groups:
        if period and period != Period.DAY and name != day_name and _truncatable(spec):
            # Into its period in the database: a count by month of a million records is a
            # few dozen rows to hand over, not one per day (the table groups the same).
            annotations[name] = Trunc(annotations[name], period, output_field=DateField())
    rows = list(queryset.annotate(**annotations).order_by().values(*names).annotate(**aggregates))
    partials = [
        grouping.Partial(
            keys=tuple(row[name] for name in names[: len(groups)]),
            records=row["records"],
            values=row.get("values", 0),
            total=row.get("total"),
            low=row.get("low"),
            high=row.get("high"),
        )
        for row in rows
    ]
    missing, currency = [], ""
    if money:
        days = [row[day_name] for row in rows if row[day_name] is not None]
        book = load_rate_book(
            currencies={row["report_currency"] for row in rows},
            first=min(days, default=None),
            last=max(days, default=None),
        )
        partials, missing = grouping.in_company_currency(
            (
                grouping.MoneyPartial(part, row["report_currency"], row[day_name])
                for part, row in zip(partials, rows, strict=True)
            ),
            book,
        )
        currency = book.company_currency
    axes = [_axis(spec, period) for _name, spec, period in groups]
    return Result(
        report=report,
        table=grouping.group(partials, axes),
        measure_label=measure_label(report, source),
        currency=currency,
        missing=missing,
    )


# --------------------------------------------------------------------------- drill-down


def records_behind(report: Report, user, keys: dict[str, str | None], *, now=None):
    """The records one bar, slice or cell stands for: `keys` maps "g1"/"g2" to the group's
    link parameter (None: that grouping is not narrowed). A parameter that names no group of
    that field is a ValidationError on it."""
    access.require(user, Action.VIEW, report)
    now = now or timezone.now()
    source = source_for(report.source)
    queryset = source.matching(report.conditions or {"all": []}, user, now=now)
    for index, (name, spec, period) in enumerate(groupings(report)):
        text = keys.get(f"g{index + 1}")
        if text is None:
            continue
        try:
            key = grouping.param_to_key(text, spec.kind, period if spec.kind == "date" else "")
            # The period's end is checked too: the last one of year 9999 ends in no date.
            narrowing = _group_q(name, spec, key, period)
        except (ValueError, InvalidOperation) as exc:
            raise ValidationError(
                {f"g{index + 1}": [f"Not a group of {spec.label}: “{text}”."]}
            ) from exc
        queryset = queryset.annotate(**{name: spec.expression(now)})
        queryset = queryset.filter(narrowing)
    return queryset


def _group_q(name: str, spec: GroupField, key, period: str) -> Q:
    if key is grouping.NOT_SET:
        return not_set_q(name, spec)
    if spec.kind == "date":
        start, end = key, grouping.next_period(key, period)
        if spec.name.startswith("custom."):  # ISO text: compares as dates do
            return Q(**{f"{name}__gte": start.isoformat(), f"{name}__lt": end.isoformat()})
        return Q(**{f"{name}__gte": start, f"{name}__lt": end})
    if spec.kind == "number":
        return Q(**{name: Decimal(key)})
    return Q(**{name: key})


def narrowed_groups(report: Report, keys: dict[str, str | None]) -> list[dict]:
    """The groups a drill-down names, in words: [{"field": label, "value": label}] (the keys
    were checked by `records_behind`)."""
    words = []
    for index, (_name, spec, period) in enumerate(groupings(report)):
        text = keys.get(f"g{index + 1}")
        if text is None:
            continue
        axis = _axis(spec, period)
        key = grouping.param_to_key(text, spec.kind, axis.period)
        words.append({"field": axis.label, "value": axis.label_of(key)})
    return words
