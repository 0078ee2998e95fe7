import datetime as dt

import pytest

from hotline.hours import HoursError, parse_hours

MONDAY_NOON_NY = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)


def test_weekday_hours_are_open_at_noon_and_closed_at_night_in_the_lines_zone():
    hours = parse_hours("mon-fri 08:00-20:00")
    assert hours.open_at(MONDAY_NOON_NY, "America/New_York")
    assert not hours.open_at(MONDAY_NOON_NY.replace(hour=3), "America/New_York")
    assert not hours.open_at(MONDAY_NOON_NY - dt.timedelta(days=2), "America/New_York")


def test_the_next_opening_after_closing_is_the_next_morning():
    hours = parse_hours("mon-fri 08:00-20:00")
    friday_night = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # Fri 21:00 New York
    assert hours.next_opening(friday_night, "America/New_York") == dt.datetime(
        2026, 11, 30, 13, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize("text", ["mon-fri 20:00-08:00", "funday 08:00-09:00", "9 to 5"])
def test_nonsense_hours_are_refused(text):
    with pytest.raises(HoursError):
        parse_hours(text)


def test_always_and_never():
    assert parse_hours("always").open_at(MONDAY_NOON_NY, "UTC")
    assert not parse_hours("never").open_at(MONDAY_NOON_NY, "UTC")
