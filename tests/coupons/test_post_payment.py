"""Post-payment rules ("pay, then get a coupon for next time") and what refunds do to coupons."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from coupons.models import Coupon, CouponTemplate, PostPaymentRule
from coupons.rules import Cart
from coupons.services import coupon_redeem
from coupons.services.post_payment import coupons_after_refund, coupons_issue_after_purchase
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return StoreFactory(code="tst", name="Tsim Sha Tsui")


@pytest.fixture
def member():
    return MemberFactory()


def make_rule(template=None, *, stores=(), **fields):
    rule = PostPaymentRule.objects.create(
        name=fields.pop("name", "Next visit HK$20"),
        template=template or CouponTemplateFactory(),
        min_paid_amount=fields.pop("min_paid_amount", Decimal("300.00")),
        **fields,
    )
    rule.stores.set(stores)
    return rule


def after(purchase, now, **overrides):
    args = {
        "member_id": purchase.member_id,
        "purchase_id": purchase.pk,
        "store_id": purchase.store_id,
        "channel": purchase.channel,
        "paid_amount": purchase.paid_amount,
        "now": now,
    }
    args.update(overrides)
    return coupons_issue_after_purchase(**args)


class TestIssuingAfterPayment:
    def test_a_purchase_at_the_minimum_earns_the_rule_coupon_linked_to_it(self, member, store, now):
        rule = make_rule(stores=[store])
        purchase = PurchaseFactory(member=member, store=store, gross_amount=Decimal("300.00"))

        [coupon] = after(purchase, now)

        assert coupon.member == member
        assert coupon.template == rule.template
        assert coupon.source == Coupon.Source.POST_PAYMENT
        assert coupon.issued_for_purchase_id == purchase.pk
        assert coupon.post_payment_rule == rule

    def test_below_the_minimum_another_store_or_another_channel_earns_nothing(self, member, store, now):
        make_rule(stores=[store], channels=["pos"])
        elsewhere = StoreFactory(code="mk")
        assert after(PurchaseFactory(member=member, store=store, gross_amount=Decimal("299.99")), now) == []
        assert after(PurchaseFactory(member=member, store=elsewhere, gross_amount=Decimal("500")), now) == []
        online = PurchaseFactory(member=member, store=store, channel="online", gross_amount=Decimal("500"))
        assert after(online, now) == []
        assert not Coupon.objects.exists()

    def test_a_rule_without_stores_applies_everywhere(self, member, now):
        make_rule()
        assert len(after(PurchaseFactory(member=member, gross_amount=Decimal("400")), now)) == 1

    def test_inactive_not_yet_started_and_ended_rules_issue_nothing(self, member, now):
        make_rule(is_active=False)
        make_rule(starts_at=now + timedelta(days=1))
        make_rule(ends_at=now - timedelta(seconds=1))
        assert after(PurchaseFactory(member=member, gross_amount=Decimal("900")), now) == []

    def test_every_matching_rule_issues_its_own_coupon(self, member, now):
        make_rule(min_paid_amount=Decimal("100"))
        make_rule(min_paid_amount=Decimal("500"))
        assert len(after(PurchaseFactory(member=member, gross_amount=Decimal("600")), now)) == 2

    def test_running_twice_for_one_purchase_issues_nothing_twice(self, member, now):
        make_rule(template=CouponTemplateFactory(per_member_limit=None))
        purchase = PurchaseFactory(member=member, gross_amount=Decimal("400"))
        first = after(purchase, now)
        again = after(purchase, now)
        assert [c.pk for c in again] == [c.pk for c in first]
        assert Coupon.objects.count() == 1

    def test_a_sold_out_or_limited_template_is_skipped_without_failing_the_purchase(self, member, now):
        make_rule(template=CouponTemplateFactory(quota=1), min_paid_amount=Decimal("0"))
        make_rule(template=CouponTemplateFactory(per_member_limit=1), min_paid_amount=Decimal("0"))
        first = after(PurchaseFactory(member=member, gross_amount=Decimal("50")), now)
        second = after(PurchaseFactory(member=member, gross_amount=Decimal("50")), now)
        assert len(first) == 2
        assert second == []

    def test_a_rule_refuses_a_negative_minimum_bad_dates_and_unknown_channels(self, now):
        rule = PostPaymentRule(
            name="bad",
            template=CouponTemplateFactory(),
            min_paid_amount=Decimal("-1"),
            starts_at=now,
            ends_at=now - timedelta(days=1),
            channels=["fax"],
        )
        with pytest.raises(ValidationError) as error:
            rule.full_clean()
        assert set(error.value.message_dict) >= {"min_paid_amount", "ends_at", "channels"}


def redeem(coupon, purchase, now):
    cart = Cart(store_id=purchase.store_id, channel=purchase.channel, amount=purchase.gross_amount, items=())
    return coupon_redeem(
        member_id=coupon.member_id, coupon_id=coupon.pk, cart=cart, now=now, purchase_id=purchase.pk,
        external_id=purchase.external_id,
    )  # fmt: skip


class TestRefunds:
    def test_a_full_refund_gives_a_still_valid_coupon_back(self, issue, member, now):
        coupon = issue(CouponTemplateFactory(), member)
        purchase = PurchaseFactory(member=member)
        redeem(coupon, purchase, now)

        outcome = coupons_after_refund(
            purchase_id=purchase.pk, paid_after_refund=Decimal("0"), fully_refunded=True, now=now
        )

        coupon.refresh_from_db()
        assert [c.pk for c in outcome.restored] == [coupon.pk]
        assert coupon.status == Coupon.Status.AVAILABLE
        assert coupon.redeemed_purchase_id is None
        assert coupon.discount_amount is None
        assert coupon.restored_at == now

    def test_a_restored_coupon_can_be_used_again(self, issue, member, now):
        coupon = issue(CouponTemplateFactory(), member)
        first = PurchaseFactory(member=member)
        redeem(coupon, first, now)
        coupons_after_refund(purchase_id=first.pk, paid_after_refund=Decimal("0"), fully_refunded=True, now=now)
        second = PurchaseFactory(member=member)
        assert redeem(coupon, second, now).coupon.redeemed_purchase_id == second.pk

    def test_a_partial_refund_keeps_the_coupon_used(self, issue, member, now):
        coupon = issue(CouponTemplateFactory(), member)
        purchase = PurchaseFactory(member=member)
        redeem(coupon, purchase, now)
        coupons_after_refund(purchase_id=purchase.pk, paid_after_refund=Decimal("50"), fully_refunded=False, now=now)
        coupon.refresh_from_db()
        assert coupon.status == Coupon.Status.REDEEMED

    def test_no_restore_templates_and_expired_coupons_stay_used(self, issue, member, now):
        kept = issue(CouponTemplateFactory(refund_policy=CouponTemplate.RefundPolicy.NO_RESTORE), member)
        short = issue(CouponTemplateFactory(valid_days=1), member)
        purchase = PurchaseFactory(member=member)
        redeem(kept, purchase, now)
        redeem(short, purchase, now)
        later = now + timedelta(days=2)
        outcome = coupons_after_refund(
            purchase_id=purchase.pk, paid_after_refund=Decimal("0"), fully_refunded=True, now=later
        )
        assert outcome.restored == []
        assert set(Coupon.objects.values_list("status", flat=True)) == {Coupon.Status.REDEEMED}

    def test_a_full_refund_voids_the_unused_coupon_the_purchase_earned(self, member, now):
        make_rule()
        purchase = PurchaseFactory(member=member, gross_amount=Decimal("400"))
        [earned] = after(purchase, now)
        outcome = coupons_after_refund(
            purchase_id=purchase.pk, paid_after_refund=Decimal("0"), fully_refunded=True, now=now
        )
        earned.refresh_from_db()
        assert outcome.voided_ids == [earned.pk]
        assert earned.status == Coupon.Status.VOID
        assert earned.void_reason == "Purchase refunded"  # kept in English; the console translates it (below)

    def test_the_refunds_void_reason_shows_in_the_staff_members_language(self, member, now, admin_client):
        make_rule()
        purchase = PurchaseFactory(member=member, gross_amount=Decimal("400"))
        [earned] = after(purchase, now)
        coupons_after_refund(purchase_id=purchase.pk, paid_after_refund=Decimal("0"), fully_refunded=True, now=now)

        url = f"/console/coupons/coupon/{earned.pk}/change/"
        for language, reason in (("zh-hant", "購買已退款"), ("zh-hans", "购买已退款"), ("en", "Purchase refunded")):
            assert reason in admin_client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    def test_a_partial_refund_voids_it_only_below_the_rule_minimum(self, member, now):
        make_rule(min_paid_amount=Decimal("300"))
        purchase = PurchaseFactory(member=member, gross_amount=Decimal("400"))
        [earned] = after(purchase, now)
        coupons_after_refund(purchase_id=purchase.pk, paid_after_refund=Decimal("320"), fully_refunded=False, now=now)
        earned.refresh_from_db()
        assert earned.status == Coupon.Status.AVAILABLE
        coupons_after_refund(purchase_id=purchase.pk, paid_after_refund=Decimal("299"), fully_refunded=False, now=now)
        earned.refresh_from_db()
        assert earned.status == Coupon.Status.VOID

    def test_an_earned_coupon_already_used_is_not_taken_back(self, member, now):
        make_rule()
        purchase = PurchaseFactory(member=member, gross_amount=Decimal("400"))
        [earned] = after(purchase, now)
        redeem(earned, PurchaseFactory(member=member), now)
        coupons_after_refund(purchase_id=purchase.pk, paid_after_refund=Decimal("0"), fully_refunded=True, now=now)
        earned.refresh_from_db()
        assert earned.status == Coupon.Status.REDEEMED
