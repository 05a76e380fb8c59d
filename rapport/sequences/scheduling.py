"""When a step is due: business days (Monday to Friday) and send windows in the contact's
time zone. Pure functions, apart from reading the contact's phone and country.

The contact's time zone (Rapport stores none on the contact), first rule that answers:
1. the primary phone number, when `phonenumbers` places it in exactly one time zone
   (+49 30 … is Europe/Berlin; a US toll-free number spans many and gives no answer);
2. the country: its first time zone in the IANA zone table (`zone.tab`, which lists a
   country's most populous zone first: US → America/New_York);
3. the company's time zone (settings.TIME_ZONE).
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_zones

SATURDAY = 5


@functools.cache
def _country_zones() -> dict[str, str]:
    """Country code → its first zone in tzdata's zone.tab."""
    first: dict[str, str] = {}
    text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            first.setdefault(parts[0].upper(), parts[2])
    return first


def zone_named(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_from_phone(number: str) -> str | None:
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in phone_zones.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    return zones[0] if len(zones) == 1 and zone_named(zones[0]) else None


def zone_from_country(country: str) -> str | None:
    name = _country_zones().get((country or "").strip().upper())
    return name if name and zone_named(name) else None


def contact_time_zone(contact) -> tuple[str, str]:
    """(IANA zone name, where it came from in words) for `contact`."""
    name = zone_from_phone(contact.primary_phone)
    if name:
        return name, f"from the phone number {contact.primary_phone}"
    name = zone_from_country(contact.country)
    if name:
        return name, f"from the country {contact.country.upper()}"
    return settings.TIME_ZONE, "the company's time zone (no phone number or country to go by)"


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < SATURDAY


def next_business_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def add_business_days(day: dt.date, count: int) -> dt.date:
    for _ in range(count):
        day = next_business_day(day)
    return day


def fit_window(local: dt.datetime, start_hour: int, end_hour: int) -> dt.datetime:
    """The first moment at or after `local` (aware, in the contact's zone) that falls on a
    business day between start_hour:00 and end_hour:00."""
    zone = local.tzinfo
    day = local.date()
    start = dt.time(start_hour)
    if not is_business_day(day):
        return dt.datetime.combine(next_business_day(day), start, tzinfo=zone)
    if local.time() < start:
        return dt.datetime.combine(day, start, tzinfo=zone)
    if end_hour < 24 and local.time() >= dt.time(end_hour):
        return dt.datetime.combine(next_business_day(day), start, tzinfo=zone)
    return local


def due_at(
    *,
    after: dt.datetime,
    zone_name: str,
    delay_amount: int,
    delay_unit: str,
    start_hour: int,
    end_hour: int,
) -> dt.datetime:
    """When a step is due, in UTC: `delay_amount` business days (or calendar days) after
    `after`, at the same local time of day, then moved into the next send window on a
    business day."""
    zone = zone_named(zone_name) or ZoneInfo(settings.TIME_ZONE)
    local = after.astimezone(zone)
    if delay_unit == "days":
        day = local.date() + dt.timedelta(days=delay_amount)
    else:
        day = add_business_days(local.date(), delay_amount)
    moved = dt.datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=zone)
    return fit_window(moved, start_hour, end_hour).astimezone(dt.UTC)


def next_window_after_today(*, now: dt.datetime, zone_name: str, start_hour: int) -> dt.datetime:
    """The start of the send window on the next business day after today (contact's zone):
    where a step goes when today's daily limit is reached."""
    zone = zone_named(zone_name) or ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    day = next_business_day(local.date())
    return dt.datetime.combine(day, dt.time(start_hour), tzinfo=zone).astimezone(dt.UTC)
