"""The points report and the coupon report from the nightly refresh's stored daily figures.

The reports' reference definitions are their ORM paths (points.reports.points_report and
coupons.selectors.coupon_templates_with_report), which read the ledger and the coupons: at a chain's size that is
seconds. Here the days the refresh stored (console.models.DailyFigure, CouponFigure) are summed, and the days after
the newest stored one (today, or more when the job has not run) are counted live by the same code
(console.selectors.figures), so the figures are those of the reference at the moment of reading. A store's figures
are those of the members whose home store it is when the day was stored (as on the dashboard). With no stored day,
the reports use their reference paths.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.db.models.functions import TruncMonth

from console.models import CouponFigure, DailyFigure, FigureDay
from console.selectors import EXPIRED_KINDS, ISSUED_KINDS, REDEEMED_KINDS
from console.selectors.figures import (
    ZERO,
    coupon_totals_live,
    daily_figures_count,
    day_start,
    rule_figures_count,
)
from coupons.models import CouponTemplate
from coupons.selectors import coupon_templates_with_report
from members.models import Member
from members.selectors.stores import program_time_zone
from points.models import EarningRule, PointsPolicy
from points.reports import PointsMonth, PointsReport, RuleTotal, _month_start, points_report

Figure = DailyFigure.Figure
REMOVED_KINDS = ("removal",)
REPORT_FIGURES = ("issued", "claimed", "redeemed", "expired", "discount", "sales")


def _first_live_day() -> date | None:
    """The first day after the newest stored day: from there on, figures are counted live (None: none stored)."""
    newest = FigureDay.objects.order_by("-day").values_list("day", flat=True).first()
    return None if newest is None else newest + timedelta(days=1)


def points_report_figures(*, now: datetime, months: int = 12, store_id: int | None = None, top: int = 10):
    """points.reports.points_report, from the stored daily figures plus today's (and any unstored day's) entries."""
    live_from = _first_live_day()
    if live_from is None:
        return points_report(now=now, months=months, store_id=store_id, top=top)
    tz = program_time_zone()
    since = _month_start(now, months - 1)
    since_day, end = since.astimezone(tz).date(), now.astimezone(tz).date() + timedelta(days=1)
    stored = DailyFigure.objects.filter(day__lt=live_from)
    if store_id is not None:
        stored = stored.filter(store_id=store_id)
    points = stored.filter(figure=Figure.POINTS)
    before = points.filter(day__lt=since_day).aggregate(total=Sum("amount"))["total"] or ZERO
    # (month, ledger kind, amount): the stored days summed by month in the database, the live days by day.
    moved = [
        (row["month"], row["dimension"], row["total"])
        for row in points.filter(day__gte=since_day)
        .values("dimension", month=TruncMonth("day"))
        .annotate(total=Sum("amount"))
        .order_by()
    ]
    live = daily_figures_count(start=live_from, end=end, store_id=store_id, figures=(Figure.POINTS,))
    for row in live:
        if row.day < since_day:
            before += row.amount
        else:
            moved.append((row.day.replace(day=1), row.dimension, row.amount))
    by_month = defaultdict(lambda: defaultdict(Decimal))
    for month, kind, amount in moved:
        by_month[month.date() if isinstance(month, datetime) else month][kind] += amount

    report_months, outstanding = [], int(before)
    for back in range(months - 1, -1, -1):
        month = _month_start(now, back).date()
        kinds = by_month.get(month, {})

        def total(of, kinds=kinds):
            return int(sum((kinds.get(kind, ZERO) for kind in of), ZERO))

        start, outstanding = outstanding, outstanding + int(sum(kinds.values(), ZERO))
        report_months.append(
            PointsMonth(
                month=month,
                issued=total(ISSUED_KINDS),
                redeemed=-total(REDEEMED_KINDS),
                expired=-total(EXPIRED_KINDS),
                removed=-total(REMOVED_KINDS),
                outstanding_start=start,
                outstanding_end=outstanding,
            )
        )
    if store_id is None:
        # The programme's balances minus its debts are the sum of its ledger (the invariant, points/reports.py):
        # the months' outstanding at their end. Debts and pending points are read from the few members who have
        # some (an index of those), not from every member.
        owed = Q(points_pending__gt=0) | Q(points_debt__gt=0)
        balances = Member.objects.filter(owed).aggregate(pending=Sum("points_pending"), debt=Sum("points_debt"))
        balance = report_months[-1].outstanding_end + (balances["debt"] or 0) if report_months else 0
    else:
        # A store's, from the members' balances index (members whose home store it is now).
        members = Member.objects.filter(home_store_id=store_id)
        balances = members.aggregate(
            balance=Sum("points_balance"), pending=Sum("points_pending"), debt=Sum("points_debt")
        )
        balance = balances["balance"] or 0
    policy = PointsPolicy.load()
    return PointsReport(
        months=report_months,
        outstanding_points=balance,
        pending_points=balances["pending"] or 0,
        debt_points=balances["debt"] or 0,
        liability=policy.points_value(balance),
        point_value=policy.points_value(1000),
        top_rules=_top_rules(stored, since_day=since_day, live_from=live_from, end=end, store_id=store_id, limit=top),
        since=since,
    )


def _top_rules(stored, *, since_day: date, live_from: date, end: date, store_id, limit: int) -> list[RuleTotal]:
    points, entries = defaultdict(int), defaultdict(int)
    rows = (
        stored.filter(figure=Figure.RULE_POINTS, day__gte=since_day)
        .values("dimension")
        .annotate(points=Sum("amount"), entries=Sum("count"))
        .order_by()
    )
    for row in rows:
        points[int(row["dimension"])] += int(row["points"])
        entries[int(row["dimension"])] += row["entries"]
    for row in rule_figures_count(start=max(live_from, since_day), end=end, store_id=store_id):
        points[int(row.dimension)] += int(row.amount)
        entries[int(row.dimension)] += row.count
    ranked = sorted(entries, key=lambda rule_id: (-points[rule_id], rule_id))[:limit]
    names = dict(EarningRule.objects.filter(pk__in=ranked).values_list("pk", "name"))
    return [
        RuleTotal(
            rule_id=rule_id, name=names.get(rule_id, f"#{rule_id}"), points=points[rule_id], purchases=entries[rule_id]
        )
        for rule_id in ranked
    ]


def coupon_report_figures(templates: list[CouponTemplate], *, store_id: int | None = None) -> list[CouponTemplate]:
    """Give each template the figures of coupons.selectors.coupon_templates_with_report (report_issued, ...), from
    the stored coupon figures plus the coupons' moments since the newest stored day."""
    ids = [template.pk for template in templates]
    live_from = _first_live_day()
    if live_from is None:
        annotated = {
            t.pk: t for t in coupon_templates_with_report(CouponTemplate.objects.filter(pk__in=ids), store_id=store_id)
        }
        for template in templates:
            for name in REPORT_FIGURES:
                setattr(template, f"report_{name}", getattr(annotated[template.pk], f"report_{name}"))
        return templates
    stored = CouponFigure.objects.filter(template_id__in=ids)
    if store_id is not None:
        stored = stored.filter(store_id=store_id)
    totals = {
        row["template_id"]: row
        for row in stored.values("template_id").annotate(**{name: Sum(name) for name in REPORT_FIGURES}).order_by()
    }
    live = coupon_totals_live(since=day_start(live_from), store_id=store_id, template_ids=ids)
    for template in templates:
        for name in REPORT_FIGURES:
            zero = ZERO if name in ("discount", "sales") else 0
            value = (totals.get(template.pk, {}).get(name) or zero) + (live.get(template.pk, {}).get(name) or zero)
            setattr(template, f"report_{name}", value)
    return templates
