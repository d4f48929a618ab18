"""The points mall's services: redeeming each kind of reward, every refusal (a clear code, nothing written),
idempotent retries, pickups at the till and cancellations that give points and stock back."""

from datetime import timedelta
from decimal import Decimal

import pytest

from coupons.errors import SoldOut
from coupons.models import Coupon
from infra.errors import InvalidInput
from members.errors import (
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidMoneyAmount,
    PaymentAlreadyUsed,
    ReasonRequired,
)
from members.models import Member, PointsEntry, PointsLot, StoredValueEntry
from members.services.ledger import points_credit, points_ledger_drift
from members.services.stored_value import stored_value_drift, stored_value_grant
from points.errors import (
    OrderNotAwaitingPickup,
    OrderNotCancellable,
    OutOfStock,
    PickupCodeInvalid,
    PickupStoreInvalid,
    PickupWrongStore,
    PointsSpendingNotAllowed,
    RewardLimitReached,
    RewardNotAvailable,
    RewardNotFound,
    RewardOrderNotFound,
    RewardPaymentRequired,
    RewardTierRequired,
)
from points.models import PointsPolicy, Reward, RewardEarlyAccess, RewardOrder, RewardPartnerCode
from points.services.mall import (
    PICKUP_CODE_ALPHABET,
    reward_order_cancel,
    reward_order_fulfil,
    reward_redeem,
    reward_stock_add,
)
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, RewardFactory, StoreFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return StoreFactory(code="central")


@pytest.fixture
def member(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=1000, idempotency_key=f"seed:{member.pk}", now=now)
    return member


def redeem(member, reward, now, key="k1", **kwargs):
    return reward_redeem(member_id=member.pk, reward_id=reward.pk, idempotency_key=key, now=now, **kwargs)


def state(member, reward):
    """What a refused redemption must leave untouched."""
    member.refresh_from_db()
    reward.refresh_from_db()
    return (
        member.points_balance,
        reward.stock_remaining,
        RewardOrder.objects.count(),
        PointsEntry.objects.filter(kind="redemption").count(),
        Coupon.objects.count(),
        StoredValueEntry.objects.count(),
    )


# -- redeeming ----------------------------------------------------------------------------------------------------
def test_a_physical_gift_takes_points_and_stock_and_waits_for_pickup_with_a_code(member, store, now):
    reward = RewardFactory(points_price=300, stock_total=5)

    result = redeem(member, reward, now, pickup_store_id=store.pk)

    order = result.order
    member.refresh_from_db()
    reward.refresh_from_db()
    assert (result.is_replay, order.status, order.points, order.pickup_store_id) == (
        False,
        "awaiting_pickup",
        300,
        store.pk,
    )
    assert len(order.pickup_code) == 8
    assert set(order.pickup_code) <= set(PICKUP_CODE_ALPHABET)
    assert (member.points_balance, reward.stock_remaining) == (700, 4)
    entry = order.points_entry
    assert (entry.kind, entry.delta, entry.source, entry.breakdown["reward_id"]) == (
        "redemption",
        -300,
        "mall",
        reward.pk,
    )
    assert points_ledger_drift() == []


def test_a_coupon_reward_issues_a_coupon_of_its_offer_at_once(member, now):
    template = CouponTemplateFactory(per_member_limit=1)
    reward = RewardFactory(kind="coupon", coupon_template=template, per_member_limit=2)

    first = redeem(member, reward, now, key="a").order
    second = redeem(member, reward, now, key="b").order

    assert (first.status, first.coupon.template_id, first.coupon.source) == ("delivered", template.pk, "reward")
    assert first.pickup_code is None
    assert second.coupon_id != first.coupon_id  # the reward's limit governs, not the offer's limit of 1
    assert Coupon.objects.filter(member=member).count() == 2


def test_a_stored_value_reward_credits_the_stored_value_ledger(member, now):
    reward = RewardFactory(kind="stored_value", stored_value_amount=Decimal("50.00"))

    order = redeem(member, reward, now).order

    member.refresh_from_db()
    entry = order.stored_value_entry
    assert (order.status, entry.kind, entry.amount, entry.source) == ("delivered", "bonus", Decimal("50.00"), "mall")
    assert member.stored_value_balance == Decimal("50.00")
    assert stored_value_drift() == []


def test_a_partner_voucher_hands_out_the_next_unused_code_of_its_pool(member, now):
    reward = RewardFactory(kind="partner_voucher", stock_total=2)
    for row, code in enumerate(("PARTNER-A", "PARTNER-B"), start=1):
        RewardPartnerCode.objects.create(reward=reward, code=code, row_number=row, imported_at=now)

    order = redeem(member, reward, now).order

    code = RewardPartnerCode.objects.get(order=order)
    assert (order.status, code.code, code.given_at) == ("delivered", "PARTNER-A", now)
    assert RewardPartnerCode.objects.filter(order__isnull=True).count() == 1


def test_a_points_plus_cash_reward_records_the_payment(member, store, now):
    reward = RewardFactory(points_price=200, cash_price=Decimal("30.00"))

    order = redeem(member, reward, now, pickup_store_id=store.pk, payment_provider="payme", payment_transaction_id="T1")
    order = order.order

    assert (order.points, order.cash_amount, order.payment_provider, order.payment_transaction_id) == (
        200,
        Decimal("30.00"),
        "payme",
        "T1",
    )


def test_a_retry_with_the_same_key_returns_the_first_order_and_writes_nothing(member, store, now):
    reward = RewardFactory()
    first = redeem(member, reward, now, pickup_store_id=store.pk)

    again = redeem(member, reward, now, pickup_store_id=store.pk)

    assert (again.is_replay, again.order.pk) == (True, first.order.pk)
    assert RewardOrder.objects.count() == 1
    member.refresh_from_db()
    assert member.points_balance == 900


def test_the_same_key_for_another_reward_is_refused(member, store, now):
    redeem(member, RewardFactory(), now, pickup_store_id=store.pk)

    with pytest.raises(IdempotencyKeyReused):
        redeem(member, RewardFactory(), now, pickup_store_id=store.pk)


def test_two_members_may_use_the_same_key(member, store, now):
    other = MemberFactory()
    points_credit(member_id=other.pk, points=500, idempotency_key="seed-other", now=now)
    reward = RewardFactory()

    redeem(member, reward, now, pickup_store_id=store.pk)
    redeem(other, reward, now, pickup_store_id=store.pk)

    assert RewardOrder.objects.count() == 2


# -- refusals: a clear code and nothing written ------------------------------------------------------------------
def test_redeem_fails_when_stock_is_gone(member, store, now):
    reward = RewardFactory(stock_total=0)
    before = state(member, reward)

    with pytest.raises(OutOfStock) as error:
        redeem(member, reward, now, pickup_store_id=store.pk)

    assert error.value.code == "out_of_stock"
    assert state(member, reward) == before


def test_redeem_above_the_per_member_limit_is_refused(member, store, now):
    reward = RewardFactory(per_member_limit=1)
    redeem(member, reward, now, key="a", pickup_store_id=store.pk)
    before = state(member, reward)

    with pytest.raises(RewardLimitReached) as error:
        redeem(member, reward, now, key="b", pickup_store_id=store.pk)

    assert error.value.code == "reward_limit_reached"
    assert state(member, reward) == before


def test_a_cancelled_order_does_not_count_against_the_limit(member, store, now):
    reward = RewardFactory(per_member_limit=1)
    order = redeem(member, reward, now, key="a", pickup_store_id=store.pk).order
    reward_order_cancel(order_id=order.pk, member_id=member.pk, now=now)

    again = redeem(member, reward, now, key="b", pickup_store_id=store.pk)

    assert again.order.status == "awaiting_pickup"


def test_redeem_without_enough_points_is_refused(member, store, now):
    reward = RewardFactory(points_price=1001)
    before = state(member, reward)

    with pytest.raises(InsufficientPoints):
        redeem(member, reward, now, pickup_store_id=store.pk)

    assert state(member, reward) == before


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"is_active": False}, RewardNotAvailable),
        ({"starts_at_hours": 1}, RewardNotAvailable),
        ({"ends_at_hours": -1}, RewardNotAvailable),
    ],
    ids=["inactive", "not-open-yet", "closed"],
)
def test_a_reward_outside_its_window_or_inactive_is_not_available(member, store, now, fields, error):
    starts = fields.pop("starts_at_hours", None)
    ends = fields.pop("ends_at_hours", None)
    reward = RewardFactory(
        starts_at=now + timedelta(hours=starts) if starts is not None else None,
        ends_at=now + timedelta(hours=ends) if ends is not None else None,
        **fields,
    )
    before = state(member, reward)

    with pytest.raises(error) as raised:
        redeem(member, reward, now, pickup_store_id=store.pk)

    assert raised.value.code == "reward_not_available"
    assert state(member, reward) == before


def test_an_unknown_reward_is_not_found(member, now):
    with pytest.raises(RewardNotFound):
        reward_redeem(member_id=member.pk, reward_id=999999, idempotency_key="k", now=now)


def test_a_tier_only_reward_refuses_members_of_other_tiers(member, store, now):
    gold, silver = TierFactory(code="gold", rank=3), TierFactory(code="silver", rank=2)
    reward = RewardFactory()
    reward.tiers.set([gold])
    Member.objects.filter(pk=member.pk).update(tier=silver)
    before = state(member, reward)

    with pytest.raises(RewardTierRequired) as error:
        redeem(member, reward, now, pickup_store_id=store.pk)

    assert (error.value.code, error.value.status) == ("reward_tier_required", 403)
    assert state(member, reward) == before
    Member.objects.filter(pk=member.pk).update(tier=gold)
    assert redeem(member, reward, now, pickup_store_id=store.pk).order.status == "awaiting_pickup"


def test_early_access_opens_a_reward_sooner_for_its_tier_and_higher_tiers_only(store, now):
    v1, v2, v3 = TierFactory(code="v1", rank=1), TierFactory(code="v2", rank=2), TierFactory(code="v3", rank=3)
    reward = RewardFactory(starts_at=now + timedelta(hours=2), stock_total=5, per_member_limit=None)
    RewardEarlyAccess.objects.create(reward=reward, tier=v2, starts_at=now - timedelta(minutes=1))
    members = {}
    for tier in (v1, v2, v3):
        members[tier.code] = MemberFactory(tier=tier)
        points_credit(member_id=members[tier.code].pk, points=500, idempotency_key=f"s{tier.pk}", now=now)

    assert redeem(members["v2"], reward, now, pickup_store_id=store.pk).order.status == "awaiting_pickup"
    assert redeem(members["v3"], reward, now, pickup_store_id=store.pk).order.status == "awaiting_pickup"
    with pytest.raises(RewardNotAvailable):
        redeem(members["v1"], reward, now, pickup_store_id=store.pk)
    later = now + timedelta(hours=2)
    assert redeem(members["v1"], reward, later, key="k2", pickup_store_id=store.pk).order.status == "awaiting_pickup"


def test_a_member_whose_status_may_not_spend_points_is_refused(member, store, now):
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)
    reward = RewardFactory()
    before = state(member, reward)

    with pytest.raises(PointsSpendingNotAllowed):
        redeem(member, reward, now, pickup_store_id=store.pk)

    assert state(member, reward) == before


def test_the_policy_decides_which_statuses_may_spend(member, store, now):
    policy = PointsPolicy.load()
    policy.spending_statuses = ["active", "frozen"]
    policy.save()
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    assert redeem(member, RewardFactory(), now, pickup_store_id=store.pk).order.status == "awaiting_pickup"


@pytest.mark.parametrize("case", ["missing", "inactive", "not-a-pickup-store", "digital-reward-with-a-store"])
def test_a_bad_pickup_store_is_refused(member, store, now, case):
    other = StoreFactory(code="tst", is_active=case != "inactive")
    reward = RewardFactory(kind="stored_value", stored_value_amount=Decimal(5)) if case.startswith("digital") else None
    reward = reward or RewardFactory()
    if case == "not-a-pickup-store":
        reward.pickup_stores.set([store])
    pickup = {"missing": None}.get(case, other.pk)
    before = state(member, reward)

    with pytest.raises(PickupStoreInvalid) as error:
        redeem(member, reward, now, pickup_store_id=pickup)

    assert (error.value.code, list(error.value.fields)) == ("pickup_store_invalid", ["pickup_store"])
    assert state(member, reward) == before


def test_points_plus_cash_needs_the_payment(member, store, now):
    reward = RewardFactory(cash_price=Decimal("30.00"))
    before = state(member, reward)

    with pytest.raises(RewardPaymentRequired) as error:
        redeem(member, reward, now, pickup_store_id=store.pk, payment_provider="payme")

    assert error.value.fields == {"transaction_id": [str(RewardPaymentRequired.message)]}
    assert state(member, reward) == before


def test_one_payment_pays_for_one_order_only(member, store, now):
    first, second = RewardFactory(cash_price=Decimal(10)), RewardFactory(cash_price=Decimal(10))
    redeem(member, first, now, key="a", pickup_store_id=store.pk, payment_provider="payme", payment_transaction_id="T")

    with pytest.raises(PaymentAlreadyUsed):
        redeem(
            member, second, now, key="b", pickup_store_id=store.pk, payment_provider="payme", payment_transaction_id="T"
        )


def test_a_payment_for_a_points_only_reward_is_refused(member, store, now):
    with pytest.raises(InvalidInput):
        redeem(
            member, RewardFactory(), now, pickup_store_id=store.pk, payment_provider="payme", payment_transaction_id="T"
        )


def test_a_missing_idempotency_key_is_refused(member, store, now):
    with pytest.raises(InvalidInput) as error:
        redeem(member, RewardFactory(), now, key="  ", pickup_store_id=store.pk)

    assert error.value.code == "idempotency_key_invalid"


def test_a_sold_out_coupon_offer_refuses_the_redemption_and_gives_back_stock_and_points(member, now):
    template = CouponTemplateFactory(quota=0)
    reward = RewardFactory(kind="coupon", coupon_template=template)
    before = state(member, reward)

    with pytest.raises(OutOfStock):
        redeem(member, reward, now)

    assert state(member, reward) == before
    assert not issubclass(OutOfStock, SoldOut)


def test_an_empty_partner_pool_refuses_the_redemption(member, now):
    reward = RewardFactory(kind="partner_voucher", stock_total=1)  # stock out of step with an empty pool
    before = state(member, reward)

    with pytest.raises(OutOfStock):
        redeem(member, reward, now)

    assert state(member, reward) == before


# -- pickups --------------------------------------------------------------------------------------------------------
@pytest.fixture
def pickup(member, store, now):
    return redeem(member, RewardFactory(), now, pickup_store_id=store.pk).order


def test_staff_hand_over_a_pickup_with_its_code(pickup, store, now):
    clerk = UserFactory(store=store)
    typed = f"{pickup.pickup_code[:4].lower()}-{pickup.pickup_code[4:]}"

    order = reward_order_fulfil(pickup_code=typed, store_id=store.pk, fulfilled_by=clerk, now=now)

    assert (order.pk, order.status, order.fulfilled_at, order.fulfilled_by, order.fulfilled_store_id) == (
        pickup.pk,
        "fulfilled",
        now,
        clerk,
        store.pk,
    )


def test_a_wrong_code_is_refused(pickup, store, now):
    with pytest.raises(PickupCodeInvalid) as error:
        reward_order_fulfil(pickup_code="ZZZZZZZZ", store_id=store.pk, now=now)

    assert error.value.code == "pickup_code_invalid"
    pickup.refresh_from_db()
    assert pickup.status == "awaiting_pickup"


def test_the_code_must_be_the_chosen_orders(pickup, store, now):
    with pytest.raises(PickupCodeInvalid):
        reward_order_fulfil(pickup_code=pickup.pickup_code, order_id=pickup.pk + 1, store_id=store.pk, now=now)


def test_another_store_cannot_hand_over_the_pickup(pickup, now):
    with pytest.raises(PickupWrongStore):
        reward_order_fulfil(pickup_code=pickup.pickup_code, store_id=StoreFactory(code="tst").pk, now=now)


def test_a_pickup_is_handed_over_once(pickup, store, now):
    reward_order_fulfil(pickup_code=pickup.pickup_code, store_id=store.pk, now=now)

    with pytest.raises(OrderNotAwaitingPickup):
        reward_order_fulfil(pickup_code=pickup.pickup_code, store_id=store.pk, now=now)


# -- cancelling ----------------------------------------------------------------------------------------------------
def test_cancelling_returns_the_points_with_their_expiry_and_the_stock(store, now):
    member = MemberFactory()
    expires = now + timedelta(days=90)
    points_credit(member_id=member.pk, points=100, idempotency_key="lot", now=now, expires_at=expires)
    reward = RewardFactory(points_price=100)
    order = redeem(member, reward, now, pickup_store_id=store.pk).order

    cancelled = reward_order_cancel(order_id=order.pk, member_id=member.pk, reason="changed my mind", now=now)

    member.refresh_from_db()
    reward.refresh_from_db()
    refund = cancelled.refund_entry
    assert (cancelled.status, cancelled.cancelled_at, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "cancelled",
        now,
        None,
        "changed my mind",
    )
    assert (refund.kind, refund.delta) == ("refund", 100)
    assert PointsLot.objects.get(entry=refund).expires_at == expires
    assert (member.points_balance, reward.stock_remaining) == (100, 10)
    assert points_ledger_drift() == []


def test_staff_cancel_with_a_reason(pickup, store, now):
    manager = UserFactory(store=store)

    with pytest.raises(ReasonRequired):
        reward_order_cancel(order_id=pickup.pk, cancelled_by=manager, store_id=store.pk, now=now)
    order = reward_order_cancel(order_id=pickup.pk, cancelled_by=manager, store_id=store.pk, reason="damaged", now=now)

    assert (order.status, order.cancelled_by, order.refund_entry.created_by) == ("cancelled", manager, manager)


def test_staff_of_another_store_cannot_cancel(pickup, now):
    with pytest.raises(RewardOrderNotFound):
        reward_order_cancel(
            order_id=pickup.pk, cancelled_by=UserFactory(), store_id=StoreFactory(code="tst").pk, reason="x", now=now
        )


def test_a_member_cannot_cancel_another_members_order(pickup, now):
    with pytest.raises(RewardOrderNotFound):
        reward_order_cancel(order_id=pickup.pk, member_id=MemberFactory().pk, now=now)

    pickup.refresh_from_db()
    assert pickup.status == "awaiting_pickup"


def test_an_order_is_cancelled_once(pickup, member, now):
    reward_order_cancel(order_id=pickup.pk, member_id=member.pk, now=now)

    with pytest.raises(OrderNotCancellable):
        reward_order_cancel(order_id=pickup.pk, member_id=member.pk, now=now)

    assert PointsEntry.objects.filter(kind="refund").count() == 1


def test_picked_up_and_delivered_orders_cannot_be_cancelled(pickup, member, store, now):
    reward_order_fulfil(pickup_code=pickup.pickup_code, store_id=store.pk, now=now)
    delivered = redeem(member, RewardFactory(kind="stored_value", stored_value_amount=Decimal(5)), now, key="sv").order

    for order in (pickup, delivered):
        with pytest.raises(OrderNotCancellable):
            reward_order_cancel(order_id=order.pk, member_id=member.pk, now=now)


def test_a_member_cannot_cancel_an_order_paid_partly_in_cash_but_staff_can(member, store, now):
    reward = RewardFactory(cash_price=Decimal(10))
    order = redeem(member, reward, now, pickup_store_id=store.pk, payment_provider="payme", payment_transaction_id="T")

    with pytest.raises(OrderNotCancellable):
        reward_order_cancel(order_id=order.order.pk, member_id=member.pk, now=now)
    cancelled = reward_order_cancel(order_id=order.order.pk, cancelled_by=UserFactory(), reason="refunded", now=now)

    assert cancelled.status == "cancelled"


# -- stock -------------------------------------------------------------------------------------------------------------
def test_stock_is_added_and_unredeemed_stock_taken_away(now):
    reward = RewardFactory(stock_total=10)

    reward_stock_add(reward_id=reward.pk, quantity=5)
    reward = reward_stock_add(reward_id=reward.pk, quantity=-15)

    assert (reward.stock_total, reward.stock_remaining) == (0, 0)


def test_more_stock_than_is_left_cannot_be_taken_away(member, store, now):
    reward = RewardFactory(stock_total=2)
    redeem(member, reward, now, pickup_store_id=store.pk)

    with pytest.raises(InvalidInput):
        reward_stock_add(reward_id=reward.pk, quantity=-2)

    reward.refresh_from_db()
    assert (reward.stock_total, reward.stock_remaining) == (2, 1)


@pytest.mark.parametrize("quantity", [0, True])
def test_a_zero_stock_change_is_refused(quantity):
    with pytest.raises(InvalidInput):
        reward_stock_add(reward_id=RewardFactory().pk, quantity=quantity)


def test_a_partner_vouchers_stock_only_follows_its_pool():
    with pytest.raises(InvalidInput):
        reward_stock_add(reward_id=RewardFactory(kind="partner_voucher", stock_total=0).pk, quantity=5)


def test_the_database_refuses_negative_stock():
    from django.db import IntegrityError, transaction

    reward = RewardFactory(stock_total=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Reward.objects.filter(pk=reward.pk).update(stock_remaining=-1)


# -- stored_value_grant (members), used by stored-value rewards --------------------------------------------------------
def test_a_stored_value_grant_is_idempotent_by_its_key(member, now):
    first = stored_value_grant(member_id=member.pk, amount="20.00", idempotency_key="gift:1", now=now, source="mall")
    again = stored_value_grant(member_id=member.pk, amount="20.00", idempotency_key="gift:1", now=now, source="mall")

    member.refresh_from_db()
    assert again.pk == first.pk
    assert (member.stored_value_balance, StoredValueEntry.objects.count()) == (Decimal("20.00"), 1)
    with pytest.raises(IdempotencyKeyReused):
        stored_value_grant(member_id=member.pk, amount="30.00", idempotency_key="gift:1", now=now, source="mall")


@pytest.mark.parametrize(("amount", "source"), [("0", "mall"), ("1.001", "mall"), ("5", " ")])
def test_a_stored_value_grant_refuses_bad_input(member, now, amount, source):
    with pytest.raises((InvalidInput, InvalidMoneyAmount)):
        stored_value_grant(member_id=member.pk, amount=amount, idempotency_key="gift:2", now=now, source=source)

    assert StoredValueEntry.objects.count() == 0
