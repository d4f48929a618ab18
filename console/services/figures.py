"""Storing the closed days' figures (the nightly refresh): counted by console.selectors.figures, the same code the
dashboard and the reports count the days not stored yet with. Rerunning it writes the same rows.
"""

from datetime import date, datetime, timedelta

from django.db import transaction

from console import sql
from console.models import BuyerFigure, CouponFigure, DailyFigure, FigureDay
from console.selectors.figures import (
    buyer_windows,
    buyers_count,
    coupon_figures_count,
    daily_figures_count,
    day_start,
    rule_figures_count,
)
from coupons.models import Coupon
from infra.bulk_sql import set_based
from members.models import Member, PointsEntry, Purchase, StoredValueEntry
from members.selectors.stores import program_time_zone

# Late writes (a refund of yesterday's sale, a till that posts after midnight) land in recent days: each refresh
# recounts this many closed days before the newest one stored.
RECOUNT_DAYS = 3


def _first_day_with_data() -> date | None:
    tz = program_time_zone()
    firsts = [
        model.objects.order_by(field).values_list(field, flat=True).filter(**{f"{field}__isnull": False}).first()
        for model, field in (
            (Member, "joined_at"),
            (Purchase, "purchased_at"),
            (PointsEntry, "created_at"),
            (Coupon, "issued_at"),
            (StoredValueEntry, "created_at"),
        )
    ]
    moments = [moment for moment in firsts if moment is not None]
    return min(moments).astimezone(tz).date() if moments else None


def _buyers_by_store_orm(*, since: datetime, until: datetime) -> list[tuple]:
    """(store id, all stores?, buyers, repeat buyers) in [since, until): the portable reference of
    console.sql.buyers_by_store, one query per store."""
    start, end = since.astimezone(program_time_zone()).date(), until.astimezone(program_time_zone()).date()
    window = Purchase.objects.filter(purchased_at__gte=since, purchased_at__lt=until, member__isnull=False)
    stores = window.exclude(store_id=None).values_list("store_id", flat=True).distinct().order_by()
    rows = []
    for store_id in (None, *stores):
        counted = buyers_count(start=start, end=end, store_id=store_id)
        rows.append((store_id, store_id is None, counted["members"], counted["repeat"]))
    return rows


def buyer_figures_store(*, today: date) -> None:
    """Store the buyers of the windows the dashboard reads on `today` (replacing the stored ones)."""
    BuyerFigure.objects.all().delete()
    count = sql.buyers_by_store if set_based() else _buyers_by_store_orm
    BuyerFigure.objects.bulk_create(
        BuyerFigure(first=first, end=end, store_id=store, all_stores=everyone, buyers=buyers, repeat=repeat)
        for first, end in sorted(set(buyer_windows(today)))
        for store, everyone, buyers, repeat in count(since=day_start(first), until=day_start(end))
    )


@transaction.atomic
def daily_figures_refresh(*, now: datetime, start: date | None = None) -> tuple[date, date] | None:
    """Store the figures of closed days, from `start` (default: a few days before the newest stored day, or the
    first day with data) to yesterday. Replaces those days' rows: running it twice writes the same rows.

    Returns the days refreshed as [first, last], or None when there is nothing to count.
    """
    yesterday = now.astimezone(program_time_zone()).date() - timedelta(days=1)
    if start is None:
        newest = FigureDay.objects.order_by("-day").values_list("day", flat=True).first()
        start = newest - timedelta(days=RECOUNT_DAYS) if newest is not None else _first_day_with_data()
    if start is None or start > yesterday:
        return None
    end = yesterday + timedelta(days=1)
    # One refresh at a time: a second one waits here, then recounts the same days (same rows).
    list(FigureDay.objects.select_for_update().filter(day__gte=start, day__lt=end))
    DailyFigure.objects.filter(day__gte=start, day__lt=end).delete()
    DailyFigure.objects.bulk_create(
        [
            DailyFigure(
                day=row.day,
                store_id=row.store_id,
                figure=row.figure,
                dimension=row.dimension,
                count=row.count,
                amount=row.amount,
            )
            for row in (*daily_figures_count(start=start, end=end), *rule_figures_count(start=start, end=end))
        ],
        batch_size=2000,
    )
    # A coupon's status changes long after its day (a refund restores a redeemed coupon): every day is recounted.
    CouponFigure.objects.all().delete()
    CouponFigure.objects.bulk_create(
        [CouponFigure(**vars(row)) for row in coupon_figures_count(start=None, end=end)], batch_size=2000
    )
    buyer_figures_store(today=end)
    days = [start + timedelta(days=offset) for offset in range((end - start).days)]
    FigureDay.objects.filter(day__in=days).delete()
    FigureDay.objects.bulk_create([FigureDay(day=day, refreshed_at=now) for day in days], batch_size=2000)
    return start, yesterday
