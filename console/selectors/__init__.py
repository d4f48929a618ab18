"""The dashboard's figures: KPI cards with their change against the previous period, and the charts' series.

Sums come from the stored daily figures (console.models) for stored days and are counted live for the others
(today, or days the refresh has not stored yet) by the same code (console.selectors.figures). Figures that do not
add up across days (members who purchased, members who purchased twice) are counted on the purchases of the
window, through the purchases' date index. A store's figures are those the console scopes to it: purchases made
there, members whose home store it is (and their points, coupons and stored value).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from console.models import DailyFigure, FigureDay
from console.selectors.figures import (
    ZERO,
    DayFigure,
    buyers_count,
    buyers_stored,
    buyers_today_delta,
    daily_figures_count,
)
from infra.db_session import chunk_transaction
from members.models import Member, Tier
from members.selectors.stores import program_time_zone
from points.models import PointsPolicy

Figure = DailyFigure.Figure
# Points report definitions (points/reports.py), per ledger kind as stored (refunds split by sign).
ISSUED_KINDS = ("accrual", "addition", "opening", "refund_out")
REDEEMED_KINDS = ("redemption", "transfer_out", "transfer_in", "refund_in")
EXPIRED_KINDS = ("expiration",)


@dataclass(frozen=True)
class Kpi:
    key: str
    value: Decimal | int | None
    previous: Decimal | int | None
    unit: str = ""  # "", "percent" or "money"

    @property
    def change_percent(self) -> Decimal | None:
        """The change against the previous period in percent (None where the previous value is zero or unknown)."""
        if self.value is None or not self.previous:
            return None
        change = (Decimal(self.value) - Decimal(self.previous)) * 100 / abs(Decimal(self.previous))
        return change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Series:
    labels: list[str]
    datasets: list[tuple[str, list]]  # (key, values)

    @property
    def is_empty(self) -> bool:
        """Nothing to draw: no dataset, or only zeros (a new program's charts)."""
        return not any(value for _key, values in self.datasets for value in values)


@dataclass(frozen=True)
class Dashboard:
    start: date
    end: date  # today, included
    days: int
    store_id: int | None
    kpis: dict[str, Kpi]
    joins_by_source: Series
    sales_by_tier: Series
    points_by_month: Series
    coupons_by_day: Series
    live_days: int  # days counted live (today and any day not stored yet)
    point_value: Decimal = field(default=ZERO)


def _stored_days(start: date, end: date) -> set[date]:
    return set(FigureDay.objects.filter(day__gte=start, day__lt=end).values_list("day", flat=True))


def _figures(
    *, start: date, end: date, store_id: int | None, points_from: date | None = None
) -> tuple[list[DayFigure], int]:
    """Every figure of the days in [start, end): stored where stored, counted live otherwise."""
    stored = _stored_days(start, end)
    # The earning rules' points are the points report's (console.reports), not the dashboard's.
    rows = DailyFigure.objects.filter(day__gte=start, day__lt=end).exclude(figure=Figure.RULE_POINTS)
    if points_from is not None:  # only the points chart reads the days before `points_from`
        rows = rows.filter(Q(day__gte=points_from) | Q(figure=Figure.POINTS))
    if store_id is not None:
        rows = rows.filter(store_id=store_id)
    # Summed over stores in the database (no figure here is read per store): a year of a chain's rows is some
    # 50,000 (days x stores x dimensions), which Python read and scanned for every card and bar in seconds.
    figures = [
        DayFigure(
            day=row["day"], store_id=store_id, figure=row["figure"], dimension=row["dimension"],
            count=row["total_count"], amount=row["total_amount"],
        )
        for row in rows.values("day", "figure", "dimension")
        .annotate(total_count=Sum("count"), total_amount=Sum("amount"))
        .order_by()
    ]  # fmt: skip
    # Days before the first stored day hold nothing: the first refresh starts at the first day with data.
    first_stored = FigureDay.objects.order_by("day").values_list("day", flat=True).first()
    live = sorted(
        day
        for day in (start + timedelta(days=n) for n in range((end - start).days))
        if day not in stored and (first_stored is None or day > first_stored)
    )
    # The days not stored, counted live in runs of consecutive days (usually just today).
    runs, run = [], []
    for day in live:
        if run and day != run[-1] + timedelta(days=1):
            runs.append(run)
            run = []
        run.append(day)
    if run:
        runs.append(run)
    for run in runs:
        figures += daily_figures_count(start=run[0], end=run[-1] + timedelta(days=1), store_id=store_id)
    return figures, len(live)


def _by_figure(figures: list[DayFigure]) -> dict[str, list[DayFigure]]:
    grouped = defaultdict(list)
    for row in figures:
        grouped[row.figure].append(row)
    return grouped


def _total(figures: dict[str, list[DayFigure]], figure, *, start, end, kinds=None, field="count"):
    """The sum of one figure over [start, end) (rows grouped by figure: each sum reads its figure's rows only)."""
    return sum(
        (getattr(row, field) for row in figures.get(figure, ())
         if start <= row.day < end and (kinds is None or row.dimension in kinds)),
        Decimal(0) if field == "amount" else 0,
    )  # fmt: skip


def _buyers(*, start: date, end: date, store_id: int | None, today: date) -> dict:
    """Members who purchased in [start, end), those who purchased twice or more: stored by the nightly refresh for
    the closed days, plus today's live (console.selectors.figures); counted on the purchases when not stored."""
    closed_end = min(end, today)
    stored = buyers_stored(start=start, end=closed_end, store_id=store_id)
    if stored is None:
        return buyers_count(start=start, end=end, store_id=store_id)
    if end > today:
        delta = buyers_today_delta(start=start, today=today, store_id=store_id)
        return {key: stored[key] + delta[key] for key in ("members", "repeat")}
    return stored


def _rate(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _money(amount, members) -> Decimal | None:
    if not members:
        return None
    return (Decimal(amount) / members).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _buckets(start: date, end: date) -> list[tuple[date, date, str]]:
    """Chart buckets over [start, end): days up to a month, then calendar months."""
    if (end - start).days <= 31:
        return [
            (start + timedelta(days=n), start + timedelta(days=n + 1), (start + timedelta(days=n)).strftime("%m-%d"))
            for n in range((end - start).days)
        ]
    buckets, first = [], start
    while first < end:
        following = (first.replace(day=1) + timedelta(days=32)).replace(day=1)
        buckets.append((first, min(following, end), first.strftime("%Y-%m")))
        first = following
    return buckets


def dashboard_figures(*, now: datetime, days: int, store_id: int | None = None) -> Dashboard:
    """The dashboard over the `days` days ending today, against the `days` before; `store_id` for one store."""
    today = now.astimezone(program_time_zone()).date()
    end = today + timedelta(days=1)
    start = end - timedelta(days=days)
    previous_start = start - timedelta(days=days)
    # The points chart shows twelve months whatever the period.
    months_start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)
    rows, live_days = _figures(
        start=min(previous_start, months_start), end=end, store_id=store_id, points_from=previous_start
    )
    figures = _by_figure(rows)
    window, previous = {"start": start, "end": end}, {"start": previous_start, "end": start}
    balances = _member_balances(store_id=store_id)
    policy = PointsPolicy.load()
    kpis = [
        *_member_kpis(figures, balances=balances, window=window, previous=previous),
        *_buyer_kpis(figures, store_id=store_id, today=today, window=window, previous=previous),
        *_points_kpis(figures, balances=balances, policy=policy, window=window),
        _coupon_kpi(figures, window=window, previous=previous),
        _stored_value_kpi(figures, balances=balances, window=window),
    ]
    buckets = _buckets(start, end)
    return Dashboard(
        start=start,
        end=today,
        days=days,
        store_id=store_id,
        kpis={kpi.key: kpi for kpi in kpis},
        joins_by_source=_joins_by_source(figures, start=start, buckets=buckets),
        sales_by_tier=_sales_by_tier(figures, start=start),
        points_by_month=_points_by_month(figures, months_start=months_start, end=end),
        coupons_by_day=_coupons_by_day(figures, buckets=buckets),
        live_days=live_days,
        point_value=policy.points_value(1000),
    )


# -- the cards -----------------------------------------------------------------------------------------------------
def _member_balances(*, store_id: int | None) -> dict:
    """The members who joined, their points and their stored value outstanding, in one pass over the members."""
    members = Member.objects.filter(joined_at__isnull=False)
    if store_id is not None:
        members = members.filter(home_store_id=store_id)
    # The count and the stored value outstanding (members.selectors.stored_value.stored_value_outstanding's total)
    # in the same pass as the points balances: each pass reads every member.
    return members.aggregate(
        points=Coalesce(Sum("points_balance"), 0),
        count=Count("joined_at"),  # not the primary key: the balances' index then answers alone (store_balances)
        stored_value=Coalesce(Sum("stored_value_balance"), ZERO),
    )


def _member_kpis(figures, *, balances: dict, window: dict, previous: dict) -> list[Kpi]:
    """Members (now, and before the period's joins) and new members."""
    joined = _total(figures, Figure.JOINED, **window)
    return [
        Kpi("members", balances["count"], balances["count"] - joined),
        Kpi("new_members", joined, _total(figures, Figure.JOINED, **previous)),
    ]


def _buyer_kpis(figures, *, store_id: int | None, today: date, window: dict, previous: dict) -> list[Kpi]:
    """Active members, the repurchase rate and the average spend per active member."""
    # Buyers group a period's purchases by member (400,000 rows for 30 days of a 10,000,000-purchase chain): the
    # grouping fits in memory and is not worth compiling (JIT).
    with chunk_transaction(jit=False, work_mem="64MB"):
        buyers = _buyers(store_id=store_id, today=today, **window)
        buyers_before = _buyers(store_id=store_id, today=today, **previous)
    sales = _total(figures, Figure.PURCHASES, field="amount", **window)
    sales_before = _total(figures, Figure.PURCHASES, field="amount", **previous)
    return [
        Kpi("active_members", buyers["members"], buyers_before["members"]),
        Kpi(
            "repurchase_rate",
            _rate(buyers["repeat"], buyers["members"]),
            _rate(buyers_before["repeat"], buyers_before["members"]),
            "percent",
        ),
        Kpi("average_spend", _money(sales, buyers["members"]), _money(sales_before, buyers_before["members"]), "money"),
    ]


def _points_kpis(figures, *, balances: dict, policy: PointsPolicy, window: dict) -> list[Kpi]:
    """Points outstanding and what they are worth, now and before the period's points moved."""
    points_before = balances["points"] - int(_total(figures, Figure.POINTS, field="amount", **window))
    return [
        Kpi("points_outstanding", balances["points"], points_before),
        Kpi(
            "points_liability",
            policy.points_value(balances["points"]),
            policy.points_value(max(points_before, 0)),
            "money",
        ),
    ]


def _coupon_kpi(figures, *, window: dict, previous: dict) -> Kpi:
    """Coupons redeemed per coupon issued in the period, in percent."""

    def rate(period):
        return _rate(
            _total(figures, Figure.COUPONS_REDEEMED, **period), _total(figures, Figure.COUPONS_ISSUED, **period)
        )

    return Kpi("coupon_redemption_rate", rate(window), rate(previous), "percent")


def _stored_value_kpi(figures, *, balances: dict, window: dict) -> Kpi:
    """Stored value outstanding, now and before the period's movements."""
    stored_value = balances["stored_value"]
    moved = _total(figures, Figure.STORED_VALUE, field="amount", **window)
    return Kpi("stored_value_outstanding", stored_value, stored_value - moved, "money")


# -- the charts ----------------------------------------------------------------------------------------------------
def _joins_by_source(figures, *, start: date, buckets) -> Series:
    """New members per bucket, one dataset per join source."""
    sources = sorted({row.dimension for row in figures[Figure.JOINED] if start <= row.day})
    joins = defaultdict(int)
    for row in figures[Figure.JOINED]:
        if start <= row.day:
            joins[(row.day, row.dimension)] += row.count
    return Series(
        labels=[label for _first, _end, label in buckets],
        datasets=[
            (source, [sum(joins[(day, source)] for day in _days(first, last)) for first, last, _label in buckets])
            for source in sources
        ],
    )


def _sales_by_tier(figures, *, start: date) -> Series:
    """Purchases and sales of the period by the buyer's tier (no tier last)."""
    tiers = dict(Tier.objects.values_list("pk", "name"))
    by_tier = defaultdict(lambda: [0, Decimal(0)])
    for row in figures[Figure.PURCHASES]:
        if start <= row.day:
            by_tier[row.dimension][0] += row.count
            by_tier[row.dimension][1] += row.amount
    tier_keys = sorted(by_tier, key=lambda key: (key == "", int(key) if key.isdigit() else 0))
    return Series(
        labels=[tiers.get(int(key), key) if key.isdigit() else "" for key in tier_keys],
        datasets=[
            ("purchases", [by_tier[key][0] for key in tier_keys]),
            ("sales", [float(by_tier[key][1]) for key in tier_keys]),
        ],
    )


def _points_by_month(figures, *, months_start: date, end: date) -> Series:
    """Points issued, redeemed and expired per month over the twelve months."""
    months = _buckets(months_start, end) if (end - months_start).days > 31 else [(months_start, end, "")]
    return Series(
        labels=[label for _first, _last, label in months],
        datasets=[
            (key, [abs(int(_total(figures, Figure.POINTS, start=first, end=last, kinds=kinds, field="amount")))
                   for first, last, _label in months])
            for key, kinds in (("issued", ISSUED_KINDS), ("redeemed", REDEEMED_KINDS), ("expired", EXPIRED_KINDS))
        ],
    )  # fmt: skip


def _coupons_by_day(figures, *, buckets) -> Series:
    """Coupons issued and redeemed per bucket."""
    return Series(
        labels=[label for _first, _last, label in buckets],
        datasets=[
            (key, [_total(figures, figure, start=first, end=last) for first, last, _label in buckets])
            for key, figure in (("issued", Figure.COUPONS_ISSUED), ("redeemed", Figure.COUPONS_REDEEMED))
        ],
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days)]
