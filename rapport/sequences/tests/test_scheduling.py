"""Business days and send windows in the contact's time zone."""

import datetime as dt

import pytest
from freezegun import freeze_time

from rapport.contacts.tests.factories import make_contact
from rapport.sequences import scheduling

UTC = dt.UTC


def due(after, zone="Europe/Berlin", amount=0, unit="business_days", start=9, end=17):
    return scheduling.due_at(
        after=after,
        zone_name=zone,
        delay_amount=amount,
        delay_unit=unit,
        start_hour=start,
        end_hour=end,
    )


def test_inside_the_window_on_a_weekday_it_is_due_at_once():
    # Monday 7 Dec 2026, 10:00 in Berlin (09:00 UTC).
    monday = dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert due(monday) == monday


def test_before_the_window_it_waits_for_the_window_to_open_in_the_contacts_zone():
    # 06:00 UTC is 07:00 in Berlin: due at 09:00 Berlin = 08:00 UTC.
    assert due(dt.datetime(2026, 12, 7, 6, 0, tzinfo=UTC)) == dt.datetime(
        2026, 12, 7, 8, 0, tzinfo=UTC
    )


def test_after_the_window_it_goes_to_the_next_business_day():
    # Friday 11 Dec, 18:00 Berlin → Monday 14 Dec, 09:00 Berlin.
    friday_evening = dt.datetime(2026, 12, 11, 17, 0, tzinfo=UTC)
    assert due(friday_evening) == dt.datetime(2026, 12, 14, 8, 0, tzinfo=UTC)


def test_business_days_skip_the_weekend_and_keep_the_time_of_day():
    # Thursday 10 Dec, 11:30 Berlin + 2 business days → Monday 14 Dec, 11:30 Berlin.
    thursday = dt.datetime(2026, 12, 10, 10, 30, tzinfo=UTC)
    assert due(thursday, amount=2) == dt.datetime(2026, 12, 14, 10, 30, tzinfo=UTC)


def test_calendar_days_count_the_weekend_but_land_on_a_business_day():
    # Thursday + 2 days is Saturday: moved to Monday at the window's start.
    thursday = dt.datetime(2026, 12, 10, 10, 30, tzinfo=UTC)
    assert due(thursday, amount=2, unit="days") == dt.datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    # Thursday + 4 days is Monday, same time of day.
    assert due(thursday, amount=4, unit="days") == dt.datetime(2026, 12, 14, 10, 30, tzinfo=UTC)


def test_a_weekend_enrollment_starts_on_monday_morning():
    saturday = dt.datetime(2026, 12, 12, 14, 0, tzinfo=UTC)
    assert due(saturday) == dt.datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    # One business day from a Saturday is Monday (the same time of day, inside the window).
    assert due(saturday, amount=1) == dt.datetime(2026, 12, 14, 14, 0, tzinfo=UTC)


def test_the_same_moment_is_a_different_day_in_another_zone():
    # Monday 7 Dec 03:00 UTC is still Sunday 22:00 in New York: due Monday 09:00 New York.
    moment = dt.datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    assert due(moment, zone="America/New_York") == dt.datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    # …and already Monday 12:00 in Tokyo, inside the window.
    assert due(moment, zone="Asia/Tokyo") == moment


def test_daylight_saving_keeps_the_local_hour():
    # Friday 27 Mar 2026, 10:00 Berlin (CET, 09:00 UTC) + 1 business day → Monday 30 Mar,
    # 10:00 Berlin, which is CEST by then (08:00 UTC).
    friday = dt.datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    assert due(friday, amount=1) == dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_next_window_after_today_skips_to_monday_from_friday():
    friday = dt.datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    assert scheduling.next_window_after_today(
        now=friday, zone_name="America/New_York", start_hour=9
    ) == dt.datetime(2026, 12, 14, 14, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_the_time_zone_comes_from_the_phone_then_the_country_then_the_company(owner, settings):
    settings.TIME_ZONE = "Europe/London"
    berlin = make_contact(actor=owner, owner=owner, phones=["+49 30 1234567"], country="US")
    new_york = make_contact(actor=owner, owner=owner, phones=["+1 212 555 0100"])
    # A toll-free number spans every US zone: the country decides.
    toll_free = make_contact(actor=owner, owner=owner, phones=["+1 800 555 0100"], country="JP")
    france = make_contact(actor=owner, owner=owner, first_name="Marie", country="fr")
    nowhere = make_contact(actor=owner, owner=owner, first_name="Nobody")

    assert scheduling.contact_time_zone(berlin) == (
        "Europe/Berlin",
        "from the phone number +49301234567",
    )
    assert scheduling.contact_time_zone(new_york)[0] == "America/New_York"
    assert scheduling.contact_time_zone(toll_free) == ("Asia/Tokyo", "from the country JP")
    assert scheduling.contact_time_zone(france) == ("Europe/Paris", "from the country FR")
    assert scheduling.contact_time_zone(nowhere) == (
        "Europe/London",
        "the company's time zone (no phone number or country to go by)",
    )


@freeze_time("2026-12-12 14:00:00")  # a Saturday
@pytest.mark.django_db
def test_enrolling_on_a_saturday_makes_the_first_step_due_on_monday_in_the_contacts_zone(
    owner, sequence, enroll
):
    tokyo = make_contact(
        actor=owner, owner=owner, first_name="Yuki", emails=["yuki@example.jp"], country="JP"
    )
    enrollment = enroll(tokyo)
    assert enrollment.time_zone == "Asia/Tokyo"
    # Monday 14 Dec 09:00 in Tokyo is 00:00 UTC.
    assert enrollment.next_due_at == dt.datetime(2026, 12, 14, 0, 0, tzinfo=UTC)
    assert enrollment.current_position == 1
