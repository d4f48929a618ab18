"""purchase_checkout and purchase_preview: earn and spend in one transaction, refuse bad input with no write."""

from datetime import timedelta
from decimal import Decimal

import pytest

from infra.errors import InvalidInput
from members.errors import IdempotencyKeyReused, InsufficientPoints
from members.models import Member, PointsEntry, PointsLot, Purchase, Tier
from points.cart import Cart, CartLine, CheckoutContext
from points.errors import MemberRequired, PointsShareExceeded, PointsSpendingNotAllowed, StoreInactive
from points.models import EarningRule, PurchaseCheckout
from points.services.checkout import purchase_checkout, purchase_preview
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkout(store, member, policy, base_rule, now):
    """Check out sale S-1 of HK$1000.00 paid by card, by `member` at `store`: keywords change the cart; `store_id`
    and `member_id` the context."""

    def run(*, store_id=store.pk, member_id=member.pk, **cart):
        return purchase_checkout(
            cart=Cart(**{"external_id": "S-1", "gross_amount": Decimal("1000.00"), "payment_method": "card", **cart}),
            context=CheckoutContext(channel="pos", store_id=store_id, member_id=member_id, now=now),
        )

    return run


def counts():
    return (Purchase.objects.count(), PointsEntry.objects.count(), PurchaseCheckout.objects.count())


def test_checkout_records_the_purchase_and_credits_points_with_their_breakdown(checkout, member, base_rule):
    result = checkout()

    member.refresh_from_db()
    entry = PointsEntry.objects.get(purchase=result.purchase)
    assert (result.checkout.points_earned, member.points_balance, entry.kind, entry.delta) == (100, 100, "accrual", 100)
    assert entry.breakdown == {
        "total": 100,
        "rules": [{"rule_id": base_rule.pk, "name": "HK$100 = 10 points", "kind": "base_rate", "points": 100}],
        "eligible_amount": "1000.00",
    }
    assert result.purchase.paid_amount == Decimal("1000.00")
    assert result.is_replay is False


def test_amounts_that_binary_floats_cannot_subtract_exactly_are_recorded(checkout, member, give_points):
    # 123.45 - 5.10 is 118.35000000000001 in binary floats (SQLite's arithmetic), 118.35 in money
    give_points(member, 510)

    result = checkout(gross_amount=Decimal("123.45"), points_to_spend=510)

    assert Purchase.objects.get(pk=result.purchase.pk).paid_amount == Decimal("118.35")


def test_checkout_spends_points_and_earns_only_on_the_amount_not_paid_with_points(checkout, member, give_points):
    give_points(member, 5000)

    result = checkout(points_to_spend=5000)

    member.refresh_from_db()
    purchase = result.purchase
    assert (purchase.points_value_amount, purchase.paid_amount) == (Decimal("50.00"), Decimal("950.00"))
    assert (result.checkout.points_spent, result.checkout.points_earned) == (5000, 95)
    assert member.points_balance == 95
    assert result.checkout.balance_after == 95
    spend = PointsEntry.objects.get(purchase=purchase, kind="redemption")
    assert spend.delta == -5000


def test_spending_more_than_the_share_allowed_is_refused_without_a_write(checkout, member, give_points, policy):
    policy.max_points_share_percent = Decimal(20)
    policy.save()
    give_points(member, 50_000)
    before = counts()

    with pytest.raises(PointsShareExceeded) as info:
        checkout(points_to_spend=20_001)  # 200.01 of a 1000.00 order

    assert info.value.fields == {"points_to_spend": ["At most 20000 points (200.00) can pay this order."]}
    assert counts() == before


def test_spending_more_points_than_the_balance_is_refused_without_a_write(checkout, member, give_points):
    give_points(member, 100)
    before = counts()

    with pytest.raises(InsufficientPoints):
        checkout(points_to_spend=101)

    assert counts() == before
    member.refresh_from_db()
    assert member.points_balance == 100


def test_a_member_whose_status_may_not_spend_is_refused(checkout, member, give_points):
    give_points(member, 1000)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    with pytest.raises(PointsSpendingNotAllowed):
        checkout(points_to_spend=100)

    assert Purchase.objects.count() == 0


def test_a_member_whose_status_may_not_earn_records_the_purchase_without_points(checkout, member, policy):
    policy.earning_statuses = ["active"]
    policy.save()
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)

    result = checkout()

    assert result.checkout.points_earned == 0
    assert PointsEntry.objects.count() == 0


def test_points_cannot_be_spent_without_a_member(checkout):
    with pytest.raises(MemberRequired):
        checkout(member_id=None, points_to_spend=10)


def test_an_anonymous_purchase_is_recorded_without_points(checkout):
    result = checkout(member_id=None)

    assert (result.purchase.member_id, result.checkout.points_earned) == (None, 0)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"gross_amount": Decimal(0)}, "gross_amount"),
        ({"gross_amount": Decimal("-1")}, "gross_amount"),
        ({"discount_amount": Decimal("-1")}, "discount_amount"),
        ({"discount_amount": Decimal("1000.01")}, "discount_amount"),
        ({"points_to_spend": -5}, "points_to_spend"),
        ({"external_id": " "}, "external_id"),
    ],
)
def test_bad_amounts_are_refused_without_a_write(checkout, overrides, field):
    with pytest.raises(InvalidInput) as info:
        checkout(**overrides)

    assert field in info.value.fields
    assert counts() == (0, 0, 0)


def test_an_inactive_store_is_refused(checkout, store):
    store.is_active = False
    store.save()

    with pytest.raises(StoreInactive):
        checkout()


def test_the_same_checkout_again_returns_the_first_result_without_writing(checkout, member, give_points):
    give_points(member, 1000)
    first = checkout(points_to_spend=500, items=(CartLine(sku="A", unit_price=Decimal("1000.00")),))
    before = counts()

    again = checkout(points_to_spend=500, items=(CartLine(sku="A", unit_price=Decimal("1000.00")),))

    assert again.is_replay is True
    assert (again.purchase.pk, again.checkout.pk) == (first.purchase.pk, first.checkout.pk)
    assert counts() == before
    member.refresh_from_db()
    assert member.points_balance == 1000 - 500 + 99


@pytest.mark.parametrize(
    "change",
    [
        {"gross_amount": Decimal("999.00")},
        {"points_to_spend": 100},
        {"items": (CartLine(sku="B", unit_price=Decimal(1000)),)},
    ],
)
def test_the_same_external_id_with_another_body_is_refused_without_a_write(checkout, member, give_points, change):
    give_points(member, 1000)
    checkout()
    before = counts()

    with pytest.raises(IdempotencyKeyReused) as info:
        checkout(**change)

    assert info.value.code == "idempotency_key_reused"
    assert counts() == before


def test_the_same_external_id_at_another_store_is_another_purchase(checkout):
    checkout()

    other = checkout(store_id=StoreFactory(code="tst").pk)

    assert other.is_replay is False
    assert Purchase.objects.count() == 2


def test_points_earned_are_pending_for_the_policys_days(checkout, member, policy, now):
    policy.pending_days = 7
    policy.save()

    result = checkout()

    member.refresh_from_db()
    lot = PointsLot.objects.get(entry__purchase=result.purchase)
    assert (member.points_balance, member.points_pending) == (0, 100)
    assert (lot.is_active, lot.activates_at) == (False, now + timedelta(days=7))
    assert result.checkout.earn_is_pending is True


def test_points_earned_expire_by_the_policy(checkout, policy, now):
    policy.expiry_mode = "days"
    policy.expiry_days = 30
    policy.save()

    result = checkout()

    assert PointsLot.objects.get(entry__purchase=result.purchase).expires_at == now + timedelta(days=30)
    assert result.checkout.earn_expires_at == now + timedelta(days=30)


def test_first_purchase_bonus_is_granted_once(checkout):
    bonus = EarningRule.objects.create(name="Welcome", kind="bonus_first_purchase", priority=90, bonus_points=200)

    first = checkout(external_id="S-1")
    second = checkout(external_id="S-2")

    assert first.checkout.points_earned == 300
    assert [step["rule_id"] for step in first.checkout.breakdown["rules"]][-1] == bonus.pk
    assert second.checkout.points_earned == 100


def test_tier_multiplier_comes_from_the_members_tier(checkout, member):
    tier = Tier.objects.create(code="V2", name="Gold", rank=2, earn_multiplier=Decimal("1.5"))
    Member.objects.filter(pk=member.pk).update(tier=tier)

    result = checkout()

    assert result.checkout.breakdown["rules"][1] == {"rule_id": None, "name": "V2 Gold", "kind": "tier", "points": 50}
    assert result.checkout.points_earned == 150


def test_rules_scoped_to_another_store_do_not_apply(checkout, store):
    double = EarningRule.objects.create(name="Double at TST", kind="multiplier", priority=20, multiplier=Decimal(2))
    double.stores.add(StoreFactory(code="tst"))

    assert checkout().checkout.points_earned == 100


def test_preview_prices_the_cart_without_writing(store, member, give_points, base_rule, policy, now):
    give_points(member, 3000)
    policy.max_points_share_percent = Decimal(10)
    policy.save()
    before = counts()

    pricing = purchase_preview(
        cart=Cart(gross_amount=Decimal(1000), points_to_spend=1000),
        context=CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now),
    )

    assert (pricing.earning.total, pricing.points_value) == (99, Decimal("10.00"))
    assert (pricing.max_points_spendable, pricing.max_points_value) == (3000, Decimal("30.00"))
    assert counts() == before


def test_preview_caps_spendable_points_at_the_share(store, member, give_points, policy, now):
    give_points(member, 30_000)
    policy.max_points_share_percent = Decimal(10)
    policy.save()

    pricing = purchase_preview(
        cart=Cart(gross_amount=Decimal(1000)),
        context=CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now),
    )

    assert (pricing.max_points_spendable, pricing.max_points_value) == (10_000, Decimal("100.00"))


def test_preview_for_a_member_who_may_not_spend_offers_no_points(store, give_points, policy, now):
    visitor = MemberFactory(status=Member.Status.VISITOR)
    give_points(visitor, 1000)

    pricing = purchase_preview(
        cart=Cart(gross_amount=Decimal(100)),
        context=CheckoutContext(channel="pos", store_id=store.pk, member_id=visitor.pk, now=now),
    )

    assert pricing.max_points_spendable == 0
