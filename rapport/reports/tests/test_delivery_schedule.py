"""When a scheduled email is next due: days, weekdays, month ends, and daylight saving."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from rapport.reports.delivery_schedule import next_run

PARIS = ZoneInfo("Europe/Paris")
SEVEN_THIRTY = dt.time(7, 30)


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_daily_later_today_then_tomorrow():
    kwargs = {"frequency": "daily", "time_of_day": SEVEN_THIRTY, "time_zone": "Europe/Paris"}
    assert next_run(after=paris(2026, 3, 10, 6, 0), **kwargs) == utc(2026, 3, 10, 6, 30)
    # Strictly after: the slot being sent is not the next one.
    assert next_run(after=paris(2026, 3, 10, 7, 30), **kwargs) == utc(2026, 3, 11, 6, 30)


def test_weekly_finds_the_weekday_and_skips_today_once_passed():
    kwargs = {"frequency": "weekly", "time_of_day": SEVEN_THIRTY, "time_zone": "Europe/Paris"}
    # 2026-03-10 is a Tuesday; Monday (1) is the 16th.
    assert next_run(after=paris(2026, 3, 10, 12), weekday=1, **kwargs) == utc(2026, 3, 16, 6, 30)
    assert next_run(after=paris(2026, 3, 10, 6), weekday=2, **kwargs) == utc(2026, 3, 10, 6, 30)
    assert next_run(after=paris(2026, 3, 10, 8), weekday=2, **kwargs) == utc(2026, 3, 17, 6, 30)
    assert next_run(after=paris(2026, 3, 10, 8), weekday=7, **kwargs) == utc(2026, 3, 15, 6, 30)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # The 31st in a 30-day month is its last day …
        (utc(2026, 4, 1), utc(2026, 4, 30, 9)),
        # … in February the 28th, or the 29th in a leap year,
        (utc(2026, 2, 1), utc(2026, 2, 28, 9)),
        (utc(2028, 2, 1), utc(2028, 2, 29, 9)),
        # and back to the 31st where the month has one.
        (utc(2026, 4, 30, 10), utc(2026, 5, 31, 9)),
        # Across the year's end.
        (utc(2026, 12, 31, 9, 1), utc(2027, 1, 31, 9)),
    ],
)
def test_monthly_on_the_31st_is_each_months_last_day(after, expected):
    assert (
        next_run(
            frequency="monthly",
            day_of_month=31,
            time_of_day=dt.time(9, 0),
            time_zone="UTC",
            after=after,
        )
        == expected
    )


def test_the_local_time_is_kept_across_daylight_saving():
    kwargs = {"frequency": "daily", "time_of_day": SEVEN_THIRTY, "time_zone": "Europe/Paris"}
    # Winter: UTC+1; the clocks go forward on 29 March 2026, summer: UTC+2.
    assert next_run(after=utc(2026, 3, 28, 7), **kwargs) == utc(2026, 3, 29, 5, 30)
    # Back on 25 October 2026.
    assert next_run(after=utc(2026, 10, 24, 6), **kwargs) == utc(2026, 10, 25, 6, 30)


def test_a_time_the_clocks_skip_is_sent_after_the_gap_and_a_repeated_one_once():
    skipped = next_run(
        frequency="daily",
        time_of_day=dt.time(2, 30),
        time_zone="Europe/Paris",
        after=utc(2026, 3, 28, 12),
    )
    assert skipped == utc(2026, 3, 29, 1, 30)  # 03:30 summer time
    assert skipped.astimezone(PARIS).strftime("%H:%M") == "03:30"
    repeated = next_run(
        frequency="daily",
        time_of_day=dt.time(2, 30),
        time_zone="Europe/Paris",
        after=utc(2026, 10, 24, 12),
    )
    assert repeated == utc(2026, 10, 25, 0, 30)  # the first 02:30 (summer time)
    after_it = next_run(
        frequency="daily", time_of_day=dt.time(2, 30), time_zone="Europe/Paris", after=repeated
    )
    assert after_it == utc(2026, 10, 26, 1, 30)  # not the second 02:30 of the 25th


def test_a_new_york_schedule_from_a_utc_moment_uses_the_local_date():
    # 03:00 UTC on Monday the 9th is still Sunday evening in New York (UTC-5 in winter).
    assert next_run(
        frequency="weekly",
        weekday=1,  # Monday 9 February 2026
        time_of_day=dt.time(22, 0),
        time_zone="America/New_York",
        after=utc(2026, 2, 9, 3),
    ) == utc(2026, 2, 10, 3)


def test_an_unknown_time_zone_or_frequency_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        next_run(
            frequency="daily",
            time_of_day=SEVEN_THIRTY,
            time_zone="Mars/Olympus",
            after=utc(2026, 1, 1),
        )
    with pytest.raises(ValueError, match="frequency"):
        next_run(
            frequency="hourly", time_of_day=SEVEN_THIRTY, time_zone="UTC", after=utc(2026, 1, 1)
        )
