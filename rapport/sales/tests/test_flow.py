"""Conversion, time in stage, bottleneck, stalled deals and win rates on a hand-built history."""

import datetime as dt

import pytest

from rapport.sales.flow import (
    DealPath,
    StageSpec,
    bottleneck,
    conversion,
    stalled,
    time_in_stage,
    win_rates,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=20)
A, B, C, WON, LOST = 1, 2, 3, 4, 5
STAGES = [
    StageSpec(A, "Qualify", 10, "open"),
    StageSpec(B, "Propose", 20, "open"),
    StageSpec(C, "Negotiate", 30, "open"),
    StageSpec(WON, "Won", 40, "won"),
    StageSpec(LOST, "Lost", 50, "lost"),
]


def path(deal_id, status, *visits, source="web_form", owner_id=1):
    return DealPath(
        deal_id=deal_id,
        visits=tuple((stage, T0 + dt.timedelta(days=day)) for stage, day in visits),
        status=status,
        source=source,
        owner_id=owner_id,
    )


PATHS = [
    path(1, "won", (A, 0), (B, 2), (C, 5), (WON, 10)),
    path(2, "lost", (A, 0), (B, 4), (LOST, 6)),
    path(3, "lost", (A, 0), (LOST, 1), source="referral", owner_id=2),
    path(4, "open", (A, 0), (C, 3)),  # skipped Propose: still passed it
    path(5, "open", (B, 0)),  # created in Propose
    path(6, "won", (A, 0), (WON, 2), source="referral"),
]


def test_conversion_stage_to_stage():
    rows = {row.stage_id: row for row in conversion(STAGES, PATHS)}
    assert (rows[A].reached, rows[A].advanced, rows[A].decided, rows[A].open_here) == (6, 5, 6, 0)
    assert rows[A].rate == pytest.approx(5 / 6)
    assert (rows[B].reached, rows[B].advanced, rows[B].decided, rows[B].open_here) == (5, 3, 4, 1)
    assert rows[B].rate == pytest.approx(0.75)
    assert (rows[C].reached, rows[C].advanced, rows[C].decided, rows[C].open_here) == (3, 2, 2, 1)
    assert rows[C].rate == 1.0
    assert [row.next_name for row in conversion(STAGES, PATHS)] == ["Propose", "Negotiate", "Won"]


def test_median_time_in_stage_counts_finished_visits_only():
    times = {t.stage_id: t for t in time_in_stage(STAGES, PATHS, NOW)}
    assert times[A].completed_visits == 5
    assert times[A].median_days == 2.0  # [2, 4, 1, 3, 2]
    assert times[A].mean_days == pytest.approx(2.4)
    assert times[B].median_days == 2.5  # [3, 2]; deal 5 is still there
    assert (times[B].open_deals, times[B].oldest_open_days) == (1, 20.0)
    assert times[C].median_days == 5.0
    assert (times[C].open_deals, times[C].oldest_open_days) == (1, 17.0)


def test_bottleneck_is_the_lowest_conversion():
    found = bottleneck(conversion(STAGES, PATHS), time_in_stage(STAGES, PATHS, NOW), min_decided=1)
    assert found.stage_id == B
    assert found.rate == 0.75
    assert "75%" in found.reason and "Propose" in found.reason


def test_only_stages_with_enough_decided_deals_can_be_the_bottleneck():
    conversions, times = conversion(STAGES, PATHS), time_in_stage(STAGES, PATHS, NOW)
    # Propose has only 4 decided deals; Qualify (6) is the only stage that counts at 5.
    assert bottleneck(conversions, times, min_decided=5).stage_id == A
    assert bottleneck(conversions, times, min_decided=7) is None


def test_stalled_by_twice_the_median_or_by_the_stage_limit():
    times = time_in_stage(STAGES, PATHS, NOW)
    assert stalled(STAGES, PATHS, times, NOW) == {4: 17.0, 5: 20.0}
    patient = [*STAGES[:2], StageSpec(C, "Negotiate", 30, "open", stall_days=30), *STAGES[3:]]
    assert stalled(patient, PATHS, times, NOW) == {5: 20.0}


def test_win_rates_by_source_and_owner():
    by_source = {r.key: (r.won, r.lost, r.rate) for r in win_rates(PATHS, lambda p: p.source)}
    assert by_source == {"web_form": (1, 1, 0.5), "referral": (1, 1, 0.5)}
    by_owner = {r.key: (r.won, r.lost) for r in win_rates(PATHS, lambda p: p.owner_id)}
    assert by_owner == {1: (2, 1), 2: (0, 1)}
