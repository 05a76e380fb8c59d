"""What the data says about the business, for the model recommendation: customers who bought in
the last 12 months, how concentrated their revenue is (top-20 % share and Gini), the channels in
use, users, teams and kinds of team.

Read from today's KPI snapshot when there is one (the same figures the scorecards show), else
measured now with the same formulas.
"""

from __future__ import annotations

import dataclasses

from django.utils import timezone

from rapport.frameworks import snapshots
from rapport.frameworks.kpis import KPIS, EvaluationContext, Measurement
from rapport.frameworks.models import KpiSnapshot
from rapport.frameworks.recommendation import Facts

FACT_KPIS = ("top20_revenue_share", "revenue_gini", "channel_count_90d")


def _measured(fresh: bool) -> dict[str, Measurement | None]:
    today = timezone.localdate()
    values: dict[str, Measurement | None] = {}
    if not fresh:
        stored = KpiSnapshot.objects.filter(
            kpi__in=FACT_KPIS, population="", segment__isnull=True, day=today
        )
        for row in stored:
            values[row.kpi] = (
                Measurement(row.value, row.numerator, row.denominator)
                if row.value is not None
                else None
            )
    shared: dict = {}
    for key in FACT_KPIS:
        if key in values:
            continue
        result, _seconds = snapshots.measure(
            KPIS[key], EvaluationContext(as_of=today, today=today, shared=shared)
        )
        values[key] = result if isinstance(result, Measurement) else None
    return values


def read_facts(*, fresh: bool = False) -> Facts:
    from rapport.accounts.choices import TeamKind
    from rapport.accounts.models import Team, User

    measured = _measured(fresh)
    share = measured.get("top20_revenue_share")
    gini = measured.get("revenue_gini")
    channels = measured.get("channel_count_90d")
    customers = int(gini.denominator) if gini is not None and gini.denominator else 0
    team_kinds = (
        Team.objects.filter(members__is_active=True)
        .exclude(kind=TeamKind.OTHER)
        .values("kind")
        .distinct()
        .count()
    )
    return Facts(
        customers=customers,
        top20_share=share.value / 100.0 if share is not None else None,
        gini=gini.value if gini is not None else None,
        channels=int(channels.value) if channels is not None else 0,
        users=User.objects.filter(is_active=True).count(),
        teams=Team.objects.count(),
        team_kinds=team_kinds,
    )


def as_dict(facts: Facts) -> dict:
    return dataclasses.asdict(facts)
