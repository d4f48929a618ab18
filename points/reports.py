"""The points report: issued, redeemed, expired per month, outstanding points and their liability in money,
the monthly turnover rate, and the rules that gave the most points. Read-only, set-based.

Definitions (the refund kind moves both ways, so it is split by sign):
- issued   = accrual + addition + opening, minus refunds that took earned points back;
- redeemed = redemption + transfer_out - transfer_in, minus refunds that gave spent points back (an auction
  bid holds points by a transfer_out and an outbid releases them by a transfer_in: netted, a hold released in
  a later month shows there as a negative redemption);
- expired  = expiration; removed = manual removals;
- outstanding at a moment = the sum of every (non-pending) entry before it = the members' balances minus
  their debts (the ledger invariant), so history needs no snapshots;
- turnover of a month = (redeemed + expired) / outstanding at the start of the month.
Pending entries are memos of points not yet available: they count when their accrual entry is written.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Case, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from infra.bulk_sql import set_based
from members.models import Member, PointsEntry
from points import sql
from points.models import EarningRule, PointsPolicy

Kind = PointsEntry.Kind
ZERO = Decimal(0)


@dataclass(frozen=True)
class PointsMonth:
    month: date
    issued: int
    redeemed: int
    expired: int
    removed: int
    outstanding_start: int
    outstanding_end: int

    @property
    def turnover_percent(self) -> Decimal | None:
        if self.outstanding_start <= 0:
            return None
        rate = Decimal(self.redeemed + self.expired) * 100 / self.outstanding_start
        return rate.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RuleTotal:
    rule_id: int
    name: str
    points: int
    purchases: int


@dataclass(frozen=True)
class PointsReport:
    months: list[PointsMonth]
    outstanding_points: int
    pending_points: int
    debt_points: int
    liability: Decimal
    point_value: Decimal
    top_rules: list[RuleTotal]
    since: datetime


def _month_start(moment: datetime, months_back: int) -> datetime:
    local = timezone.localtime(moment)
    year, month = local.year, local.month - months_back
    while month <= 0:
        year, month = year - 1, month + 12
    return local.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def _signed(kinds, *, sign: int = 1, refund: str | None = None):
    """Sum of deltas of `kinds` (times `sign`), plus refunds of one direction."""
    condition = Q(kind__in=kinds)
    if refund == "negative":
        condition |= Q(kind=Kind.REFUND, delta__lt=0)
    elif refund == "positive":
        condition |= Q(kind=Kind.REFUND, delta__gt=0)
    return Coalesce(Sum(Case(When(condition, then="delta"), default=Value(0), output_field=IntegerField())), 0) * Value(
        sign
    )


def points_report(*, now: datetime, months: int = 12, store_id: int | None = None, top: int = 10) -> PointsReport:
    """The report over the last `months` calendar months (the current one included), in the merchant's time
    zone; `store_id` limits it to the members whose home store it is (a store manager's view)."""
    since = _month_start(now, months - 1)
    entries = PointsEntry.objects.exclude(kind=Kind.PENDING)
    members = Member.objects.all()
    if store_id is not None:
        entries = entries.filter(member__home_store_id=store_id)
        members = members.filter(home_store_id=store_id)
    before = entries.filter(created_at__lt=since).aggregate(total=Coalesce(Sum("delta"), 0))["total"]
    rows = {
        row["month"].date() if isinstance(row["month"], datetime) else row["month"]: row
        for row in entries.filter(created_at__gte=since, created_at__lte=now)
        .annotate(month=TruncMonth("created_at", tzinfo=timezone.get_current_timezone()))
        .values("month")
        .annotate(
            issued=_signed((Kind.ACCRUAL, Kind.ADDITION, Kind.OPENING), refund="negative"),
            redeemed=_signed((Kind.REDEMPTION, Kind.TRANSFER_OUT, Kind.TRANSFER_IN), sign=-1, refund="positive"),
            expired=_signed((Kind.EXPIRATION,), sign=-1),
            removed=_signed((Kind.REMOVAL,), sign=-1),
            net=Coalesce(Sum("delta"), 0),
        )
    }
    report_months, outstanding = [], before
    for back in range(months - 1, -1, -1):
        month = _month_start(now, back).date()
        row = rows.get(month, {})
        start, outstanding = outstanding, outstanding + row.get("net", 0)
        report_months.append(
            PointsMonth(
                month=month,
                issued=row.get("issued", 0),
                redeemed=row.get("redeemed", 0),
                expired=row.get("expired", 0),
                removed=row.get("removed", 0),
                outstanding_start=start,
                outstanding_end=outstanding,
            )
        )
    balances = members.aggregate(
        balance=Coalesce(Sum("points_balance"), 0),
        pending=Coalesce(Sum("points_pending"), 0),
        debt=Coalesce(Sum("points_debt"), 0),
    )
    policy = PointsPolicy.load()
    return PointsReport(
        months=report_months,
        outstanding_points=balances["balance"],
        pending_points=balances["pending"],
        debt_points=balances["debt"],
        liability=policy.points_value(balances["balance"]),
        point_value=policy.points_value(1000),
        top_rules=top_rules(since=since, now=now, store_id=store_id, limit=top),
        since=since,
    )


def top_rules(*, since: datetime, now: datetime, store_id: int | None = None, limit: int = 10) -> list[RuleTotal]:
    """The earning rules that gave the most points in accrual entries (each rule's share, from the breakdown)."""
    # On PostgreSQL the breakdowns are summed in the database (points/sql.py); the ORM reads them into Python.
    totals = sql.top_rules_totals if set_based() else _top_rules_totals_orm
    rows = totals(since=since, now=now, store_id=store_id, limit=limit)
    names = dict(EarningRule.objects.filter(pk__in=[row[0] for row in rows]).values_list("pk", "name"))
    return [
        RuleTotal(rule_id=rule_id, name=names.get(rule_id, f"#{rule_id}"), points=points, purchases=count)
        for rule_id, points, count in rows
    ]


def _top_rules_totals_orm(*, since, now, store_id: int | None, limit: int) -> list[tuple[int, int, int]]:
    """(rule id, points, accrual entries) of the rules that gave the most points: the portable reference of
    points.sql.top_rules_totals, reading the period's accrual entries' breakdowns."""
    entries = PointsEntry.objects.filter(kind=Kind.ACCRUAL, created_at__gte=since, created_at__lte=now)
    if store_id:
        entries = entries.filter(member__home_store_id=store_id)
    points, counted = defaultdict(int), defaultdict(set)
    for entry_id, breakdown in entries.values_list("pk", "breakdown").iterator(chunk_size=2000):
        for share in (breakdown or {}).get("rules") or []:
            if share.get("rule_id") is not None:
                points[int(share["rule_id"])] += int(share.get("points") or 0)
                counted[int(share["rule_id"])].add(entry_id)
    ranked = sorted(points, key=lambda rule_id: (-points[rule_id], rule_id))[:limit]
    return [(rule_id, points[rule_id], len(counted[rule_id])) for rule_id in ranked]
