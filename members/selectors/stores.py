"""Reading a store's opening hours: the hours of a date (its exception, or its weekday's intervals), the week ahead,
and whether it is open at a moment, in the program's time zone. Pure functions over rows already read, so the
store list reads each table once (`stores_hours_prefetch`) and tests need no database.

An interval whose closing time is not after its opening time ends the next day (members/models/stores.py).
An exception replaces the intervals that start on its date; a late interval of the evening before still ends as
it said (a bar open Friday 20:00-02:00 is open at 01:00 on a Saturday that is a holiday). The week ahead lists
each date's own intervals as entered.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch, prefetch_related_objects

from members.models import Store, StoreHoursException, StoreOpeningHours, StorePhoto
from members.selectors import StoreDistance, store_list_nearest

WEEK_AHEAD_DAYS = 7


@dataclass(frozen=True)
class DayHours:
    date: date
    is_closed: bool
    intervals: list[tuple[time, time]] = field(default_factory=list)
    note: str = ""


def program_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def store_day_hours(*, weekly: Iterable, exceptions: Iterable, day: date) -> DayHours:
    """The intervals that start on `day`: its exception's (closed, or one special interval), else its weekday's.

    `weekly` holds rows with weekday, opens_at, closes_at; `exceptions` rows with date, is_closed, opens_at,
    closes_at, note (only those of `day` matter).
    """
    exception = next((row for row in exceptions if row.date == day), None)
    if exception is not None:
        if exception.is_closed:
            return DayHours(date=day, is_closed=True, note=exception.note)
        return DayHours(
            date=day, is_closed=False, intervals=[(exception.opens_at, exception.closes_at)], note=exception.note
        )
    intervals = sorted((row.opens_at, row.closes_at) for row in weekly if row.weekday == day.weekday())
    return DayHours(date=day, is_closed=not intervals, intervals=intervals)


def _runs_past_midnight(opens_at: time, closes_at: time) -> bool:
    return closes_at <= opens_at


def store_is_open(*, weekly: Iterable, exceptions: Iterable, at: datetime, tz: ZoneInfo | None = None) -> bool | None:
    """Whether the store is open at the aware moment `at`, read in `tz` (default: the program's time zone).

    None when the store has no hours at all (neither weekly intervals nor exceptions): unknown, not closed.
    """
    weekly, exceptions = list(weekly), list(exceptions)
    if not weekly and not exceptions:
        return None
    local = at.astimezone(tz or program_time_zone())
    moment = local.time().replace(tzinfo=None)
    today = store_day_hours(weekly=weekly, exceptions=exceptions, day=local.date())
    for opens_at, closes_at in today.intervals:
        if opens_at <= moment and (_runs_past_midnight(opens_at, closes_at) or moment < closes_at):
            return True
    yesterday = store_day_hours(weekly=weekly, exceptions=exceptions, day=local.date() - timedelta(days=1))
    return any(
        _runs_past_midnight(opens_at, closes_at) and moment < closes_at for opens_at, closes_at in yesterday.intervals
    )


def store_week_hours(*, weekly: Iterable, exceptions: Iterable, today: date) -> list[DayHours]:
    """The hours of `today` and the six days after it, exceptions applied."""
    weekly, exceptions = list(weekly), list(exceptions)
    return [
        store_day_hours(weekly=weekly, exceptions=exceptions, day=today + timedelta(days=offset))
        for offset in range(WEEK_AHEAD_DAYS)
    ]


def stores_hours_prefetch(stores: list[Store], *, today: date) -> None:
    """Read the weekly hours, the exceptions from yesterday (a late interval may still run) to the week's end,
    and the photos in order of the given stores, one query per table, into `weekly_hours`, `hours_exceptions_near`
    and `photos_in_order`."""
    prefetch_related_objects(
        stores,
        Prefetch(
            "opening_hours", queryset=StoreOpeningHours.objects.order_by("weekday", "opens_at"), to_attr="weekly_hours"
        ),
        Prefetch(
            "hours_exceptions",
            queryset=StoreHoursException.objects.filter(
                date__gte=today - timedelta(days=1), date__lt=today + timedelta(days=WEEK_AHEAD_DAYS)
            ).order_by("date"),
            to_attr="hours_exceptions_near",
        ),
        Prefetch("photos", queryset=StorePhoto.objects.order_by("position", "pk"), to_attr="photos_in_order"),
    )


@dataclass(frozen=True)
class StoreFinder:
    stores: list[StoreDistance]
    today: date  # in the program's time zone: the week ahead of each store starts on it


def store_finder_list(
    *,
    now: datetime,
    lat: float | None = None,
    lng: float | None = None,
    radius_km: float | None = None,
    limit: int = 50,
) -> StoreFinder:
    """The public store finder's read: store_list_nearest, with today's date at `now` in the program's time zone and
    the stores' hours near it and photos read in (stores_hours_prefetch), for store_week_hours and store_is_open."""
    results = store_list_nearest(lat=lat, lng=lng, radius_km=radius_km, limit=limit)
    today = now.astimezone(program_time_zone()).date()
    stores_hours_prefetch([item.store for item in results], today=today)
    return StoreFinder(stores=results, today=today)
