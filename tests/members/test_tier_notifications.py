"""A member who moves tier is told so in their inbox (and on the channels they consented to), in their language,
whatever moved them: a review, a purchase, a manual override or a plan; a repeated review tells nobody twice."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from members.models import Notification, OutboxMessage
from members.services.plans import plan_purchase
from members.services.tiers import tier_override_set
from tests.factories import (
    MemberFactory,
    MembershipPlanFactory,
    PurchaseFactory,
    StoreFactory,
    TierFactory,
    UserFactory,
    checkout_sale,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers():
    return {
        "V1": TierFactory(code="V1", name="Silver", rank=1),
        "V2": TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800),
    }


def inbox_of(member):
    return list(Notification.objects.filter(member=member, kind="tier_changed").values_list("title", "body"))


def test_a_review_that_moves_a_member_tells_them_once(review, tiers, now):
    member = MemberFactory(tier=tiers["V1"], locale="en")
    PurchaseFactory(member=member, gross_amount=Decimal(1500), purchased_at=now - timedelta(days=3))

    review(now=now)
    review(now=now)

    assert inbox_of(member) == [("Your tier has changed", "You are now a Gold member.")]


def test_the_message_is_written_in_the_members_language_with_their_consented_channels(review, tiers, now):
    member = MemberFactory(
        tier=tiers["V1"], locale="zh-hant", consent_sms=True, phone="+85291234567", consent_email=False
    )
    PurchaseFactory(member=member, gross_amount=Decimal(1500), purchased_at=now - timedelta(days=3))

    review(now=now)

    notification = Notification.objects.get(member=member, kind="tier_changed")
    assert (notification.locale, notification.params) == ("zh-hant", {"tier": "Gold"})
    assert notification.title != "Your tier has changed"
    assert list(OutboxMessage.objects.filter(notification=notification).values_list("channel", flat=True)) == ["sms"]


def test_a_purchase_crossing_a_threshold_tells_the_member(tiers, now):
    member = MemberFactory(tier=tiers["V1"], locale="en")

    checkout_sale(store=StoreFactory(), member=member, now=now, external_id="T-1", gross_amount=Decimal("1200.00"))

    assert inbox_of(member) == [("Your tier has changed", "You are now a Gold member.")]


def test_an_override_tells_the_member_and_one_to_the_same_tier_does_not(tiers, now):
    staff = UserFactory()
    moved, unchanged = MemberFactory(tier=tiers["V1"], locale="en"), MemberFactory(tier=tiers["V2"], locale="en")

    for member in (moved, unchanged):
        tier_override_set(
            member_id=member.pk, tier_id=tiers["V2"].pk, until=now + timedelta(days=30), reason="VIP guest",
            created_by=staff, now=now,
        )  # fmt: skip

    assert inbox_of(moved) == [("Your tier has changed", "You are now a Gold member.")]
    assert inbox_of(unchanged) == []


def test_a_plan_granting_a_higher_tier_tells_the_member(tiers, now):
    member = MemberFactory(tier=tiers["V1"], locale="en")

    plan = MembershipPlanFactory(tier=tiers["V2"], price=Decimal("388.00"), duration_value=30)

    plan_purchase(member_id=member.pk, plan_id=plan.pk, provider="fps", transaction_id="f-1", now=now)

    assert inbox_of(member) == [("Your tier has changed", "You are now a Gold member.")]


def test_a_move_that_is_rolled_back_tells_nobody(tiers, now):
    member = MemberFactory(tier=tiers["V1"], locale="en")

    staff = UserFactory()

    @transaction.atomic
    def override_then_fail():
        tier_override_set(
            member_id=member.pk, tier_id=tiers["V2"].pk, until=now + timedelta(days=30), reason="VIP guest",
            created_by=staff, now=now,
        )  # fmt: skip
        raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError):
        override_then_fail()

    assert inbox_of(member) == []
