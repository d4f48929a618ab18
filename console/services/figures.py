"""Counting the dashboard's daily figures from the source tables, and storing closed days (the nightly refresh).

`daily_figures_count` is the one implementation of every figure: the refresh stores what it counts for closed
days, and the dashboard counts today (and any day not stored yet) with it live. Days are calendar days in the
program's time zone. Points follow the points report's definitions (points/reports.py): pending entries are
left out (they count when their accrual is written) and refunds are split by sign, so issued and redeemed can be
told apart.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, CharField, Count, F, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, TruncDate

from console.models import DailyFigure, FigureDay
from coupons.models import Coupon
from members.models import Member, PointsEntry, Purchase, StoredValueEntry
from members.selectors.stores import program_time_zone

Figure = DailyFigure.Figure
ZERO = Decimal("0.00")
# Late writes (a refund of yesterday's sale, a till that posts after midnight) land in recent days: each refresh
# recounts this many closed days before the newest one stored.
RECOUNT_DAYS = 3


@dataclass(frozen=True)
class DayFigure:
    day: date
    store_id: int | None
    figure: str
    dimension: str
    count: int
    amount: Decimal


def day_start(day: date) -> datetime:
    """The first moment of a day in the program's time zone."""
    return datetime.combine(day, time.min, tzinfo=program_time_zone())


def _by_day(queryset, moment: str, store: str, dimension, *, start: date, end: date, amount=None) -> Iterator[dict]:
    """Rows of (day, store, dimension, count, amount) for `moment` in [start, end)."""
    tz = program_time_zone()
    amount = amount if amount is not None else Value(ZERO)
    return (
        queryset.filter(**{f"{moment}__gte": day_start(start), f"{moment}__lt": day_start(end)})
        .annotate(day=TruncDate(moment, tzinfo=tz), store_ref=F(store), dimension=dimension)
        .values("day", "store_ref", "dimension")
        .annotate(count=Count("pk"), amount=amount)
        .order_by()
    )


def daily_figures_count(*, start: date, end: date, store_id: int | None = None) -> list[DayFigure]:
    """Count every figure of the days in [start, end), by store; `store_id` limits them to one store."""
    text = CharField()
    tier = Coalesce(Cast("member__tier_id", text), Value(""), output_field=text)
    ledger_kind = Case(
        When(kind=PointsEntry.Kind.REFUND, delta__gt=0, then=Value("refund_in")),
        When(kind=PointsEntry.Kind.REFUND, then=Value("refund_out")),
        default=F("kind"),
        output_field=text,
    )
    members, purchases = Member.objects.all(), Purchase.objects.all()
    entries, coupons = PointsEntry.objects.exclude(kind=PointsEntry.Kind.PENDING), Coupon.objects.all()
    stored_value = StoredValueEntry.objects.all()
    if store_id is not None:
        members, purchases = members.filter(home_store_id=store_id), purchases.filter(store_id=store_id)
        entries, coupons = (
            entries.filter(member__home_store_id=store_id),
            coupons.filter(member__home_store_id=store_id),
        )
        stored_value = stored_value.filter(member__home_store_id=store_id)
    window = {"start": start, "end": end}
    sources = (
        (Figure.JOINED, _by_day(members, "joined_at", "home_store_id", F("join_source"), **window)),
        (
            Figure.PURCHASES,
            _by_day(purchases, "purchased_at", "store_id", tier, amount=Sum("gross_amount"), **window),
        ),
        (
            Figure.POINTS,
            _by_day(entries, "created_at", "member__home_store_id", ledger_kind, amount=Sum("delta"), **window),
        ),
        (Figure.COUPONS_ISSUED, _by_day(coupons, "issued_at", "member__home_store_id", Value(""), **window)),
        (Figure.COUPONS_REDEEMED, _by_day(coupons, "redeemed_at", "member__home_store_id", Value(""), **window)),
        (
            Figure.STORED_VALUE,
            _by_day(stored_value, "created_at", "member__home_store_id", Value(""), amount=Sum("amount"), **window),
        ),
    )
    return [
        DayFigure(
            day=row["day"],
            store_id=row["store_ref"],
            figure=figure,
            dimension=row["dimension"] or "",
            count=row["count"],
            amount=Decimal(row["amount"] or 0),
        )
        for figure, rows in sources
        for row in rows
    ]


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
            for row in daily_figures_count(start=start, end=end)
        ],
        batch_size=2000,
    )
    days = [start + timedelta(days=offset) for offset in range((end - start).days)]
    FigureDay.objects.filter(day__in=days).delete()
    FigureDay.objects.bulk_create([FigureDay(day=day, refreshed_at=now) for day in days], batch_size=2000)
    return start, yesterday
