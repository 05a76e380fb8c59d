"""The pure maths of the CRM models: KPI statuses, stage health, objective projection, and
assessment scoring — hand-computed cases."""

import datetime as dt

import pytest

from rapport.frameworks import assessments, objectives, rating

# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("value", "target", "direction", "expected"),
    [
        (90, 90, "higher", "on_track"),
        (80, 90, "higher", "at_risk"),  # within 15 % of 90 (76.5)
        (76, 90, "higher", "off_track"),
        (2, 2, "lower", "on_track"),
        (2.3, 2, "lower", "at_risk"),  # within 15 % of 2 (2.3)
        (2.31, 2, "lower", "off_track"),
        (50, None, "higher", "informational"),
        (50, 40, "neutral", "informational"),
        (None, 40, "higher", "no_value"),
    ],
)
def test_kpi_status(value, target, direction, expected):
    assert rating.kpi_status(value, target, direction=direction, tolerance=0.15) == expected


def test_stage_health_is_the_share_on_track():
    health = rating.stage_health(["on_track", "at_risk", "on_track", "informational", "no_value"])
    assert (health.on_track, health.rated) == (2, 3)
    assert health.share == pytest.approx(2 / 3)
    assert health.status == "at_risk"
    assert rating.stage_health(["on_track"] * 3 + ["off_track"]).status == "on_track"
    assert rating.stage_health(["off_track", "off_track", "on_track"]).status == "off_track"
    assert rating.stage_health(["informational"]).status == "no_value"


def test_maturity_status():
    assert rating.maturity_status(4.0) == "on_track"
    assert rating.maturity_status(3.5) == "at_risk"
    assert rating.maturity_status(2.9) == "off_track"
    assert rating.maturity_status(None) == "no_value"


# --------------------------------------------------------------------------- objectives

DAY = dt.date(2026, 1, 1)


def test_target_from_each_kind():
    assert objectives.target_from("absolute", 80, 70) == 80
    assert objectives.target_from("change", 5, 70) == 75
    assert objectives.target_from("change", -2, 10) == 8
    assert objectives.target_from("percent", 10, 70) == pytest.approx(77)
    with pytest.raises(ValueError):
        objectives.target_from("double", 1, 1)


def test_progress():
    assert objectives.progress(70, 80, 75) == 0.5
    assert objectives.progress(10, 5, 8) == pytest.approx(0.4)
    assert objectives.progress(70, 80, 65) == -0.5


def test_least_squares_trend():
    days = [DAY, DAY + dt.timedelta(days=10), DAY + dt.timedelta(days=20)]
    trend = objectives.fit_trend(days, [10.0, 12.5, 14.0])
    # x = 0, 10, 20; y = 10, 12.5, 14 → slope = Σ(x−x̄)(y−ȳ) / Σ(x−x̄)² = 40 / 200 = 0.2
    assert trend.slope_per_day == pytest.approx(0.2)
    assert trend.intercept == pytest.approx(12.1666667 - 0.2 * 10)
    assert trend.at(DAY + dt.timedelta(days=100)) == pytest.approx(10.1666667 + 20)
    assert trend.points == 3


def test_no_trend_from_one_day():
    assert objectives.fit_trend([DAY, DAY], [1.0, 2.0]) is None
    assert objectives.fit_trend([DAY], [1.0]) is None


def _assess(target, *, direction="higher", current=12.0, today=DAY + dt.timedelta(days=10)):
    trend = objectives.fit_trend([DAY, DAY + dt.timedelta(days=10)], [10.0, 12.0])
    return objectives.assess(
        baseline=10.0,
        target=target,
        direction=direction,
        current=current,
        trend=trend,
        today=today,
        deadline=DAY + dt.timedelta(days=100),
    )


def test_projection_decides_the_track():
    # The trend rises 0.2 a day: 30 on the deadline.
    assert _assess(30).track == "on_track"
    assert _assess(30).projected == pytest.approx(30.0)
    assert _assess(35).track == "at_risk"  # closes 20 of 25 = 80 % of the gap
    assert _assess(40).track == "off_track"  # closes 20 of 30 = 67 %
    assert _assess(11).track == "achieved"
    assert _assess(30, today=DAY + dt.timedelta(days=101)).track == "missed"


def test_projection_stays_within_what_the_kpi_can_be():
    trend = objectives.fit_trend([DAY, DAY + dt.timedelta(days=10)], [90.0, 95.0])
    result = objectives.assess(
        baseline=90,
        target=99,
        direction="higher",
        current=95,
        trend=trend,
        today=DAY + dt.timedelta(days=10),
        deadline=DAY + dt.timedelta(days=100),
        highest=100,
    )
    assert (result.track, result.projected) == ("on_track", 100.0)


def test_lower_is_better_projection():
    # Going up is the wrong way for a lower-is-better KPI: the projection moves away.
    result = _assess(5, direction="lower")
    assert result.track == "off_track"
    assert result.progress == pytest.approx(-0.4)


def test_no_trend_means_no_data():
    result = objectives.assess(
        baseline=10,
        target=20,
        direction="higher",
        current=10,
        trend=None,
        today=DAY,
        deadline=DAY + dt.timedelta(days=30),
    )
    assert result.track == "no_data"


# --------------------------------------------------------------------------- assessments

QUESTIONS = [
    ("vision", "written", "Is the vision written?", "Write it."),
    ("vision", "shared", "Is it shared?", "Share it."),
    ("collaboration", "handoffs", "Are hand-offs tracked?", "Track them."),
    ("collaboration", "unasked", "Never answered", "—"),
]


def answers(*rows):
    return [assessments.Answer(respondent=r, stage=s, question=q, score=v) for r, s, q, v in rows]


def test_assessment_scores_per_question_stage_and_overall():
    result = assessments.score(
        QUESTIONS,
        answers(
            (1, "vision", "written", 2),
            (1, "vision", "shared", 4),
            (1, "collaboration", "handoffs", 5),
            (2, "vision", "written", 4),
            (2, "vision", "shared", 4),
            (2, "collaboration", "handoffs", 1),
            (2, "unknown", "question", 1),  # ignored
        ),
    )
    assert result.respondents == 2
    assert result.stages["vision"].mean == pytest.approx(3.5)  # (3 + 4) / 2
    assert result.stages["collaboration"].mean == pytest.approx(3.0)  # the unasked one is skipped
    assert result.overall == pytest.approx(3.25)
    written = result.stages["vision"].questions[0]
    assert (written.mean, written.answers, written.spread, written.disputed) == (3.0, 2, 2, True)


def test_gaps_are_the_lowest_scores_with_their_actions():
    result = assessments.score(
        QUESTIONS,
        answers(
            (1, "vision", "written", 2),
            (2, "vision", "written", 4),
            (1, "vision", "shared", 4),
            (1, "collaboration", "handoffs", 5),
            (2, "collaboration", "handoffs", 1),
        ),
    )
    # Both scored 3; the hand-offs split the respondents more (5 vs 1), so they come first.
    assert [(g.question, g.action) for g in result.gaps] == [
        ("handoffs", "Track them."),
        ("written", "Write it."),
    ]


def test_scores_outside_the_scale_are_refused():
    with pytest.raises(ValueError):
        assessments.score(QUESTIONS, answers((1, "vision", "written", 6)))


def test_no_answers():
    result = assessments.score(QUESTIONS, [])
    assert (result.overall, result.respondents, result.gaps) == (None, 0, [])
