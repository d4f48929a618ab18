"""Reads of the points mall shared by the API, the console and the redemption service.

`reward_refusal` is the one place that says why a member cannot redeem a reward; the listing shows its
answer as `can_redeem` / `reason`, and `reward_redeem` asks it again under the member's lock.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, Q

from infra.errors import LoyaltyError
from members.errors import InsufficientPoints
from members.models import Member, Store, Tier
from members.selectors.holds import points_available
from points.errors import (
    OutOfStock,
    PointsSpendingNotAllowed,
    RewardLimitReached,
    RewardNotAvailable,
    RewardNotFound,
    RewardOrderNotFound,
    RewardTierRequired,
)
from points.models import PointsPolicy, Reward, RewardEarlyAccess, RewardOrder

LIVE_STATUSES = (RewardOrder.Status.AWAITING_PICKUP, RewardOrder.Status.DELIVERED, RewardOrder.Status.FULFILLED)


@dataclass(frozen=True)
class RewardForMember:
    """A reward as one member sees it: when it opens for them, whether they can redeem it now, and why not."""

    reward: Reward
    opens_at: datetime | None
    redeemed_count: int
    refusal: type[LoyaltyError] | None

    @property
    def can_redeem(self) -> bool:
        return self.refusal is None

    @property
    def reason(self) -> str | None:
        return self.refusal.code if self.refusal else None


def reward_opens_at(*, reward: Reward, tier_rank: int | None, early_access) -> datetime | None:
    """Return when `reward` opens for a member of a tier of `tier_rank` (None: no tier, or open already).

    An early-access row opens the reward for its tier and every higher tier; the earliest time that applies
    wins, and the general start applies to everyone.
    """
    if reward.starts_at is None:
        return None
    times = [reward.starts_at]
    if tier_rank is not None:
        times += [row.starts_at for row in early_access if row.tier.rank <= tier_rank]
    return min(times)


def reward_refusal(
    *,
    reward: Reward,
    member: Member,
    tier_rank: int | None,
    tier_ids,
    early_access,
    redeemed_count: int,
    policy: PointsPolicy,
    now: datetime,
) -> type[LoyaltyError] | None:
    """Return the error that refuses `member` this reward now (the first that applies), or None.

    In order: inactive or closed, tier, not yet open (early access counted), member status, per-member
    limit, stock, points balance. The stock answer is a fast path: redemption takes stock by a conditional
    UPDATE.
    """
    if not reward.is_active or (reward.ends_at is not None and reward.ends_at <= now):
        return RewardNotAvailable
    if tier_ids and member.tier_id not in tier_ids:
        return RewardTierRequired
    opens_at = reward_opens_at(reward=reward, tier_rank=tier_rank, early_access=early_access)
    if opens_at is not None and opens_at > now:
        return RewardNotAvailable
    if member.status not in policy.spending_statuses:
        return PointsSpendingNotAllowed
    if reward.per_member_limit is not None and redeemed_count >= reward.per_member_limit:
        return RewardLimitReached
    if reward.stock_remaining < 1:
        return OutOfStock
    if points_available(member) < reward.points_price:  # points held for a checkout are not spendable here
        return InsufficientPoints
    return None


def _member_tier_rank(member: Member) -> int | None:
    if member.tier_id is None:
        return None
    return Tier.objects.filter(pk=member.tier_id).values_list("rank", flat=True).first()


def _rewards_queryset():
    return Reward.objects.prefetch_related(
        "tiers",
        Prefetch("early_access", queryset=RewardEarlyAccess.objects.select_related("tier").order_by("starts_at")),
        Prefetch("pickup_stores", queryset=Store.objects.filter(is_active=True).order_by("name")),
    )


def member_redeemed_counts(*, member_id: int, reward_ids=None) -> dict[int, int]:
    """Return {reward id: orders of the member that count against the per-member limit (not cancelled)}."""
    orders = RewardOrder.objects.filter(member_id=member_id, status__in=LIVE_STATUSES)
    if reward_ids is not None:
        orders = orders.filter(reward_id__in=reward_ids)
    return dict(orders.values("reward_id").annotate(count=Count("pk")).values_list("reward_id", "count"))


def _for_member(rewards, *, member: Member, now: datetime) -> list[RewardForMember]:
    policy = PointsPolicy.load()
    tier_rank = _member_tier_rank(member)
    counts = member_redeemed_counts(member_id=member.pk, reward_ids=[reward.pk for reward in rewards])
    views = []
    for reward in rewards:
        early_access = list(reward.early_access.all())
        redeemed = counts.get(reward.pk, 0)
        views.append(
            RewardForMember(
                reward=reward,
                opens_at=reward_opens_at(reward=reward, tier_rank=tier_rank, early_access=early_access),
                redeemed_count=redeemed,
                refusal=reward_refusal(
                    reward=reward,
                    member=member,
                    tier_rank=tier_rank,
                    tier_ids={tier.pk for tier in reward.tiers.all()},
                    early_access=early_access,
                    redeemed_count=redeemed,
                    policy=policy,
                    now=now,
                ),
            )
        )
    return views


def rewards_for_member(*, member: Member, now: datetime) -> list[RewardForMember]:
    """Return the mall as `member` sees it: active rewards not yet closed (those opening later too, with the
    time they open for this member), in display order; a fixed number of queries."""
    rewards = list(
        _rewards_queryset()
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now), is_active=True)
        .order_by("sort_order", "pk")
    )
    return _for_member(rewards, member=member, now=now)


def reward_for_member(*, member: Member, reward_id: int, now: datetime) -> RewardForMember:
    """Return one active reward as `member` sees it. Raises RewardNotFound (unknown or inactive)."""
    reward = _rewards_queryset().filter(pk=reward_id, is_active=True).first()
    if reward is None:
        raise RewardNotFound()
    return _for_member([reward], member=member, now=now)[0]


def reward_orders_of_member(*, member_id: int, status: str | None = None):
    """Return a member's own reward orders, newest first (a queryset for cursor pagination)."""
    orders = (
        RewardOrder.objects.filter(member_id=member_id)
        .select_related("reward", "pickup_store", "coupon", "stored_value_entry", "partner_code")
        .order_by("-pk")
    )
    if status is not None:
        orders = orders.filter(status=status)
    return orders


def reward_order_of_member(*, member_id: int, order_id: int) -> RewardOrder:
    """Return one of a member's own orders. Raises RewardOrderNotFound (unknown, or another member's)."""
    order = reward_orders_of_member(member_id=member_id).filter(pk=order_id).first()
    if order is None:
        raise RewardOrderNotFound()
    return order
