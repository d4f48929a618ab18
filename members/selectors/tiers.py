"""Tier reads shared by the API and the console: a member's tier status and the preview of a policy change."""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, F, Max, Min, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from infra.bulk_sql import set_based
from members import sql
from members.models import Member, MemberPlanSubscription, PointsEntry, Purchase, Tier, TierHistory, TierPolicy
from members.models.tiers import tier_thresholds_check

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
    gift = tier.monthly_gift_description if tier.monthly_gift_description and _monthly_gift_granted(tier) else ""
    if gift:
        text = _("Every month: %(gift)s") % {"gift": gift}
        summary.append({"benefit": "monthly_gift", "text": str(text)})
    return TierBenefits(
        earn_multiplier=tier.earn_multiplier,
        discount_percent=tier.discount_percent,
        discount_applies=policy.discount_applies,
        discount_max_amount=policy.discount_max_amount,
        discount_excluded_categories=list(policy.discount_excluded_categories or ()),
        birthday_multiplier=tier.birthday_multiplier,
        monthly_gift=gift,
        summary=summary,
    )


def _monthly_gift_granted(tier: Tier) -> bool:
    """Whether an active monthly gift grants this tier something: its description is shown only then.

    The gift is points.TierMonthlyGift, which members may not import; it is read through the relation it declares
    on the tier (`monthly_gift`).
    """
    return Tier.objects.filter(pk=tier.pk, monthly_gift__is_active=True).exists()


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
    # The highest tier the score already reaches when it is above an active member's tier: a member never reviewed
    # yet (new, imported) or whose thresholds were lowered gets it at the next review or purchase.
    reached_tier: Tier | None = None
    has_tiers: bool = True  # False while the program has no tier at all (a new merchant's)

    @property
    def progress_percent(self) -> int | None:
        """How much of the next tier's score to reach the score makes, in whole percent (None without a next tier)."""
        if self.next_tier is None or self.next_tier.min_score_to_reach <= 0:
            return None
        return max(0, min(100, int(self.score * 100 / self.next_tier.min_score_to_reach)))


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
    """The weighted sum of the indicators to the cent, halves rounded up (as PostgreSQL's ROUND does)."""
    weights = policy.weights()
    total = sum((Decimal(indicators[name]) * weights[name] for name in TierPolicy.INDICATORS), Decimal(0))
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


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
    # The next tier is the first one above both the member's tier and what the score reaches already: before a
    # first review a member has no tier, and an entry tier that asks nothing is no goal.
    reached = TierLadder(tiers).reached(score)
    standing = max(current.rank if current else 0, reached.rank if reached else 0)
    higher = [tier for tier in tiers if tier.rank > standing]
    # A tier reached above the member's own is given at the next review or purchase: to active members only.
    if reached is None or reached.rank <= (current.rank if current else 0) or member.status != Member.Status.ACTIVE:
        reached = None
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
        reached_tier=reached,
        has_tiers=bool(tiers),
    )


# -- the review's decisions ----------------------------------------------------------------------------------
Reason = TierHistory.Reason


@dataclass(frozen=True)
class TierDecision:
    """What a review decides for one member: their tier and the start of their grace period, before and after."""

    member_id: int
    old_tier_id: int | None
    old_since: datetime | None
    new_tier_id: int | None
    new_since: datetime | None
    score: Decimal
    reason: str

    @property
    def changes(self) -> bool:
        return (self.new_tier_id, self.new_since) != (self.old_tier_id, self.old_since)


class TierLadder:
    """The tiers by rank, with what a review asks of them (possibly unsaved thresholds, for the preview)."""

    def __init__(self, tiers):
        self.ordered = sorted(tiers, key=lambda tier: tier.rank)
        self.by_pk = {tier.pk: tier for tier in self.ordered}
        self.by_rank = {tier.rank: tier for tier in self.ordered}
        self.lower = {tier.pk: lower for tier, lower in zip(self.ordered[1:], self.ordered, strict=False)}

    def rank(self, tier_id) -> int:
        """The tier's rank; 0 for no tier (or one the ladder does not know)."""
        tier = self.by_pk.get(tier_id)
        return tier.rank if tier else 0

    def reached(self, score: Decimal) -> Tier | None:
        return next((tier for tier in reversed(self.ordered) if score >= tier.min_score_to_reach), None)


def tier_decide(
    *, ladder: TierLadder, policy: TierPolicy, now: datetime, instant: bool, tier_id, since, score, grant_rank: int
) -> tuple[int | None, datetime | None, str]:
    """Return the member's new tier id, start of the grace period, and the reason of a move (rules: see
    members.services.tiers; members.sql.tier_review_statement writes the same rules in SQL)."""
    old_rank = ladder.rank(tier_id)
    old = ladder.by_pk.get(tier_id)
    keep = old.min_score_to_keep if old else 0
    reached = ladder.reached(score)
    if reached is not None and reached.rank > old_rank:  # up at once, several steps if earned
        new_tier_id, new_since = reached.pk, None
        reason = Reason.PURCHASE_UPGRADE if instant else Reason.UPGRADE
    elif instant:  # after a purchase: never down, never a grace period started
        new_tier_id, new_since, reason = tier_id, (None if score >= keep else since), Reason.PURCHASE_UPGRADE
    else:
        lower = ladder.lower.get(tier_id)
        reason = Reason.DOWNGRADE
        if tier_id is None or score >= keep or lower is None:
            new_tier_id, new_since = tier_id, None
        elif (since or now) <= now - timedelta(days=policy.grace_period_days):  # grace over: one step down
            new_tier_id, new_since = lower.pk, (None if score >= lower.min_score_to_keep else now)
        else:
            new_tier_id, new_since = tier_id, since or now
    if grant_rank > 0 and grant_rank > ladder.rank(new_tier_id):  # a running plan or top-up holds its tier
        if grant_rank > old_rank:
            reason = Reason.GRANT
        held = ladder.by_rank.get(grant_rank)
        new_tier_id, new_since = (held.pk if held else None), None
    return new_tier_id, new_since, reason.value


def _chunk(field_name: str, *, first_id: int, last_id: int, member_ids) -> dict:
    if member_ids is not None:
        return {f"{field_name}__in": list(member_ids)}
    return {f"{field_name}__gte": first_id, f"{field_name}__lte": last_id}


def _chunk_indicators(*, policy: TierPolicy, now: datetime, chunk) -> dict[int, dict]:
    """The indicators of the chunk's members who have any in the window, by member id (as member_indicators)."""
    weights = policy.weights()
    start = now - timedelta(days=policy.window_days)
    local_day = TruncDate("purchased_at", tzinfo=timezone.get_default_timezone())
    wanted = {
        name: aggregate
        for name, aggregate in {
            "spend": Sum(F("paid_amount") + F("stored_value_amount")),
            "purchases": Count("pk"),
            "stores": Count("store", distinct=True),
            "active_days": Count(local_day, distinct=True),
        }.items()
        if weights[name]
    }
    found = defaultdict(dict)
    if wanted:
        purchases = (
            Purchase.objects.filter(**chunk("member_id"), purchased_at__gt=start, purchased_at__lte=now)
            .exclude(status=Purchase.Status.REFUNDED)
            .values("member_id")
            .annotate(**wanted)
            .order_by()
        )
        for row in purchases:
            found[row.pop("member_id")].update(row)
    if weights["points"]:
        entries = (
            PointsEntry.objects.filter(
                **chunk("member_id"), kind=PointsEntry.Kind.ACCRUAL, created_at__gt=start, created_at__lte=now
            )
            .values("member_id")
            .annotate(points=Sum("delta"))
            .order_by()
        )
        for row in entries:
            found[row["member_id"]]["points"] = row["points"]
    return found


def tier_review_decisions(
    *, policy: TierPolicy, tiers, now: datetime, first_id: int, last_id: int, instant: bool = False, member_ids=None
) -> list[TierDecision]:
    """Decide the review of every active, not overridden member of a chunk (first_id..last_id, or the given ids),
    by member id: the portable reference of members.sql.tier_review_statement (five queries, whatever the size)."""

    def chunk(field_name):
        return _chunk(field_name, first_id=first_id, last_id=last_id, member_ids=member_ids)

    ladder = TierLadder(tiers)
    indicators = _chunk_indicators(policy=policy, now=now, chunk=chunk)
    grant_ranks = defaultdict(int)  # the highest tier each member holds for a period running now
    grants = MemberPlanSubscription.objects.filter(**chunk("member_id"), ends_at__gt=now, starts_at__lte=now)
    for member_id, tier_id in grants.values_list("member_id", "tier_id"):
        grant_ranks[member_id] = max(grant_ranks[member_id], ladder.rank(tier_id))
    members = (
        Member.objects.filter(**chunk("pk"), status=Member.Status.ACTIVE)
        .exclude(tier_override_until__gt=now)
        .order_by("pk")
        .values_list("pk", "tier_id", "tier_below_keep_since")
    )
    decisions = []
    for member_id, tier_id, since in members:
        found = indicators.get(member_id, {})
        score = tier_score(indicators={name: found.get(name) or 0 for name in TierPolicy.INDICATORS}, policy=policy)
        new_tier_id, new_since, reason = tier_decide(
            ladder=ladder, policy=policy, now=now, instant=instant, tier_id=tier_id, since=since, score=score,
            grant_rank=grant_ranks[member_id],
        )  # fmt: skip
        decisions.append(TierDecision(member_id, tier_id, since, new_tier_id, new_since, score, reason))
    return decisions


# -- the policy preview ---------------------------------------------------------------------------------------
@dataclass
class PreviewRow:
    tier: Tier | None
    members: int = 0
    up: int = 0
    down: int = 0
    stay: int = 0
    grace: int = 0


PREVIEW_CHUNK_SIZE = 10_000


def _preview_counts(*, policy, tiers, now, first_id, last_id) -> list[tuple]:
    """(old tier id, new tier id, in grace 0/1, members) of a review over first_id..last_id, without writing."""
    if set_based():  # one statement instead of every member's decision in Python
        return sql.tier_review_counts(policy=policy, tiers=tiers, now=now, first_id=first_id, last_id=last_id)
    counts = defaultdict(int)
    for start in range(first_id, last_id + 1, PREVIEW_CHUNK_SIZE):
        for decision in tier_review_decisions(
            policy=policy, tiers=tiers, now=now, first_id=start, last_id=min(start + PREVIEW_CHUNK_SIZE - 1, last_id)
        ):
            counts[decision.old_tier_id, decision.new_tier_id, 0 if decision.new_since is None else 1] += 1
    return [(*key, count) for key, count in counts.items()]


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
    grouped = _preview_counts(policy=policy, tiers=tiers, now=now, first_id=bounds["low"], last_id=bounds["high"])
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
