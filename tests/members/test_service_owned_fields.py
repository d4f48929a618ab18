"""A whole-row save (a console form, a profile edit) never writes back balances, counters or stock that the
services moved after the row was read."""

import pytest

from coupons.models import CouponTemplate
from members.models import Member
from members.services.ledger import points_credit
from points.models import Reward
from points.services.mall import reward_stock_add
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, RewardFactory

pytestmark = pytest.mark.django_db


def test_a_stale_member_saved_keeps_the_points_credited_meanwhile(now):
    member = MemberFactory()
    stale = Member.objects.get(pk=member.pk)
    points_credit(member_id=member.pk, points=120, idempotency_key="meanwhile", now=now)

    stale.name = "Renamed in the console"
    stale.save()

    member.refresh_from_db()
    assert (member.name, member.points_balance) == ("Renamed in the console", 120)


def test_a_stale_reward_saved_keeps_the_stock_added_meanwhile():
    reward = RewardFactory()
    stale = Reward.objects.get(pk=reward.pk)
    reward_stock_add(reward_id=reward.pk, quantity=5)

    stale.name = "Renamed"
    stale.save()

    reward.refresh_from_db()
    assert (reward.name, reward.stock_remaining) == ("Renamed", stale.stock_remaining + 5)


def test_a_stale_coupon_template_saved_keeps_its_issued_count():
    template = CouponTemplateFactory()
    stale = CouponTemplate.objects.get(pk=template.pk)
    CouponTemplate.objects.filter(pk=template.pk).update(issued_count=7)

    stale.save()

    template.refresh_from_db()
    assert template.issued_count == 7
