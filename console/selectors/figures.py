"""Counting the dashboard's and the reports' daily figures from the source tables.

`daily_figures_count` is the one implementation of every figure: the nightly refresh (console.services.figures)
stores what it counts for closed days, and the dashboard counts today (and any day not stored yet) with it live.
Days are calendar days in the program's time zone. Points follow the points report's definitions
(points/reports.py): pending entries are left out (they count when their accrual is written) and refunds are split
by sign, so issued and redeemed can be told apart.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Case, CharField, Count, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, TruncDate

from console import sql
from console.models import BuyerFigure, DailyFigure
from coupons.models import Coupon
from infra.bulk_sql import set_based
from members.models import Member, PointsEntry, Purchase, StoredValueEntry
from members.selectors.stores import program_time_zone

Figure = DailyFigure.Figure
PERIODS = (7, 30, 90, 365)  # days the dashboard's period selector offers
ZERO = Decimal("0.00")


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


def daily_figures_count(
    *, start: date, end: date, store_id: int | None = None, figures: tuple[str, ...] | None = None
) -> list[DayFigure]:
    """Count every figure of the days in [start, end), by store; `store_id` limits them to one store, `figures` to
    those figures (the earning rules' points are counted by `rule_figures_count`)."""
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
        (
            Figure.STORED_VALUE,
            _by_day(stored_value, "created_at", "member__home_store_id", Value(""), amount=Sum("amount"), **window),
        ),
    )
    counted = [
        DayFigure(
            day=row["day"],
            store_id=row["store_ref"],
            figure=figure,
            dimension=row["dimension"] or "",
            count=row["count"],
            amount=Decimal(row["amount"] or 0),
        )
        for figure, rows in sources
        if figures is None or figure in figures
        for row in rows
    ]
    if figures is None or {Figure.COUPONS_ISSUED, Figure.COUPONS_REDEEMED} & set(figures):
        counted += _coupons_by_day(coupons, start=start, end=end)
    return counted


def _coupons_by_day(coupons, *, start: date, end: date) -> list[DayFigure]:
    """Coupons issued and coupons redeemed by day and store in [start, end), in one pass over the coupons of those
    days (the issue and redemption indexes, coupons.Coupon.Meta)."""
    tz = program_time_zone()
    since, until = day_start(start), day_start(end)
    rows = (
        coupons.filter(Q(issued_at__gte=since, issued_at__lt=until) | Q(redeemed_at__gte=since, redeemed_at__lt=until))
        .annotate(
            issued_day=TruncDate("issued_at", tzinfo=tz),
            redeemed_day=TruncDate("redeemed_at", tzinfo=tz),
            store_ref=F("member__home_store_id"),
        )
        .values("issued_day", "redeemed_day", "store_ref")
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts = defaultdict(int)
    for row in rows:
        for figure, day in ((Figure.COUPONS_ISSUED, row["issued_day"]), (Figure.COUPONS_REDEEMED, row["redeemed_day"])):
            if day is not None and start <= day < end:
                counts[(figure, day, row["store_ref"])] += row["count"]
    return [
        DayFigure(day=day, store_id=store, figure=figure, dimension="", count=count, amount=ZERO)
        for (figure, day, store), count in counts.items()
    ]


def rule_figures_count(*, start: date, end: date, store_id: int | None = None) -> list[DayFigure]:
    """The points each earning rule gave in the accrual entries of the days in [start, end), by day and store
    (the member's home store): count = the entries it had a share in, amount = its points (the breakdowns')."""
    window = {"since": day_start(start), "until": day_start(end), "store_id": store_id}
    rows = sql.rule_points_by_day(**window) if set_based() else _rule_points_by_day_orm(**window)
    return [
        DayFigure(
            day=day, store_id=store, figure=Figure.RULE_POINTS, dimension=str(rule), count=count, amount=Decimal(points)
        )
        for day, store, rule, points, count in rows
    ]


def _rule_points_by_day_orm(*, since, until, store_id: int | None) -> list[tuple[date, int | None, int, int, int]]:
    """(day, store, rule id, points, entries) from the accruals' breakdowns: the portable reference of
    console.sql.rule_points_by_day, reading each accrual entry of the window into Python."""
    tz = program_time_zone()
    entries = PointsEntry.objects.filter(kind=PointsEntry.Kind.ACCRUAL, created_at__gte=since, created_at__lt=until)
    if store_id is not None:
        entries = entries.filter(member__home_store_id=store_id)
    points, counted = defaultdict(int), defaultdict(int)
    rows = entries.values_list("created_at", "member__home_store_id", "breakdown").iterator(chunk_size=2000)
    for created_at, store, breakdown in rows:
        shares = [share for share in (breakdown or {}).get("rules") or [] if share.get("rule_id") is not None]
        key = (created_at.astimezone(tz).date(), store)
        for rule_id in {int(share["rule_id"]) for share in shares}:
            counted[(*key, rule_id)] += 1
        for share in shares:
            points[(*key, int(share["rule_id"]))] += int(share.get("points") or 0)
    return [(day, store, rule, points[(day, store, rule)], count) for (day, store, rule), count in counted.items()]


@dataclass(frozen=True)
class CouponDay:
    day: date
    store_id: int | None
    template_id: int
    issued: int = 0
    claimed: int = 0
    redeemed: int = 0
    expired: int = 0
    discount: Decimal = ZERO
    sales: Decimal = ZERO


# A coupon's figures count on the day of their own moment (console.models.CouponFigure).
EXPIRY_MOMENT = Coalesce("valid_until", "issued_at")
SALE_MOMENT = Coalesce("redeemed_at", "issued_at")


def _coupons(store_id: int | None):
    coupons = Coupon.objects.all()
    return coupons if store_id is None else coupons.filter(member__home_store_id=store_id)


def _moment_window(moment: str, start: date | None, end: date | None) -> dict:
    window = {} if start is None else {f"{moment}__gte": day_start(start)}
    return window if end is None else {**window, f"{moment}__lt": day_start(end)}


def coupon_figures_count(*, start: date | None, end: date | None, store_id: int | None = None) -> list[CouponDay]:
    """The coupon report's figures by day, store and template for moments in [start, end) (None: no bound).

    Issued and claimed count on the issue, redeemed and the discount on the redemption, expired on the end of
    validity, and sales (the gross amount of the distinct purchases that redeemed one) on the redemption; the
    definitions of coupons.selectors.coupon_templates_with_report, split by day.
    """
    tz = program_time_zone()
    figures = defaultdict(lambda: defaultdict(lambda: 0))

    def grouped(queryset, moment, **totals):
        annotated = queryset.annotate(moment=moment) if not isinstance(moment, str) else queryset
        field = "moment" if not isinstance(moment, str) else moment
        return (
            annotated.filter(**_moment_window(field, start, end))
            .annotate(day=TruncDate(field, tzinfo=tz), store_ref=F("member__home_store_id"))
            .values("day", "store_ref", "template_id")
            .annotate(**totals)
            .order_by()
        )

    coupons = _coupons(store_id)
    for row in grouped(coupons, "issued_at", issued=Count("pk"), claimed=Count("pk", filter=Q(source="claim"))):
        figures[(row["day"], row["store_ref"], row["template_id"])].update(issued=row["issued"], claimed=row["claimed"])
    redeemed = coupons.filter(status=Coupon.Status.REDEEMED)
    for row in grouped(redeemed, "redeemed_at", redeemed=Count("pk"), discount=Sum("discount_amount")):
        figures[(row["day"], row["store_ref"], row["template_id"])].update(
            redeemed=row["redeemed"], discount=Decimal(row["discount"] or 0)
        )
    expired = coupons.filter(status=Coupon.Status.EXPIRED)
    for row in grouped(expired, EXPIRY_MOMENT, expired=Count("pk")):
        figures[(row["day"], row["store_ref"], row["template_id"])]["expired"] = row["expired"]
    # Sales: each purchase once per template (two coupons of one template on one purchase count its sale once).
    sold = (
        coupons.filter(redeemed_purchase__isnull=False)
        .annotate(moment=SALE_MOMENT)
        .filter(**_moment_window("moment", start, end))
        .annotate(day=TruncDate("moment", tzinfo=tz), store_ref=F("member__home_store_id"))
        .values_list("day", "store_ref", "template_id", "redeemed_purchase_id", "redeemed_purchase__gross_amount")
        .order_by()
        .distinct()
    )
    for day, store, template_id, _purchase, gross in sold.iterator(chunk_size=2000):
        figures[(day, store, template_id)]["sales"] += Decimal(gross)
    return [
        CouponDay(day=day, store_id=store, template_id=template_id, **values)
        for (day, store, template_id), values in figures.items()
    ]


def coupon_totals_live(*, since: datetime | None, store_id: int | None = None, template_ids=None) -> dict:
    """The coupon report's figures of the moments from `since` on (None: every coupon), per template: what the
    stored days do not hold yet. One pass over the coupons of those moments."""
    coupons = _coupons(store_id).annotate(expiry=EXPIRY_MOMENT, sale=SALE_MOMENT)
    if template_ids is not None:
        coupons = coupons.filter(template_id__in=template_ids)

    def after(field):
        return Q() if since is None else Q(**{f"{field}__gte": since})

    redeemed = Q(status=Coupon.Status.REDEEMED) & after("redeemed_at")
    if since is not None:
        # Every moment counted below is in one of three ranges, each read from an index (coupons.Coupon.Meta): an
        # expiry without an end of validity is the issue, and a sale is the redemption or else the issue.
        coupons = coupons.filter(
            after("issued_at") | after("redeemed_at") | (Q(status=Coupon.Status.EXPIRED) & after("valid_until"))
        )
    totals = {
        row["template_id"]: row
        for row in coupons.values("template_id")
        .annotate(
            issued=Count("pk", filter=after("issued_at")),
            claimed=Count("pk", filter=after("issued_at") & Q(source=Coupon.Source.CLAIM)),
            redeemed=Count("pk", filter=redeemed),
            expired=Count("pk", filter=Q(status=Coupon.Status.EXPIRED) & after("expiry")),
            discount=Coalesce(Sum("discount_amount", filter=redeemed), ZERO),
        )
        .order_by()
    }
    sold = (
        coupons.filter(Q(redeemed_purchase__isnull=False) & after("sale"))
        .values_list("template_id", "redeemed_purchase_id", "redeemed_purchase__gross_amount")
        .order_by()
        .distinct()
    )
    for template_id, _purchase, gross in sold:
        totals.setdefault(template_id, {"template_id": template_id}).setdefault("sales", ZERO)
        totals[template_id]["sales"] += Decimal(gross)
    return totals


def buyers_count(*, start: date, end: date, store_id: int | None = None) -> dict:
    """Members who purchased in [start, end), and those who purchased twice or more (the dashboard's active members
    and repurchase rate), counted on the purchases."""
    purchases = Purchase.objects.filter(
        purchased_at__gte=day_start(start), purchased_at__lt=day_start(end), member__isnull=False
    )
    if store_id is not None:
        purchases = purchases.filter(store_id=store_id)
    # Counting member ids, not primary keys: all stores' buyers are then read from the purchases' (purchased_at,
    # member) index alone, not from 400,000 rows of the table (bench/console.py: 3.4 s to about 1 s per period).
    per_member = purchases.values("member_id").annotate(purchases=Count("member_id")).order_by()
    return per_member.aggregate(members=Count("member_id"), repeat=Count("member_id", filter=Q(purchases__gte=2)))


def buyer_windows(today: date) -> list[tuple[date, date]]:
    """The closed windows the dashboard's periods read on `today`: each period's days before today, and the period
    before it (console.selectors.dashboard_figures)."""
    windows = []
    for days in PERIODS:
        start = today - timedelta(days=days - 1)
        windows += [(start, today), (start - timedelta(days=days), start)]
    return windows


def buyers_stored(*, start: date, end: date, store_id: int | None) -> dict | None:
    """The stored buyers of the closed window [start, end), or None when the refresh did not store that window."""
    rows = {
        (row.all_stores, row.store_id): row
        for row in BuyerFigure.objects.filter(first=start, end=end).filter(
            Q(all_stores=True) if store_id is None else Q(store_id=store_id, all_stores=False) | Q(all_stores=True)
        )
    }
    if not rows:
        return None
    row = rows.get((store_id is None, store_id))  # a store without buyers has no row
    return {"members": row.buyers if row else 0, "repeat": row.repeat if row else 0}


def buyers_today_delta(*, start: date, today: date, store_id: int | None) -> dict:
    """What today's purchases add to the buyers of [start, today): members whose first purchase of the window is
    today, and members who reach their second purchase of the window today. One query, through the purchases'
    (member, purchased_at) index for each of today's buyers."""
    purchases = Purchase.objects.filter(member__isnull=False)
    if store_id is not None:
        purchases = purchases.filter(store_id=store_id)
    earlier = (
        purchases.filter(
            member_id=OuterRef("member_id"), purchased_at__gte=day_start(start), purchased_at__lt=day_start(today)
        )
        .order_by()
        .values("member_id")
        .annotate(purchases=Count("pk"))
        .values("purchases")
    )
    per_member = (
        purchases.filter(purchased_at__gte=day_start(today), purchased_at__lt=day_start(today + timedelta(days=1)))
        .values("member_id")
        .annotate(today=Count("member_id"), earlier=Coalesce(Subquery(earlier), 0))
        .order_by()
    )
    return per_member.aggregate(
        members=Count("member_id", filter=Q(earlier=0)),
        repeat=Count("member_id", filter=Q(earlier__lt=2) & (Q(earlier__gte=1) | Q(today__gte=2))),
    )
