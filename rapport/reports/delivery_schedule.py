"""When a scheduled email is next due: pure calendar arithmetic, no database.

A schedule is a local time of day in a named time zone, every day, on one weekday, or on one
day of the month. The day of the month is capped at the month's last day (the 31st is the 30th
in April, the 28th or 29th in February). Across a daylight-saving change the wall-clock time is
kept: a time the clocks skip (02:30 when they jump from 02:00 to 03:00) is sent that many
minutes later (03:30); a time that happens twice is sent at its first occurrence.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
# A monthly schedule matches within 31 days; a little more keeps the search bounded and total.
SEARCH_DAYS = 40


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def _runs_on(day: dt.date, frequency: str, weekday: int | None, day_of_month: int | None) -> bool:
    if frequency == DAILY:
        return True
    if frequency == WEEKLY:
        return day.isoweekday() == weekday
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(day_of_month or 1, last)


def local_moment(day: dt.date, time_of_day: dt.time, tz: ZoneInfo) -> dt.datetime:
    """`time_of_day` on `day` in `tz`, as a UTC moment (see the module's note on DST)."""
    wall = dt.datetime.combine(day, time_of_day.replace(second=0, microsecond=0))
    # fold=0: the first of a repeated time; for a skipped one, the offset before the jump,
    # which lands the moment after the gap by the gap's length.
    return wall.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def next_run(
    *,
    frequency: str,
    time_of_day: dt.time,
    time_zone: str,
    after: dt.datetime,
    weekday: int | None = None,
    day_of_month: int | None = None,
) -> dt.datetime:
    """The first slot of the schedule strictly after `after` (an aware moment), in UTC."""
    tz = zone(time_zone)
    if tz is None:
        raise ValueError(f"Unknown time zone {time_zone!r}.")
    if frequency not in (DAILY, WEEKLY, MONTHLY):
        raise ValueError(f"Unknown frequency {frequency!r}.")
    day = after.astimezone(tz).date() - dt.timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        if _runs_on(day, frequency, weekday, day_of_month):
            moment = local_moment(day, time_of_day, tz)
            if moment > after:
                return moment
        day += dt.timedelta(days=1)
    raise ValueError("No slot of this schedule falls within the next weeks.")
