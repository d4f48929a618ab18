"""A segment's rule compiled to one Q over members: plain columns, EXISTS and correlated aggregate subqueries.

The database evaluates it in one query; no member is looked at in Python. `now` comes from the caller, so the
windows (days since, the last N days, the current month, ages) are those of that moment. The rule must be
valid (campaigns.segments.schema.rule_errors); ids that stopped existing since it was saved match nothing.

Aggregates over a window (purchases, spend, behaviour, points expiring, coupons) are correlated subqueries
compared to the bounds: PostgreSQL runs them last, on the members the cheap column conditions left, through
the (member, date) indexes of those tables. A lower bound of at least 1 is compiled as EXISTS with a HAVING,
an upper bound also keeps members with no rows at all (0 is within it).
"""

import datetime
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from campaigns.segments.buckets import member_bucket_expression
from coupons.models import Coupon
from members.models import Member, PointsEntry, PointsLot, Purchase

CONSENT_FIELDS = {
    "marketing": "consent_marketing",
    "sms": "consent_sms",
    "email": "consent_email",
    "wechat": "consent_wechat",
}


def rule_q(rule: dict, *, now: datetime.datetime) -> Q:
    """Return the Q selecting the members `rule` describes at `now` (to filter a queryset of members)."""
    return _group_q(rule, now)


def _group_q(group: dict, now) -> Q:
    parts = [
        _group_q(item, now) if "conditions" in item and "field" not in item else _condition_q(item, now)
        for item in group["conditions"]
    ]
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined | part) if group["match"] == "any" else (combined & part)
    return combined


def _condition_q(condition: dict, now) -> Q:
    return COMPILERS[condition["field"]](condition, now)


def _bounds(condition) -> tuple:
    """Return (low, high) of a comparison: gte -> (v, None), lte -> (None, v), between -> (v1, v2)."""
    value = condition["value"]
    return {
        "gte": (value, None),
        "lte": (None, value),
        "between": tuple(value) if condition["op"] == "between" else (),
    }[condition["op"]]


def _aggregate_q(rows, aggregate, low, high, output_field) -> Q:
    """Compare an aggregate of `rows` (a queryset correlated to the member) with the bounds.

    Members without rows have an aggregate of 0: a lower bound >= 1 excludes them (an EXISTS with HAVING, which
    stops at the member's rows), otherwise the sum or count is compared with COALESCE(..., 0).
    """
    grouped = rows.order_by().values("member_id").annotate(total=aggregate)
    if low is not None and low > 0:
        having = grouped.filter(total__gte=low)
        if high is not None:
            having = having.filter(total__lte=high)
        return Q(Exists(having))
    total = Coalesce(Subquery(grouped.values("total")[:1]), Value(0), output_field=output_field)
    if high is None:  # ">= 0": every member (an explicit condition, so that it also holds inside an "any" group)
        return Q(pk__isnull=False)
    return Q(LessThanOrEqual(total, high))


def _ids_q(column: str, condition) -> Q:
    q = Q(**{f"{column}__in": condition["value"]})
    return ~q if condition["op"] == "not_in" else q


def _tier(condition, now):
    return _ids_q("tier_id", condition)


def _home_store(condition, now):
    return _ids_q("home_store_id", condition)


def _tags(condition, now):
    through = Member.tags.through.objects.filter(member_id=OuterRef("pk"))
    ids = condition["value"]
    if condition["op"] == "all":
        q = Q()
        for tag_id in ids:
            q &= Q(Exists(through.filter(tag_id=tag_id)))
        return q
    has_any = Q(Exists(through.filter(tag_id__in=ids)))
    return ~has_any if condition["op"] == "none" else has_any


def _choices(column):
    def compile_(condition, now):
        return _ids_q(column, condition)

    return compile_


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _age(condition, now):
    today = timezone.localdate(now)
    low, high = _bounds(condition)
    q = Q(birthday__isnull=False)
    if low is not None:  # aged at least `low`: born on or before today, `low` years ago
        q &= Q(birthday__lte=_years_before(today, low))
    if high is not None:  # aged at most `high`: not yet `high + 1`
        q &= Q(birthday__gt=_years_before(today, high + 1))
    return q


def _birthday_month(condition, now):
    months = [timezone.localdate(now).month] if condition["op"] == "current" else condition["value"]
    return Q(birthday__month__in=months)


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _joined(condition, now):
    op, value = condition["op"], condition.get("value")
    if op == "after":
        return Q(joined_at__gte=_local_midnight(datetime.date.fromisoformat(value)))
    if op == "before":
        return Q(joined_at__lt=_local_midnight(datetime.date.fromisoformat(value)))
    if op == "between":
        start, end = (datetime.date.fromisoformat(day) for day in value)
        return Q(joined_at__gte=_local_midnight(start), joined_at__lt=_local_midnight(end))
    if op == "within_days":
        return Q(joined_at__gt=now - timedelta(days=value))
    return Q(joined_at__lte=now - timedelta(days=value))  # more_than_days_ago


def _days_since_last_purchase(condition, now):
    """Whole days since the last purchase: d >= N when it was at least N days ago, d <= N before N + 1 days."""
    if condition["op"] == "never":
        return Q(last_purchase_at__isnull=True)
    low, high = _bounds(condition)
    q = Q(last_purchase_at__isnull=False)
    if low is not None:
        q &= Q(last_purchase_at__lte=now - timedelta(days=low))
    if high is not None:
        q &= Q(last_purchase_at__gt=now - timedelta(days=high + 1))
    return q


def _purchases_in_window(condition, now):
    return Purchase.objects.filter(
        member_id=OuterRef("pk"),
        purchased_at__gt=now - timedelta(days=condition["days"]),
        purchased_at__lte=now,
    ).exclude(status=Purchase.Status.REFUNDED)


def _purchase_count(condition, now):
    low, high = _bounds(condition)
    return _aggregate_q(_purchases_in_window(condition, now), Count("pk"), low, high, IntegerField())


def _spend(condition, now):
    low, high = (None if bound is None else Decimal(str(bound)) for bound in _bounds(condition))
    money = DecimalField(max_digits=16, decimal_places=2)
    return _aggregate_q(
        _purchases_in_window(condition, now),
        Sum(F("paid_amount") + F("stored_value_amount"), output_field=money),
        low,
        high,
        money,
    )


def _points_balance(condition, now):
    """Points the member can spend: the balance less what is held for unpaid checkout orders (Member.points_held).

    A member with 1,000 points of which 800 are held for an order being paid has 200 to spend, and an offer "for
    members with 500 points or more" would send them to a reward they cannot take.
    """
    available = F("points_balance") - F("points_held")
    low, high = _bounds(condition)
    q = Q()
    if low is not None:
        q &= Q(GreaterThanOrEqual(available, low))
    if high is not None:
        q &= Q(LessThanOrEqual(available, high))
    return q


def _points_expiring(condition, now):
    lots = PointsLot.objects.filter(
        member_id=OuterRef("pk"),
        is_active=True,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=condition["days"]),
    )
    low, high = _bounds(condition)
    return _aggregate_q(lots, Sum("remaining"), low, high, IntegerField())


def _unused_coupons(condition, now):
    coupons = Coupon.objects.filter(member_id=OuterRef("pk"), status=Coupon.Status.AVAILABLE).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gt=now)
    )
    if condition.get("templates"):
        coupons = coupons.filter(template_id__in=condition["templates"])
    low, high = _bounds(condition)
    return _aggregate_q(coupons, Count("pk"), low, high, IntegerField())


def _consent(condition, now):
    return Q(**{CONSENT_FIELDS[condition["channel"]]: condition["value"]})


def _behaviour(condition, now):
    from points.models import EarningRule

    # A rewarded behaviour is a credit whose source names its rule (points.services.behaviour): the rules of
    # the event are read first (a handful of rows), so the member subquery is a plain IN on `source`.
    sources = [
        f"behaviour:{rule_id}"
        for rule_id in EarningRule.objects.filter(
            kind=EarningRule.Kind.BEHAVIOUR, behaviour_event=condition["event"]
        ).values_list("pk", flat=True)
    ]
    entries = PointsEntry.objects.filter(
        member_id=OuterRef("pk"),
        source__in=sources,
        delta__gt=0,
        created_at__gt=now - timedelta(days=condition["days"]),
        created_at__lte=now,
    )
    low, high = _bounds(condition)
    return _aggregate_q(entries, Count("pk"), low, high, IntegerField())


def _bucket(condition, now):
    low, high = condition["value"]
    bucket = member_bucket_expression(condition.get("salt", 0))
    return Q(GreaterThanOrEqual(bucket, low)) & Q(LessThanOrEqual(bucket, high))


COMPILERS = {
    "tier": _tier,
    "tags": _tags,
    "home_store": _home_store,
    "gender": _choices("gender"),
    "age": _age,
    "birthday_month": _birthday_month,
    "joined": _joined,
    "join_source": _choices("join_source"),
    "days_since_last_purchase": _days_since_last_purchase,
    "purchase_count": _purchase_count,
    "spend": _spend,
    "points_balance": _points_balance,
    "points_expiring": _points_expiring,
    "unused_coupons": _unused_coupons,
    "consent": _consent,
    "behaviour": _behaviour,
    "bucket": _bucket,
}
