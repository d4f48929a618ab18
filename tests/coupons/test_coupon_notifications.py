"""A coupon a member receives without asking (after a purchase, from staff) is announced in their inbox, once; a
coupon the member claimed themselves is not (the claim screen already told them)."""

from decimal import Decimal

import pytest

from coupons.models import Coupon, PostPaymentRule
from coupons.services import coupon_claim, coupon_template_issue_to_member
from coupons.services.post_payment import coupons_issue_after_purchase
from members.models import Notification
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return MemberFactory(locale="en")


def announcements(member):
    return list(Notification.objects.filter(member=member, kind="coupon_issued").values_list("body", flat=True))


def test_a_coupon_earned_after_a_purchase_is_announced(member, now):
    template = CouponTemplateFactory(name="HK$20 off next visit")
    PostPaymentRule.objects.create(name="Next visit", template=template, min_paid_amount=Decimal("300.00"))
    purchase = PurchaseFactory(member=member, store=StoreFactory(), gross_amount=Decimal("300.00"))

    coupons_issue_after_purchase(
        member_id=member.pk, purchase_id=purchase.pk, store_id=purchase.store_id, channel=purchase.channel,
        paid_amount=purchase.paid_amount, now=now,
    )  # fmt: skip

    assert announcements(member) == ["“HK$20 off next visit” is now in your coupons."]


def test_a_coupon_issued_by_staff_is_announced_once_even_when_the_issue_is_retried(member, now):
    template = CouponTemplateFactory(name="Sorry for the wait")

    for _attempt in range(2):
        coupon_template_issue_to_member(
            template_id=template.pk, member_id=member.pk, source=Coupon.Source.MANUAL, issue_key="desk-1", now=now
        )

    assert announcements(member) == ["“Sorry for the wait” is now in your coupons."]


def test_a_coupon_the_member_claimed_is_not_announced(member, now):
    template = CouponTemplateFactory(name="Weekend HK$10")

    coupon_claim(member_id=member.pk, template_id=template.pk, now=now)

    assert announcements(member) == []
