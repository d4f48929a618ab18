"""Real concurrent redemptions on PostgreSQL: the conditional stock UPDATE, the member lock and SKIP LOCKED keep
stock, limits, points and partner codes exact."""

import time
from decimal import Decimal

import pytest

from members.errors import PaymentAlreadyUsed
from members.models import PointsEntry
from members.services.ledger import points_credit, points_ledger_drift
from points.errors import OrderNotAwaitingPickup, OrderNotCancellable, OutOfStock, RewardLimitReached
from points.models import PointsPolicy, Reward, RewardOrder, RewardPartnerCode
from points.services.mall import reward_order_cancel, reward_order_fulfil, reward_redeem
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory, RewardFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def store():
    PointsPolicy.load()
    return StoreFactory(code="central")


def members_with_points(count, now, points=1000):
    members = [MemberFactory() for _index in range(count)]
    for member in members:
        points_credit(member_id=member.pk, points=points, idempotency_key=f"seed:{member.pk}", now=now)
    return members


def redeem_call(member, reward, now, *, key="k", store=None):
    return lambda: reward_redeem(
        member_id=member.pk,
        reward_id=reward.pk,
        idempotency_key=key,
        pickup_store_id=store.pk if store else None,
        now=now,
    )


def test_fifty_concurrent_redemptions_of_a_reward_with_stock_ten_succeed_exactly_ten_times(store, now):
    reward = RewardFactory(points_price=100, stock_total=10)
    members = members_with_points(50, now)

    started = time.perf_counter()
    results = run_in_threads([redeem_call(member, reward, now, store=store) for member in members], workers=50)
    elapsed = time.perf_counter() - started

    succeeded = [result for result in results if not isinstance(result, Exception)]
    refused = [result for result in results if isinstance(result, OutOfStock)]
    assert (len(succeeded), len(refused)) == (10, 40), [r for r in results if isinstance(r, Exception)][:3]
    reward.refresh_from_db()
    assert (reward.stock_total, reward.stock_remaining) == (10, 0)
    assert RewardOrder.objects.count() == 10
    assert PointsEntry.objects.filter(kind="redemption").count() == 10
    assert (
        sum(m.points_balance for m in type(members[0]).objects.filter(pk__in=[m.pk for m in members])) == 50_000 - 1000
    )
    assert points_ledger_drift() == []
    assert elapsed < 30


def test_one_key_from_ten_threads_records_one_order(store, now):
    reward = RewardFactory(points_price=100, stock_total=10, per_member_limit=None)
    (member,) = members_with_points(1, now)

    results = run_in_threads([redeem_call(member, reward, now, store=store)] * 10, workers=10)

    assert {result.order.pk for result in results} == {RewardOrder.objects.get().pk}
    assert sum(not result.is_replay for result in results) == 1
    member.refresh_from_db()
    assert member.points_balance == 900


def test_the_per_member_limit_holds_under_concurrent_redemptions(store, now):
    reward = RewardFactory(points_price=100, stock_total=10, per_member_limit=2)
    (member,) = members_with_points(1, now)

    calls = [redeem_call(member, reward, now, key=f"k{index}", store=store) for index in range(10)]
    results = run_in_threads(calls, workers=10)

    assert sum(isinstance(result, RewardLimitReached) for result in results) == 8
    assert RewardOrder.objects.count() == 2
    reward.refresh_from_db()
    assert reward.stock_remaining == 8


def test_concurrent_partner_voucher_redemptions_never_share_a_code(store, now):
    reward = RewardFactory(kind="partner_voucher", points_price=100, stock_total=5, per_member_limit=None)
    for index in range(5):
        RewardPartnerCode.objects.create(reward=reward, code=f"CODE-{index}", row_number=index + 1, imported_at=now)
    members = members_with_points(20, now)

    results = run_in_threads([redeem_call(member, reward, now) for member in members], workers=20)

    assert sum(isinstance(result, OutOfStock) for result in results) == 15
    given = list(RewardPartnerCode.objects.filter(order__isnull=False).values_list("order_id", flat=True))
    assert len(given) == len(set(given)) == 5
    assert Reward.objects.get(pk=reward.pk).stock_remaining == 0


def test_a_pickup_raced_by_cancellations_is_either_picked_up_or_cancelled_once(store, now):
    reward = RewardFactory(points_price=100, stock_total=1)
    (member,) = members_with_points(1, now)
    order = redeem_call(member, reward, now, store=store)().order

    def fulfil():
        return reward_order_fulfil(pickup_code=order.pickup_code, store_id=store.pk, now=now)

    def cancel():
        return reward_order_cancel(order_id=order.pk, member_id=member.pk, now=now)

    results = run_in_threads([fulfil, cancel] * 10, workers=20)

    won = [result for result in results if isinstance(result, RewardOrder)]
    assert len(won) == 1
    assert all(isinstance(r, OrderNotAwaitingPickup | OrderNotCancellable) for r in results if r not in won)
    order.refresh_from_db()
    member.refresh_from_db()
    reward.refresh_from_db()
    expected = (1000, 1) if order.status == "cancelled" else (900, 0)
    assert (member.points_balance, reward.stock_remaining) == expected
    assert PointsEntry.objects.filter(kind="refund").count() == (order.status == "cancelled")
    assert points_ledger_drift() == []


def test_one_payment_sent_for_ten_orders_at_once_pays_for_one(store, now):
    members = members_with_points(10, now)
    rewards = [RewardFactory(points_price=100, cash_price=Decimal(10)) for _member in members]

    def pay(member, reward):
        return lambda: reward_redeem(
            member_id=member.pk, reward_id=reward.pk, idempotency_key="k", pickup_store_id=store.pk,
            payment_provider="payme", payment_transaction_id="T-1", now=now,
        )  # fmt: skip

    results = run_in_threads([pay(m, r) for m, r in zip(members, rewards, strict=True)], workers=10)

    assert sum(isinstance(result, PaymentAlreadyUsed) for result in results) == 9
    assert RewardOrder.objects.count() == 1
    assert points_ledger_drift() == []
