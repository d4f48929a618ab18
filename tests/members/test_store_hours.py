"""A store's opening hours as data: whether it is open at a moment (in the program's time zone, a holiday and an
interval past midnight included), the week ahead, and the checks on what staff enter."""

from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from members.models.stores import WeeklyInterval, opening_hours_check
from members.selectors.stores import store_day_hours, store_is_open, store_week_hours

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
FRIDAY, SATURDAY, SUNDAY, MONDAY = 4, 5, 6, 0


def hours(weekday, opens_at, closes_at):
    return SimpleNamespace(weekday=weekday, opens_at=time(*opens_at), closes_at=time(*closes_at))


def closed_on(day, note="Public holiday"):
    return SimpleNamespace(date=day, is_closed=True, opens_at=None, closes_at=None, note=note)


def special(day, opens_at, closes_at, note="Christmas Eve"):
    return SimpleNamespace(date=day, is_closed=False, opens_at=time(*opens_at), closes_at=time(*closes_at), note=note)


# A shop open 10:00-22:00 every day, with a bar on Friday night until 02:00 on Saturday.
WEEK = [hours(day, (10, 0), (22, 0)) for day in range(7) if day != FRIDAY] + [
    hours(FRIDAY, (10, 0), (14, 0)),
    hours(FRIDAY, (18, 0), (2, 0)),
]
# 2026-12-04 is a Friday, 2026-12-05 a Saturday, 2026-12-25 a Friday (Christmas).


def hong_kong(*args):
    return datetime(*args, tzinfo=HONG_KONG)


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (hong_kong(2026, 12, 3, 9, 59), False),  # Thursday, before opening
        (hong_kong(2026, 12, 3, 10, 0), True),  # opening time is open
        (hong_kong(2026, 12, 3, 22, 0), False),  # closing time is closed
        (hong_kong(2026, 12, 4, 15, 0), False),  # Friday afternoon break
        (hong_kong(2026, 12, 4, 23, 30), True),  # Friday night
        (hong_kong(2026, 12, 5, 1, 59), True),  # Friday's interval past midnight, on Saturday
        (hong_kong(2026, 12, 5, 2, 0), False),
        (hong_kong(2026, 12, 5, 9, 0), False),
    ],
)
def test_a_store_is_open_within_its_intervals_and_until_an_interval_past_midnight_ends(at, is_open):
    assert store_is_open(weekly=WEEK, exceptions=[], at=at) is is_open


def test_open_now_is_read_in_the_program_time_zone_not_in_utc(settings):
    settings.TIME_ZONE = "Asia/Hong_Kong"
    # 03:00 UTC is 11:00 in Hong Kong (open); 15:00 UTC is 23:00 (closed on a Thursday)
    assert store_is_open(weekly=WEEK, exceptions=[], at=datetime(2026, 12, 3, 3, 0, tzinfo=UTC)) is True
    assert store_is_open(weekly=WEEK, exceptions=[], at=datetime(2026, 12, 3, 15, 0, tzinfo=UTC)) is False
    # and the same UTC moment in another program's zone (London: 03:00 Thursday, closed)
    settings.TIME_ZONE = "Europe/London"
    assert store_is_open(weekly=WEEK, exceptions=[], at=datetime(2026, 12, 3, 3, 0, tzinfo=UTC)) is False


def test_a_holiday_closes_the_store_all_day():
    christmas = closed_on(date(2026, 12, 25))

    assert store_is_open(weekly=WEEK, exceptions=[christmas], at=hong_kong(2026, 12, 25, 12, 0)) is False
    assert store_is_open(weekly=WEEK, exceptions=[christmas], at=hong_kong(2026, 12, 25, 23, 0)) is False
    # the holiday's own late interval is gone, so nothing runs past its midnight either
    assert store_is_open(weekly=WEEK, exceptions=[christmas], at=hong_kong(2026, 12, 26, 1, 0)) is False


def test_a_holiday_does_not_cut_short_the_interval_of_the_evening_before():
    saturday_holiday = closed_on(date(2026, 12, 5))

    assert store_is_open(weekly=WEEK, exceptions=[saturday_holiday], at=hong_kong(2026, 12, 5, 1, 0)) is True
    assert store_is_open(weekly=WEEK, exceptions=[saturday_holiday], at=hong_kong(2026, 12, 5, 12, 0)) is False


def test_special_hours_replace_the_weekday_hours_of_their_date():
    eve = special(date(2026, 12, 24), (10, 0), (18, 0))

    assert store_is_open(weekly=WEEK, exceptions=[eve], at=hong_kong(2026, 12, 24, 17, 59)) is True
    assert store_is_open(weekly=WEEK, exceptions=[eve], at=hong_kong(2026, 12, 24, 19, 0)) is False


def test_a_store_without_hours_is_neither_open_nor_closed():
    assert store_is_open(weekly=[], exceptions=[], at=hong_kong(2026, 12, 3, 12, 0)) is None


def test_the_week_ahead_starts_today_and_shows_the_holiday_with_its_note():
    week = store_week_hours(
        weekly=WEEK, exceptions=[closed_on(date(2026, 12, 25), "Christmas")], today=date(2026, 12, 21)
    )

    assert [day.date for day in week] == [date(2026, 12, 21 + offset) for offset in range(7)]
    christmas = week[4]
    assert (christmas.is_closed, christmas.intervals, christmas.note) == (True, [], "Christmas")
    assert week[5].intervals == [(time(10, 0), time(22, 0))]


def test_a_weekday_without_intervals_is_closed():
    weekdays_only = [hours(day, (9, 0), (18, 0)) for day in range(5)]

    sunday = store_day_hours(weekly=weekdays_only, exceptions=[], day=date(2026, 12, 6))

    assert (sunday.is_closed, sunday.intervals) == (True, [])


# -- what staff enter ----------------------------------------------------------------------------------------------
def interval(weekday, opens_at, closes_at):
    return WeeklyInterval(weekday=weekday, opens_at=time(*opens_at), closes_at=time(*closes_at))


@pytest.mark.parametrize(
    "intervals",
    [
        [interval(MONDAY, (10, 0), (14, 0)), interval(MONDAY, (13, 0), (18, 0))],  # same day
        [interval(FRIDAY, (18, 0), (2, 0)), interval(SATURDAY, (1, 0), (10, 0))],  # past midnight into the next day
        [interval(SUNDAY, (22, 0), (3, 0)), interval(MONDAY, (2, 0), (8, 0))],  # Sunday night into Monday
    ],
)
def test_overlapping_intervals_are_refused(intervals):
    with pytest.raises(ValidationError, match="overlaps"):
        opening_hours_check(intervals)


def test_intervals_that_touch_or_split_the_day_are_accepted():
    opening_hours_check(
        [
            interval(MONDAY, (10, 0), (14, 0)),
            interval(MONDAY, (14, 0), (18, 0)),
            interval(FRIDAY, (18, 0), (2, 0)),
            interval(SATURDAY, (2, 0), (10, 0)),
            interval(SUNDAY, (20, 0), (0, 0)),  # until midnight
        ]
    )
