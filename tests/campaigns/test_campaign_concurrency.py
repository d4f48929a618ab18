"""Budgets and deliveries under concurrency, on PostgreSQL (real row locks), and a run through a real worker."""

import pytest
from django.utils import timezone

from campaigns.models import CampaignRecipient
from campaigns.services.campaigns import campaign_deliver
from coupons.models import Coupon
from members.models import Member, Notification, PointsEntry
from tests.campaigns.campaign_factories import CampaignFactory
from tests.concurrency import run_in_threads
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

Status = CampaignRecipient.Status


def many_members(count):
    template = MemberFactory.build()
    return Member.objects.bulk_create(
        [
            Member(
                member_number=f"9{number:09d}",
                phone=f"+8526{number:07d}",
                name=f"Member {number}",
                status=Member.Status.ACTIVE,
                join_source=template.join_source,
                joined_at=template.joined_at,
            )
            for number in range(count)
        ]
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_thousand_concurrent_grants_against_a_budget_of_a_hundred_give_exactly_a_hundred():
    # given 1,000 members and a campaign with 100 coupons and 100 x 10 points to give
    members = many_members(1000)
    campaign = CampaignFactory(
        coupon_template=CouponTemplateFactory(), budget_coupons=100, points_bonus=10, budget_points=1000
    )
    now = timezone.now()

    # when each member is delivered to at the same time, from 40 connections
    results = run_in_threads(
        [
            lambda member_id=member.pk: campaign_deliver(
                campaign_id=campaign.pk, member_ids=[member_id], occasion="run:1", now=now
            )
            for member in members
        ],
        workers=40,
    )

    # then exactly 100 were rewarded; everyone else has a row saying the budget ran out
    assert [r for r in results if isinstance(r, Exception)] == []
    campaign.refresh_from_db()
    assert (campaign.coupons_issued, campaign.points_granted) == (100, 1000)
    assert Coupon.objects.count() == 100
    assert PointsEntry.objects.count() == 100
    assert CampaignRecipient.objects.filter(status=Status.DELIVERED).count() == 100
    assert CampaignRecipient.objects.filter(status=Status.BUDGET_EXHAUSTED).count() == 900
    assert Notification.objects.count() == 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_chunk_delivered_twice_at_once_reaches_each_member_once():
    members = many_members(200)
    campaign = CampaignFactory(points_bonus=5)
    now = timezone.now()
    ids = [m.pk for m in members]
    results = run_in_threads(
        [
            lambda: campaign_deliver(campaign_id=campaign.pk, member_ids=ids, occasion="run:1", now=now)
            for _ in range(4)
        ],
        workers=4,
    )
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(r.created for r in results) == [0, 0, 0, 200]
    assert CampaignRecipient.objects.count() == 200
    assert PointsEntry.objects.count() == 200
    assert Notification.objects.count() == 200
