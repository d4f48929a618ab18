"""Tier reads shared by the API and the console: a member's tier status and the preview of a policy change."""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, MemberPlanSubscription, PointsEntry, Purchase, Tier, TierPolicy
from members.models.tiers import tier_thresholds_check
from members.services.tiers import tier_evaluation_statement

CURRENCY_SYMBOLS = {"HKD": "HK$", "CNY": "¥", "USD": "US$", "MOP": "MOP$"}
INDICATOR_MESSAGES = {
    "spend": _("Spend %(value)s more by %(date)s to reach %(tier)s."),
    "purchases": _("Make %(value)s more purchases by %(date)s to reach %(tier)s."),
    "points": _("Earn %(value)s more points by %(date)s to reach %(tier)s."),
    "active_days": _("Shop on %(value)s more days by %(date)s to reach %(tier)s."),
    "stores": _("Visit %(value)s more of our stores by %(date)s to reach %(tier)s."),
}


def money_display(amount: Decimal, *, places: int | None = None) -> str:
    """HK$1,240 (whole amounts) or HK$1,240.50; `places` forces the number of decimals."""
    symbol = CURRENCY_SYMBOLS.get(settings.CURRENCY, f"{settings.CURRENCY} ")
    amount = Decimal(amount)
    if places is None:
        places = 0 if amount == amount.to_integral_value() else 2
    return f"{symbol}{amount:,.{places}f}"


# -- one member -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Missing:
    indicator: str
    amount: Decimal
    by_date: date
    message: str


@dataclass(frozen=True)
class TierHold:
    """The member keeps their tier until `until` whatever the review says: a paid plan or a top-up holds it."""

    source: str
    plan_name: str | None
    until: datetime


def member_tier_hold(*, member: Member, now: datetime) -> TierHold | None:
    """The running period(s) that hold the member's current tier, renewals chained into one end date."""
    if member.tier_id is None:
        return None
    periods = list(
        MemberPlanSubscription.objects.filter(member=member, tier_id=member.tier_id, ends_at__gt=now)
        .select_related("plan")
        .order_by("starts_at", "ends_at")
    )
    running = [period for period in periods if period.starts_at <= now]
    if not running:
        return None
    first = max(running, key=lambda period: period.ends_at)
    until = first.ends_at
    for period in periods:  # a renewal starts where the previous period ends
        if period.starts_at <= until < period.ends_at:
            until = period.ends_at
    return TierHold(source=first.source, plan_name=first.plan.name if first.plan_id else None, until=until)


@dataclass(frozen=True)
class TierBenefits:
    """A tier's benefits as the checkout applies them (points.services.checkout, points.rules), with one sentence
    per benefit that does something, in the active language."""

    earn_multiplier: Decimal
    discount_percent: Decimal
    discount_applies: str
    discount_max_amount: Decimal | None
    discount_excluded_categories: list[str]
    birthday_multiplier: Decimal
    monthly_gift: str
    summary: list[dict]


def _number(value: Decimal) -> str:
    """10.00 -> 10, 1.50 -> 1.5."""
    value = Decimal(value)
    return f"{value.to_integral_value():f}" if value == value.to_integral_value() else f"{value.normalize():f}"


def tier_benefits(*, tier: Tier, policy: TierPolicy) -> TierBenefits:
    """What being in `tier` gives under the tier policy; `summary` lists only the benefits that change something."""
    summary = []
    if tier.discount_percent > 0:
        if policy.discount_applies == TierPolicy.DiscountApplies.AFTER_COUPONS:
            text = _("%(percent)s%% off every purchase, after coupons.")
        else:
            text = _("%(percent)s%% off every purchase, before coupons.")
        texts = [text % {"percent": _number(tier.discount_percent)}]
        if policy.discount_max_amount is not None:
            texts.append(
                _("At most %(amount)s off one purchase.") % {"amount": money_display(policy.discount_max_amount)}
            )
        if policy.discount_excluded_categories:
            texts.append(_("Not on: %(categories)s.") % {"categories": ", ".join(policy.discount_excluded_categories)})
        summary.append({"benefit": "discount", "text": " ".join(str(text) for text in texts)})
    if tier.earn_multiplier != 1:
        text = _("Points ×%(multiplier)s on every purchase.") % {"multiplier": _number(tier.earn_multiplier)}
        summary.append({"benefit": "earn_multiplier", "text": str(text)})
    if tier.birthday_multiplier != 1:
        text = _("Points ×%(multiplier)s in your birthday month.") % {"multiplier": _number(tier.birthday_multiplier)}
        summary.append({"benefit": "birthday_multiplier", "text": str(text)})
    if tier.monthly_gift_description:
        text = _("Every month: %(gift)s") % {"gift": tier.monthly_gift_description}
        summary.append({"benefit": "monthly_gift", "text": str(text)})
    return TierBenefits(
        earn_multiplier=tier.earn_multiplier,
        discount_percent=tier.discount_percent,
        discount_applies=policy.discount_applies,
        discount_max_amount=policy.discount_max_amount,
        discount_excluded_categories=list(policy.discount_excluded_categories or ()),
        birthday_multiplier=tier.birthday_multiplier,
        monthly_gift=tier.monthly_gift_description,
        summary=summary,
    )


@dataclass(frozen=True)
class MemberTierStatus:
    tier: Tier | None
    benefits: TierBenefits | None
    score: Decimal
    indicators: dict
    next_tier: Tier | None
    missing_score: Decimal | None
    missing: list[Missing]
    review_on: date
    below_keep_since: datetime | None
    grace_until: date | None
    override_until: datetime | None
    held: TierHold | None
    window_start: datetime = field(repr=False)


def member_indicators(*, member_id: int, policy: TierPolicy, now: datetime) -> dict:
    """The indicators of one member over the policy's window (the same definitions as the evaluation SQL)."""
    start = now - timedelta(days=policy.window_days)
    purchases = Purchase.objects.filter(member_id=member_id, purchased_at__gt=start, purchased_at__lte=now).exclude(
        status=Purchase.Status.REFUNDED
    )
    totals = purchases.aggregate(
        spend=Coalesce(Sum("paid_amount") + Sum("stored_value_amount"), Decimal(0)),
        purchases=Count("pk"),
        stores=Count("store", distinct=True),
    )
    totals["active_days"] = purchases.annotate(day=TruncDate("purchased_at")).values("day").distinct().count()
    totals["points"] = PointsEntry.objects.filter(
        member_id=member_id, kind=PointsEntry.Kind.ACCRUAL, created_at__gt=start, created_at__lte=now
    ).aggregate(total=Coalesce(Sum("delta"), 0))["total"]
    return {name: totals[name] for name in TierPolicy.INDICATORS}


def tier_score(*, indicators: dict, policy: TierPolicy) -> Decimal:
    weights = policy.weights()
    total = sum((Decimal(indicators[name]) * weights[name] for name in TierPolicy.INDICATORS), Decimal(0))
    return total.quantize(Decimal("0.01"))


def next_review_at(*, policy: TierPolicy, now: datetime) -> datetime:
    interval = timedelta(hours=policy.evaluation_interval_hours)
    if policy.last_evaluated_at is None:
        return now + interval
    periods = max(1, math.ceil((now - policy.last_evaluated_at) / interval))
    return policy.last_evaluated_at + periods * interval


def member_tier_status(*, member: Member, now: datetime) -> MemberTierStatus:
    """Where a member stands: tier, score, the next tier and what is missing, the next review date."""
    policy = TierPolicy.load()
    tiers = list(Tier.objects.order_by("rank"))
    indicators = member_indicators(member_id=member.pk, policy=policy, now=now)
    score = tier_score(indicators=indicators, policy=policy)
    current = next((tier for tier in tiers if tier.pk == member.tier_id), None)
    higher = [tier for tier in tiers if current is None or tier.rank > current.rank]
    next_tier = higher[0] if higher else None
    review_at = next_review_at(policy=policy, now=now)
    review_on = timezone.localdate(review_at)
    missing_score, missing = None, []
    if next_tier is not None:
        missing_score = max(next_tier.min_score_to_reach - score, Decimal(0))
        for name, weight in policy.weights().items():
            if not weight or not missing_score:
                continue
            needed = missing_score / weight
            needed = (
                needed.quantize(Decimal("0.01"), rounding=ROUND_CEILING)
                if name == "spend"
                else Decimal(math.ceil(needed))
            )
            value = money_display(needed) if name == "spend" else str(needed)
            message = INDICATOR_MESSAGES[name] % {"value": value, "date": review_on.isoformat(), "tier": next_tier.name}
            missing.append(Missing(indicator=name, amount=needed, by_date=review_on, message=message))
    since, override_until = member.tier_below_keep_since, member.tier_override_until
    grace_until = timezone.localdate(since + timedelta(days=policy.grace_period_days)) if since else None
    return MemberTierStatus(
        tier=current,
        benefits=tier_benefits(tier=current, policy=policy) if current is not None else None,
        score=score,
        indicators=indicators,
        next_tier=next_tier,
        missing_score=missing_score,
        missing=missing,
        review_on=review_on,
        below_keep_since=since,
        grace_until=grace_until,
        override_until=override_until if override_until and override_until > now else None,
        held=member_tier_hold(member=member, now=now),
        window_start=now - timedelta(days=policy.window_days),
    )


# -- the policy preview ---------------------------------------------------------------------------------------
@dataclass
class PreviewRow:
    tier: Tier | None
    members: int = 0
    up: int = 0
    down: int = 0
    stay: int = 0
    grace: int = 0


def tier_policy_preview(*, now: datetime, policy: TierPolicy | None = None, tiers=None) -> list[PreviewRow]:
    """How many active members of each current tier a review would move up, down or leave, under a policy and
    tier thresholds that may not be saved yet (`grace`: staying, but below the score to keep).

    Raises ValidationError when the thresholds are invalid.
    """
    policy = policy or TierPolicy.load()
    tiers = sorted(tiers if tiers is not None else Tier.objects.all(), key=lambda tier: tier.rank)
    tier_thresholds_check(tiers=tiers)
    rows = {None: PreviewRow(tier=None), **{tier.pk: PreviewRow(tier=tier) for tier in tiers}}
    ranks = {tier.pk: tier.rank for tier in tiers}
    bounds = Member.objects.filter(status=Member.Status.ACTIVE).aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return list(rows.values())[1:]
    cte, params = tier_evaluation_statement(
        policy=policy, tiers=tiers, now=now, first_id=bounds["low"], last_id=bounds["high"]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"{cte} SELECT old_tier_id, new_tier_id, CASE WHEN new_since IS NULL THEN 0 ELSE 1 END, COUNT(*) "
            f"FROM d GROUP BY 1, 2, 3",
            params,
        )
        grouped = cursor.fetchall()
    for old_tier_id, new_tier_id, in_grace, count in grouped:
        row = rows.setdefault(old_tier_id, PreviewRow(tier=None))
        row.members += count
        old_rank, new_rank = ranks.get(old_tier_id, 0), ranks.get(new_tier_id, 0)
        if new_rank > old_rank:
            row.up += count
        elif new_rank < old_rank:
            row.down += count
        else:
            row.stay += count
            row.grace += count if in_grace else 0
    return [row for key, row in rows.items() if key is not None or row.members]
