"""What a checkout and its refunds do beyond points: stored value paid and given back, coupons earned after
payment (post-payment rules) and the used coupon given back or the earned one taken back on refund."""

from decimal import Decimal

import pytest

from coupons.models import Coupon, PostPaymentRule
from coupons.services import coupon_template_issue_to_member
from members.errors import InsufficientStoredValue
from members.models import Member, Purchase, StoredValueEntry
from members.services.stored_value import stored_value_adjust, stored_value_drift
from points.cart import Cart, CheckoutContext
from points.errors import MemberRequired
from points.services.checkout import purchase_checkout, purchase_refund
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fund(now):
    def give(member, amount):
        stored_value_adjust(
            member_id=member.pk, amount=Decimal(amount), reason="test funds", created_by=UserFactory(),
            idempotency_key=f"fund:{member.pk}:{amount}", now=now,
        )  # fmt: skip

    return give


@pytest.fixture
def checkout(store, member, policy, now):
    def run(external_id="S-1", gross="1000.00", member_id=member.pk, **cart):
        return purchase_checkout(
            cart=Cart(external_id=external_id, gross_amount=Decimal(gross), payment_method="card", **cart),
            context=CheckoutContext(channel="pos", store_id=store.pk, member_id=member_id, now=now),
        )

    return run


@pytest.fixture
def refund(store, now):
    def run(amount, refund_id="R-1", external_id="S-1"):
        return purchase_refund(
            store_id=store.pk, channel="pos", purchase_external_id=external_id, refund_external_id=refund_id,
            amount=Decimal(amount), now=now,
        )  # fmt: skip

    return run


def stored_value(member):
    member.refresh_from_db()
    return member.stored_value_balance


class TestStoredValue:
    def test_paying_with_stored_value_takes_it_from_the_members_balance(self, checkout, member, fund):
        fund(member, "500.00")

        result = checkout(stored_value_amount=Decimal("300.00"))

        assert stored_value(member) == Decimal("200.00")
        spend = StoredValueEntry.objects.get(kind=StoredValueEntry.Kind.SPEND)
        assert (spend.amount, spend.purchase_id) == (Decimal("-300.00"), result.purchase.pk)
        assert result.checkout.stored_value_entry_id == spend.pk
        assert result.purchase.paid_amount == Decimal("700.00")
        assert stored_value_drift() == []

    def test_a_replay_takes_nothing_twice(self, checkout, member, fund):
        fund(member, "500.00")
        checkout(stored_value_amount=Decimal("300.00"))
        replay = checkout(stored_value_amount=Decimal("300.00"))
        assert replay.is_replay
        assert stored_value(member) == Decimal("200.00")

    def test_more_than_the_balance_is_refused_and_nothing_is_written(self, checkout, member, fund):
        fund(member, "100.00")
        with pytest.raises(InsufficientStoredValue):
            checkout(stored_value_amount=Decimal("100.01"))
        assert not Purchase.objects.exists()
        assert stored_value(member) == Decimal("100.00")

    def test_stored_value_needs_an_identified_member(self, checkout):
        with pytest.raises(MemberRequired):
            checkout(member_id=None, stored_value_amount=Decimal("10.00"))
        assert not Purchase.objects.exists()

    def test_refunds_give_stored_value_back_pro_rata_and_a_full_refund_all_of_it(self, checkout, refund, member, fund):
        fund(member, "500.00")
        checkout(stored_value_amount=Decimal("300.00"))

        half = refund("500.00", refund_id="R-1").refund
        rest = refund("500.00", refund_id="R-2").refund

        assert (half.stored_value_returned, rest.stored_value_returned) == (Decimal("150.00"), Decimal("150.00"))
        assert stored_value(member) == Decimal("500.00")
        assert stored_value_drift() == []

    def test_a_replayed_refund_gives_nothing_twice(self, checkout, refund, member, fund):
        fund(member, "500.00")
        checkout(stored_value_amount=Decimal("300.00"))
        refund("1000.00")
        refund("1000.00")
        assert stored_value(member) == Decimal("500.00")


class TestCoupons:
    @pytest.fixture
    def rule(self):
        return PostPaymentRule.objects.create(
            name="HK$300+ gets HK$20 next time", template=CouponTemplateFactory(), min_paid_amount=Decimal("300")
        )

    def test_a_purchase_meeting_a_post_payment_rule_earns_its_coupon_once(self, checkout, member, rule):
        first = checkout()
        replay = checkout()

        coupon = Coupon.objects.get(source=Coupon.Source.POST_PAYMENT)
        assert (coupon.member_id, coupon.issued_for_purchase_id) == (member.pk, first.purchase.pk)
        assert first.checkout.coupons_issued == [coupon.code]
        assert replay.checkout.coupons_issued == [coupon.code]

    def test_a_purchase_below_the_minimum_earns_none(self, checkout, rule):
        assert checkout(gross="299.00").checkout.coupons_issued == []
        assert not Coupon.objects.exists()

    def test_a_sale_without_a_member_earns_none(self, checkout, rule):
        checkout(member_id=None)
        assert not Coupon.objects.exists()

    def test_a_full_refund_gives_the_used_coupon_back_and_takes_the_earned_one(
        self, checkout, refund, member, rule, now
    ):
        used = coupon_template_issue_to_member(
            template_id=CouponTemplateFactory(min_spend=Decimal("0")).pk, member_id=member.pk,
            source=Coupon.Source.MANUAL, now=now,
        )  # fmt: skip
        checkout(coupon_code=used.code)
        earned = Coupon.objects.get(source=Coupon.Source.POST_PAYMENT)

        result = refund("1000.00").refund

        used.refresh_from_db()
        earned.refresh_from_db()
        assert (used.status, earned.status) == (Coupon.Status.AVAILABLE, Coupon.Status.VOID)
        assert (result.coupons_restored, result.coupons_voided) == ([used.code], [earned.code])

    def test_a_partial_refund_keeps_the_used_coupon_used(self, checkout, refund, member, now):
        used = coupon_template_issue_to_member(
            template_id=CouponTemplateFactory().pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=now
        )
        checkout(coupon_code=used.code)
        refund("100.00")
        used.refresh_from_db()
        assert used.status == Coupon.Status.REDEEMED


def test_members_balance_is_untouched_by_a_failed_checkout(checkout, member, fund):
    fund(member, "50.00")
    with pytest.raises(InsufficientStoredValue):
        checkout(stored_value_amount=Decimal("60.00"), points_to_spend=0)
    assert Member.objects.get(pk=member.pk).stored_value_balance == Decimal("50.00")


def test_the_till_sees_stored_value_and_coupons_in_the_sale_and_refund_answers(pos_client_for, store, member, fund):
    PostPaymentRule.objects.create(name="HK$300+", template=CouponTemplateFactory(), min_paid_amount=Decimal("300"))
    fund(member, "500.00")
    till = pos_client_for(store)
    sale = {
        "external_id": "S-9", "payment_method": "card", "gross_amount": "1000.00", "stored_value_amount": "200.00",
        "member_number": member.member_number,
    }  # fmt: skip

    created = till.post("/api/v1/pos/purchases", sale, format="json").json()
    refunded = till.post("/api/v1/pos/purchases/S-9/refunds", {"refund_id": "R-9", "amount": "1000.00"}, format="json")

    earned = Coupon.objects.get(source=Coupon.Source.POST_PAYMENT)
    assert (created["stored_value_amount"], created["paid_amount"]) == ("200.00", "800.00")
    assert created["coupons_earned"] == [earned.code]
    body = refunded.json()
    assert (body["stored_value_returned"], body["coupons_voided"], body["coupons_restored"]) == (
        "200.00",
        [earned.code],
        [],
    )
    assert stored_value(member) == Decimal("500.00")
